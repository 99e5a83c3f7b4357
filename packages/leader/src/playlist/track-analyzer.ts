// Exact length of a track: measured once with the same decode pipeline the members play from
// (@jaudiosync/media, in a worker thread), so the leader's frame counts and the members' decoded
// PCM agree frame for frame. One file at a time: a Pi 3B+ leader has little memory to spare.
import { TrackDecoder } from '@jaudiosync/media';

/** A file that takes longer than this to measure is treated as broken (~100x realtime is typical). */
const MEASURE_TIMEOUT_MS = 120_000;

export interface TrackAnalysis {
  sourceRate: number;
  sourceFrames: number;
  channels: number;
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
      return { sourceRate: m.sourceRate, sourceFrames: m.sourceFrames, channels: m.sourceChannels };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.decoder.close();
  }
}
