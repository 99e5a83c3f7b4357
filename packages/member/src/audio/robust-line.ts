// A straight line through points that may hold a minority of wild ones: iteratively reweighted
// least squares with Tukey's biweight (points further than ~4.7 robust sigmas get weight 0), so a
// stretch of wrong reports cannot pull the line the way it pulls a plain least-squares fit.
// Allocation-free: the caller owns the arrays (the DAC clock refits on the engine thread). Medians
// by selection (O(n), no sort): the same values, at ~5 % of the engine thread's CPU less.
import { medianInPlace, selectInPlace } from '../clock/order-statistics.js';

/** Tukey's tuning constant: 95 % efficiency on Gaussian noise. */
const TUKEY_C = 4.685;
/** Reweighting passes after the resistant start: the weights settle within 3-4. */
const ITERATIONS = 8;
/** MAD -> sigma for Gaussian noise. */
const MAD_TO_SIGMA = 1.4826;

export interface RobustLineFit {
  /** y at x0 */
  a: number;
  /** dy/dx */
  b: number;
  /** the weighted mean x (where `a` is best determined) */
  x0: number;
  /** rms of the kept points' residuals (weighted), at least `scaleFloor` */
  scale: number;
  /** sum of the final weights: the effective number of points */
  weight: number;
  /**
   * robust scatter of *all* points around the line (MAD -> sigma, at least `scaleFloor`). Equal to
   * `scale` for a line with a few wild points; far above it when the "line" is one stretch of data
   * that is not a line (a sawtooth's one tooth fits well, its other teeth are all rejected).
   */
  spread: number;
  /** standard error of `b` from the larger of `scale` and `spread` (the prior ignored) */
  slopeSe: number;
}

export interface RobustLineOptions {
  /** the smallest scale reported (and weighted by the caller) */
  scaleFloor: number;
  /**
   * the smallest scale used to reject points (default scaleFloor): residuals within ~4.7 times
   * this are never outliers. Noise that wanders slowly would otherwise make the weights, and so
   * the line, jump as stretches of it cross the threshold.
   */
  rejectScaleFloor?: number;
  /** a weak prior on the slope: (prior b, its weight in units of sum w·dx²) */
  priorB?: number;
  priorSxx?: number;
}

/**
 * Fits y = a + b (x - x0) to points 0..n-1 of xs/ys. `w` and `scratch` are work arrays of at
 * least n entries. Returns false when fewer than 2 points carry weight.
 */
export function fitRobustLine(xs: Float64Array, ys: Float64Array, n: number, w: Float64Array, scratch: Float64Array, opts: RobustLineOptions, out: RobustLineFit): boolean {
  if (n < 2) return false;
  const priorSxx = opts.priorSxx ?? 0;
  const priorB = opts.priorB ?? 0;
  const rejectFloor = Math.max(opts.scaleFloor, opts.rejectScaleFloor ?? 0);
  // Start from Tukey's resistant line (medians of the outer thirds), not from least squares: with
  // a third of the points wild, a least-squares start leaves the reweighting in the wrong place.
  const start = resistantLine(xs, ys, n, scratch);
  for (let i = 0; i < n; i++) {
    const u = (ys[i]! - (start.a + start.b * xs[i]!)) / (TUKEY_C * Math.max(rejectFloor, start.scale));
    w[i] = Math.abs(u) < 1 ? (1 - u * u) * (1 - u * u) : 0;
  }
  let a = 0;
  let b = priorB;
  let x0 = 0;
  let sw = 0;
  let sxxFinal = 0;
  for (let it = 0; it <= ITERATIONS; it++) {
    sw = 0;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      sw += w[i]!;
      sx += w[i]! * xs[i]!;
      sy += w[i]! * ys[i]!;
    }
    if (!(sw > 0)) return false;
    x0 = sx / sw;
    const y0 = sy / sw;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      const dx = xs[i]! - x0;
      sxx += w[i]! * dx * dx;
      sxy += w[i]! * dx * (ys[i]! - y0);
    }
    b = sxx + priorSxx > 0 ? (sxy + priorSxx * priorB) / (sxx + priorSxx) : priorB;
    a = y0;
    sxxFinal = sxx;
    if (it === ITERATIONS) break;
    // Robust scale from the median absolute residual of all points (not only the kept ones).
    // (The upper middle value for even n, as ever: scratch[n >> 1] of the sorted residuals.)
    for (let i = 0; i < n; i++) scratch[i] = Math.abs(ys[i]! - (a + b * (xs[i]! - x0)));
    const s = Math.max(rejectFloor, MAD_TO_SIGMA * selectInPlace(scratch, n >> 1, 0, n - 1));
    const lim = TUKEY_C * s;
    for (let i = 0; i < n; i++) {
      const u = (ys[i]! - (a + b * (xs[i]! - x0))) / lim;
      w[i] = Math.abs(u) < 1 ? (1 - u * u) * (1 - u * u) : 0;
    }
  }
  let kept = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    if (w[i]! <= 0) continue;
    const r = ys[i]! - (a + b * (xs[i]! - x0));
    ss += w[i]! * r * r;
    kept += w[i]!;
  }
  if (!(kept > 0)) return false;
  out.a = a;
  out.b = b;
  out.x0 = x0;
  out.scale = Math.max(opts.scaleFloor, Math.sqrt(ss / kept));
  out.weight = sw;
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(ys[i]! - (a + b * (xs[i]! - x0)));
  out.spread = Math.max(opts.scaleFloor, MAD_TO_SIGMA * medianOf(scratch, 0, n, scratch));
  out.slopeSe = sxxFinal > 0 ? Math.max(out.scale, out.spread) / Math.sqrt(sxxFinal) : Infinity;
  return true;
}

/**
 * Tukey's resistant line: the slope through the medians of the first and last thirds of the points
 * (in the order given: callers pass them sorted by x), the intercept the median residual; scale
 * from the residuals' MAD. Robust to up to a third of wild points in each third.
 */
function resistantLine(xs: Float64Array, ys: Float64Array, n: number, scratch: Float64Array): { a: number; b: number; scale: number } {
  const k = Math.max(1, Math.floor(n / 3));
  const mx1 = medianOf(xs, 0, k, scratch);
  const my1 = medianOf(ys, 0, k, scratch);
  const mx3 = medianOf(xs, n - k, n, scratch);
  const my3 = medianOf(ys, n - k, n, scratch);
  const b = mx3 !== mx1 ? (my3 - my1) / (mx3 - mx1) : 0;
  for (let i = 0; i < n; i++) scratch[i] = ys[i]! - b * xs[i]!;
  const a = medianOf(scratch, 0, n, scratch);
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(ys[i]! - (a + b * xs[i]!));
  const scale = MAD_TO_SIGMA * medianOf(scratch, 0, n, scratch);
  return { a, b, scale };
}

/** Median of v[from..to) (reorders a copy in `scratch`, which may be v itself when from is 0). */
function medianOf(v: Float64Array, from: number, to: number, scratch: Float64Array): number {
  const m = to - from;
  if (scratch !== v || from !== 0) for (let i = from; i < to; i++) scratch[i - from] = v[i]!;
  return medianInPlace(scratch, m);
}
