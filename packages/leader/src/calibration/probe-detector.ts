// Finds one known probe in a recording: a matched filter (cross-correlation through the FFT) over a
// window of lags, the peak placed to a fraction of a sample by a parabola through its neighbours,
// and a confidence figure: the peak over the rms of the correlation away from the peak (dB).
import { fft, nextPow2 } from './fft.js';

/** Correlation this close to the peak belongs to it (main lobe and near sidelobes of a sweep). */
const PEAK_GUARD_MS = 5;
/**
 * A probe counts as heard from this peak-to-noise ratio on. With noise alone the largest of ~50 000
 * correlation values is ~4.5 rms (13 dB); 18 dB (8 rms) is not reached by chance.
 */
export const HEARD_MIN_DB = 18;

export interface ProbeMatch {
  /** Recording sample (fractional) where the probe's first sample arrived. */
  positionSamples: number;
  /** Peak over the rms of the rest of the correlation, dB. */
  peakToNoiseDb: number;
  /** Amplitude of the arrival relative to the probe as played (1: unity gain), sign removed. */
  gain: number;
  heard: boolean;
}

/** Prepared once per probe: its spectrum at each FFT size used. */
export class ProbeDetector {
  private readonly energy: number;
  private readonly spectra = new Map<number, { re: Float64Array; im: Float64Array }>();

  constructor(private readonly probe: Float32Array, private readonly rate: number, private readonly heardMinDb = HEARD_MIN_DB) {
    let e = 0;
    for (const v of probe) e += v * v;
    this.energy = e;
  }

  /**
   * Searches arrivals whose first sample lies in [fromSample, toSample] of `rec`. Returns null when
   * the window does not lie inside the recording.
   */
  find(rec: Float32Array, fromSample: number, toSample: number): ProbeMatch | null {
    const n = this.probe.length;
    const from = Math.floor(fromSample);
    const lags = Math.floor(toSample) - from + 1;
    if (from < 0 || lags < 3 || from + lags - 1 + n > rec.length) return null;
    const size = nextPow2(lags + n);
    const spec = this.spectrum(size);
    const re = new Float64Array(size);
    const im = new Float64Array(size);
    for (let i = 0; i < lags - 1 + n; i++) re[i] = rec[from + i]!;
    fft(re, im);
    // Correlation: X · conj(P).
    for (let k = 0; k < size; k++) {
      const xr = re[k]!; const xi = im[k]!;
      const pr = spec.re[k]!; const pi = spec.im[k]!;
      re[k] = xr * pr + xi * pi;
      im[k] = xi * pr - xr * pi;
    }
    fft(re, im, true);
    let best = 0;
    for (let l = 1; l < lags; l++) if (Math.abs(re[l]!) > Math.abs(re[best]!)) best = l;
    const sign = re[best]! < 0 ? -1 : 1;
    let frac = 0;
    if (best > 0 && best < lags - 1) {
      const a = sign * re[best - 1]!; const b = sign * re[best]!; const c = sign * re[best + 1]!;
      const den = a - 2 * b + c;
      if (den < 0) frac = Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / den));
    }
    const guard = Math.round((PEAK_GUARD_MS * this.rate) / 1000);
    let sum = 0;
    let count = 0;
    for (let l = 0; l < lags; l++) {
      if (Math.abs(l - best) <= guard) continue;
      sum += re[l]! * re[l]!;
      count++;
    }
    const peak = Math.abs(re[best]!);
    const rms = count > 0 ? Math.sqrt(sum / count) : 0;
    const peakToNoiseDb = rms > 0 ? 20 * Math.log10(peak / rms) : (peak > 0 ? Infinity : 0);
    return {
      positionSamples: from + best + frac,
      peakToNoiseDb,
      gain: this.energy > 0 ? peak / this.energy : 0,
      heard: peakToNoiseDb >= this.heardMinDb,
    };
  }

  private spectrum(size: number): { re: Float64Array; im: Float64Array } {
    let s = this.spectra.get(size);
    if (!s) {
      const re = new Float64Array(size);
      const im = new Float64Array(size);
      for (let i = 0; i < this.probe.length; i++) re[i] = this.probe[i]!;
      fft(re, im);
      s = { re, im };
      this.spectra.set(size, s);
    }
    return s;
  }
}
