// Physical limits shared by the time filter and its envelope fit: how precise a timestamp can be,
// and how far a crystal's rate can be from nominal.

/** Timestamp noise floor (event loop wake-up, switch): keeps near-floor samples from infinite weight. */
export const EPS_US = 25;
/** Prior on the rate before the window spans enough time: crystals are within +-100 ppm; be generous. */
export const RATE_PRIOR_SD = 1000e-6;
/** Rates beyond this are not a crystal: clamp. */
export const MAX_ABS_RATE = 2000e-6;

/** v clamped to [lo, hi]. */
export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
