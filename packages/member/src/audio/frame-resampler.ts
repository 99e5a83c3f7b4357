// FrameResampler: reads interleaved stereo float frames at a fractional position advancing by a ratio
// close to 1 (1 +- a few hundred ppm), with a Kaiser-windowed sinc kernel from a precomputed phase
// table. At an integer position the kernel is the identity, so ratio 1 / phase 0 is bit-transparent.

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

let sharedTable: Float32Array | null = null;

/** Table[p * TAPS + j] = weight of source frame (i - HALF + 1 + j) for frac = p / PHASES. */
function buildTable(): Float32Array {
  if (sharedTable !== null) return sharedTable;
  const t = new Float32Array((SINC_PHASES + 1) * SINC_TAPS);
  const i0b = besselI0(KAISER_BETA);
  for (let p = 0; p <= SINC_PHASES; p++) {
    const frac = p / SINC_PHASES;
    let sum = 0;
    const w = new Float64Array(SINC_TAPS);
    for (let j = 0; j < SINC_TAPS; j++) {
      const x = j - SINC_HALF_TAPS + 1 - frac; // distance from the read position
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const r = x / SINC_HALF_TAPS;
      const win = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0b;
      w[j] = sinc * win;
      sum += w[j]!;
    }
    // Unity DC gain at every phase (no amplitude modulation as the phase sweeps).
    for (let j = 0; j < SINC_TAPS; j++) t[p * SINC_TAPS + j] = w[j]! / sum;
  }
  sharedTable = t;
  return t;
}

export class FrameResampler {
  private readonly table = buildTable();

  /**
   * Frames of source needed to render `frames` output frames from fractional position `frac`
   * (0 <= frac < 1, relative to the first kernel-centre frame) at `ratio`.
   */
  static sourceFramesNeeded(frac: number, ratio: number, frames: number): number {
    return Math.floor(frac + Math.max(0, frames - 1) * ratio) + SINC_TAPS + 1;
  }

  /**
   * Renders `frames` stereo frames into `out` (interleaved). Output frame k is the source at position
   * `pos + k * ratio`, where `pos` is relative to `src` frame 0 and must be >= SINC_HALF_TAPS - 1;
   * `src` must hold sourceFramesNeeded(...) frames from there. Returns the position after the last frame.
   */
  process(src: Float32Array, pos: number, ratio: number, out: Float32Array, frames: number): number {
    const t = this.table;
    let p = pos;
    for (let k = 0; k < frames; k++) {
      const i = Math.floor(p);
      const frac = p - i;
      const ph = frac * SINC_PHASES;
      const pi = Math.floor(ph);
      const pf = ph - pi;
      const base0 = pi * SINC_TAPS;
      const base1 = base0 + SINC_TAPS;
      let sl = 0;
      let sr = 0;
      let s = (i - SINC_HALF_TAPS + 1) * 2;
      if (pf === 0) {
        for (let j = 0; j < SINC_TAPS; j++, s += 2) {
          const c = t[base0 + j]!;
          sl += c * src[s]!;
          sr += c * src[s + 1]!;
        }
      } else {
        for (let j = 0; j < SINC_TAPS; j++, s += 2) {
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
