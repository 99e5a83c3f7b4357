// Design of the polyphase anti-aliasing filter: a Kaiser-windowed sinc whose passband, transition
// band and stopband attenuation follow the two sample rates (Kaiser's formulas for beta and length).
import { assertSampleRate, gcd } from './frames-at-rate.js';

/** Flat (ripple < 0.001 dB) up to this fraction of the lower of the two rates: 19.8 kHz at 44.1 kHz. */
export const PASSBAND_FRACTION = 0.45;
/**
 * Full attenuation from this fraction of the lower rate: 1 - PASSBAND_FRACTION, i.e. 24.3 kHz at
 * 44.1 kHz, past its Nyquist. Images (upsampling) and aliases (downsampling) of everything that
 * lands below the passband edge are STOPBAND_DB down; only content between the passband edge and
 * the lower Nyquist may fold into the band above the passband edge (19.8-24 kHz: inaudible, and
 * most encoders low-pass there anyway). The transition band is 5x wider than a stopband at the
 * lower Nyquist would allow, so the kernel is ~4x shorter: 60 instead of 252 taps at 44.1k->48k
 * (bench/resampler.ts compares the designs; docs/media.md, "Resampler").
 */
export const STOPBAND_FRACTION = 1 - PASSBAND_FRACTION;
/** Stopband attenuation: images and aliases 90 dB down, near the 16-bit noise floor (-98 dBFS).
 *  With the SIMD loop the 10 dB over the former 80 cost 13 % of the resampler (bench/resampler.ts). */
export const STOPBAND_DB = 90;

/** What a filter must do, as fractions of the lower rate and a stopband attenuation. */
export interface FilterSpec {
  passbandFraction: number;
  stopbandFraction: number;
  stopbandDb: number;
}

export const DEFAULT_FILTER_SPEC: FilterSpec = {
  passbandFraction: PASSBAND_FRACTION,
  stopbandFraction: STOPBAND_FRACTION,
  stopbandDb: STOPBAND_DB,
};
/** Above this many phases the table holds this many rows and interpolates between them (odd rates). */
export const MAX_TABLE_PHASES = 4096;

export interface PolyphaseFilter {
  readonly sourceRate: number;
  readonly outputRate: number;
  /** Output advances `step` source samples per `phases` output frames: phases/step = outputRate/sourceRate, reduced. */
  readonly phases: number;
  readonly step: number;
  /** Taps per phase (a multiple of 4); output frame at source position n + p/phases uses x[n-halfTaps+1 .. n+halfTaps]. */
  readonly taps: number;
  readonly halfTaps: number;
  /** Rows of `taps` coefficients for fractional offsets r/tableRows, r = 0..tableRows (tableRows+1 rows). */
  readonly tableRows: number;
  /** True when tableRows === phases: every phase has its own exact row (no interpolation). */
  readonly exact: boolean;
  readonly coeffs: Float32Array;
  readonly beta: number;
  readonly cutoffHz: number;
  readonly passbandHz: number;
  readonly stopbandHz: number;
}

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for beta < 20). */
export function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

export function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) return 0.5842 * Math.pow(attenuationDb - 21, 0.4) + 0.07886 * (attenuationDb - 21);
  return 0;
}

export function designPolyphaseFilter(sourceRate: number, outputRate: number, spec: FilterSpec = DEFAULT_FILTER_SPEC): PolyphaseFilter {
  assertSampleRate('sourceRate', sourceRate);
  assertSampleRate('outputRate', outputRate);
  const { passbandFraction, stopbandFraction, stopbandDb } = spec;
  if (!(passbandFraction > 0 && passbandFraction < stopbandFraction && stopbandFraction < 1 && stopbandDb >= 21 && stopbandDb <= 200)) {
    throw new RangeError(`bad filter spec ${JSON.stringify(spec)}: want 0 < passband < stopband < 1 and 21..200 dB`);
  }
  const g = gcd(sourceRate, outputRate);
  const phases = outputRate / g;
  const step = sourceRate / g;
  const minRate = Math.min(sourceRate, outputRate);
  const passbandHz = passbandFraction * minRate;
  const stopbandHz = stopbandFraction * minRate;
  const cutoffHz = (passbandHz + stopbandHz) / 2;
  // All kernel maths in source samples: frequencies in cycles per source sample.
  const fc = cutoffHz / sourceRate;
  const transition = (stopbandHz - passbandHz) / sourceRate;
  const beta = kaiserBeta(stopbandDb);
  const length = Math.ceil((stopbandDb - 7.95) / (2.285 * 2 * Math.PI * transition)) + 1;
  const taps = 4 * Math.ceil(length / 4); // a multiple of 4: the inner loops are unrolled by 4
  const halfTaps = taps / 2;
  const exact = phases <= MAX_TABLE_PHASES;
  const tableRows = exact ? phases : MAX_TABLE_PHASES;
  const coeffs = new Float32Array((tableRows + 1) * taps);
  const i0Beta = besselI0(beta);
  const row = new Float64Array(taps);
  for (let r = 0; r <= tableRows; r++) {
    const frac = r / tableRows;
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const t = j - halfTaps + 1 - frac; // source index minus the output's source position
      const u = t / halfTaps;
      const w = Math.abs(u) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - u * u)) / i0Beta;
      const x = 2 * fc * t;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      row[j] = 2 * fc * sinc * w;
      sum += row[j]!;
    }
    // Unity DC gain on every phase: no phase-dependent level ripple (a tone stays at its level).
    for (let j = 0; j < taps; j++) coeffs[r * taps + j] = row[j]! / sum;
  }
  return {
    sourceRate, outputRate, phases, step, taps, halfTaps, tableRows, exact, coeffs, beta,
    cutoffHz, passbandHz, stopbandHz,
  };
}
