// The capture file: what a simulated DAC (the capture sink) played, on the host's true time axis.
// Owns the binary format (see docs/capture-sink.md), its writer (used by the capture sink worker)
// and its reader (used by tests and benchmarks to measure sync between members).
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export const CAPTURE_MAGIC = 0x4341534a; // "JASC" little-endian
export const CAPTURE_VERSION = 1;
export const CAPTURE_HEADER_BYTES = 64;
export const CAPTURE_BLOCK_HEADER_BYTES = 24;
/** Block flag: the block is all zeros and carries no samples (run-length silence). */
export const CAPTURE_FLAG_SILENT = 1;
/** Flush to disk every ~0.5 s of audio: small synchronous writes, bounded memory. */
export const CAPTURE_FLUSH_SECONDS = 0.5;
/** Longest audio block: keeps blocks addressable and the reader's search cheap. */
export const CAPTURE_MAX_BLOCK_FRAMES = 1 << 16;
/** Longest silent run in one block (int32 frames field). */
const MAX_SILENT_RUN_FRAMES = 2 ** 31 - 1;

/** Fixed facts about a capture: the simulated DAC's true time axis. */
export interface CaptureHeader {
  readonly sampleRate: number;
  readonly channels: number;
  /** Rate error of the simulated DAC: true rate = sampleRate * (1 + ratePpm / 1e6). */
  readonly ratePpm: number;
  /** Host CLOCK_MONOTONIC ns at which device frame 0 leaves the DAC. */
  readonly t0DacNs: bigint;
  /** True ns per frame = 1e9 / (sampleRate * (1 + ratePpm / 1e6)). */
  readonly nsPerFrame: number;
  /** Output latency simulated (informative: t0DacNs already includes it). */
  readonly latencyNs: bigint;
  readonly framesPerBuffer: number;
}

export interface CaptureBlock {
  readonly deviceFrame: number;
  /** True DAC time of the first frame, rounded to ns (the exact value is `trueTimeOfFrame`). */
  readonly trueDacTimeNs: bigint;
  readonly frames: number;
  readonly silent: boolean;
  /** Interleaved samples (null when silent). */
  readonly samples: Int16Array | null;
}

/** True DAC time (host monotonic ns, exact rational rounded to ns) of `deviceFrame`. */
export function captureFrameTimeNs(header: CaptureHeader, deviceFrame: number): bigint {
  return header.t0DacNs + BigInt(Math.round(deviceFrame * header.nsPerFrame));
}

function checkHeader(h: CaptureHeader): void {
  if (!Number.isInteger(h.sampleRate) || h.sampleRate <= 0 || h.sampleRate > 0xffffffff) {
    throw new RangeError(`capture: bad sampleRate ${h.sampleRate}`);
  }
  if (!Number.isInteger(h.channels) || h.channels <= 0 || h.channels > 64) {
    throw new RangeError(`capture: bad channels ${h.channels}`);
  }
  if (!Number.isFinite(h.ratePpm) || Math.abs(h.ratePpm) >= 1e5) throw new RangeError(`capture: bad ratePpm ${h.ratePpm}`);
  if (!Number.isFinite(h.nsPerFrame) || h.nsPerFrame <= 0) throw new RangeError(`capture: bad nsPerFrame ${h.nsPerFrame}`);
  if (!Number.isInteger(h.framesPerBuffer) || h.framesPerBuffer < 0) {
    throw new RangeError(`capture: bad framesPerBuffer ${h.framesPerBuffer}`);
  }
}

export function encodeCaptureHeader(h: CaptureHeader): Uint8Array {
  checkHeader(h);
  const bytes = new Uint8Array(CAPTURE_HEADER_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, CAPTURE_MAGIC, true);
  v.setUint32(4, CAPTURE_VERSION, true);
  v.setUint32(8, h.sampleRate, true);
  v.setUint32(12, h.channels, true);
  v.setFloat64(16, h.ratePpm, true);
  v.setBigInt64(24, h.t0DacNs, true);
  v.setFloat64(32, h.nsPerFrame, true);
  v.setBigInt64(40, h.latencyNs, true);
  v.setUint32(48, h.framesPerBuffer, true);
  v.setUint32(52, CAPTURE_HEADER_BYTES, true);
  return bytes;
}

/**
 * Streams blocks into a capture file. Consecutive buffers merge into one block while they are
 * contiguous and of the same kind (all-zero -> a silent run with no samples; audio -> samples).
 * Writes synchronously in chunks of ~CAPTURE_FLUSH_SECONDS of audio (cheap: page cache).
 * Blocks are assembled in place in one reused byte buffer (header slot first, filled when the
 * block closes): appending a device buffer allocates nothing, which is what the simulated DAC's
 * thread pays ~190 times a second (issue #18: a copy per buffer was ~10 % of that thread).
 */
export class CaptureFileWriter {
  readonly header: CaptureHeader;
  private fd: number | null;
  private readonly flushBytes: number;
  /** Bytes not yet written to the file: [0, used) of `buf`. */
  private buf: Uint8Array;
  private view: DataView;
  private used = 0;
  /** Frames (audio or silent) appended since the last flush: mostly-silent captures flush by time too. */
  private pendingFrames = 0;
  private readonly flushFrames: number;
  // The open block being extended; its header slot is at `blockAt` in `buf`.
  private blockStart = -1;
  private blockFrames = 0;
  private blockSilent = false;
  private blockAt = 0;
  private bytesWrittenTotal = 0;

  constructor(path: string, header: CaptureHeader) {
    checkHeader(header);
    this.header = header;
    this.fd = openSync(path, 'w');
    this.flushBytes = Math.max(4096, Math.round(header.sampleRate * header.channels * 2 * CAPTURE_FLUSH_SECONDS));
    this.flushFrames = Math.max(1, Math.round(header.sampleRate * CAPTURE_FLUSH_SECONDS));
    // One flush's worth of audio plus room for block headers and a device buffer past the mark.
    this.buf = new Uint8Array(2 * this.flushBytes + CAPTURE_HEADER_BYTES);
    this.view = new DataView(this.buf.buffer);
    this.put(encodeCaptureHeader(header));
    this.flush();
  }

  /** Bytes handed to the file so far. */
  get bytesWritten(): number {
    return this.bytesWrittenTotal;
  }

  /** Appends `frames` interleaved frames played as device frames [deviceFrame, deviceFrame + frames). */
  append(deviceFrame: number, samples: Int16Array, frames: number): void {
    const ch = this.header.channels;
    if (!Number.isSafeInteger(deviceFrame) || deviceFrame < 0 || !Number.isInteger(frames) || frames <= 0) {
      throw new RangeError(`CaptureFileWriter.append: bad range ${deviceFrame} + ${frames}`);
    }
    if (samples.length < frames * ch) throw new RangeError('CaptureFileWriter.append: too few samples');
    const n = frames * ch;
    const silent = isAllZero(samples, n);
    const contiguous = this.blockStart >= 0 && deviceFrame === this.blockStart + this.blockFrames;
    const limit = silent ? MAX_SILENT_RUN_FRAMES : CAPTURE_MAX_BLOCK_FRAMES;
    if (!contiguous || silent !== this.blockSilent || this.blockFrames + frames > limit) {
      this.closeBlock();
      this.blockStart = deviceFrame;
      this.blockSilent = silent;
      this.blockAt = this.reserve(CAPTURE_BLOCK_HEADER_BYTES);
    }
    this.blockFrames += frames;
    if (!silent) {
      // Int16 samples little-endian: copy the native (LE on every target) bytes.
      const at = this.reserve(n * 2);
      this.buf.set(new Uint8Array(samples.buffer, samples.byteOffset, n * 2), at);
    }
    // Audio blocks are closed as soon as they reach the flush size so memory stays bounded.
    if (!silent && this.blockFrames * ch * 2 >= this.flushBytes) this.closeBlock();
    this.pendingFrames += frames;
    if (this.used >= this.flushBytes || this.pendingFrames >= this.flushFrames) this.flush();
  }

  /** Ends the open block and writes everything pending. */
  flush(): void {
    this.closeBlock();
    this.pendingFrames = 0;
    if (this.fd === null || this.used === 0) return;
    let off = 0;
    while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off);
    this.bytesWrittenTotal += this.used;
    this.used = 0;
  }

  /** Flushes and closes; idempotent. */
  close(): void {
    if (this.fd === null) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /** Fills the open block's header slot (the block's bytes already follow it). */
  private closeBlock(): void {
    if (this.blockStart < 0 || this.blockFrames === 0) {
      if (this.blockStart >= 0) this.used = this.blockAt; // an empty block: drop its slot
      this.blockStart = -1;
      this.blockFrames = 0;
      return;
    }
    const v = this.view;
    const at = this.blockAt;
    v.setBigInt64(at, BigInt(this.blockStart), true);
    v.setBigInt64(at + 8, captureFrameTimeNs(this.header, this.blockStart), true);
    v.setInt32(at + 16, this.blockFrames, true);
    v.setUint32(at + 20, this.blockSilent ? CAPTURE_FLAG_SILENT : 0, true);
    this.blockStart = -1;
    this.blockFrames = 0;
  }

  /** `bytes` more at the end of the pending bytes (grown if a caller appends huge buffers); returns where. */
  private reserve(bytes: number): number {
    const at = this.used;
    if (at + bytes > this.buf.length) {
      const grown = new Uint8Array(Math.max(2 * this.buf.length, at + bytes));
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.used = at + bytes;
    return at;
  }

  private put(bytes: Uint8Array): void {
    this.buf.set(bytes, this.reserve(bytes.length));
  }
}

function isAllZero(s: Int16Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (s[i] !== 0) return false;
  return true;
}

/** A capture in memory, with its true time axis. */
export class Capture implements CaptureHeader {
  readonly sampleRate: number;
  readonly channels: number;
  readonly ratePpm: number;
  readonly t0DacNs: bigint;
  readonly nsPerFrame: number;
  readonly latencyNs: bigint;
  readonly framesPerBuffer: number;
  /** Blocks ordered by deviceFrame, non-overlapping. */
  readonly blocks: readonly CaptureBlock[];
  private readonly t0Num: number;

  constructor(header: CaptureHeader, blocks: readonly CaptureBlock[]) {
    checkHeader(header);
    this.sampleRate = header.sampleRate;
    this.channels = header.channels;
    this.ratePpm = header.ratePpm;
    this.t0DacNs = header.t0DacNs;
    this.nsPerFrame = header.nsPerFrame;
    this.latencyNs = header.latencyNs;
    this.framesPerBuffer = header.framesPerBuffer;
    const sorted = [...blocks].sort((a, b) => a.deviceFrame - b.deviceFrame);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      if (sorted[i]!.deviceFrame < prev.deviceFrame + prev.frames) throw new RangeError('capture: overlapping blocks');
    }
    this.blocks = sorted;
    this.t0Num = Number(header.t0DacNs);
  }

  /** Builds a capture from one run of interleaved samples starting at `firstDeviceFrame` (tests, synthesis). */
  static fromSamples(header: CaptureHeader, firstDeviceFrame: number, samples: Int16Array): Capture {
    const frames = Math.floor(samples.length / header.channels);
    const block: CaptureBlock = {
      deviceFrame: firstDeviceFrame,
      trueDacTimeNs: captureFrameTimeNs(header, firstDeviceFrame),
      frames,
      silent: false,
      samples: samples.subarray(0, frames * header.channels),
    };
    return new Capture(header, frames > 0 ? [block] : []);
  }

  /** First device frame captured (0 if empty). */
  get firstFrame(): number {
    return this.blocks[0]?.deviceFrame ?? 0;
  }

  /** One past the last device frame captured. */
  get endFrame(): number {
    const last = this.blocks[this.blocks.length - 1];
    return last === undefined ? 0 : last.deviceFrame + last.frames;
  }

  /**
   * True DAC time in host monotonic ns (a double: 1 ns resolution up to 104 days of uptime,
   * sub-µs far beyond) of a device frame; fractional frames allowed.
   */
  trueTimeOfFrame(deviceFrame: number): number {
    return this.t0Num + deviceFrame * this.nsPerFrame;
  }

  /** Fractional device frame at the DAC at true time `ns` (inverse of trueTimeOfFrame). */
  frameAtTrueTime(ns: number): number {
    return (ns - this.t0Num) / this.nsPerFrame;
  }

  /** The block holding `deviceFrame`, or undefined in a gap / outside the capture. */
  blockAt(deviceFrame: number): CaptureBlock | undefined {
    const i = this.blockIndexAtOrBefore(deviceFrame);
    const b = i < 0 ? undefined : this.blocks[i];
    return b !== undefined && deviceFrame < b.deviceFrame + b.frames ? b : undefined;
  }

  /**
   * `count` frames from `fromFrame` (integer), channels averaged, scaled to [-1, 1). Frames not
   * captured (before, after, gaps) read as 0.
   */
  monoSamples(fromFrame: number, count: number): Float32Array {
    if (!Number.isInteger(fromFrame) || !Number.isInteger(count) || count < 0) {
      throw new RangeError(`Capture.monoSamples: bad range ${fromFrame} + ${count}`);
    }
    const out = new Float32Array(count);
    const ch = this.channels;
    const scale = 1 / (32768 * ch);
    let i = Math.max(0, this.blockIndexAtOrBefore(fromFrame));
    const end = fromFrame + count;
    for (; i < this.blocks.length; i++) {
      const b = this.blocks[i]!;
      if (b.deviceFrame >= end) break;
      const lo = Math.max(fromFrame, b.deviceFrame);
      const hi = Math.min(end, b.deviceFrame + b.frames);
      if (hi <= lo || b.samples === null) continue;
      const s = b.samples;
      for (let f = lo; f < hi; f++) {
        let acc = 0;
        const base = (f - b.deviceFrame) * ch;
        for (let c = 0; c < ch; c++) acc += s[base + c]!;
        out[f - fromFrame] = acc * scale;
      }
    }
    return out;
  }

  /** Index of the last block starting at or before `deviceFrame`, -1 if none. */
  private blockIndexAtOrBefore(deviceFrame: number): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.blocks[mid]!.deviceFrame <= deviceFrame) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

/**
 * Parses a capture file's bytes. A truncated last block (e.g. the writer was killed) is dropped;
 * a bad header throws.
 */
export function parseCapture(bytes: Uint8Array): Capture {
  if (bytes.length < CAPTURE_HEADER_BYTES) throw new RangeError('capture: file shorter than its header');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== CAPTURE_MAGIC) throw new RangeError('capture: bad magic');
  const version = v.getUint32(4, true);
  if (version !== CAPTURE_VERSION) throw new RangeError(`capture: unsupported version ${version}`);
  const headerBytes = v.getUint32(52, true);
  if (headerBytes < CAPTURE_HEADER_BYTES || headerBytes > bytes.length) {
    throw new RangeError(`capture: bad header size ${headerBytes}`);
  }
  const header: CaptureHeader = {
    sampleRate: v.getUint32(8, true),
    channels: v.getUint32(12, true),
    ratePpm: v.getFloat64(16, true),
    t0DacNs: v.getBigInt64(24, true),
    nsPerFrame: v.getFloat64(32, true),
    latencyNs: v.getBigInt64(40, true),
    framesPerBuffer: v.getUint32(48, true),
  };
  checkHeader(header);
  const blocks: CaptureBlock[] = [];
  let off = headerBytes;
  while (off + CAPTURE_BLOCK_HEADER_BYTES <= bytes.length) {
    const deviceFrame = Number(v.getBigInt64(off, true));
    const trueDacTimeNs = v.getBigInt64(off + 8, true);
    const frames = v.getInt32(off + 16, true);
    const flags = v.getUint32(off + 20, true);
    if (frames <= 0 || deviceFrame < 0) throw new RangeError(`capture: bad block at byte ${off}`);
    const silent = (flags & CAPTURE_FLAG_SILENT) !== 0;
    const sampleBytes = silent ? 0 : frames * header.channels * 2;
    const start = off + CAPTURE_BLOCK_HEADER_BYTES;
    if (start + sampleBytes > bytes.length) break; // truncated tail
    let samples: Int16Array | null = null;
    if (!silent) {
      // Copy into an aligned buffer (the file offset need not be 2-aligned in memory).
      samples = new Int16Array(frames * header.channels);
      new Uint8Array(samples.buffer).set(bytes.subarray(start, start + sampleBytes));
    }
    blocks.push({ deviceFrame, trueDacTimeNs, frames, silent, samples });
    off = start + sampleBytes;
  }
  return new Capture(header, blocks);
}

/** Reads and parses a capture file. */
export function readCapture(path: string): Capture {
  return parseCapture(readFileSync(path));
}
