// The frequency response of a designed polyphase filter, from its actual (float32) coefficients:
// passband ripple and stopband attenuation, the two figures its quality is judged by
// (bench/resampler.ts reports them beside the cost; polyphase-resampler.test.ts pins them).
import type { PolyphaseFilter } from './kaiser-sinc.js';

export interface FilterResponse {
  /** Largest deviation from unity gain in dB over 0..passbandHz. */
  passbandRippleDb: number;
  /** How far below unity the loudest point at or beyond stopbandHz is, in dB (positive). */
  stopbandAttenuationDb: number;
  /** Gain in dB at a few frequencies of interest (Hz of the source rate). */
  gainDbAt: (hz: number) => number;
}

/**
 * The filter's rows interleaved are one long prototype on a grid of 1/tableRows source samples;
 * its spectrum (zero-padded FFT, >= 16 points per sidelobe) up to that grid's Nyquist covers every
 * image and alias the resampler can make.
 */
export function filterResponse(f: PolyphaseFilter): FilterResponse {
  const rows = f.tableRows;
  const len = rows * f.taps;
  let n = 1 << 17;
  while (n < 16 * len) n *= 2;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  // Row r, tap j sits at source offset j - halfTaps + 1 - r/rows: grid index (j - halfTaps + 1) * rows - r.
  const first = (1 - f.halfTaps) * rows - (rows - 1);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < f.taps; j++) re[(j - f.halfTaps + 1) * rows - r - first] = f.coeffs[r * f.taps + j]!;
  }
  fft(re, im);
  // Every row sums to 1, so the prototype's DC gain is `rows`.
  const gainDb = (bin: number): number => 20 * Math.log10(Math.hypot(re[bin]!, im[bin]!) / rows);
  const hzPerBin = (f.sourceRate * rows) / n;
  let ripple = 0;
  let stopMax = -Infinity;
  for (let b = 0; b <= n / 2; b++) {
    const hz = b * hzPerBin;
    if (hz <= f.passbandHz) ripple = Math.max(ripple, Math.abs(gainDb(b)));
    else if (hz >= f.stopbandHz) stopMax = Math.max(stopMax, gainDb(b));
  }
  return {
    passbandRippleDb: ripple,
    stopbandAttenuationDb: -stopMax,
    gainDbAt: (hz) => gainDb(Math.min(n / 2, Math.round(Math.abs(hz) / hzPerBin))),
  };
}

/** In-place iterative radix-2 complex FFT (n a power of two). */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]!; re[i] = re[j]!; re[j] = t;
      t = im[i]!; im[i] = im[j]!; im[j] = t;
    }
  }
  for (let size = 2; size <= n; size *= 2) {
    const half = size / 2;
    const step = (-2 * Math.PI) / size;
    for (let k = 0; k < half; k++) {
      const wr = Math.cos(step * k);
      const wi = Math.sin(step * k);
      for (let s = k; s < n; s += size) {
        const t = s + half;
        const xr = wr * re[t]! - wi * im[t]!;
        const xi = wr * im[t]! + wi * re[t]!;
        re[t] = re[s]! - xr; im[t] = im[s]! - xi;
        re[s] = re[s]! + xr; im[s] = im[s]! + xi;
      }
    }
  }
}
