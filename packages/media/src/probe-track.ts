// probeTrack: what a file is (format, codec, rate, channels, duration, title, artist) from its
// headers and tags via music-metadata, after our own signature check rejects non-audio clearly.
// Durations are header values (MP3 includes encoder padding); exact lengths come from measure().
import { open } from 'node:fs/promises';
import { parseBuffer, parseFile } from 'music-metadata';
import { trackName, type TrackInput } from './decode-to-pcm.js';
import { INSPECT_BYTES, inspectSource } from './source-inspect.js';
import { TrackError } from './track-error.js';

export interface TrackProbe {
  /** audio-decode format name: 'wav', 'mp3', 'flac', 'oga' (Ogg Vorbis), 'opus', ... */
  format: string;
  /** Container as music-metadata names it ('WAVE', 'MPEG', 'FLAC', 'Ogg', ...). */
  container: string | undefined;
  /** Codec as music-metadata names it ('PCM', 'MPEG 1 Layer 3', 'FLAC', 'Vorbis I', 'Opus', ...). */
  codec: string | undefined;
  sampleRate: number;
  channels: number;
  /** Header/tag duration in seconds (MP3: includes ~50 ms encoder delay + padding); undefined if unknown. */
  durationS: number | undefined;
  title: string | undefined;
  artist: string | undefined;
  album: string | undefined;
}

async function headTail(input: TrackInput, track: string): Promise<{ head: Uint8Array; tail: Uint8Array; size: number }> {
  if (typeof input !== 'string') {
    if (!(input instanceof Uint8Array)) throw new TrackError('invalid-argument', 'input must be a path or a Uint8Array', track);
    return { head: input.subarray(0, INSPECT_BYTES), tail: input.subarray(Math.max(0, input.length - INSPECT_BYTES)), size: input.length };
  }
  try {
    const fh = await open(input, 'r');
    try {
      const { size } = await fh.stat();
      const head = new Uint8Array(Math.min(INSPECT_BYTES, size));
      await fh.read(head, 0, head.length, 0);
      const tail = new Uint8Array(Math.min(INSPECT_BYTES, size));
      await fh.read(tail, 0, tail.length, size - tail.length);
      return { head, tail, size };
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw TrackError.wrap(err, 'io', track);
  }
}

/** Probes a path or encoded bytes. Rejects with TrackError (empty, not-audio, unsupported, truncated, corrupt, io). */
export async function probeTrack(input: TrackInput): Promise<TrackProbe> {
  const track = trackName(input);
  const { head, tail, size } = await headTail(input, track);
  const info = inspectSource(head, tail, size, track);
  if (info.truncatedReason !== undefined) throw new TrackError('truncated', info.truncatedReason, track);
  let meta;
  try {
    const options = { duration: true, skipCovers: true };
    meta = typeof input === 'string' ? await parseFile(input, options) : await parseBuffer(input, undefined, options);
  } catch (err) {
    throw TrackError.wrap(err, 'corrupt', track);
  }
  const f = meta.format;
  if (f.sampleRate === undefined || f.numberOfChannels === undefined) {
    throw new TrackError('corrupt', `no sample rate or channel count in the ${info.format} headers`, track);
  }
  return {
    format: info.format,
    container: f.container,
    codec: f.codec,
    sampleRate: f.sampleRate,
    channels: f.numberOfChannels,
    durationS: f.duration,
    title: meta.common.title,
    artist: meta.common.artist,
    album: meta.common.album,
  };
}
