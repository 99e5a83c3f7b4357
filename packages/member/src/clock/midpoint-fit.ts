// The midpoint estimator beside the delay-floor envelope (time-filter.ts): a weighted line through
// the samples' midpoint offsets, each weighted by the inverse of the offset scatter measured among
// samples of similar round-trip delay. This module finds the weights (weighted-line.ts fits the
// line). Pure. Why: docs/clock.md, Estimator step 5 ("two estimators").
import { kthSmallest } from './order-statistics.js';

/** Samples per delay class at least (fewer classes with fewer samples; one class below 2x this). */
export const MIDPOINT_MIN_PER_CLASS = 32;
/** At most this many delay classes (by rank of the delay). */
export const MIDPOINT_MAX_CLASSES = 8;
/** A sample farther than this many of its class's scales from the preliminary line gets weight 0. */
export const MIDPOINT_REJECT_SCALES = 4;
/** Lower bound of a class's scale, µs (timestamp resolution: keeps weights finite). */
export const MIDPOINT_MIN_SCALE_US = 1;
/** MAD -> standard deviation of a normal distribution. */
const MAD_TO_SD = 1.4826;

/** Work arrays, reused from fit to fit: grown with the window, never shrunk. */
export class MidpointScratch {
  private capacity = 0;
  byDelay = new Int32Array(0);
  resid = new Float64Array(0);
  sel = new Float64Array(0);
  weight = new Float64Array(0);

  ensure(n: number): this {
    if (n <= this.capacity) return this;
    const c = Math.max(n, 2 * this.capacity);
    this.capacity = c;
    this.byDelay = new Int32Array(c);
    this.resid = new Float64Array(c);
    this.sel = new Float64Array(c);
    this.weight = new Float64Array(c);
    return this;
  }
}

/**
 * Weights for the kept samples (keep[i] = 1) of x, y (offset), d (delay), written to sc.weight:
 * the samples are ranked by delay and split into classes of equal count; a class's weight is the
 * inverse square of the robust scale (MAD) of its residuals against the preliminary line
 * y = a0 + b0 x. On a link whose asymmetry does not depend on the delay (Gaussian jitter both
 * ways) every class gets the same weight: the plain mean, the efficient estimate there. On WiFi
 * the low-delay classes scatter least and dominate. Returns how many samples got a weight > 0.
 */
export function midpointWeights(
  x: Float64Array,
  y: Float64Array,
  d: Float64Array,
  keep: Uint8Array,
  n: number,
  a0: number,
  b0: number,
  sc: MidpointScratch,
): number {
  sc.ensure(n);
  const { byDelay, resid, sel, weight } = sc;
  let m = 0;
  for (let i = 0; i < n; i++) {
    weight[i] = 0;
    if (keep[i] === 1) byDelay[m++] = i;
  }
  if (m === 0) return 0;
  const ranked = byDelay.subarray(0, m);
  ranked.sort((p, q) => (d[p] as number) - (d[q] as number) || p - q);
  const classes = Math.max(1, Math.min(MIDPOINT_MAX_CLASSES, Math.floor(m / MIDPOINT_MIN_PER_CLASS)));
  let used = 0;
  for (let c = 0; c < classes; c++) {
    const from = Math.floor((c * m) / classes);
    const to = Math.floor(((c + 1) * m) / classes);
    const cnt = to - from;
    for (let t = 0; t < cnt; t++) {
      const i = ranked[from + t] as number;
      resid[t] = (y[i] as number) - (a0 + b0 * (x[i] as number));
    }
    const med = kthSmallest(resid, cnt, Math.floor(cnt / 2), sel) ?? 0;
    for (let t = 0; t < cnt; t++) resid[t] = Math.abs((resid[t] as number) - med);
    const mad = kthSmallest(resid, cnt, Math.floor(cnt / 2), sel) ?? 0;
    const scale = Math.max(MIDPOINT_MIN_SCALE_US, MAD_TO_SD * mad);
    const wc = 1 / (scale * scale);
    const limit = MIDPOINT_REJECT_SCALES * scale;
    for (let t = 0; t < cnt; t++) {
      const i = ranked[from + t] as number;
      const r = (y[i] as number) - (a0 + b0 * (x[i] as number)) - med;
      if (Math.abs(r) <= limit) {
        weight[i] = wc;
        used++;
      }
    }
  }
  return used;
}
