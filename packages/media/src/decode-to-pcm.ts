// Decodes one encoded track, chunk by chunk (bounded memory), to interleaved int16 stereo at the
// output rate in a SharedArrayBuffer; or only measures its length (measureTrack, for the leader).
// Runs on whatever thread calls it: TrackDecoder runs it in a worker so no event loop blocks.
// With `target`, the PCM goes straight into the caller's buffer, which may already be playing;
// with `targetFile`, into a file the caller streams from (a 5-minute track then costs no memory).
import { createReadStream } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { open } from 'node:fs/promises';
import { decodeChunked } from 'audio-decode';
import { toStereo } from './channel-mix.js';
import { assertSampleRate, framesAtRate } from './frames-at-rate.js';
import { int16ScaleFor, PcmAccumulator } from './pcm-accumulator.js';
import { PcmFileWriter } from './pcm-file-writer.js';
import { PolyphaseResampler } from './polyphase-resampler.js';
import { LoudnessMeter, type TrackLoudness } from './loudness-meter.js';
import type { GainTags } from './replaygain-tags.js';
import type { TrackTags } from './track-tags.js';
import { INSPECT_BYTES, inspectSource, type SourceInfo } from './source-inspect.js';
import { TrackError } from './track-error.js';
import { trackName } from './track-name.js';

/** Encoded bytes handed to the decoder per step: small enough to keep the decoder's buffers small. */
export const READ_CHUNK_BYTES = 64 * 1024;
export const DEFAULT_OUTPUT_RATE = 48_000;
/** Truncation is reported when decoding yields fewer frames than declared minus this slack (MP3
 *  declarations include ~2-3 k samples of encoder delay and padding that decoders trim). */
const TRUNCATION_SLACK_FRAMES = 4 * 1152;
const TRUNCATION_SLACK_FRACTION = 0.002;
/** Progress reports at most this often (in encoded bytes) to keep postMessage traffic small. */
const PROGRESS_EVERY_BYTES = 256 * 1024;
/** Seconds of decoded audio between GC hints. The garbage of a decode (encoded chunks, decoded and
 *  resampled floats: ~1 MB per second of audio) grows with the audio, not with the encoded bytes:
 *  a hint per 512 KB of input let a WAV decode pile up 50-70 MB (3 s of audio per 512 KB of
 *  MP3, but 30 s of WAV). A full collection costs the worker ~9 ms. */
export const GC_HINT_EVERY_S = 10;

export type TrackInput = string | Uint8Array;

export interface DecodeOptions {
  /** Output sample rate in Hz (default 48000). */
  outputRate?: number;
  /** Output channels: only 2 (interleaved stereo) is supported. */
  channels?: 2;
  /**
   * Write the PCM into this buffer (interleaved stereo int16, capacity byteLength / 4 frames)
   * instead of a new one: the caller can hand it to a player before decoding ends (frames become
   * valid front to back; DecodeProgress.framesWritten says how far). Its size should be the
   * expected frame count (the leader's `framesAtRate`): frames beyond it are dropped, a shorter
   * decode leaves the rest untouched; DecodedTrack.frames is the decoded count either way.
   */
  target?: SharedArrayBuffer;
  /**
   * Write the PCM (interleaved stereo int16, host byte order) into this open file descriptor from
   * byte 0 instead of memory; at most `frames` frames (the expected count), front to back, so
   * every byte below the file's size is final while decoding goes on. The caller opens and closes
   * the descriptor. DecodedTrack.pcm is then empty. Excludes `target`.
   */
  targetFile?: { fd: number; frames: number };
}

export interface DecodeProgress {
  bytesRead: number;
  totalBytes: number;
  /** Source frames decoded so far. */
  sourceFrames: number;
  /** Output frames written so far (decode only; 0 for measure). */
  framesWritten: number;
}

export interface DecodeHooks {
  onProgress?: (p: DecodeProgress) => void;
  /** Called every GC_HINT_EVERY_S of decoded audio: the worker runs a full GC there, because decoded
   *  chunks are off-heap garbage that V8 otherwise lets pile up by tens of MB before collecting. */
  gcHint?: () => void;
  /** Called after every decoded chunk (64 KB of input): the worker runs a young-generation
   *  collection there (well under 1 ms: little of a chunk survives it), which frees the chunk's
   *  input, decoded and resampled buffers at once instead of up to GC_HINT_EVERY_S later. Peak RSS
   *  of a 5-minute decode in a bare process: WAV 35 -> 26 MB, MP3 47 -> 34-37 MB over the process
   *  before it, no more CPU (docs/benchmarks.md, issue #18). */
  chunkGcHint?: () => void;
  /** TrackDecoder only: aborting drops a queued job or stops the worker running it (rejects with kind 'aborted'). */
  signal?: AbortSignal;
}

export interface TrackLength {
  /** audio-decode format name: 'wav', 'mp3', 'flac', 'oga' (Ogg Vorbis), 'opus', ... */
  format: string;
  sourceRate: number;
  /** Largest channel count the decoder delivered. */
  sourceChannels: number;
  /** Decoded frames at the source rate (encoder delay/padding already trimmed). */
  sourceFrames: number;
}

/** measure()'s result: the length, and what loudness normalization needs (measured in the same pass). */
export interface TrackMeasurement extends TrackLength {
  loudness: TrackLoudness;
  tags: GainTags;
  /** Title, artist, album and cover, from the same parse of the file as `tags`. */
  trackTags: TrackTags;
}

export interface DecodedTrack extends TrackLength {
  /** Interleaved stereo int16 over a SharedArrayBuffer; length === frames * 2 (with a target:
   *  min(frames, its capacity) * 2, over the target; with a targetFile: empty). */
  pcm: Int16Array;
  /** Frames at outputRate; always framesAtRate(sourceFrames, sourceRate, outputRate). */
  frames: number;
  outputRate: number;
}

export { trackName } from './track-name.js';

/** Decodes `input` (a path or the encoded bytes) to int16 stereo at `outputRate`. Rejects with TrackError. */
export async function decodeToPcm(input: TrackInput, opts: DecodeOptions = {}, hooks: DecodeHooks = {}): Promise<DecodedTrack> {
  const outputRate = checkOptions(opts);
  let resampler: PolyphaseResampler | undefined;
  let acc: PcmAccumulator | PcmFileWriter | undefined;
  const result = await streamDecode(input, hooks, (info) => {
    const estimate = info.estimatedFrames === undefined ? 0 : info.estimatedFrames * (outputRate / info.rate);
    const scale = int16ScaleFor(info.format);
    acc = opts.targetFile !== undefined
      ? new PcmFileWriter(opts.targetFile.fd, opts.targetFile.frames, scale)
      : new PcmAccumulator(opts.target ?? estimate, scale);
  }, (left, right, rate) => {
    resampler ??= new PolyphaseResampler(rate, outputRate, 2);
    const [l, r] = resampler.push([left, right]);
    acc!.write(l!, r!);
    return acc!.length;
  });
  const [l, r] = resampler!.flush();
  acc!.write(l!, r!);
  const frames = framesAtRate(result.sourceFrames, result.sourceRate, outputRate);
  if (acc!.length !== frames) {
    throw new TrackError('corrupt', `internal: resampler produced ${acc!.length} frames, expected ${frames}`, trackName(input));
  }
  const pcm = acc instanceof PcmAccumulator ? acc.finish() : new Int16Array(new SharedArrayBuffer(0));
  return { ...result, pcm, frames, outputRate };
}

/**
 * Decodes without keeping audio: the exact length the leader puts on the timeline, and in the same
 * pass the loudness and true peak of the stereo mix the members play (BS.1770), plus both tag sets
 * (ReplayGain and album; title, artist and cover) from one parse of the file.
 */
export async function measureTrack(input: TrackInput, hooks: DecodeHooks = {}): Promise<TrackMeasurement> {
  let meter: LoudnessMeter | undefined;
  const length = await streamDecode(input, hooks, (info) => {
    meter = new LoudnessMeter(info.rate);
  }, (left, right) => {
    meter!.push(left, right);
    return 0;
  });
  // Loaded here, not at the top: music-metadata's module graph costs a decode worker ~9 MB of RSS,
  // and a member's worker only decodes (the leader measures).
  const { readFileTags } = await import('./file-tags.js');
  const tags = await readFileTags(input);
  return { ...length, loudness: meter!.result(), tags: tags.gain, trackTags: tags.track };
}

function checkOptions(opts: DecodeOptions): number {
  const outputRate = opts.outputRate ?? DEFAULT_OUTPUT_RATE;
  try {
    assertSampleRate('outputRate', outputRate);
  } catch (err) {
    throw TrackError.wrap(err, 'invalid-argument');
  }
  if (opts.channels !== undefined && opts.channels !== 2) {
    throw new TrackError('invalid-argument', `only 2 output channels are supported, got ${String(opts.channels)}`);
  }
  const t = opts.target;
  if (t !== undefined && (!(t instanceof SharedArrayBuffer) || t.byteLength === 0 || t.byteLength % 4 !== 0)) {
    throw new TrackError('invalid-argument', 'target must be a non-empty SharedArrayBuffer of whole stereo int16 frames');
  }
  const f = opts.targetFile;
  if (f !== undefined) {
    if (t !== undefined) throw new TrackError('invalid-argument', 'target and targetFile exclude each other');
    if (typeof f !== 'object' || f === null || !Number.isSafeInteger(f.fd) || f.fd < 0 || !Number.isSafeInteger(f.frames) || f.frames <= 0) {
      throw new TrackError('invalid-argument', 'targetFile must be { fd: open descriptor, frames: positive integer }');
    }
  }
  return outputRate;
}

interface OpenedSource {
  size: number;
  head: Uint8Array;
  tail: Uint8Array;
  chunks: () => AsyncIterable<Uint8Array>;
}

async function openSource(input: TrackInput, track: string): Promise<OpenedSource> {
  if (typeof input !== 'string') {
    if (!(input instanceof Uint8Array)) throw new TrackError('invalid-argument', 'input must be a path or a Uint8Array', track);
    const bytes = input;
    return {
      size: bytes.length,
      head: bytes.subarray(0, INSPECT_BYTES),
      tail: bytes.subarray(Math.max(0, bytes.length - INSPECT_BYTES)),
      chunks: async function* () {
        for (let at = 0; at < bytes.length; at += READ_CHUNK_BYTES) yield bytes.subarray(at, at + READ_CHUNK_BYTES);
      },
    };
  }
  try {
    const fh = await open(input, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new TrackError('io', 'not a regular file', track);
      const head = new Uint8Array(Math.min(INSPECT_BYTES, st.size));
      await fh.read(head, 0, head.length, 0);
      const tail = new Uint8Array(Math.min(INSPECT_BYTES, st.size));
      await fh.read(tail, 0, tail.length, st.size - tail.length);
      return {
        size: st.size, head, tail,
        chunks: () => createReadStream(input, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Uint8Array>,
      };
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw TrackError.wrap(err, 'io', track);
  }
}

/** The shared pipeline: inspect, decode chunk by chunk, map to stereo, check the length. */
async function streamDecode(
  input: TrackInput,
  hooks: DecodeHooks,
  onStart: (info: SourceInfo & { rate: number }) => void,
  /** Returns the output frames written so far. */
  onChunk: (left: Float32Array, right: Float32Array, rate: number) => number,
): Promise<TrackLength> {
  const track = trackName(input);
  const src = await openSource(input, track);
  const info = inspectSource(src.head, src.tail, src.size, track);
  if (info.truncatedReason !== undefined) throw new TrackError('truncated', info.truncatedReason, track);
  let sourceRate = 0;
  let sourceChannels = 0;
  let sourceFrames = 0;
  let bytesRead = 0;
  let framesWritten = 0;
  let nextProgress = PROGRESS_EVERY_BYTES;
  let nextGcFrames = 0;
  const counted = async function* (): AsyncIterable<Uint8Array> {
    for await (const chunk of src.chunks()) {
      bytesRead += chunk.length;
      yield chunk;
    }
  };
  try {
    for await (const out of decodeChunked(counted(), info.format as Parameters<typeof decodeChunked>[1])) {
      const channels = out.channelData;
      const frames = channels[0]?.length ?? 0;
      if (frames === 0) continue;
      if (sourceRate === 0) {
        try {
          assertSampleRate('sample rate', out.sampleRate);
        } catch (err) {
          throw TrackError.wrap(err, 'unsupported', track);
        }
        sourceRate = out.sampleRate;
        onStart({ ...info, rate: sourceRate });
      } else if (out.sampleRate !== sourceRate) {
        throw new TrackError('unsupported', `sample rate changes mid-stream (${sourceRate} -> ${out.sampleRate} Hz)`, track);
      }
      sourceChannels = Math.max(sourceChannels, channels.length);
      const [left, right] = toStereo(channels, info.format);
      framesWritten = onChunk(left, right, sourceRate);
      sourceFrames += frames;
      if (hooks.gcHint !== undefined && sourceFrames >= nextGcFrames) {
        nextGcFrames = sourceFrames + GC_HINT_EVERY_S * sourceRate;
        hooks.gcHint();
      } else {
        hooks.chunkGcHint?.();
      }
      if (hooks.onProgress !== undefined && bytesRead >= nextProgress) {
        nextProgress = bytesRead + PROGRESS_EVERY_BYTES;
        hooks.onProgress({ bytesRead, totalBytes: src.size, sourceFrames, framesWritten });
      }
      // One chunk (~10 ms of work) per event-loop turn: the thread's GC, messages (progress,
      // termination) and timers run between chunks instead of after a whole track.
      await nextTurn();
    }
  } catch (err) {
    if (err instanceof TrackError) throw err;
    const reading = err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('E');
    throw TrackError.wrap(err, reading ? 'io' : 'corrupt', track);
  }
  if (sourceFrames === 0) throw new TrackError('corrupt', `no audio could be decoded (${info.format})`, track);
  if (info.declaredFrames !== undefined) {
    const slack = Math.max(TRUNCATION_SLACK_FRAMES, info.declaredFrames * TRUNCATION_SLACK_FRACTION);
    if (sourceFrames < info.declaredFrames - slack) {
      throw new TrackError('truncated',
        `decoded ${(sourceFrames / sourceRate).toFixed(3)} s of the ${(info.declaredFrames / sourceRate).toFixed(3)} s the header declares`, track);
    }
  }
  hooks.onProgress?.({ bytesRead, totalBytes: src.size, sourceFrames, framesWritten });
  return { format: info.format, sourceRate, sourceChannels, sourceFrames };
}
