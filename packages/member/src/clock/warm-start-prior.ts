// The warm-start prior: a fit remembered from an earlier run on the same local clock and leader
// timescale (a restarted member, clock-memory.ts). Checked against the first fresh samples, used
// (published as synced at once) while it is confirmed and more certain than the fresh fit, and
// dropped for good once the fresh fit is better or the samples contradict it (docs/clock.md,
// "Warm start").
import { MAX_ABS_RATE } from './filter-limits.js';
import { fitUncertaintyUs, offsetAt, type Fit, type FitParams } from './fit-uncertainty.js';

/** A prior (a fit remembered from an earlier run) is used once this many samples agree with it. */
export const PRIOR_CONFIRM_SAMPLES = 3;
/** ... and dropped after this many samples in a row whose error bound excludes it (one wild
 *  server timestamp must not throw out a good prior; a wrong one contradicts every sample). */
export const PRIOR_CONTRADICTIONS = 2;
/** ... or when the synced fresh fit is further from it than this many times both uncertainties.
 *  A sample contradicts it only beyond half its round trip plus this many times the prior's own
 *  bound, too: a wrong prior (another timescale, a clock that did not continue) is off by
 *  milliseconds, while a good one remembered under load can be off by a little more than its 2
 *  sigma (CI: a restarted member threw out its memory once). */
export const PRIOR_REJECT_BOUNDS = 2;
/** What became of a prior given to seedPrior (stats; docs/clock.md "Warm start"). */
export type PriorState = 'none' | 'pending' | 'in use' | 'rejected' | 'superseded';

/** What happened to a prior that was being published from: the filter must take that back. */
export type PriorRejection = 'rejected in use';

/** The sample that rejected a prior: how far the prior was from its offset, and the bound. */
export interface PriorContradiction {
  missUs: number;
  boundUs: number;
  /** samples that had agreed with the prior before */
  agreed: number;
}

export class WarmStartPrior {
  private fit: Fit | null = null;
  private agreed = 0;
  private contradicted = 0;
  state: PriorState = 'none';
  /** Why the prior was rejected (the last contradicting sample), for the log; null otherwise. */
  rejection: PriorContradiction | null = null;

  /** Takes a remembered fit; false (ignored) if it is not usable or its bound at nowUs exceeds maxUncertaintyUs. */
  seed(p: FitParams, nowUs: number, maxUncertaintyUs: number): boolean {
    const fit: Fit = { ...p, used: 0 };
    const finite = [p.refLocalUs, p.offsetUs, p.rate, p.varOffset, p.varRate, p.covOffsetRate].every(Number.isFinite);
    if (!finite || p.varOffset < 0 || p.varRate < 0 || Math.abs(p.rate) > MAX_ABS_RATE || p.refLocalUs > nowUs
      || !(fitUncertaintyUs(fit, nowUs) <= maxUncertaintyUs)) {
      return false;
    }
    this.fit = fit;
    this.agreed = 0;
    this.contradicted = 0;
    this.state = 'pending';
    this.rejection = null;
    return true;
  }

  /**
   * A sample bounds the true offset to its midpoint +- half its delay. A prior outside that bound
   * (widened by PRIOR_REJECT_BOUNDS times the prior's own uncertainty) is wrong: another leader
   * timescale after all, or a local clock that did not continue.
   */
  check(xAbs: number, offAbs: number, delayUs: number): PriorRejection | null {
    const f = this.fit;
    if (f === null) return null;
    const missUs = Math.abs(offsetAt(f, xAbs) - offAbs);
    const boundUs = delayUs / 2 + PRIOR_REJECT_BOUNDS * fitUncertaintyUs(f, xAbs);
    if (missUs > boundUs) {
      if (++this.contradicted < PRIOR_CONTRADICTIONS) return null;
      return this.reject(missUs, boundUs);
    }
    this.contradicted = 0;
    if (++this.agreed >= PRIOR_CONFIRM_SAMPLES) this.state = 'in use';
    return null;
  }

  /**
   * The prior's fit while it is confirmed and better than the fresh one (`freshSynced`: the fresh
   * fit if it is synced on its own, else null); null otherwise. Retired for good once the fresh fit
   * is more certain, or disagrees with it far beyond both bounds.
   */
  inUse(freshSynced: Fit | null, nowUs: number): Fit | PriorRejection | null {
    const f = this.fit;
    if (f === null || this.state !== 'in use') return null;
    if (freshSynced !== null) {
      const priorUnc = fitUncertaintyUs(f, nowUs);
      const freshUnc = fitUncertaintyUs(freshSynced, nowUs);
      const gap = Math.abs(offsetAt(freshSynced, nowUs) - offsetAt(f, nowUs));
      // Twice both bounds: a fresh fit that has just synced can be off by more than it claims
      // (bench wifi: 230 µs against 170), and a good prior must not be thrown out for it.
      const boundUs = PRIOR_REJECT_BOUNDS * (priorUnc + freshUnc);
      if (gap > boundUs) return this.reject(gap, boundUs);
      if (freshUnc <= priorUnc) {
        this.fit = null;
        this.state = 'superseded';
        return null;
      }
    }
    return f;
  }

  forget(): void {
    this.fit = null;
    this.state = 'none';
    this.rejection = null;
  }

  /** Drops the prior, keeping why (its distance from what rejected it, and the bound); 'rejected
   *  in use' when the filter had published from it. */
  private reject(missUs: number, boundUs: number): PriorRejection | null {
    const wasInUse = this.state === 'in use';
    this.fit = null;
    this.state = 'rejected';
    this.rejection = { missUs, boundUs, agreed: this.agreed };
    return wasInUse ? 'rejected in use' : null;
  }
}
