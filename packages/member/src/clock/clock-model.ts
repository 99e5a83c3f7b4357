// The member's clock model (local clock -> leader timescale) and its lock-free publication through a
// SharedArrayBuffer seqlock, so the audio engine worker reads the newest model without messages.

/**
 * leaderUs = leaderRefUs + (localUs - localRefUs) * (1 + rate). Times are µs (fractional allowed):
 * localUs on the member's ClockSource, leaderUs on the leader timescale (Unix-epoch based).
 */
export interface ClockModel {
  localRefUs: number;
  leaderRefUs: number;
  /** d leader / d local - 1 (dimensionless; 1e-6 = 1 ppm). */
  rate: number;
  /** Estimated bound (~95 %) of |model - truth| at publication time; grows in holdover. */
  uncertaintyUs: number;
  /** The model is good enough to schedule audio with. */
  synced: boolean;
  /** Samples in the estimator's window. */
  samples: number;
  /** Round-trip delay of the most recent accepted exchange (µs, 0 if none). */
  rttUs: number;
  /** Local time of the most recent accepted sample (µs on the ClockSource; 0 if none). */
  lastSampleLocalUs: number;
}

export function leaderFromLocal(m: ClockModel, localUs: number): number {
  return m.leaderRefUs + (localUs - m.localRefUs) * (1 + m.rate);
}

export function localFromLeader(m: ClockModel, leaderUs: number): number {
  return m.localRefUs + (leaderUs - m.leaderRefUs) / (1 + m.rate);
}

export function isClockModel(v: unknown): v is ClockModel {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  for (const k of ['localRefUs', 'leaderRefUs', 'rate', 'uncertaintyUs', 'samples', 'rttUs', 'lastSampleLocalUs']) {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k] as number)) return false;
  }
  return typeof o.synced === 'boolean';
}

// Shared layout: Int32 words. [0] sequence (odd while writing), [1] flags (bit0 present, bit1
// synced), then 7 float64 fields as pairs of int32 words, each written with Atomics so the seqlock
// is correct on weakly ordered CPUs (ARM: Raspberry Pi) too.
const SEQ = 0;
const FLAGS = 1;
const FIELD_BASE = 2;
const FIELDS = ['localRefUs', 'leaderRefUs', 'rate', 'uncertaintyUs', 'samples', 'rttUs', 'lastSampleLocalUs'] as const;
const WORDS = FIELD_BASE + FIELDS.length * 2;
/** A reader retries this often if it keeps catching the writer mid-update, then gives up (null). */
const READ_RETRIES = 64;

export const CLOCK_MODEL_SHARE_BYTES = WORDS * 4;

/** Writer and reader of a ClockModel in shared memory. One writer; any number of readers. */
export class ClockModelShare {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly scratchF = new Float64Array(1);
  private readonly scratchI = new Int32Array(this.scratchF.buffer);

  constructor(buffer?: SharedArrayBuffer) {
    const b = buffer ?? new SharedArrayBuffer(CLOCK_MODEL_SHARE_BYTES);
    if (!(b instanceof SharedArrayBuffer) || b.byteLength < CLOCK_MODEL_SHARE_BYTES) {
      throw new TypeError(`ClockModelShare needs a SharedArrayBuffer of >= ${CLOCK_MODEL_SHARE_BYTES} bytes`);
    }
    this.buffer = b;
    this.words = new Int32Array(b, 0, WORDS);
  }

  publish(m: ClockModel | null): void {
    const w = this.words;
    const seq = Atomics.load(w, SEQ);
    Atomics.store(w, SEQ, (seq + 1) | 0); // odd: writing
    if (m === null) {
      Atomics.store(w, FLAGS, 0);
    } else {
      FIELDS.forEach((k, i) => this.storeF64(FIELD_BASE + i * 2, m[k]));
      Atomics.store(w, FLAGS, 1 | (m.synced ? 2 : 0));
    }
    Atomics.store(w, SEQ, (seq + 2) | 0); // even: stable
  }

  /** Newest complete model, or null if none was published (or the writer never lets go). */
  read(): ClockModel | null {
    const w = this.words;
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      const s1 = Atomics.load(w, SEQ);
      if (s1 & 1) continue;
      const flags = Atomics.load(w, FLAGS);
      const vals = FIELDS.map((_, i) => this.loadF64(FIELD_BASE + i * 2));
      if (Atomics.load(w, SEQ) !== s1) continue;
      if ((flags & 1) === 0) return null;
      return {
        localRefUs: vals[0] ?? 0,
        leaderRefUs: vals[1] ?? 0,
        rate: vals[2] ?? 0,
        uncertaintyUs: vals[3] ?? 0,
        samples: vals[4] ?? 0,
        rttUs: vals[5] ?? 0,
        lastSampleLocalUs: vals[6] ?? 0,
        synced: (flags & 2) !== 0,
      };
    }
    return null;
  }

  /** Publication counter (even); changes whenever a new model is published. */
  sequence(): number {
    return Atomics.load(this.words, SEQ);
  }

  private storeF64(at: number, v: number): void {
    this.scratchF[0] = v;
    Atomics.store(this.words, at, this.scratchI[0] ?? 0);
    Atomics.store(this.words, at + 1, this.scratchI[1] ?? 0);
  }

  private loadF64(at: number): number {
    this.scratchI[0] = Atomics.load(this.words, at);
    this.scratchI[1] = Atomics.load(this.words, at + 1);
    return this.scratchF[0] ?? 0;
  }
}
