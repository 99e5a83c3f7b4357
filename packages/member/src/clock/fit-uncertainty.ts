// A fit of the member's clock against the leader timescale (offset + rate with their covariance)
// and how far it can be trusted at a later instant: the one error bound the time filter and the
// warm-start prior use (docs/clock.md).

/** Published uncertainty is this many standard deviations (~95 %). */
export const UNCERTAINTY_SIGMAS = 2;
/**
 * Added to the published bound: the one-way asymmetry no two-way exchange can observe and the fit's
 * variance does not contain (wake-up latency differences paired polling leaves between two hosts:
 * members biased by up to +-12 µs on lan on a loaded VM; PHY/driver asymmetry on real links).
 */
export const ASYMMETRY_ALLOWANCE_US = 15;
/** Random-walk wander of a crystal's rate (temperature) assumed in holdover, per second. */
export const RATE_WANDER_PER_S = 0.01e-6;

/** A fit's line and covariance: what a member remembers across a restart (clock-memory.ts). */
export interface FitParams {
  refLocalUs: number; // absolute local time the fit is referenced at (newest sample)
  offsetUs: number; // absolute leader - local at refLocalUs
  rate: number;
  varOffset: number; // µs^2
  varRate: number;
  covOffsetRate: number; // µs
}

export interface Fit extends FitParams {
  used: number; // window samples the fit kept (not outliers)
}

/** Leader - local offset a fit predicts at local time localUs. */
export function offsetAt(f: FitParams, localUs: number): number {
  return f.offsetUs + f.rate * (localUs - f.refLocalUs);
}

/** The fit's error bound at nowUs: its covariance carried forward, crystal wander, path asymmetry. */
export function fitUncertaintyUs(f: FitParams, nowUs: number): number {
  const dt = nowUs - f.refLocalUs;
  const v = Math.max(0, f.varOffset + 2 * dt * f.covOffsetRate + dt * dt * f.varRate);
  const dtS = Math.max(0, dt) / 1e6;
  const wanderUs = 0.5 * RATE_WANDER_PER_S * dtS * dtS * 1e6;
  return UNCERTAINTY_SIGMAS * Math.sqrt(v) + wanderUs + ASYMMETRY_ALLOWANCE_US;
}
