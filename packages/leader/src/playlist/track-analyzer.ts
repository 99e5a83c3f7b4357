// Exact length of a track: measured once with the same decode pipeline the members play from
// (@jaudiosync/media, in a worker thread), so the leader's frame counts and the members' decoded
// PCM agree frame for frame. The same pass measures the loudness and true peak (BS.1770) and reads
// the tags in one parse: ReplayGain (loudness normalization), title, artist and cover. One file at a
// time: a Pi 3B+ leader has little memory to spare.
import type { TrackLoudness, GainTags, TrackTags } from '@jaudiosync/media';
import { TrackDecoder } from '@jaudiosync/media/track-decoder'; // the decoders load in its worker only

/** A file that takes longer than this to measure is treated as broken (~100x realtime is typical). */
const MEASURE_TIMEOUT_MS = 120_000;

export interface TrackAnalysis {
  sourceRate: number;
  sourceFrames: number;
  channels: number;
  /** Absent in analyses cached before loudness was measured (such a track is measured again). */
  loudness?: TrackLoudness;
  tags?: GainTags;
  /** Title, artist, album and cover from the same parse of the file (not cached with the analysis:
   *  the catalog keeps tags apart). */
  trackTags?: TrackTags;
}

export interface TrackAnalyzer {
  analyze(path: string): Promise<TrackAnalysis>;
  close(): Promise<void>;
}

export class WorkerTrackAnalyzer implements TrackAnalyzer {
  private readonly decoder = new TrackDecoder({ workers: 1 });

  async analyze(path: string): Promise<TrackAnalysis> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`measuring took longer than ${MEASURE_TIMEOUT_MS} ms`)), MEASURE_TIMEOUT_MS);
    });
    try {
      const m = await Promise.race([this.decoder.measure(path), timeout]);
      return { sourceRate: m.sourceRate, sourceFrames: m.sourceFrames, channels: m.sourceChannels, loudness: m.loudness, tags: m.tags, trackTags: m.trackTags };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.decoder.close();
  }
}
