// Offset+rate estimation of the local clock against the leader timescale from NTP four-timestamp
// exchanges, and the continuous (slewed) published model. Pure: samples and "now" in, model out.
// Design and numbers: docs/clock.md.

import type { ClockModel } from './clock-model.js';
import { MidpointScratch, midpointWeights } from './midpoint-fit.js';
import { weightedLine, type WeightedLine } from './weighted-line.js';
import { clamp, EPS_US, MAX_ABS_RATE, RATE_PRIOR_SD } from './filter-limits.js';
import { envelopeFit, FitScratch, solveWeighted, SUBSET_ALL, SUBSET_EVEN, SUBSET_ODD, type LineFit } from './envelope-fit.js';
import { ModelSlew, STEP_THRESHOLD_US } from './model-slew.js';
import { fitUncertaintyUs, offsetAt, type Fit, type FitParams } from './fit-uncertainty.js';
import { WarmStartPrior, type PriorContradiction, type PriorState } from './warm-start-prior.js';
import { kthSmallest } from './order-statistics.js';

export { EPS_US, MAX_ABS_RATE, RATE_PRIOR_SD } from './filter-limits.js';
export { MAX_SLEW_RATE, SLEW_TIME_US, STEP_THRESHOLD_US } from './model-slew.js';
export { ASYMMETRY_ALLOWANCE_US, RATE_WANDER_PER_S, UNCERTAINTY_SIGMAS, type FitParams } from './fit-uncertainty.js';
export { PRIOR_CONFIRM_SAMPLES, PRIOR_CONTRADICTIONS, PRIOR_REJECT_BOUNDS, type PriorContradiction, type PriorState } from './warm-start-prior.js';

/** Oldest sample kept: long enough to average WiFi jitter and pin the rate, short vs. crystal wander. */
export const FIT_WINDOW_US = 120e6;
/** Hard cap on the window (10 Hz x 120 s plus burst) so work per sample stays bounded. */
export const MAX_WINDOW_SAMPLES = 2400;
/** Samples slower than this carry no useful information (and mean something is badly wrong). */
export const MAX_DELAY_US = 1e6;
/** Residuals this far beyond a sample's physical error bound (half its delay excess) mark an outlier. */
export const OUTLIER_SLACK_US = 150;
/** Slack of the coarse pre-filter (midpoint regression) that removes gross outliers before the envelope. */
export const COARSE_OUTLIER_SLACK_US = 2500;
/** Reweighting passes of the robust fit. */
const ROBUST_PASSES = 3;
/** Minimum samples before the model may be called synced. */
export const MIN_SYNC_SAMPLES = 8;
/** The model becomes synced once its uncertainty is below this (until then it steps freely). */
export const SYNC_MAX_UNCERTAINTY_US = 200;
/** ... and the window spans this long (the rate is not known before). */
export const MIN_SYNC_SPAN_US = 3e6;
/**
 * Fast first sync (a member joining while music plays, issue #18): before the window spans
 * MIN_SYNC_SPAN_US, synced once it spans FAST_SYNC_MIN_SPAN_US, the fit's bound
 * FAST_SYNC_HORIZON_US ahead (its rate uncertainty carried forward) is within
 * FAST_SYNC_MAX_UNCERTAINTY_US, and 90 % of the window's round trips are within
 * FAST_SYNC_MAX_DELAY_SPREAD_US of the smallest. That last condition is what makes the bound
 * honest this early: each sample's error is then within half that spread of the floor's own
 * asymmetry, and the fit is an average of many such samples (a LAN; the netsim lan on this loaded
 * VM: p90 0.5-1.1 ms above the smallest). On WiFi (netsim wifi: ~10 ms) the fit hangs on a few
 * floor samples, and a short window's bound dipped below
 * 100 µs while the fit was 800 µs off (simulated, 60 seeds): WiFi keeps the 3 s rule. Simulated
 * lan with the fast start polls (200 Hz for 1 s): synced at 0.46 s (p50), at most 0.60 s,
 * within 23 µs.
 */
export const FAST_SYNC_MIN_SPAN_US = 0.3e6;
export const FAST_SYNC_HORIZON_US = 0.5e6;
export const FAST_SYNC_MAX_UNCERTAINTY_US = 60;
export const FAST_SYNC_MAX_DELAY_SPREAD_US = 2000;
/**
 * ... or, with an uncertainty below SETTLED_MAX_UNCERTAINTY_US, the fit has settled: every fit of
 * the last SETTLED_SPAN_US (at least SETTLED_MIN_FITS of them) predicts the offset now within
 * SETTLED_AGREE_US of the newest. Early on the subsets' disagreement (the honest spread, step 6)
 * overstates the error when floor samples are rare: bench:clock wifi showed members within 12 µs
 * of the truth for 5 s while their uncertainty stayed at 400-1700 µs. A fit that a second of new
 * samples does not move is a jackknife of its own: what it has seen does not depend on a few samples.
 */
export const SETTLED_SPAN_US = 1e6;
export const SETTLED_MIN_FITS = 20;
export const SETTLED_AGREE_US = 30;
export const SETTLED_MAX_UNCERTAINTY_US = 2000;
/** A synced model stays synced (holdover) until its uncertainty exceeds this. */
export const UNSYNC_UNCERTAINTY_US = 5000;
/** Consecutive samples inconsistent with the fit by more than STEP_THRESHOLD_US before restarting. */
export const RESET_AFTER_INCONSISTENT = 6;
/** Refit after every sample while the window is smaller than this (start-up and settle: every
 *  sample moves the fit); beyond it at most once per FIT_INTERVAL_US. A fit of a full window costs
 *  ~1 ms of CPU; at 10 Hz that was most of the clock thread's ~1.3 % of a core. */
export const FIT_EVERY_SAMPLE_BELOW = 600;
/** In steady state, new samples are folded in at most this often (local µs): their information is
 *  kept, only its arrival in the model is delayed by up to this, against a drift known to ppm. */
export const FIT_INTERVAL_US = 500_000;

/** One NTP exchange: t1/t4 on the local clock, t2/t3 on the leader timescale, all µs. */
export interface TimeSample {
  t1LocalUs: number;
  t2LeaderUs: number;
  t3LeaderUs: number;
  t4LocalUs: number;
}

export type AddResult =
  | { accepted: true; delayUs: number; offsetUs: number }
  | { accepted: false; reason: string };

interface StoredSample {
  xUs: number; // local midpoint, relative to baseLocalUs
  yUs: number; // offset leader - local, relative to baseOffsetUs
  delayUs: number;
}

export interface TimeFilterStats {
  prior: PriorState;
  /** What rejected the prior (state 'rejected'), else null. */
  priorRejection: PriorContradiction | null;
  accepted: number;
  rejected: number;
  outliers: number;
  steps: number;
  resets: number;
  windowSamples: number;
  floorDelayUs: number;
  /** The midpoint estimator's share of the newest fit's offset, 0..1 (0: envelope only). */
  midpointShare: number;
}

export class TimeFilter {
  private window: StoredSample[] = [];
  /** The window's smallest delay (Infinity: empty), kept as samples come and go: scanning 1200-2400
   *  samples for it on every sample was ~5 % of the clock thread (perf, issue #18). NaN: rescan. */
  private floorCache = Infinity;
  private readonly scratch = new FitScratch(MAX_WINDOW_SAMPLES);
  private readonly midScratch = new MidpointScratch();
  private midpointShare = 0;
  private baseLocalUs = 0;
  private baseOffsetUs = 0;
  private fit: Fit | null = null;
  private readonly slew = new ModelSlew();
  private wasSynced = false;
  private lastRttUs = 0;
  private lastSampleLocalUs = 0;
  private inconsistentRun: TimeSample[] = [];
  /** Samples arrived since the last fit (steady state folds them in at most every FIT_INTERVAL_US). */
  private fitStale = false;
  /** Recent fits (until synced), for the settled test: when each was made, and the fit. */
  private recentFits: Array<{ atUs: number; fit: Fit }> = [];
  private lastFitLocalUs = -Infinity;
  private readonly counters = { accepted: 0, rejected: 0, outliers: 0, steps: 0, resets: 0 };
  /** A fit remembered from an earlier run, checked against the first samples (seedPrior). */
  private readonly prior = new WarmStartPrior();

  /**
   * Seeds the filter with a fit from an earlier run on the same local clock and leader timescale
   * (a restarted member): see WarmStartPrior. Returns false (and ignores it) if its uncertainty at
   * nowUs is too large to sync with.
   */
  seedPrior(p: FitParams, nowUs: number): boolean {
    return this.prior.seed(p, nowUs, SYNC_MAX_UNCERTAINTY_US);
  }

  /** The fresh fit, if it is synced on its own (what a member remembers for a restart); else null.
   *  Also null while a prior is in use: it is more certain, and already what was remembered. */
  rememberedFit(nowUs: number): FitParams | null {
    const f = this.fit;
    if (f === null || this.prior.state === 'in use' || !this.freshSynced(f, nowUs)) return null;
    return { refLocalUs: f.refLocalUs, offsetUs: f.offsetUs, rate: f.rate, varOffset: f.varOffset, varRate: f.varRate, covOffsetRate: f.covOffsetRate };
  }

  /** Feeds one exchange. Rejects impossible ones; restarts if the leader timescale moved. */
  addSample(s: TimeSample): AddResult {
    if (!(Number.isFinite(s.t1LocalUs) && Number.isFinite(s.t2LeaderUs) && Number.isFinite(s.t3LeaderUs) && Number.isFinite(s.t4LocalUs))) {
      return this.reject('non-finite timestamp');
    }
    const serverUs = s.t3LeaderUs - s.t2LeaderUs;
    const delayUs = s.t4LocalUs - s.t1LocalUs - serverUs;
    if (s.t4LocalUs < s.t1LocalUs) return this.reject('t4 before t1');
    if (serverUs < 0) return this.reject('t3 before t2');
    if (delayUs < -EPS_US) return this.reject('negative delay');
    if (delayUs > MAX_DELAY_US) return this.reject('delay too large');
    const xAbs = (s.t1LocalUs + s.t4LocalUs) / 2;
    const offAbs = (s.t2LeaderUs + s.t3LeaderUs) / 2 - xAbs;

    if (this.window.length === 0) {
      this.baseLocalUs = xAbs;
      this.baseOffsetUs = offAbs;
    } else if (this.fit) {
      // A sample whose error bound cannot explain its distance from the fit by > STEP_THRESHOLD_US
      // means the leader timescale (or our clock) jumped; after a run of them, start over.
      const predicted = offsetAt(this.fit, xAbs);
      const miss = Math.abs(offAbs - predicted) - Math.max(0, delayUs - this.floorDelayUs()) / 2;
      if (miss > STEP_THRESHOLD_US) {
        this.inconsistentRun.push(s);
        if (this.inconsistentRun.length < RESET_AFTER_INCONSISTENT) return this.reject('inconsistent with model');
        const run = this.inconsistentRun;
        this.restart();
        this.counters.resets++;
        for (const r of run) this.addSample(r);
        return { accepted: true, delayUs, offsetUs: offAbs };
      }
      this.inconsistentRun = [];
    }

    if (this.prior.check(xAbs, offAbs, delayUs) === 'rejected in use') this.unpublish();
    this.window.push({ xUs: xAbs - this.baseLocalUs, yUs: offAbs - this.baseOffsetUs, delayUs });
    if (delayUs < this.floorCache) this.floorCache = delayUs; // NaN stays NaN (< is false)
    this.trimWindow(xAbs);
    this.counters.accepted++;
    this.lastRttUs = delayUs;
    this.lastSampleLocalUs = s.t4LocalUs;
    this.fitStale = true;
    if (this.window.length < FIT_EVERY_SAMPLE_BELOW || s.t4LocalUs - this.lastFitLocalUs >= FIT_INTERVAL_US) this.refit(s.t4LocalUs);
    return { accepted: true, delayUs, offsetUs: offAbs };
  }

  /**
   * The model to publish at local time nowUs: continuous with the previously published one (slews
   * toward the newest fit) unless not yet synced or the correction exceeds STEP_THRESHOLD_US.
   * Call after each sample and periodically (holdover: uncertainty grows, slew completes).
   */
  update(nowUs: number): ClockModel | null {
    if (this.fitStale && nowUs - this.lastFitLocalUs >= FIT_INTERVAL_US) this.refit(nowUs);
    const fresh = this.fit;
    const usePrior = this.priorInUse(fresh, nowUs);
    const f = usePrior ?? fresh;
    if (!f) return null;
    const fitLeader = nowUs + offsetAt(f, nowUs);
    const fitUnc = fitUncertaintyUs(f, nowUs);
    const syncedNow = usePrior !== null ? fitUnc <= SYNC_MAX_UNCERTAINTY_US : this.freshSynced(f, nowUs);
    const stepsBefore = this.slew.steps;
    const { line: pub, residualUs } = this.slew.follow(nowUs, fitLeader, f.rate, !this.wasSynced);
    this.counters.steps += this.slew.steps - stepsBefore;
    if (syncedNow) this.wasSynced = true;
    return {
      localRefUs: pub.localRefUs,
      leaderRefUs: pub.leaderRefUs,
      rate: pub.rate,
      uncertaintyUs: fitUnc + residualUs,
      synced: this.wasSynced && fitUnc <= UNSYNC_UNCERTAINTY_US,
      samples: this.window.length,
      rttUs: this.lastRttUs,
      lastSampleLocalUs: this.lastSampleLocalUs,
    };
  }

  /** The fresh fit is synced on its own: enough samples over enough time, certain enough or
   *  settled; or, on a LAN-like link, certain enough a little ahead already (FAST_SYNC_*). */
  private freshSynced(f: Fit, nowUs: number): boolean {
    const spanUs = (this.window[this.window.length - 1]?.xUs ?? 0) - (this.window[0]?.xUs ?? 0);
    if (this.window.length < MIN_SYNC_SAMPLES) return false;
    if (spanUs < MIN_SYNC_SPAN_US) {
      return spanUs >= FAST_SYNC_MIN_SPAN_US && fitUncertaintyUs(f, nowUs + FAST_SYNC_HORIZON_US) <= FAST_SYNC_MAX_UNCERTAINTY_US
        && this.delaySpreadUs(0.9) <= FAST_SYNC_MAX_DELAY_SPREAD_US;
    }
    const u = fitUncertaintyUs(f, nowUs);
    return u <= SYNC_MAX_UNCERTAINTY_US || (u <= SETTLED_MAX_UNCERTAINTY_US && this.settled(f, nowUs));
  }

  /** The prior's fit while it is confirmed and better than the fresh one (WarmStartPrior.inUse). */
  private priorInUse(fresh: Fit | null, nowUs: number): Fit | null {
    const r = this.prior.inUse(fresh !== null && this.freshSynced(fresh, nowUs) ? fresh : null, nowUs);
    if (r === 'rejected in use') {
      this.unpublish();
      return null;
    }
    return r;
  }

  /** A wrong prior was published from: that goes, the fresh fit starts unsynced (or steps). */
  private unpublish(): void {
    this.slew.reset();
    this.wasSynced = false;
  }

  /** Forget everything (new leader). */
  restart(): void {
    this.window = [];
    this.floorCache = Infinity;
    this.fit = null;
    this.fitStale = false;
    this.lastFitLocalUs = -Infinity;
    this.slew.reset();
    this.wasSynced = false;
    this.recentFits = [];
    this.inconsistentRun = [];
    this.lastRttUs = 0;
    this.lastSampleLocalUs = 0;
    this.prior.forget();
  }

  stats(): TimeFilterStats {
    return { prior: this.prior.state, priorRejection: this.prior.rejection, ...this.counters, windowSamples: this.window.length, floorDelayUs: this.floorDelayUs(), midpointShare: this.midpointShare };
  }

  private reject(reason: string): AddResult {
    this.counters.rejected++;
    return { accepted: false, reason };
  }

  private trimWindow(newestAbsUs: number): void {
    const oldest = newestAbsUs - this.baseLocalUs - FIT_WINDOW_US;
    let drop = 0;
    while (drop < this.window.length && (this.window[drop]?.xUs ?? 0) < oldest) drop++;
    drop = Math.max(drop, this.window.length - MAX_WINDOW_SAMPLES);
    // The floor leaves with the dropped samples only if one of them held it.
    for (let i = 0; i < drop; i++) if ((this.window[i] as StoredSample).delayUs <= this.floorCache) this.floorCache = Number.NaN;
    if (drop > 0) this.window.splice(0, drop);
  }

  /** The q-quantile of the window's round trips above the smallest (only before the first sync:
   *  the window is then a few hundred samples). */
  private delaySpreadUs(q: number): number {
    const n = this.window.length;
    const d = new Float64Array(n);
    for (let i = 0; i < n; i++) d[i] = (this.window[i] as StoredSample).delayUs;
    return (kthSmallest(d, n, Math.min(n - 1, Math.floor(q * n)), new Float64Array(n)) ?? Infinity) - this.floorDelayUs();
  }

  private floorDelayUs(): number {
    let m = this.floorCache;
    if (Number.isNaN(m)) {
      m = Infinity;
      for (const s of this.window) if (s.delayUs < m) m = s.delayUs;
      this.floorCache = m;
    }
    return Number.isFinite(m) ? m : 0;
  }

  /** Weighted robust regression of offset on local time over the window. */
  private refit(nowUs: number): void {
    this.fit = this.computeFit();
    this.fitStale = false;
    this.lastFitLocalUs = nowUs;
    if (!this.wasSynced && this.fit !== null) {
      this.recentFits.push({ atUs: nowUs, fit: this.fit });
      // Keep one fit older than the span (it proves the history covers the whole span).
      while (this.recentFits.length > 1 && nowUs - (this.recentFits[1] as { atUs: number }).atUs >= SETTLED_SPAN_US) this.recentFits.shift();
    } else if (this.recentFits.length > 0) this.recentFits = [];
  }

  /** Every fit of the last SETTLED_SPAN_US predicts the offset now within SETTLED_AGREE_US of f. */
  private settled(f: Fit, nowUs: number): boolean {
    const fits = this.recentFits;
    const oldest = fits[0];
    if (oldest === undefined || nowUs - oldest.atUs < SETTLED_SPAN_US || fits.length < SETTLED_MIN_FITS) return false;
    const now = offsetAt(f, nowUs);
    return fits.every((r) => Math.abs(offsetAt(r.fit, nowUs) - now) <= SETTLED_AGREE_US);
  }

  private computeFit(): Fit | null {
    const n = this.window.length;
    const newest = this.window[n - 1];
    if (!newest) return null;
    const floor = this.floorDelayUs();
    const xr = newest.xUs;
    const sc = this.scratch.ensure(n);
    const { gx, gy, gd, gu, gl, base, w, keep } = sc;
    let monotone = true;
    for (let i = 0; i < n; i++) {
      const s = this.window[i] as StoredSample;
      const x = s.xUs - xr;
      gx[i] = x;
      gy[i] = s.yUs;
      gd[i] = s.delayUs;
      gu[i] = s.yUs + s.delayUs / 2; // u
      gl[i] = -(s.yUs - s.delayUs / 2); // -l, so both floors are lower envelopes
      if (i > 0 && x < (gx[i - 1] as number)) monotone = false;
      const half = (s.delayUs - floor) / 2;
      // Error of a sample is (d_out - d_back)/2, within +-half: weight by the inverse of that
      // bound's variance (uniform: half^2/3) plus the timestamp noise floor.
      const bw = 1 / ((half * half) / 3 + EPS_US * EPS_US);
      base[i] = bw;
      w[i] = bw;
    }
    // Midpoints are normally in window order; replies overtaking each other (delay spikes) break
    // it, and the hulls need the samples by x: sort once per fit (ties by index, as a stable sort).
    sc.xOrderUsed = !monotone;
    if (!monotone) {
      const order = sc.xOrder.subarray(0, n);
      for (let i = 0; i < n; i++) order[i] = i;
      order.sort((p, q) => (gx[p] as number) - (gx[q] as number) || p - q);
    }
    let res = solveWeighted(w, gx, gy, n);
    for (let pass = 0; pass < ROBUST_PASSES && n > 2; pass++) {
      const sdFit = Math.sqrt(Math.max(0, res.varOffset));
      const sdRateFit = Math.sqrt(res.varRate);
      let changed = false;
      for (let i = 0; i < n; i++) {
        const dx = gx[i] as number;
        const resid = Math.abs((gy[i] as number) - (res.a + res.b * dx));
        // Half the delay, not half its excess over the window's smallest one (see the envelope's
        // test below): with delay weights this line is only ms-accurate early on WiFi, and cutting
        // samples within their bound rotated it (a WiFi start-up lost its u-floor samples).
        const bound = (gd[i] as number) / 2 + COARSE_OUTLIER_SLACK_US + 3 * (sdFit + sdRateFit * Math.abs(dx));
        const nw = resid > bound ? 0 : (base[i] as number);
        if (nw !== w[i]) changed = true;
        w[i] = nw;
      }
      if (!changed) break;
      res = solveWeighted(w, gx, gy, n);
    }
    for (let i = 0; i < n; i++) keep[i] = w[i] === 0 ? 0 : 1;
    if (n >= 3) {
      let env = envelopeFit(this.scratch, res.a, res.b, n, SUBSET_ALL);
      // Physical bound: one-way delays are >= 0, so a sample's offset error is at most half its
      // delay. Not half its excess over a floor: until a floor sample exists on both sides, the
      // floors are overestimated, and a sample that met no queue one way (error = +-delay/2, the
      // one its envelope needs most) would be cut, and stay cut, since the envelope then never
      // sees it (simulated WiFi start-ups: fits 440 µs off for a second).
      const sd = Math.sqrt(Math.max(0, env.varOffset));
      const sdRate = Math.sqrt(Math.max(0, env.varRate));
      let dropped = 0;
      for (let i = 0; i < n; i++) {
        const dx = gx[i] as number;
        const resid = Math.abs((gy[i] as number) - (env.a + env.b * dx));
        if (keep[i] === 1 && resid > (gd[i] as number) / 2 + OUTLIER_SLACK_US + 3 * (sd + sdRate * Math.abs(dx))) {
          keep[i] = 0;
          dropped++;
        }
      }
      if (dropped > 0) env = envelopeFit(this.scratch, env.a, env.b, n, SUBSET_ALL);
      const even = envelopeFit(this.scratch, env.a, env.b, n, SUBSET_EVEN);
      const odd = envelopeFit(this.scratch, env.a, env.b, n, SUBSET_ODD);
      res = this.withMidpoint(env, even, odd, n);
    }
    let out = 0;
    for (let i = 0; i < n; i++) if (keep[i] === 0) out++;
    this.counters.outliers = out;
    return {
      refLocalUs: xr + this.baseLocalUs,
      offsetUs: res.a + this.baseOffsetUs,
      rate: res.b,
      varOffset: res.varOffset,
      varRate: res.varRate,
      covOffsetRate: res.cov,
      used: n - out,
    };
  }

  /**
   * The envelope fit (all, even, odd) blended with the midpoint estimator (midpoint-fit.ts) by
   * their model variances, and the blend's honest spread: the same blend on interleaved halves
   * disagrees by ~2 sd of the whole. The envelope wins where one-way floors are sharp (WiFi: the
   * midpoint scatter is ms); the midpoint where delays are Gaussian-like both ways (the floors
   * are then a noisy tail, the mean is not).
   */
  private withMidpoint(env: LineFit, even: LineFit, odd: LineFit, n: number): LineFit {
    const sc = this.scratch;
    const ms = this.midScratch;
    let k = 0;
    let kb = 0;
    let mAll: WeightedLine | null = null;
    let mEven: WeightedLine | null = null;
    let mOdd: WeightedLine | null = null;
    if (midpointWeights(sc.gx, sc.gy, sc.gd, sc.keep, n, env.a, env.b, ms) >= MIN_SYNC_SAMPLES) {
      mAll = weightedLine(sc.gx, sc.gy, ms.weight, n, SUBSET_ALL, RATE_PRIOR_SD);
      mEven = weightedLine(sc.gx, sc.gy, ms.weight, n, SUBSET_EVEN, RATE_PRIOR_SD);
      mOdd = weightedLine(sc.gx, sc.gy, ms.weight, n, SUBSET_ODD, RATE_PRIOR_SD);
    }
    if (mAll !== null && mEven !== null && mOdd !== null && mAll.varOffset > 0 && env.varOffset > 0) {
      k = shareOfBetter(mAll.varOffset, env.varOffset);
      kb = shareOfBetter(mAll.varRate, env.varRate);
    }
    const mix = (e: LineFit, m: WeightedLine | null): { a: number; b: number } =>
      m === null ? { a: e.a, b: e.b } : { a: (1 - k) * e.a + k * m.a, b: (1 - kb) * e.b + kb * m.b };
    this.midpointShare = k;
    const all = mix(env, mAll);
    const ev = mix(even, mEven);
    const od = mix(odd, mOdd);
    const dA = (ev.a - od.a) / 2;
    const dB = (ev.b - od.b) / 2;
    // Both estimators see the same samples: their errors are correlated, so the blend is credited
    // with the better one's variance, not with the sum of both informations.
    const varOffset = mAll === null ? env.varOffset : Math.min(env.varOffset, mAll.varOffset);
    const varRate = mAll === null ? env.varRate : Math.min(env.varRate, mAll.varRate);
    const cov = mAll === null ? env.cov : (1 - k) * env.cov + k * mAll.cov;
    return { a: all.a, b: clamp(all.b, -MAX_ABS_RATE, MAX_ABS_RATE), varOffset: varOffset + dA * dA, varRate: varRate + dB * dB, cov };
  }


}

/**
 * Share of estimate A in a blend with B by the squares of their inverse variances: mostly the
 * better one. Plain inverse-variance weights would give a WiFi start-up's midpoint (sd 250-500 µs
 * against the envelope's 30-100) 5-13 %, enough to move the fit by tens of µs.
 */
function shareOfBetter(varA: number, varB: number): number {
  const r = varA / varB;
  return 1 / (1 + r * r);
}



