// The PCM ring: a SharedArrayBuffer of interleaved int16 frames with one producer (the engine) and
// one consumer (a sink: the native PortAudio callback or the capture sink's worker). Byte layout and
// semantics are exactly those of docs/audio-shared-memory.md; this file is the JS side of both ends.

/** Bytes before the sample data. */
export const PCM_RING_HEADER_BYTES = 64;
/** `sampleFormat` value for interleaved signed 16-bit samples (the only format defined). */
export const PCM_SAMPLE_FORMAT_INT16 = 0;
/** Bounds checked on create and attach (the same as the native addon's), to reject garbage headers. */
export const PCM_RING_MAX_CHANNELS = 32;
export const PCM_RING_MIN_SAMPLE_RATE = 8000;
export const PCM_RING_MAX_SAMPLE_RATE = 384_000;
/** Largest ring in bytes (header + samples): a sane allocation, addressable by the int32 fields. */
export const PCM_RING_MAX_BYTES = 1 << 30;

// BigInt64Array indices of the header counters.
const I64_WRITE_POS = 0;
const I64_READ_POS = 1;
const I64_UNDERRUN_FRAMES = 2;
const I64_UNDERRUN_EVENTS = 3;
// Int32Array indices of the header constants (byte offset / 4).
const I32_CHANNELS = 8;
const I32_CAPACITY = 9;
const I32_SAMPLE_FORMAT = 10;
const I32_SAMPLE_RATE = 11;

/** A writable region of the ring handed out by `reserve`: `first` then `second` (wrap part). */
export interface PcmRingReservation {
  /** Frames reserved (first.length + second.length == frames * channels). */
  readonly frames: number;
  /** Interleaved samples for ring frames [writePos, writePos + firstFrames). */
  readonly first: Int16Array;
  /** Interleaved samples for the frames after the wrap (empty if none). */
  readonly second: Int16Array;
}

/** Total bytes of a ring of `capacityFrames` frames of `channels` int16 samples. */
export function pcmRingByteLength(capacityFrames: number, channels: number): number {
  return PCM_RING_HEADER_BYTES + capacityFrames * channels * 2;
}

function checkPositiveInt(name: string, value: number, max: number): void {
  if (!Number.isSafeInteger(value) || value <= 0 || value > max) {
    throw new RangeError(`PcmRing: ${name} must be an integer in [1, ${max}], got ${String(value)}`);
  }
}

function checkFrameCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`PcmRing: ${name} must be a non-negative integer, got ${String(value)}`);
  }
}

/**
 * One view of a PCM ring. Positions are returned as numbers (exact up to 2^53 frames, i.e. millennia
 * at 48 kHz); they are stored as int64 and accessed with Atomics. The producer methods
 * (`freeFrames`, `write`, `writeSilence`, `reserve`, `commit`) must be used by one thread only, and the
 * consumer method (`read`) by one thread only (possibly another one, or native code).
 */
export class PcmRing {
  readonly sab: SharedArrayBuffer;
  readonly channels: number;
  readonly capacityFrames: number;
  readonly sampleRate: number;
  private readonly i64: BigInt64Array;
  private readonly data: Int16Array;

  /** Creates and initialises a new ring (counters 0, data silent). */
  static create(capacityFrames: number, channels: number, sampleRate: number): PcmRing {
    checkPositiveInt('channels', channels, PCM_RING_MAX_CHANNELS);
    checkPositiveInt('sampleRate', sampleRate, PCM_RING_MAX_SAMPLE_RATE);
    if (sampleRate < PCM_RING_MIN_SAMPLE_RATE) {
      throw new RangeError(`PcmRing: sampleRate ${sampleRate} below ${PCM_RING_MIN_SAMPLE_RATE}`);
    }
    const maxFrames = Math.floor((PCM_RING_MAX_BYTES - PCM_RING_HEADER_BYTES) / (2 * channels));
    checkPositiveInt('capacityFrames', capacityFrames, maxFrames);
    const sab = new SharedArrayBuffer(pcmRingByteLength(capacityFrames, channels));
    const i32 = new Int32Array(sab, 0, PCM_RING_HEADER_BYTES / 4);
    i32[I32_CHANNELS] = channels;
    i32[I32_CAPACITY] = capacityFrames;
    i32[I32_SAMPLE_FORMAT] = PCM_SAMPLE_FORMAT_INT16;
    i32[I32_SAMPLE_RATE] = sampleRate;
    return new PcmRing(sab);
  }

  /** Attaches to an existing ring, validating its header; throws RangeError/TypeError if invalid. */
  constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer)) throw new TypeError('PcmRing: not a SharedArrayBuffer');
    if (sab.byteLength < PCM_RING_HEADER_BYTES) {
      throw new RangeError(`PcmRing: buffer of ${sab.byteLength} bytes is shorter than the header`);
    }
    const i32 = new Int32Array(sab, 0, PCM_RING_HEADER_BYTES / 4);
    const channels = i32[I32_CHANNELS] ?? 0;
    const capacityFrames = i32[I32_CAPACITY] ?? 0;
    const format = i32[I32_SAMPLE_FORMAT] ?? -1;
    const sampleRate = i32[I32_SAMPLE_RATE] ?? 0;
    checkPositiveInt('header channels', channels, PCM_RING_MAX_CHANNELS);
    checkPositiveInt('header capacityFrames', capacityFrames, 2 ** 31 - 1);
    if (format !== PCM_SAMPLE_FORMAT_INT16) {
      throw new RangeError(`PcmRing: unsupported sampleFormat ${format}`);
    }
    if (sampleRate < PCM_RING_MIN_SAMPLE_RATE || sampleRate > PCM_RING_MAX_SAMPLE_RATE) {
      throw new RangeError(`PcmRing: header sampleRate ${sampleRate} out of range`);
    }
    const needed = pcmRingByteLength(capacityFrames, channels);
    if (sab.byteLength < needed) {
      throw new RangeError(`PcmRing: buffer has ${sab.byteLength} bytes, header needs ${needed}`);
    }
    const i64 = new BigInt64Array(sab, 0, 4);
    const w = Atomics.load(i64, I64_WRITE_POS);
    const r = Atomics.load(i64, I64_READ_POS);
    if (r < 0n || w < r || w - r > BigInt(capacityFrames)) {
      throw new RangeError(`PcmRing: inconsistent positions writePos=${w} readPos=${r}`);
    }
    if (Atomics.load(i64, I64_UNDERRUN_FRAMES) < 0n || Atomics.load(i64, I64_UNDERRUN_EVENTS) < 0n) {
      throw new RangeError('PcmRing: negative underrun counters');
    }
    this.sab = sab;
    this.channels = channels;
    this.capacityFrames = capacityFrames;
    this.sampleRate = sampleRate;
    this.i64 = i64;
    this.data = new Int16Array(sab, PCM_RING_HEADER_BYTES, capacityFrames * channels);
  }

  /** Total frames ever written by the producer. */
  get writePos(): number {
    return Number(Atomics.load(this.i64, I64_WRITE_POS));
  }

  /** Total frames ever consumed by the sink. */
  get readPos(): number {
    return Number(Atomics.load(this.i64, I64_READ_POS));
  }

  /** Frames written but not yet consumed. */
  get fillFrames(): number {
    return Number(Atomics.load(this.i64, I64_WRITE_POS) - Atomics.load(this.i64, I64_READ_POS));
  }

  /** Silent frames the sink inserted because the ring was short. */
  get underrunFrames(): number {
    return Number(Atomics.load(this.i64, I64_UNDERRUN_FRAMES));
  }

  /** Buffers the sink could not fill completely. */
  get underrunEvents(): number {
    return Number(Atomics.load(this.i64, I64_UNDERRUN_EVENTS));
  }

  // ---------------------------------------------------------------- producer side

  /** Frames the producer may write now. */
  freeFrames(): number {
    return this.capacityFrames - this.fillFrames;
  }

  /**
   * Copies up to `count` interleaved frames from `frames` (default: all of it) into the ring and
   * publishes them. Writes no more than `freeFrames()`; returns the number of frames written.
   */
  write(frames: Int16Array, count?: number): number {
    const available = Math.floor(frames.length / this.channels);
    const wanted = count === undefined ? available : count;
    checkFrameCount('count', wanted);
    if (wanted > available) {
      throw new RangeError(`PcmRing.write: count ${wanted} exceeds the ${available} frames given`);
    }
    const region = this.reserve(wanted);
    const firstSamples = region.first.length;
    region.first.set(frames.subarray(0, firstSamples));
    region.second.set(frames.subarray(firstSamples, firstSamples + region.second.length));
    this.commit(region.frames);
    return region.frames;
  }

  /** Writes up to `frames` frames of zeros (idle silence is the producer's job); returns frames written. */
  writeSilence(frames: number): number {
    checkFrameCount('frames', frames);
    const region = this.reserve(frames);
    region.first.fill(0);
    region.second.fill(0);
    this.commit(region.frames);
    return region.frames;
  }

  /**
   * Zero-copy write: returns views of the next min(maxFrames, freeFrames()) frames of the ring. Fill
   * them, then call `commit(frames)` to publish (at most the reserved count; nothing else between).
   */
  reserve(maxFrames: number): PcmRingReservation {
    checkFrameCount('maxFrames', maxFrames);
    const frames = Math.min(maxFrames, this.freeFrames());
    const start = this.writePos % this.capacityFrames;
    const firstFrames = Math.min(frames, this.capacityFrames - start);
    const ch = this.channels;
    return {
      frames,
      first: this.data.subarray(start * ch, (start + firstFrames) * ch),
      second: this.data.subarray(0, (frames - firstFrames) * ch),
    };
  }

  /** Publishes `frames` frames filled through `reserve` (the store of writePos is the release). */
  commit(frames: number): void {
    checkFrameCount('frames', frames);
    if (frames > this.freeFrames()) {
      throw new RangeError(`PcmRing.commit: ${frames} frames exceed the free space`);
    }
    Atomics.add(this.i64, I64_WRITE_POS, BigInt(frames));
  }

  // ---------------------------------------------------------------- consumer side

  /**
   * Consumer, only while no other consumer runs (between two streams): drops every queued frame by
   * moving readPos to writePos. Not an underrun. Returns the frames dropped.
   */
  discardAll(): number {
    const r = Atomics.load(this.i64, I64_READ_POS);
    const dropped = Atomics.load(this.i64, I64_WRITE_POS) - r;
    Atomics.add(this.i64, I64_READ_POS, dropped);
    return Number(dropped);
  }

  /**
   * Consumer, one device buffer of `frames` frames: copies k = min(fill, frames) frames into `into`
   * (interleaved), zero-fills the remaining frames - k, counts an underrun (frames - k frames, one
   * event) if k < frames, then advances readPos by k. Returns k.
   */
  read(into: Int16Array, frames: number): number {
    checkFrameCount('frames', frames);
    const ch = this.channels;
    if (into.length < frames * ch) {
      throw new RangeError(`PcmRing.read: target holds ${into.length} samples, need ${frames * ch}`);
    }
    const r = Atomics.load(this.i64, I64_READ_POS);
    const avail = Number(Atomics.load(this.i64, I64_WRITE_POS) - r);
    const k = Math.min(avail, frames);
    const start = Number(r % BigInt(this.capacityFrames));
    const firstFrames = Math.min(k, this.capacityFrames - start);
    into.set(this.data.subarray(start * ch, (start + firstFrames) * ch), 0);
    if (k > firstFrames) into.set(this.data.subarray(0, (k - firstFrames) * ch), firstFrames * ch);
    if (k < frames) {
      into.fill(0, k * ch, frames * ch);
      Atomics.add(this.i64, I64_UNDERRUN_FRAMES, BigInt(frames - k));
      Atomics.add(this.i64, I64_UNDERRUN_EVENTS, 1n);
    }
    Atomics.add(this.i64, I64_READ_POS, BigInt(k));
    return k;
  }
}
