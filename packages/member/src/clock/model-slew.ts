// The published clock model is continuous: each new fit moves it by a bounded slew, not a jump, so
// the audio never hears a fit's per-sample noise. Only a correction beyond STEP_THRESHOLD_US (or a
// model not synced yet) replaces it at once. Pure: "now" and the fit's value in, the line out.
import { clamp, MAX_ABS_RATE } from './filter-limits.js';

/** Corrections above this step the published model (may be audible, but slewing would take too long). */
export const STEP_THRESHOLD_US = 5000;
/** Time constant of the slew toward the newest fit (smooths per-sample fit noise). */
export const SLEW_TIME_US = 1e6;
/** Largest extra rate the slew may add: 500 ppm = 0.87 cent of pitch, inaudible. */
export const MAX_SLEW_RATE = 500e-6;

/** leader = leaderRefUs + (local - localRefUs) * (1 + rate) */
export interface PublishedLine {
  localRefUs: number;
  leaderRefUs: number;
  rate: number;
}

export class ModelSlew {
  private line: PublishedLine | null = null;
  /** Corrections applied as steps (each beyond STEP_THRESHOLD_US). */
  steps = 0;

  /**
   * Moves the published line toward the fit (leader time `fitLeaderUs` at local `nowUs`, rate
   * `fitRate`): taken as it is when `free` (not synced yet) or first, stepped beyond the threshold,
   * slewed otherwise. `residualUs` is what the slew has not caught up yet.
   */
  follow(nowUs: number, fitLeaderUs: number, fitRate: number, free: boolean): { line: PublishedLine; residualUs: number } {
    const p = this.line;
    if (!p || free) {
      this.line = { localRefUs: nowUs, leaderRefUs: fitLeaderUs, rate: fitRate };
      return { line: this.line, residualUs: 0 };
    }
    const pubLeader = p.leaderRefUs + (nowUs - p.localRefUs) * (1 + p.rate);
    const deltaUs = fitLeaderUs - pubLeader;
    if (Math.abs(deltaUs) > STEP_THRESHOLD_US) {
      this.steps++;
      this.line = { localRefUs: nowUs, leaderRefUs: fitLeaderUs, rate: fitRate };
      return { line: this.line, residualUs: 0 };
    }
    const slew = clamp(deltaUs / SLEW_TIME_US, -MAX_SLEW_RATE, MAX_SLEW_RATE);
    this.line = { localRefUs: nowUs, leaderRefUs: pubLeader, rate: clamp(fitRate + slew, -MAX_ABS_RATE, MAX_ABS_RATE) };
    return { line: this.line, residualUs: Math.abs(deltaUs) };
  }

  /** Forgets the line: the next follow() takes the fit as it is. */
  reset(): void {
    this.line = null;
  }
}
