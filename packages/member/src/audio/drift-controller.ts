// DriftController: a bounded PI loop turning "playback is e frames ahead of where the timeline says"
// into a small speed correction (ppm) on top of the measured feed-forward ratio. Bounded and
// slew-limited so a correction is never audible as a pitch change (500 ppm = 0.9 cent).

/** Time constant of the proportional path: errors decay with ~1 s (smooths DAC-fit/clock noise). */
export const DRIFT_TAU_S = 1.0;
/**
 * Damping of the PI loop. The feed-forward ratio already carries the measured rates, so the
 * integrator only mops up a small bias; an over-damped loop (zeta 2) avoids overshoot after a step.
 */
export const DRIFT_DAMPING = 2;
/**
 * The integrator runs only while |error| is below this (frames) or the error has stopped moving
 * (|filtered d error/dt| below DRIFT_INTEGRATE_SETTLED_FRAMES_PER_S): a step is removed by the
 * proportional path alone, so the integrator cannot wind up and overshoot, yet a steady bias
 * (feed-forward off by more than the proportional path hides) is still integrated away.
 */
export const DRIFT_INTEGRATE_BELOW_FRAMES = 2;
export const DRIFT_INTEGRATE_SETTLED_FRAMES_PER_S = 1;
/** Filters of the error trend used by that gate: fast EMA of the error, slower EMA of its slope. */
const TREND_FAST_S = 0.1;
const TREND_SLOPE_S = 0.5;
/** Largest correction: 500 ppm is below any audible pitch change and removes 0.5 ms per second. */
export const DRIFT_MAX_CORRECTION_PPM = 500;
/** Largest change of the correction per second: no sudden speed steps after a clock-model update. */
export const DRIFT_MAX_SLEW_PPM_PER_S = 1000;

export interface DriftControllerOptions {
  outputRate: number;
  tauS?: number;
  maxCorrectionPpm?: number;
  maxSlewPpmPerS?: number;
  damping?: number;
}

export class DriftController {
  private readonly kp: number; // ppm per frame of error
  private readonly ki: number; // ppm per frame*second of integrated error
  private readonly maxPpm: number;
  private readonly maxSlew: number;
  private integral = 0;
  private out = 0;
  private errFast = Number.NaN;
  private slope = 0;

  constructor(opts: DriftControllerOptions) {
    const tau = opts.tauS ?? DRIFT_TAU_S;
    if (!(opts.outputRate > 0) || !(tau > 0)) throw new RangeError('DriftController: bad options');
    // Plant: d(err)/dt = -corr * rate. P: err decays with tau; I: 2 zeta omega_n = 1/tau.
    const zeta = opts.damping ?? DRIFT_DAMPING;
    this.kp = 1e6 / (tau * opts.outputRate);
    this.ki = zeta > 0 && Number.isFinite(zeta) ? 1e6 / (4 * zeta * zeta * tau * tau * opts.outputRate) : 0;
    this.maxPpm = opts.maxCorrectionPpm ?? DRIFT_MAX_CORRECTION_PPM;
    this.maxSlew = opts.maxSlewPpmPerS ?? DRIFT_MAX_SLEW_PPM_PER_S;
  }

  /** Current correction (ppm; negative slows playback down). */
  get correctionPpm(): number {
    return this.out;
  }

  /** Forgets the integrator and the output (after a jump). */
  reset(): void {
    this.integral = 0;
    this.out = 0;
    this.errFast = Number.NaN;
    this.slope = 0;
  }

  /**
   * One step: `errFrames` = played position - wanted position (positive: ahead), `dtS` = time since
   * the last step. Returns the new correction in ppm.
   */
  update(errFrames: number, dtS: number): number {
    if (!Number.isFinite(errFrames) || !(dtS > 0)) return this.out;
    if (Number.isNaN(this.errFast)) this.errFast = errFrames;
    const prevFast = this.errFast;
    this.errFast += (errFrames - this.errFast) * Math.min(1, dtS / TREND_FAST_S);
    this.slope += ((this.errFast - prevFast) / dtS - this.slope) * Math.min(1, dtS / TREND_SLOPE_S);
    const unclamped = -(this.kp * errFrames + this.ki * (this.integral + errFrames * dtS));
    const settled =
      Math.abs(errFrames) < DRIFT_INTEGRATE_BELOW_FRAMES || Math.abs(this.slope) < DRIFT_INTEGRATE_SETTLED_FRAMES_PER_S;
    // Anti-windup: integrate only when settled and while the output is not saturated.
    if (Math.abs(unclamped) < this.maxPpm && settled) this.integral += errFrames * dtS;
    let want = -(this.kp * errFrames + this.ki * this.integral);
    want = Math.max(-this.maxPpm, Math.min(this.maxPpm, want));
    const maxStep = this.maxSlew * dtS;
    this.out += Math.max(-maxStep, Math.min(maxStep, want - this.out));
    return this.out;
  }
}
