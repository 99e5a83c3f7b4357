// The DAC timing ring: a SharedArrayBuffer of {deviceFrame, ringPos, dacTimeNs, callbackTimeNs}
// entries appended by a sink (one per device buffer) and read by the engine, with the validity rule
// of docs/audio-shared-memory.md. This file is the JS side of both ends.

/** Bytes before the first entry. */
export const DAC_TIMING_HEADER_BYTES = 64;
/** Bytes per entry: four int64. */
export const DAC_TIMING_ENTRY_BYTES = 32;
/** Entries a reader keeps away from the writer: an entry is valid if `count_now - index <= capacity - MARGIN`. */
export const DAC_TIMING_SAFETY_MARGIN = 16;
/** Default capacity: 1024 entries = 5.5 s of 256-frame buffers at 48 kHz, ample for a drift fit. */
export const DAC_TIMING_DEFAULT_CAPACITY = 1024;
/** Capacity bounds, the same as the native addon's (it wants a margin beyond the 16 entries). */
export const DAC_TIMING_MIN_CAPACITY = 32;
export const DAC_TIMING_MAX_CAPACITY = 1 << 20;

const I64_COUNT = 0;
const I32_CAPACITY = 2;
const ENTRY_I64_BASE = DAC_TIMING_HEADER_BYTES / 8;

/**
 * One timing entry as returned to readers. Frame counts are numbers (exact up to 2^53 frames);
 * nanosecond times are bigints, because host CLOCK_MONOTONIC passes 2^53 ns after 104 days of uptime.
 */
export interface DacTimingEntry {
  /** Entry index (0 = first ever written). */
  readonly index: number;
  /** Frames the device had been given before this buffer (silence included). */
  readonly deviceFrame: number;
  /** PCM ring readPos at the start of this buffer. */
  readonly ringPos: number;
  /** Host CLOCK_MONOTONIC ns at which the buffer's first frame leaves the DAC. */
  readonly dacTimeNs: bigint;
  /** Host CLOCK_MONOTONIC ns when the callback ran. */
  readonly callbackTimeNs: bigint;
}

/** What a producer appends: each field an integer, as a number (safe integer) or a bigint. */
export interface DacTimingInput {
  readonly deviceFrame: number | bigint;
  readonly ringPos: number | bigint;
  readonly dacTimeNs: number | bigint;
  readonly callbackTimeNs: number | bigint;
}

/** Total bytes of a timing ring of `capacity` entries. */
export function dacTimingRingByteLength(capacity: number): number {
  return DAC_TIMING_HEADER_BYTES + capacity * DAC_TIMING_ENTRY_BYTES;
}

function checkCapacity(capacity: number): void {
  if (
    !Number.isSafeInteger(capacity) ||
    capacity < DAC_TIMING_MIN_CAPACITY ||
    capacity > DAC_TIMING_MAX_CAPACITY
  ) {
    throw new RangeError(
      `DacTimingRing: capacity must be an integer in [${DAC_TIMING_MIN_CAPACITY}, ${DAC_TIMING_MAX_CAPACITY}], got ${String(capacity)}`,
    );
  }
}

/** int64 bounds, computed once (this runs per DAC buffer; `2n ** 63n` is a BigInt exponentiation). */
const INT64_MIN = -(2n ** 63n);
const INT64_END = 2n ** 63n;

function toInt64(name: string, value: number | bigint): bigint {
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value >= INT64_END) throw new RangeError(`DacTimingRing: ${name} overflows int64`);
    return value;
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`DacTimingRing: ${name} must be a safe integer, got ${String(value)}`);
  }
  return BigInt(value);
}

/** One view of a timing ring: `append` by the single producer, `latest`/`since` by readers. */
export class DacTimingRing {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  private readonly i64: BigInt64Array;

  /** Creates an empty ring of `capacity` entries (32 .. 2^20). */
  static create(capacity: number = DAC_TIMING_DEFAULT_CAPACITY): DacTimingRing {
    checkCapacity(capacity);
    const sab = new SharedArrayBuffer(dacTimingRingByteLength(capacity));
    new Int32Array(sab, 0, DAC_TIMING_HEADER_BYTES / 4)[I32_CAPACITY] = capacity;
    return new DacTimingRing(sab);
  }

  /** Attaches to an existing ring, validating its header; throws RangeError/TypeError if invalid. */
  constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer)) throw new TypeError('DacTimingRing: not a SharedArrayBuffer');
    if (sab.byteLength < DAC_TIMING_HEADER_BYTES) {
      throw new RangeError(`DacTimingRing: buffer of ${sab.byteLength} bytes is shorter than the header`);
    }
    const capacity = new Int32Array(sab, 0, DAC_TIMING_HEADER_BYTES / 4)[I32_CAPACITY] ?? 0;
    checkCapacity(capacity);
    const needed = dacTimingRingByteLength(capacity);
    if (sab.byteLength < needed) {
      throw new RangeError(`DacTimingRing: buffer has ${sab.byteLength} bytes, header needs ${needed}`);
    }
    this.sab = sab;
    this.capacity = capacity;
    this.i64 = new BigInt64Array(sab, 0, needed / 8);
    if (Atomics.load(this.i64, I64_COUNT) < 0n) throw new RangeError('DacTimingRing: negative count');
  }

  /** Entries ever written. */
  get count(): number {
    return Number(Atomics.load(this.i64, I64_COUNT));
  }

  /** Producer: writes the entry into slot `count % capacity`, then publishes it by incrementing count. */
  append(entry: DacTimingInput): void {
    const deviceFrame = toInt64('deviceFrame', entry.deviceFrame);
    const ringPos = toInt64('ringPos', entry.ringPos);
    const dacTimeNs = toInt64('dacTimeNs', entry.dacTimeNs);
    const callbackTimeNs = toInt64('callbackTimeNs', entry.callbackTimeNs);
    const n = Atomics.load(this.i64, I64_COUNT);
    const base = ENTRY_I64_BASE + Number(n % BigInt(this.capacity)) * 4;
    Atomics.store(this.i64, base, deviceFrame);
    Atomics.store(this.i64, base + 1, ringPos);
    Atomics.store(this.i64, base + 2, dacTimeNs);
    Atomics.store(this.i64, base + 3, callbackTimeNs);
    Atomics.store(this.i64, I64_COUNT, n + 1n);
  }

  /**
   * Up to `n` most recent valid entries, oldest first. Stops at the first entry that fails the
   * validity rule (it and everything older may have been overwritten while reading).
   */
  latest(n: number): DacTimingEntry[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DacTimingRing.latest: bad n ${String(n)}`);
    const count = this.count;
    const out: DacTimingEntry[] = [];
    for (let index = count - 1; index >= 0 && out.length < n; index--) {
      const entry = this.readValid(index);
      if (entry === undefined) break;
      out.push(entry);
    }
    return out.reverse();
  }

  /**
   * Valid entries with index >= `fromIndex`, oldest first. If the ring wrapped past `fromIndex`,
   * the result starts later (compare `result[0].index` with `fromIndex` to see how many were lost).
   * The next call should pass `last.index + 1` (or `fromIndex` again if nothing came back).
   */
  since(fromIndex: number): DacTimingEntry[] {
    if (!Number.isSafeInteger(fromIndex) || fromIndex < 0) {
      throw new RangeError(`DacTimingRing.since: bad index ${String(fromIndex)}`);
    }
    const count = this.count;
    const oldestSafe = Math.max(fromIndex, count - (this.capacity - DAC_TIMING_SAFETY_MARGIN));
    const out: DacTimingEntry[] = [];
    for (let index = oldestSafe; index < count; index++) {
      const entry = this.readValid(index);
      // A failed entry was overwritten during the read: drop what we have and keep the newer ones.
      if (entry === undefined) out.length = 0;
      else out.push(entry);
    }
    return out;
  }

  /** Reads entry `index` (< count), then applies the validity rule; undefined if overwritten. */
  private readValid(index: number): DacTimingEntry | undefined {
    const base = ENTRY_I64_BASE + (index % this.capacity) * 4;
    const deviceFrame = Atomics.load(this.i64, base);
    const ringPos = Atomics.load(this.i64, base + 1);
    const dacTimeNs = Atomics.load(this.i64, base + 2);
    const callbackTimeNs = Atomics.load(this.i64, base + 3);
    const countNow = this.count;
    if (countNow - index > this.capacity - DAC_TIMING_SAFETY_MARGIN) return undefined;
    return { index, deviceFrame: Number(deviceFrame), ringPos: Number(ringPos), dacTimeNs, callbackTimeNs };
  }
}
