// Weighted least squares of a line, with a ridge prior on its slope: the shared last step of the
// time filter's coarse fit and of the midpoint estimator.

/** y = a + b x with its covariance (the variances assume w = 1 / variance). */
export interface WeightedLine {
  a: number;
  b: number;
  varOffset: number;
  varRate: number;
  cov: number;
}

/**
 * y = a + b x over the samples of one subset of 0..n (0: all, 1: even, 2: odd indices) with
 * weights w (0: left out), and a prior on b of mean 0 and sd rateSd that keeps a short window from
 * producing absurd rates; the slope is clamped to +-maxAbsB (the intercept then fits the clamped
 * slope). null if no sample has a weight.
 */
export function weightedLine(x: Float64Array, y: Float64Array, w: Float64Array, n: number, subset: number, rateSd: number, maxAbsB = Infinity): WeightedLine | null {
  let S = 0;
  let Sx = 0;
  let Sy = 0;
  let Sxx = 0;
  let Sxy = 0;
  const step = subset === 0 ? 1 : 2;
  for (let i = subset === 2 ? 1 : 0; i < n; i += step) {
    const wi = w[i] as number;
    if (wi === 0) continue;
    const xi = x[i] as number;
    const yi = y[i] as number;
    S += wi;
    Sx += wi * xi;
    Sy += wi * yi;
    Sxx += wi * xi * xi;
    Sxy += wi * xi * yi;
  }
  if (S === 0) return null;
  const Sxxp = Sxx + 1 / (rateSd * rateSd);
  const det = S * Sxxp - Sx * Sx;
  const b = Math.min(maxAbsB, Math.max(-maxAbsB, (S * Sxy - Sx * Sy) / det));
  return { a: (Sy - b * Sx) / S, b, varOffset: Sxxp / det, varRate: S / det, cov: -Sx / det };
}
