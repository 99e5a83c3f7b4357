// Gains that change without clicks: `GainRamp`, a per-frame linear ramp the engine drives (jump
// fades), and `rampGainAt`, a gain ramp defined on the leader timescale so every member applies a
// volume change over the same frames.

/** Linear per-frame ramp towards a target; `next()` returns the gain for the next frame. */
export class GainRamp {
  private current: number;
  private target: number;
  private step = 0;
  private left = 0;

  constructor(initial = 1) {
    this.current = initial;
    this.target = initial;
  }

  get value(): number {
    return this.current;
  }

  /** True while ramping. */
  get active(): boolean {
    return this.left > 0;
  }

  /** Ramps from the current value to `target` over `frames` frames (0: at once). */
  rampTo(target: number, frames: number): void {
    this.target = target;
    if (frames <= 0) {
      this.current = target;
      this.left = 0;
      return;
    }
    this.left = Math.ceil(frames);
    this.step = (target - this.current) / this.left;
  }

  /** Sets the value at once. */
  set(value: number): void {
    this.current = value;
    this.target = value;
    this.left = 0;
  }

  /** Gain for the next frame, then advances. */
  next(): number {
    const g = this.current;
    if (this.left > 0) {
      this.left--;
      this.current = this.left === 0 ? this.target : this.current + this.step;
    }
    return g;
  }
}

/**
 * Gain at leader time `leaderUs` of a change from `fromGain` to `toGain` starting at `atUs` and
 * lasting `rampUs` (linear in amplitude).
 */
export function rampGainAt(fromGain: number, toGain: number, atUs: number, rampUs: number, leaderUs: number): number {
  if (leaderUs <= atUs) return fromGain;
  if (rampUs <= 0 || leaderUs >= atUs + rampUs) return toGain;
  return fromGain + ((toGain - fromGain) * (leaderUs - atUs)) / rampUs;
}
