// Offset+rate estimation of the local clock against the leader timescale from NTP four-timestamp
// exchanges, and the continuous (slewed) published model. Pure: samples and "now" in, model out.
// Design and numbers: docs/clock.md.

import type { ClockModel } from './clock-model.js';

/** Oldest sample kept: long enough to average WiFi jitter and pin the rate, short vs. crystal wander. */
export const FIT_WINDOW_US = 120e6;
/** Hard cap on the window (10 Hz x 120 s plus burst) so work per sample stays bounded. */
export const MAX_WINDOW_SAMPLES = 2400;
/** Timestamp noise floor (event loop wake-up, switch): keeps near-floor samples from infinite weight. */
export const EPS_US = 25;
/** Samples slower than this carry no useful information (and mean something is badly wrong). */
export const MAX_DELAY_US = 1e6;
/** Residuals this far beyond a sample's physical error bound (half its delay excess) mark an outlier. */
export const OUTLIER_SLACK_US = 150;
/** Slack of the coarse pre-filter (midpoint regression) that removes gross outliers before the envelope. */
export const COARSE_OUTLIER_SLACK_US = 2500;
/** Prior on the rate before the window spans enough time: crystals are within +-100 ppm; be generous. */
export const RATE_PRIOR_SD = 1000e-6;
/** Rates beyond this are not a crystal: clamp. */
export const MAX_ABS_RATE = 2000e-6;
/** Corrections above this step the published model (may be audible, but slewing would take too long). */
export const STEP_THRESHOLD_US = 5000;
/** Time constant of the slew toward the newest fit (smooths per-sample fit noise). */
export const SLEW_TIME_US = 1e6;
/** Largest extra rate the slew may add: 500 ppm = 0.87 cent of pitch, inaudible. */
export const MAX_SLEW_RATE = 500e-6;
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
/** Minimum samples before the model may be called synced. */
export const MIN_SYNC_SAMPLES = 8;
/** The model becomes synced once its uncertainty is below this (until then it steps freely). */
export const SYNC_MAX_UNCERTAINTY_US = 200;
/** ... and the window spans this long (the rate is not known before). */
export const MIN_SYNC_SPAN_US = 3e6;
/** A synced model stays synced (holdover) until its uncertainty exceeds this. */
export const UNSYNC_UNCERTAINTY_US = 5000;
/** Consecutive samples inconsistent with the fit by more than STEP_THRESHOLD_US before restarting. */
export const RESET_AFTER_INCONSISTENT = 6;
const ENVELOPE_PASSES = 3;
/** Lowest fraction of one-way excesses whose spread sets the envelope's softness. */
const ENVELOPE_QUANTILE = 0.03;
/** Quantile taken as the floor (robust to a few bogus samples below it). */
const FLOOR_QUANTILE = 0.004;
/** The floor is never below the (this + 1)-th lowest excess (robust to 2 bogus samples). */
const FLOOR_MIN_RANK = 2;
/** Samples more than this many softness units below the floor are bogus. */
const BELOW_FLOOR_REJECT = 4;
/**
 * Envelope weights are flat-topped-tapered to 0 at this many softness units above the floor: with a
 * smeared floor (switch/scheduler latency, softness ~250 µs) the WiFi bulk ms above it otherwise
 * pulls the line (simulated p99 100-150 -> 40-90 µs); 8, not 3-4, keeps Gaussian LAN delays averaged.
 */
const FLOOR_CUTOFF = 8;
/** Reweighting passes of the robust fit. */
const ROBUST_PASSES = 3;

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

interface Fit {
  refLocalUs: number; // absolute local time the fit is referenced at (newest sample)
  offsetUs: number; // absolute leader - local at refLocalUs
  rate: number;
  varOffset: number; // µs^2
  varRate: number;
  covOffsetRate: number; // µs
  used: number;
}

export interface TimeFilterStats {
  accepted: number;
  rejected: number;
  outliers: number;
  steps: number;
  resets: number;
  windowSamples: number;
  floorDelayUs: number;
}

export class TimeFilter {
  private window: StoredSample[] = [];
  private baseLocalUs = 0;
  private baseOffsetUs = 0;
  private fit: Fit | null = null;
  private published: { localRefUs: number; leaderRefUs: number; rate: number } | null = null;
  private wasSynced = false;
  private lastRttUs = 0;
  private lastSampleLocalUs = 0;
  private inconsistentRun: TimeSample[] = [];
  private readonly counters = { accepted: 0, rejected: 0, outliers: 0, steps: 0, resets: 0 };

  /** Feeds one exchange. Rejects impossible ones; restarts if the leader timescale moved. */
  addSample(s: TimeSample): AddResult {
    const vals = [s.t1LocalUs, s.t2LeaderUs, s.t3LeaderUs, s.t4LocalUs];
    if (!vals.every((v) => Number.isFinite(v))) return this.reject('non-finite timestamp');
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
      const predicted = this.fit.offsetUs + this.fit.rate * (xAbs - this.fit.refLocalUs);
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

    this.window.push({ xUs: xAbs - this.baseLocalUs, yUs: offAbs - this.baseOffsetUs, delayUs });
    this.trimWindow(xAbs);
    this.counters.accepted++;
    this.lastRttUs = delayUs;
    this.lastSampleLocalUs = s.t4LocalUs;
    this.fit = this.computeFit();
    return { accepted: true, delayUs, offsetUs: offAbs };
  }

  /**
   * The model to publish at local time nowUs: continuous with the previously published one (slews
   * toward the newest fit) unless not yet synced or the correction exceeds STEP_THRESHOLD_US.
   * Call after each sample and periodically (holdover: uncertainty grows, slew completes).
   */
  update(nowUs: number): ClockModel | null {
    const f = this.fit;
    if (!f) return null;
    const fitLeader = nowUs + f.offsetUs + f.rate * (nowUs - f.refLocalUs);
    const fitUnc = this.fitUncertaintyUs(f, nowUs);
    const spanUs = (this.window[this.window.length - 1]?.xUs ?? 0) - (this.window[0]?.xUs ?? 0);
    const syncedNow = this.window.length >= MIN_SYNC_SAMPLES && spanUs >= MIN_SYNC_SPAN_US && fitUnc <= SYNC_MAX_UNCERTAINTY_US;
    let residualUs = 0;
    const p = this.published;
    if (!p || !this.wasSynced) {
      this.published = { localRefUs: nowUs, leaderRefUs: fitLeader, rate: f.rate };
    } else {
      const pubLeader = p.leaderRefUs + (nowUs - p.localRefUs) * (1 + p.rate);
      const deltaUs = fitLeader - pubLeader;
      if (Math.abs(deltaUs) > STEP_THRESHOLD_US) {
        this.counters.steps++;
        this.published = { localRefUs: nowUs, leaderRefUs: fitLeader, rate: f.rate };
      } else {
        const slew = clamp(deltaUs / SLEW_TIME_US, -MAX_SLEW_RATE, MAX_SLEW_RATE);
        this.published = { localRefUs: nowUs, leaderRefUs: pubLeader, rate: clamp(f.rate + slew, -MAX_ABS_RATE, MAX_ABS_RATE) };
        residualUs = Math.abs(deltaUs);
      }
    }
    if (syncedNow) this.wasSynced = true;
    const pub = this.published;
    if (!pub) return null;
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

  /** Forget everything (new leader). */
  restart(): void {
    this.window = [];
    this.fit = null;
    this.published = null;
    this.wasSynced = false;
    this.inconsistentRun = [];
    this.lastRttUs = 0;
    this.lastSampleLocalUs = 0;
  }

  stats(): TimeFilterStats {
    return { ...this.counters, windowSamples: this.window.length, floorDelayUs: this.floorDelayUs() };
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
    if (drop > 0) this.window.splice(0, drop);
  }

  private floorDelayUs(): number {
    let m = Infinity;
    for (const s of this.window) if (s.delayUs < m) m = s.delayUs;
    return Number.isFinite(m) ? m : 0;
  }

  /** Weighted robust regression of offset on local time over the window. */
  private computeFit(): Fit | null {
    const n = this.window.length;
    const newest = this.window[n - 1];
    if (!newest) return null;
    const floor = this.floorDelayUs();
    const xr = newest.xUs;
    const base = new Float64Array(n);
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = this.window[i] as StoredSample;
      const half = (s.delayUs - floor) / 2;
      // Error of a sample is (d_out - d_back)/2, within +-half: weight by the inverse of that
      // bound's variance (uniform: half^2/3) plus the timestamp noise floor.
      base[i] = 1 / ((half * half) / 3 + EPS_US * EPS_US);
      w[i] = base[i] as number;
    }
    let res = this.solve(w, xr);
    for (let pass = 0; pass < ROBUST_PASSES && n > 2; pass++) {
      const sdFit = Math.sqrt(Math.max(0, res.varOffset));
      let changed = false;
      for (let i = 0; i < n; i++) {
        const s = this.window[i] as StoredSample;
        const dx = s.xUs - xr;
        const resid = Math.abs(s.yUs - (res.a + res.b * dx));
        const bound = (s.delayUs - floor) / 2 + COARSE_OUTLIER_SLACK_US + 3 * (sdFit + Math.sqrt(res.varRate) * Math.abs(dx));
        const nw = resid > bound ? 0 : (base[i] as number);
        if (nw !== w[i]) changed = true;
        w[i] = nw;
      }
      if (!changed) break;
      res = this.solve(w, xr);
    }
    const keep = new Uint8Array(n);
    for (let i = 0; i < n; i++) keep[i] = w[i] === 0 ? 0 : 1;
    if (n >= 3) {
      let env = this.envelopeFit(res, xr, (i) => keep[i] === 1);
      // Physical bound: a sample's offset error is at most half its delay excess.
      const sd = Math.sqrt(Math.max(0, env.varOffset));
      const sdRate = Math.sqrt(Math.max(0, env.varRate));
      let dropped = 0;
      // The smallest delay in the window may sit above the true floor (no packet met an empty queue
      // both ways); the envelopes know the floor better.
      const envFloor = Math.min(floor, env.floorUs ?? floor);
      for (let i = 0; i < n; i++) {
        const s = this.window[i] as StoredSample;
        const dx = s.xUs - xr;
        const resid = Math.abs(s.yUs - (env.a + env.b * dx));
        if (keep[i] === 1 && resid > (s.delayUs - envFloor) / 2 + OUTLIER_SLACK_US + 3 * (sd + sdRate * Math.abs(dx))) {
          keep[i] = 0;
          dropped++;
        }
      }
      if (dropped > 0) env = this.envelopeFit(env, xr, (i) => keep[i] === 1);
      // Honest spread: the same estimator on interleaved halves disagrees by ~2 sd of the whole.
      const even = this.envelopeFit(env, xr, (i) => keep[i] === 1 && i % 2 === 0);
      const odd = this.envelopeFit(env, xr, (i) => keep[i] === 1 && i % 2 === 1);
      const dA = (even.a - odd.a) / 2;
      const dB = (even.b - odd.b) / 2;
      res = { a: env.a, b: env.b, varOffset: env.varOffset + dA * dA, varRate: env.varRate + dB * dB, cov: env.cov };
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
   * Lower envelope of one one-way series: side +1 fits u = offset + delay/2 = true offset + outbound
   * delay (its floor is reached whenever the outbound packet was not delayed), side -1 fits
   * l = offset - delay/2 = true offset - inbound delay from above. Midpoint of both = the offset.
   */
  /**
   * Envelope fit over the samples that pass include(i). Outbound series u = offset + delay/2 = true
   * offset + outbound delay reaches its floor whenever the request met no queueing; inbound series
   * l = offset - delay/2 = true offset - inbound delay likewise. Both floors are lines with the same
   * slope (the rate): fit them jointly (IRLS weighted by closeness to the floor, started from each
   * lower convex hull), offset = midpoint of the two lines.
   */
  private envelopeFit(start: { a: number; b: number }, xr: number, include: (i: number) => boolean): LineFit {
    const idx: number[] = [];
    for (let i = 0; i < this.window.length; i++) if (include(i)) idx.push(i);
    const n = idx.length;
    if (n < 2) return { a: start.a, b: start.b, varOffset: 1e12, varRate: 1e-6, cov: 0 };
    const xs = new Float64Array(n);
    const vu = new Float64Array(n); // u
    const vl = new Float64Array(n); // -l, so both floors are lower envelopes
    let xMean = 0;
    for (let k = 0; k < n; k++) {
      const s = this.window[idx[k] as number] as StoredSample;
      xs[k] = s.xUs - xr;
      vu[k] = s.yUs + s.delayUs / 2;
      vl[k] = -(s.yUs - s.delayUs / 2);
      xMean += xs[k] as number;
    }
    xMean /= n;
    // Start from the lower hulls' supporting lines at the window centre: the exact LP solution when
    // some packets met no queueing (IRLS from a noisy line would lock onto that line instead).
    const maskU = new Uint8Array(n).fill(1);
    const maskL = new Uint8Array(n).fill(1);
    let out: LineFit = { a: start.a, b: start.b, varOffset: 1e12, varRate: 1e-6, cov: 0 };
    // Round 2 rebuilds the hulls without the samples round 1 found far below the floor (bogus).
    for (let round = 0; round < 2; round++) {
      const hu = hullLineAt(xs, vu, xMean, maskU) ?? { a: start.a + medianOf(vu, (k) => (vu[k] as number) - start.a - start.b * (xs[k] as number)), b: start.b };
      const hl = hullLineAt(xs, vl, xMean, maskL) ?? { a: -start.a + medianOf(vl, (k) => (vl[k] as number) + start.a + start.b * (xs[k] as number)), b: -start.b };
      let au = hu.a;
      let al = -hl.a; // l line intercept
      let b = clamp((hu.b - hl.b) / 2, -MAX_ABS_RATE, MAX_ABS_RATE);
      const wu = new Float64Array(n);
      const wl = new Float64Array(n);
      const eu = new Float64Array(n);
      const el = new Float64Array(n);
      for (let pass = 0; pass < ENVELOPE_PASSES; pass++) {
        for (let k = 0; k < n; k++) {
          const line = b * (xs[k] as number);
          eu[k] = (vu[k] as number) - (au + line);
          el[k] = al + line + (vl[k] as number); // = line_l - l >= 0
        }
        floorWeights(eu, wu);
        floorWeights(el, wl);
        // Joint WLS: u ~ au + b x, l ~ al + b x (l = -vl).
        let Su = 0, Sxu = 0, Syu = 0, Sl = 0, Sxl = 0, Syl = 0, Sxx = 0, Sxy = 0;
        for (let k = 0; k < n; k++) {
          const x = xs[k] as number;
          const w1 = wu[k] as number;
          const w2 = wl[k] as number;
          const yu = vu[k] as number;
          const yl = -(vl[k] as number);
          Su += w1; Sxu += w1 * x; Syu += w1 * yu;
          Sl += w2; Sxl += w2 * x; Syl += w2 * yl;
          Sxx += w1 * x * x + w2 * x * x;
          Sxy += w1 * x * yu + w2 * x * yl;
        }
        const denom = Sxx + 1 / (RATE_PRIOR_SD * RATE_PRIOR_SD) - (Sxu * Sxu) / Su - (Sxl * Sxl) / Sl;
        const num = Sxy - (Sxu * Syu) / Su - (Sxl * Syl) / Sl;
        b = clamp(num / denom, -MAX_ABS_RATE, MAX_ABS_RATE);
        au = (Syu - b * Sxu) / Su;
        al = (Syl - b * Sxl) / Sl;
        const vb = 1 / denom;
        const g = (Sxu / Su + Sxl / Sl) / 2;
        out = { a: (au + al) / 2, b, varOffset: (1 / Su + 1 / Sl) / 4 + g * g * vb, varRate: vb, cov: -g * vb, floorUs: au - al };
      }
      let bogus = 0;
      for (let k = 0; k < n; k++) {
        if (wu[k] === 0) (maskU[k] = 0), bogus++;
        if (wl[k] === 0) (maskL[k] = 0), bogus++;
      }
      if (bogus === 0) break;
    }
    return out;
  }

  private solve(w: Float64Array, xr: number): { a: number; b: number; varOffset: number; varRate: number; cov: number } {
    const n = this.window.length;
    const y = new Float64Array(n);
    const dx = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = this.window[i] as StoredSample;
      y[i] = s.yUs;
      dx[i] = s.xUs - xr;
    }
    return solveWeighted(w, dx, y);
  }

  private fitUncertaintyUs(f: Fit, nowUs: number): number {
    const dt = nowUs - f.refLocalUs;
    const v = Math.max(0, f.varOffset + 2 * dt * f.covOffsetRate + dt * dt * f.varRate);
    const dtS = Math.max(0, dt) / 1e6;
    const wanderUs = 0.5 * RATE_WANDER_PER_S * dtS * dtS * 1e6;
    return UNCERTAINTY_SIGMAS * Math.sqrt(v) + wanderUs + ASYMMETRY_ALLOWANCE_US;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

interface LineFit {
  /** Round-trip floor implied by the two envelopes (outbound + inbound minimum delay). */
  floorUs?: number;
  a: number;
  b: number;
  varOffset: number;
  varRate: number;
  cov: number;
}

/**
 * Weights ~ 1/variance for samples above a floor: excess over the lowest one, softened by the
 * timestamp noise or, when the floor is not hit exactly (Gaussian-like delays), by the spread of
 * the lowest few percent so those are averaged instead of trusting one.
 */
function floorWeights(excess: Float64Array, w: Float64Array): void {
  const n = excess.length;
  let m = Infinity;
  for (let k = 0; k < n; k++) if ((excess[k] as number) < m) m = excess[k] as number;
  const sorted = Float64Array.from(excess).sort();
  // The floor is a low quantile, not the minimum: a rare bogus sample below the envelope must not
  // define it. Samples far below the floor are impossible (bogus timestamps): weight 0.
  // With few samples the quantile is the minimum itself: use at least the FLOOR_MIN_RANK-th lowest,
  // or one bogus sample below the floor would make every other sample "far above" it (taper: 0).
  m = Math.max(m, sorted[Math.min(n - 1, Math.max(FLOOR_MIN_RANK, Math.floor(n * FLOOR_QUANTILE)))] ?? m);
  const q = (sorted[Math.floor(n * ENVELOPE_QUANTILE)] ?? m) - m;
  const eps = Math.max(EPS_US, q);
  for (let k = 0; k < n; k++) {
    const e = (excess[k] as number) - m;
    // Beyond FLOOR_CUTOFF softness units a sample says nothing about the floor: without the taper
    // the bulk (95 % of WiFi samples, ms above the floor) would still pull the line up ~1/excess.
    const x = (2 * e) / (FLOOR_CUTOFF * eps) - 1; // flat up to half the cutoff, then biweight to 0
    const taper = x <= 0 ? 1 : x >= 1 ? 0 : (1 - x * x) * (1 - x * x);
    w[k] = e < -BELOW_FLOOR_REJECT * eps ? 0 : taper / (e * e + eps * eps);
  }
}

/** Supporting line of the lower convex hull of (x, y) at x = at, or null if undefined there. */
function hullLineAt(x: Float64Array, y: Float64Array, at: number, mask: Uint8Array): { a: number; b: number } | null {
  const hull = lowerHull(x, y, mask);
  for (let k = 0; k + 1 < hull.length; k++) {
    const i = hull[k] as number;
    const j = hull[k + 1] as number;
    const xi = x[i] as number;
    const xj = x[j] as number;
    if (xi <= at && at <= xj && xj > xi) {
      const b = ((y[j] as number) - (y[i] as number)) / (xj - xi);
      return { a: (y[i] as number) - b * xi, b };
    }
  }
  return null;
}

function medianOf(arr: Float64Array, f: (k: number) => number): number {
  const v = Array.from({ length: arr.length }, (_, k) => f(k)).sort((p, q) => p - q);
  return v[Math.floor(v.length / 2)] ?? 0;
}

/** Indices of the lower convex hull of points (x, y) (Andrew's monotone chain). */
function lowerHull(x: Float64Array, y: Float64Array, mask: Uint8Array): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i).filter((i) => mask[i] === 1).sort((p, q) => (x[p] as number) - (x[q] as number));
  const h: number[] = [];
  for (const k of idx) {
    while (h.length >= 2) {
      const i = h[h.length - 2] as number;
      const j = h[h.length - 1] as number;
      const cross = ((x[j] as number) - (x[i] as number)) * ((y[k] as number) - (y[i] as number)) - ((y[j] as number) - (y[i] as number)) * ((x[k] as number) - (x[i] as number));
      if (cross <= 0) h.pop();
      else break;
    }
    h.push(k);
  }
  return h;
}

/**
 * Weighted least squares y = a + b*dx with a ridge prior on b (mean 0, sd RATE_PRIOR_SD) that keeps
 * a short window from producing absurd rates. Variances assume w = 1/variance.
 */
function solveWeighted(w: Float64Array, dx: Float64Array, y: Float64Array): LineFit {
  let S = 0;
  let Sx = 0;
  let Sy = 0;
  let Sxx = 0;
  let Sxy = 0;
  const n = w.length;
  for (let i = 0; i < n; i++) {
    const wi = w[i] as number;
    if (wi === 0) continue;
    const xi = dx[i] as number;
    const yi = y[i] as number;
    S += wi;
    Sx += wi * xi;
    Sy += wi * yi;
    Sxx += wi * xi * xi;
    Sxy += wi * xi * yi;
  }
  if (S === 0) return { a: y[n - 1] ?? 0, b: 0, varOffset: 1e12, varRate: 1e-6, cov: 0 };
  const Sxxp = Sxx + 1 / (RATE_PRIOR_SD * RATE_PRIOR_SD);
  const det = S * Sxxp - Sx * Sx;
  const b = clamp((S * Sxy - Sx * Sy) / det, -MAX_ABS_RATE, MAX_ABS_RATE);
  const a = (Sy - b * Sx) / S;
  return { a, b, varOffset: Sxxp / det, varRate: S / det, cov: -Sx / det };
}
