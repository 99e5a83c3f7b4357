// Collects resampled stereo float frames as interleaved int16 (rounded, clipped) in a
// SharedArrayBuffer sized from an estimate, so the finished track crosses threads without a copy;
// or straight into a caller's fixed-size SharedArrayBuffer that may already be playing.

/** Extra room over the estimate: headers can understate length slightly (VBR, padding). */
const ESTIMATE_SLACK = 1.02;
const ESTIMATE_EXTRA_FRAMES = 48_000;
/** Growth factor when the estimate was too small (each growth copies once). */
const GROWTH = 1.5;
/** Re-copy into an exact-size buffer at the end when more than this fraction would be wasted. */
const MAX_WASTE_FRACTION = 0.05;
const CHANNELS = 2;

export class PcmAccumulator {
  private sab: SharedArrayBuffer;
  private view: Int16Array;
  private frames = 0;
  /** Fixed target (caller's buffer): never grows, frames beyond it are counted but dropped. */
  private readonly fixed: boolean;

  /**
   * `estimatedFrames`: a size estimate (the buffer grows if it was too small), or a caller's
   * SharedArrayBuffer of exactly the expected length to fill in place (a reader may already be
   * reading it: frames become valid in order, front to back).
   * `scale` undoes the decoder's int->float scaling so lossless 16-bit sources come out bit-exact.
   */
  constructor(estimatedFrames: number | SharedArrayBuffer, private readonly scale: Int16Scale = DEFAULT_INT16_SCALE) {
    if (estimatedFrames instanceof SharedArrayBuffer) {
      this.sab = estimatedFrames;
      this.view = new Int16Array(this.sab, 0, Math.floor(this.sab.byteLength / (CHANNELS * 2)) * CHANNELS);
      this.fixed = true;
      return;
    }
    const capacity = Math.ceil(Math.max(0, estimatedFrames) * ESTIMATE_SLACK) + ESTIMATE_EXTRA_FRAMES;
    this.sab = new SharedArrayBuffer(capacity * CHANNELS * 2);
    this.view = new Int16Array(this.sab);
    this.fixed = false;
  }

  /** Frames written so far (in fixed mode including those that did not fit). */
  get length(): number {
    return this.frames;
  }

  /** Frames the buffer holds (fixed mode: its capacity). */
  get capacity(): number {
    return this.view.length / CHANNELS;
  }

  write(left: Float32Array, right: Float32Array): void {
    const total = left.length;
    if (!this.fixed) this.reserve(this.frames + total);
    const n = Math.max(0, Math.min(total, this.capacity - this.frames));
    const out = this.view;
    const { neg, pos } = this.scale;
    let o = this.frames * CHANNELS;
    for (let i = 0; i < n; i++) {
      out[o++] = toInt16(left[i]!, neg, pos);
      out[o++] = toInt16(right[i]!, neg, pos);
    }
    this.frames += total;
  }

  /** Interleaved stereo int16 of exactly `length` frames (fixed mode: at most its capacity), over a SharedArrayBuffer. */
  finish(): Int16Array {
    if (this.fixed) return this.view.subarray(0, Math.min(this.frames, this.capacity) * CHANNELS);
    const used = this.frames * CHANNELS;
    if (this.view.length - used > this.view.length * MAX_WASTE_FRACTION) {
      const exact = new Int16Array(new SharedArrayBuffer(used * 2));
      exact.set(this.view.subarray(0, used));
      return exact;
    }
    return new Int16Array(this.sab, 0, used);
  }

  private reserve(frames: number): void {
    if (frames * CHANNELS <= this.view.length) return;
    const capacity = Math.max(frames, Math.ceil((this.view.length / CHANNELS) * GROWTH));
    const sab = new SharedArrayBuffer(capacity * CHANNELS * 2);
    const view = new Int16Array(sab);
    view.set(this.view.subarray(0, this.frames * CHANNELS));
    this.sab = sab;
    this.view = view;
  }
}

/** Multipliers from float to int16 for negative and positive samples. */
export interface Int16Scale {
  neg: number;
  pos: number;
}

/** audio-decode's WAV decoder maps int16 to float as v/32768 (v < 0) and v/32767 (v >= 0). */
export const DEFAULT_INT16_SCALE: Int16Scale = { neg: 32768, pos: 32767 };
/** Its FLAC decoder divides by 32767 on both sides. */
const FLAC_INT16_SCALE: Int16Scale = { neg: 32767, pos: 32767 };

/** The scale that makes 16-bit lossless sources of this format round-trip exactly. */
export function int16ScaleFor(format: string): Int16Scale {
  return format === 'flac' ? FLAC_INT16_SCALE : DEFAULT_INT16_SCALE;
}

/**
 * Float sample (full scale = 1.0) to int16: scale, round (half up, as Math.round), clip. Written
 * as floor(x + 0.5) with the scale picked arithmetically: with a branch on the sign of audio (a
 * coin toss) this was 12 % of a whole decode (mispredictions); now ~7 %.
 */
export function toInt16(v: number, neg = DEFAULT_INT16_SCALE.neg, pos = DEFAULT_INT16_SCALE.pos): number {
  const negative = v < 0 ? 1 : 0;
  const s = Math.floor(v * (pos + negative * (neg - pos)) + 0.5);
  return Math.max(-32768, Math.min(32767, s));
}
