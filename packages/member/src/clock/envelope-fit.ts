// The envelope fit of the time filter (docs/clock.md, "Estimator"): the outbound and inbound
// floors of the NTP exchanges' one-way excesses are two lines with the same slope (the rate); they
// are fitted jointly by IRLS weighted by closeness to the floor, started from each lower convex
// hull, and the offset is their midpoint. Allocation-free: FitScratch holds every work array.

import { kthSmallest, twoLowRanks, twoSmallest } from './order-statistics.js';
import { weightedLine } from './weighted-line.js';
import { clamp, EPS_US, MAX_ABS_RATE, RATE_PRIOR_SD } from './filter-limits.js';

const ENVELOPE_PASSES = 3;
/**
 * Lowest fraction of one-way excesses whose spread sets the envelope's softness. 1 %, not 3 %: on
 * netsim WiFi with kernel timestamps ~2 % of each direction's samples sit within ~25 µs of the
 * floor, so the 3 % quantile reached into the tail, the envelopes floated 100-200 µs above their
 * floors and the offset erred by half their difference (bench:clock replays: p99 up to 93 µs).
 */
const ENVELOPE_QUANTILE = 0.01;
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
/** Which kept samples an envelope fit uses: all, even or odd window indices. */
export const SUBSET_ALL = 0;
export const SUBSET_EVEN = 1;
export const SUBSET_ODD = 2;

/**
 * Work arrays of one fit, reused from sample to sample (the fit runs 10-50 times a second over up
 * to MAX_WINDOW_SAMPLES samples): grown with the window, never shrunk. Per window sample (g*):
 * filled by computeFit; per envelope-fit subset: filled by envelopeFit.
 */
export class FitScratch {
  constructor(private readonly maxSamples: number) {}

  capacity = 0;
  gx = new Float64Array(0); // x relative to the newest sample
  gy = new Float64Array(0); // offset
  gd = new Float64Array(0); // delay
  gu = new Float64Array(0); // u = offset + delay/2
  gl = new Float64Array(0); // -l = -(offset - delay/2)
  base = new Float64Array(0);
  w = new Float64Array(0);
  keep = new Uint8Array(0);
  /** Window indices by x (ties by index); valid only while xOrderUsed (x not already in order). */
  xOrder = new Int32Array(0);
  xOrderUsed = false;
  localOf = new Int32Array(0); // window index -> subset index, -1 if not in the subset
  xs = new Float64Array(0);
  vu = new Float64Array(0);
  vl = new Float64Array(0);
  wu = new Float64Array(0);
  wl = new Float64Array(0);
  eu = new Float64Array(0);
  el = new Float64Array(0);
  listU = new Int32Array(0); // samples kept for round 2's hulls
  listL = new Int32Array(0);
  order = new Int32Array(0);
  hull = new Int32Array(0);
  sel = new Float64Array(0); // selection (order statistics) scratch
  readonly two = new Float64Array(2);
  readonly line = { a: 0, b: 0 };

  ensure(n: number): this {
    if (n <= this.capacity) return this;
    const c = Math.max(n, Math.min(2 * this.capacity, this.maxSamples));
    this.capacity = c;
    this.gx = new Float64Array(c);
    this.gy = new Float64Array(c);
    this.gd = new Float64Array(c);
    this.gu = new Float64Array(c);
    this.gl = new Float64Array(c);
    this.base = new Float64Array(c);
    this.w = new Float64Array(c);
    this.keep = new Uint8Array(c);
    this.xOrder = new Int32Array(c);
    this.localOf = new Int32Array(c);
    this.xs = new Float64Array(c);
    this.vu = new Float64Array(c);
    this.vl = new Float64Array(c);
    this.wu = new Float64Array(c);
    this.wl = new Float64Array(c);
    this.eu = new Float64Array(c);
    this.el = new Float64Array(c);
    this.listU = new Int32Array(c);
    this.listL = new Int32Array(c);
    this.order = new Int32Array(c);
    this.hull = new Int32Array(c);
    this.sel = new Float64Array(c);
    return this;
  }
}

/**
 * Envelope fit over the kept window samples of one subset (all, even or odd indices; computeFit
 * has filled the scratch's per-window arrays). Outbound series u = offset + delay/2 = true
 * offset + outbound delay reaches its floor whenever the request met no queueing; inbound series
 * l = offset - delay/2 = true offset - inbound delay likewise. Both floors are lines with the same
 * slope (the rate): fit them jointly (IRLS weighted by closeness to the floor, started from each
 * lower convex hull), offset = midpoint of the two lines.
 */
export function envelopeFit(sc: FitScratch, startA: number, startB: number, nWin: number, subset: number): LineFit {
  const { keep, gx, gu, gl, localOf, xs, vu, vl, wu, wl, eu, el, listU, listL, order, hull, sel, two, line } = sc;
  let n = 0;
  let xMean = 0;
  for (let i = 0; i < nWin; i++) {
    if (keep[i] === 1 && (subset === SUBSET_ALL || (subset === SUBSET_EVEN ? i % 2 === 0 : i % 2 === 1))) {
      localOf[i] = n;
      xs[n] = gx[i] as number;
      vu[n] = gu[i] as number;
      vl[n] = gl[i] as number;
      xMean += xs[n] as number;
      n++;
    } else localOf[i] = -1;
  }
  if (n < 2) return { a: startA, b: startB, varOffset: 1e12, varRate: 1e-6, cov: 0 };
  xMean /= n;
  // The subset's samples by x (a subsequence of the window's order), or null: already in order.
  let byX: Int32Array | null = null;
  if (sc.xOrderUsed) {
    let t = 0;
    for (let g = 0; g < nWin; g++) {
      const k = localOf[sc.xOrder[g] as number] as number;
      if (k >= 0) order[t++] = k;
    }
    byX = order;
  }
  // Start from the lower hulls' supporting lines at the window centre: the exact LP solution when
  // some packets met no queueing (IRLS from a noisy line would lock onto that line instead).
  let out: LineFit = { a: startA, b: startB, varOffset: 1e12, varRate: 1e-6, cov: 0 };
  // Round 2 rebuilds the hulls without the samples round 1 gave weight 0 (far below the floor:
  // bogus; or far above it). Hull input per side: all samples by x (byX, null = index order) in
  // round 1, the ones left (listU/listL, by x) in round 2.
  let cntU = n;
  let cntL = n;
  let huA = NaN;
  let huB = NaN;
  let hlA = NaN;
  let hlB = NaN;
  let startAu = NaN;
  let startAl = NaN;
  let startB0 = NaN;
  for (let round = 0; round < 2; round++) {
    if (round === 0 || cntU < n) {
      if (hullLineAt(xs, vu, round === 0 ? byX : listU, cntU, xMean, hull, line)) {
        huA = line.a;
        huB = line.b;
      } else {
        for (let k = 0; k < n; k++) eu[k] = (vu[k] as number) - startA - startB * (xs[k] as number);
        huA = startA + medianOf(eu, n, sel);
        huB = startB;
      }
    } // else: nothing dropped on this side, the same hull as in round 1
    if (round === 0 || cntL < n) {
      if (hullLineAt(xs, vl, round === 0 ? byX : listL, cntL, xMean, hull, line)) {
        hlA = line.a;
        hlB = line.b;
      } else {
        for (let k = 0; k < n; k++) el[k] = (vl[k] as number) + startA + startB * (xs[k] as number);
        hlA = -startA + medianOf(el, n, sel);
        hlB = -startB;
      }
    }
    let au = huA;
    let al = -hlA; // l line intercept
    let b = clamp((huB - hlB) / 2, -MAX_ABS_RATE, MAX_ABS_RATE);
    // The passes depend only on this start: if dropping round 1's zero-weight samples (mostly the
    // bulk far above the floor, rarely a hull vertex at the centre) left it unchanged, round 2
    // would repeat round 1 exactly.
    if (round > 0 && Object.is(au, startAu) && Object.is(al, startAl) && Object.is(b, startB0)) break;
    startAu = au;
    startAl = al;
    startB0 = b;
    for (let pass = 0; pass < ENVELOPE_PASSES; pass++) {
      for (let k = 0; k < n; k++) {
        const lineK = b * (xs[k] as number);
        eu[k] = (vu[k] as number) - (au + lineK);
        el[k] = al + lineK + (vl[k] as number); // = line_l - l >= 0
      }
      floorLevel(eu, n, sel, two);
      const mU = two[0] as number;
      const epsU = two[1] as number;
      floorLevel(el, n, sel, two);
      const mL = two[0] as number;
      const epsL = two[1] as number;
      const cutU = FLOOR_CUTOFF * epsU;
      const cutL = FLOOR_CUTOFF * epsL;
      const rejectU = -BELOW_FLOOR_REJECT * epsU;
      const rejectL = -BELOW_FLOOR_REJECT * epsL;
      const eps2U = epsU * epsU;
      const eps2L = epsL * epsL;
      const zeroU = cutU * 1.01;
      const zeroL = cutL * 1.01;
      const flatU = cutU * (1 - 1e-9);
      const flatL = cutL * (1 - 1e-9);
      // Joint WLS: u ~ au + b x, l ~ al + b x (l = -vl). Terms of weight 0 add exactly 0: skipped
      // (most WiFi samples are far above both floors).
      let Su = 0, Sxu = 0, Syu = 0, Sl = 0, Sxl = 0, Syl = 0, Sxx = 0, Sxy = 0;
      for (let k = 0; k < n; k++) {
        const w1 = floorWeight((eu[k] as number) - mU, cutU, rejectU, eps2U, zeroU, flatU);
        const w2 = floorWeight((el[k] as number) - mL, cutL, rejectL, eps2L, zeroL, flatL);
        wu[k] = w1;
        wl[k] = w2;
        if (w1 === 0 && w2 === 0) continue;
        const x = xs[k] as number;
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
      if (pass === ENVELOPE_PASSES - 1) {
        const vb = 1 / denom;
        const g = (Sxu / Su + Sxl / Sl) / 2;
        out = { a: (au + al) / 2, b, varOffset: (1 / Su + 1 / Sl) / 4 + g * g * vb, varRate: vb, cov: -g * vb, floorUs: au - al };
      }
    }
    if (round === 1) break;
    cntU = 0;
    cntL = 0;
    for (let t = 0; t < n; t++) {
      const k = byX === null ? t : (byX[t] as number);
      if (wu[k] !== 0) listU[cntU++] = k;
      if (wl[k] !== 0) listL[cntL++] = k;
    }
    if (cntU === n && cntL === n) break;
  }
  return out;
}

export interface LineFit {
  /** Round-trip floor implied by the two envelopes (outbound + inbound minimum delay). */
  floorUs?: number;
  a: number;
  b: number;
  varOffset: number;
  varRate: number;
  cov: number;
}

/**
 * Floor and softness of one side's excesses (excess[0..n)), for floorWeight: two[0] = the floor m,
 * two[1] = the softness eps. Weights ~ 1/variance for samples above the floor, softened by the
 * timestamp noise or, when the floor is not hit exactly (Gaussian-like delays), by the spread of
 * the lowest few percent so those are averaged instead of trusting one. sel (length >= n) is scratch.
 */
function floorLevel(excess: Float64Array, n: number, sel: Float64Array, two: Float64Array): void {
  // The floor is a low quantile, not the minimum: a rare bogus sample below the envelope must not
  // define it. Samples far below the floor are impossible (bogus timestamps): weight 0.
  // With few samples the quantile is the minimum itself: use at least the FLOOR_MIN_RANK-th lowest,
  // or one bogus sample below the floor would make every other sample "far above" it (taper: 0).
  // Only these two order statistics are needed: selected in O(n), not sorted.
  const floorRank = Math.min(n - 1, Math.max(FLOOR_MIN_RANK, Math.floor(n * FLOOR_QUANTILE)));
  const spreadRank = Math.floor(n * ENVELOPE_QUANTILE);
  let m: number;
  let q: number;
  if (twoLowRanks(excess, n, floorRank, spreadRank, sel, two)) {
    // No NaN: the floor-rank value is >= the minimum, so max(minimum, it) is that value (up to the
    // sign of a zero, which no weight depends on).
    m = two[0] as number;
    q = (two[1] as number) - m;
  } else {
    m = Infinity;
    for (let k = 0; k < n; k++) if ((excess[k] as number) < m) m = excess[k] as number;
    const got = twoSmallest(excess, n, floorRank, spreadRank, sel, two);
    m = Math.max(m, got & 1 ? (two[0] as number) : m);
    q = (got & 2 ? (two[1] as number) : m) - m;
  }
  two[0] = m;
  two[1] = Math.max(EPS_US, q);
}

/**
 * Weight of a sample e = excess - floor above its envelope's floor (see floorLevel); cut =
 * FLOOR_CUTOFF * eps, reject = -BELOW_FLOOR_REJECT * eps, eps2 = eps^2, and two bounds that let most
 * samples skip a division (which is slow on the members' ARM cores) without changing any result:
 * zeroAbove = 1.01 cut (e beyond it has x >= 1 whatever the rounding: weight 0) and flatBelow =
 * (1 - 1e-9) cut (2e up to it has x <= 0: taper 1).
 */
function floorWeight(e: number, cut: number, reject: number, eps2: number, zeroAbove: number, flatBelow: number): number {
  if (e > zeroAbove) return 0;
  if (2 * e <= flatBelow) return e < reject ? 0 : 1 / (e * e + eps2);
  // Beyond FLOOR_CUTOFF softness units a sample says nothing about the floor: without the taper
  // the bulk (95 % of WiFi samples, ms above the floor) would still pull the line up ~1/excess.
  const x = (2 * e) / cut - 1; // flat up to half the cutoff, then biweight to 0
  if (x >= 1) return 0; // (taper 0; x >= 1 means e > 0, so never below the floor)
  const taper = x <= 0 ? 1 : (1 - x * x) * (1 - x * x);
  return e < reject ? 0 : taper / (e * e + eps2);
}

/**
 * Supporting line of the lower convex hull of the points idx[0..count) (by x; idx null: the
 * points 0..count-1, already by x) at x = at, written to out; false if undefined there.
 */
function hullLineAt(
  x: Float64Array,
  y: Float64Array,
  idx: Int32Array | null,
  count: number,
  at: number,
  hull: Int32Array,
  out: { a: number; b: number },
): boolean {
  const len = lowerHull(x, y, idx, count, hull);
  for (let k = 0; k + 1 < len; k++) {
    const i = hull[k] as number;
    const j = hull[k + 1] as number;
    const xi = x[i] as number;
    const xj = x[j] as number;
    if (xi <= at && at <= xj && xj > xi) {
      const b = ((y[j] as number) - (y[i] as number)) / (xj - xi);
      out.a = (y[i] as number) - b * xi;
      out.b = b;
      return true;
    }
  }
  return false;
}

/** Median (upper one for even n) of v[0..n), as sorting would give it; sel (length >= n) is scratch. */
function medianOf(v: Float64Array, n: number, sel: Float64Array): number {
  return kthSmallest(v, n, Math.floor(n / 2), sel) ?? 0;
}

/**
 * Lower convex hull (Andrew's monotone chain) of the points idx[0..count) taken in that order (by x;
 * idx null: 0..count-1): writes their indices to hull, returns how many.
 */
function lowerHull(x: Float64Array, y: Float64Array, idx: Int32Array | null, count: number, hull: Int32Array): number {
  let len = 0;
  // Coordinates of the chain's top (j) and the one below it (i), valid while len >= 1 / >= 2.
  let xi = 0;
  let yi = 0;
  let xj = 0;
  let yj = 0;
  for (let t = 0; t < count; t++) {
    const k = idx === null ? t : (idx[t] as number);
    const xk = x[k] as number;
    const yk = y[k] as number;
    while (len >= 2) {
      const cross = (xj - xi) * (yk - yi) - (yj - yi) * (xk - xi);
      if (cross <= 0) {
        len--;
        xj = xi;
        yj = yi;
        if (len >= 2) {
          const i = hull[len - 2] as number;
          xi = x[i] as number;
          yi = y[i] as number;
        }
      } else break;
    }
    xi = xj;
    yi = yj;
    xj = xk;
    yj = yk;
    hull[len++] = k;
  }
  return len;
}

/** Weighted least squares over all samples (weighted-line.ts), the rate clamped. */
export function solveWeighted(w: Float64Array, dx: Float64Array, y: Float64Array, n: number): LineFit {
  return weightedLine(dx, y, w, n, SUBSET_ALL, RATE_PRIOR_SD, MAX_ABS_RATE) ?? { a: y[n - 1] ?? 0, b: 0, varOffset: 1e12, varRate: 1e-6, cov: 0 };
}
