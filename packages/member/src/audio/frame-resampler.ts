// FrameResampler: reads interleaved stereo float frames at a fractional position advancing by a ratio
// close to 1 (1 +- a few hundred ppm: drift), or close to timelineRate/deviceRate for a device at
// another rate, with a Kaiser-windowed sinc kernel from a precomputed phase table. At an integer
// position the default kernel is the identity, so ratio 1 / phase 0 is bit-transparent. On buffers
// from `workBuffers()` the loop runs as wasm SIMD (frame-resampler-kernel.ts), bit-identical.
import { frameResamplerKernel, type FrameKernel } from './frame-resampler-kernel.js';

/** Taps on each side of the read position: 16 taps keep the passband flat to ~18 kHz at 48 kHz. */
export const SINC_HALF_TAPS = 8;
export const SINC_TAPS = 2 * SINC_HALF_TAPS;
/** Phase resolution of the table; linear interpolation between neighbouring phases. */
export const SINC_PHASES = 512;
/** Kaiser beta: ~-70 dB side lobes, enough for an inaudible ratio change. */
const KAISER_BETA = 7;

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/**
 * A device slower than the timeline (48 kHz played at 44.1 kHz) needs a low-pass below the device's
 * Nyquist: the kernel's -6 dB point sits at this fraction of it, so what would fold back lands
 * above ~20 kHz at 44.1 kHz, with twice the taps for a steeper edge.
 */
export const DOWNSAMPLE_CUTOFF_FRACTION = 0.9;
export const DOWNSAMPLE_HALF_TAPS = 16;

const tables = new Map<string, Float32Array>();

/** Table[p * taps + j] = weight of source frame (i - half + 1 + j) for frac = p / PHASES. */
function buildTable(halfTaps: number, cutoff: number): Float32Array {
  const key = `${halfTaps}/${cutoff}`;
  const cached = tables.get(key);
  if (cached !== undefined) return cached;
  const taps = 2 * halfTaps;
  const t = new Float32Array((SINC_PHASES + 1) * taps);
  const i0b = besselI0(KAISER_BETA);
  const w = new Float64Array(taps);
  for (let p = 0; p <= SINC_PHASES; p++) {
    const frac = p / SINC_PHASES;
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const x = j - halfTaps + 1 - frac; // distance from the read position
      const xc = x * cutoff;
      const sinc = xc === 0 ? 1 : Math.sin(Math.PI * xc) / (Math.PI * xc);
      const r = x / halfTaps;
      const win = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0b;
      w[j] = sinc * win;
      sum += w[j]!;
    }
    // Unity DC gain at every phase (no amplitude modulation as the phase sweeps).
    for (let j = 0; j < taps; j++) t[p * taps + j] = w[j]! / sum;
  }
  tables.set(key, t);
  return t;
}

export class FrameResampler {
  readonly halfTaps: number;
  readonly taps: number;
  /** low-pass edge as a fraction of the source's Nyquist (1: none beyond the source's own) */
  readonly cutoff: number;
  private readonly table: Float32Array;
  /** The wasm kernel whose memory holds the table and the buffers of `workBuffers()`; null: JS only. */
  private kernel: FrameKernel | null = null;

  constructor(opts: { halfTaps?: number; cutoff?: number } = {}) {
    this.halfTaps = opts.halfTaps ?? SINC_HALF_TAPS;
    this.cutoff = opts.cutoff ?? 1;
    if (!Number.isInteger(this.halfTaps) || this.halfTaps < 2 || this.halfTaps > 64) throw new RangeError('FrameResampler: halfTaps must be an integer in 2..64');
    if (!(this.cutoff > 0.1 && this.cutoff <= 1)) throw new RangeError('FrameResampler: cutoff must be in (0.1, 1]');
    this.taps = 2 * this.halfTaps;
    this.table = buildTable(this.halfTaps, this.cutoff);
  }

  /**
   * The resampler for a nominal ratio (source frames per output frame): the default kernel up to
   * ratio 1 (drift correction, or a device faster than the timeline), an anti-aliasing one above.
   */
  static forRatio(nominalRatio: number): FrameResampler {
    if (nominalRatio <= 1.001) return new FrameResampler();
    return new FrameResampler({ halfTaps: DOWNSAMPLE_HALF_TAPS, cutoff: DOWNSAMPLE_CUTOFF_FRACTION / nominalRatio });
  }

  /**
   * Frames of source needed to render `frames` output frames from fractional position `frac`
   * (0 <= frac < 1, relative to the first kernel-centre frame) at `ratio`, with the default kernel.
   */
  static sourceFramesNeeded(frac: number, ratio: number, frames: number): number {
    return Math.floor(frac + Math.max(0, frames - 1) * ratio) + SINC_TAPS + 1;
  }

  /** sourceFramesNeeded for this resampler's kernel. */
  framesNeeded(frac: number, ratio: number, frames: number): number {
    return Math.floor(frac + Math.max(0, frames - 1) * ratio) + this.taps + 1;
  }

  /**
   * Buffers for process() of `srcSamples` and `outSamples` floats (zeroed). Where wasm SIMD is
   * available they live in the kernel's memory beside the phase table, and process() on exactly
   * these buffers runs the kernel instead of the JS loop (same output, bit for bit). Once per
   * resampler: a second call replaces the first's kernel.
   */
  workBuffers(srcSamples: number, outSamples: number): { src: Float32Array; out: Float32Array } {
    const tableBytes = this.table.length * 8;
    const srcAt = Math.ceil(tableBytes / 16) * 16;
    const outAt = srcAt + Math.ceil((srcSamples * 4) / 16) * 16;
    const kernel = frameResamplerKernel(outAt + outSamples * 4);
    this.kernel = kernel;
    if (kernel === null) return { src: new Float32Array(srcSamples), out: new Float32Array(outSamples) };
    // The kernel reads the table widened to float64 (exact): no conversion per tap.
    new Float64Array(kernel.memory.buffer, 0, this.table.length).set(this.table);
    return { src: new Float32Array(kernel.memory.buffer, srcAt, srcSamples), out: new Float32Array(kernel.memory.buffer, outAt, outSamples) };
  }

  /** True when process() runs the wasm kernel on these buffers. */
  runsKernelOn(src: Float32Array, out: Float32Array): boolean {
    const k = this.kernel;
    return k !== null && src.buffer === k.memory.buffer && out.buffer === k.memory.buffer;
  }

  /**
   * Renders `frames` stereo frames into `out` (interleaved). Output frame k is the source at position
   * `pos + k * ratio`, where `pos` is relative to `src` frame 0 and must be >= halfTaps - 1;
   * `src` must hold framesNeeded(...) frames from there. Returns the position after the last frame.
   */
  process(src: Float32Array, pos: number, ratio: number, out: Float32Array, frames: number): number {
    const k = this.kernel;
    if (k !== null && src.buffer === k.memory.buffer && out.buffer === k.memory.buffer) {
      return k.run(0, src.byteOffset, out.byteOffset, frames, this.taps, this.halfTaps, SINC_PHASES, pos, ratio);
    }
    const t = this.table;
    const taps = this.taps;
    const half = this.halfTaps;
    let p = pos;
    for (let k = 0; k < frames; k++) {
      const i = Math.floor(p);
      const frac = p - i;
      const ph = frac * SINC_PHASES;
      const pi = Math.floor(ph);
      const pf = ph - pi;
      const base0 = pi * taps;
      const base1 = base0 + taps;
      let sl = 0;
      let sr = 0;
      let s = (i - half + 1) * 2;
      if (pf === 0) {
        for (let j = 0; j < taps; j++, s += 2) {
          const c = t[base0 + j]!;
          sl += c * src[s]!;
          sr += c * src[s + 1]!;
        }
      } else {
        for (let j = 0; j < taps; j++, s += 2) {
          const c0 = t[base0 + j]!;
          const c = c0 + (t[base1 + j]! - c0) * pf;
          sl += c * src[s]!;
          sr += c * src[s + 1]!;
        }
      }
      out[2 * k] = sl;
      out[2 * k + 1] = sr;
      p += ratio;
    }
    return p;
  }
}
