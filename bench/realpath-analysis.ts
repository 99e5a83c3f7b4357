// Analysis for bench:realpath: one stereo recording of a null sink's monitor, member1 on the left
// channel and member2 on the right. Pure functions (no audio server, no processes):
// - fractionalDelay / lrOffsets / lrOffsetSeries: how much later the right channel plays the same
//   material than the left, per window (measured in 20 ms sub-windows so that members drifting
//   apart by up to ~1000 ppm still correlate; a line through them read at the window centre), to
//   well under 0.1 µs on band-limited noise;
// - dropouts: stretches where a channel lost its noise floor, both channels at once (the server
//   dropped a cycle) or one (a member's own gap);
// - ArrivalTimeMap + scheduleErrors: when each burst was heard on the host clock against when the
//   leader's timeline scheduled it;
// - summarizeOffsets: the report's figures.
// Sign convention everywhere: offset > 0 means the RIGHT channel (member2) is heard LATER than the
// left (member1).
import { percentileSorted } from './lib/stats.js';
import { fittedRateHz } from '@jaudiosync/testkit/helpers/pulse.js';

/** Full scale of int16 samples. */
const INT16_FULL_SCALE = 32768;
/** Newton refinement of the correlation peak: iterations and the step at which it has converged (samples). */
const NEWTON_MAX_ITERATIONS = 12;
const NEWTON_TOLERANCE_SAMPLES = 1e-10;
/** The refined peak must stay within this of the integer peak (samples), or the window is garbage. */
const MAX_REFINE_MOVE_SAMPLES = 1;
/** Re-seed the phase recurrence of the spectrum sum this often (bins) to bound rounding growth. */
const PHASE_RESYNC_BINS = 256;

/** Default L/R search range: members further apart than this are not "in sync" in any sense. */
export const DEFAULT_MAX_LAG_MS = 20;
/** Normalised correlation below this: the two channels do not carry the same material (here > 0.99). */
export const DEFAULT_MIN_QUALITY = 0.9;
/** Burst onset threshold (full scale 1): the -40 dBFS floor peaks near 0.06, bursts at 0.5. */
export const DEFAULT_BURST_THRESHOLD = 0.15;
/** An onset needs this much below-threshold signal before it (bursts are >= 100 ms apart). */
const ONSET_REFRACTORY_MS = 50;
/** A window whose channel rms is below this holds no music (digital silence before the play). */
const SILENT_RMS = 1e-4;
/** Dropout: |sample| at most this (LSB, about -72 dBFS) for at least DEFAULT_DROPOUT_MIN_MS. The
 *  floor (-40 dBFS rms, ~330 LSB) is below 8 LSB on ~2 % of samples, never for 96 in a row. */
export const DEFAULT_DROPOUT_MAX_ABS = 8;
export const DEFAULT_DROPOUT_MIN_MS = 2;
/** Offsets at or above this are "not in sync" for in_sync_after_s. */
export const IN_SYNC_US = 100;
/** Schedule matching: a heard onset belongs to the scheduled burst within this (ms): the monitor's
 *  fixed bias is 10-30 ms, bursts are >= 100 ms apart. */
const SCHEDULE_MATCH_MS = 50;
/** Burst alignment against the source: context before/after the 2 ms burst and search range (ms). */
const BURST_CONTEXT_MS = 1;
const BURST_SEARCH_MS = 1;
const BURST_MIN_QUALITY = 0.8;
/** Time map: arrivals within this of a frame (s) place it; see ArrivalTimeMap. */
const TIME_MAP_WINDOW_S = 2;

// ---------------------------------------------------------------------------------------------
// FFT (radix 2, in place, split re/im arrays); one instance per size, tables computed once.

export class Fft {
  private readonly rev: Uint32Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(Math.log2(n)) || n < 2) throw new RangeError(`Fft: size must be a power of 2, got ${n}`);
    const bits = Math.log2(n);
    this.rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
    this.cos = new Float64Array(n / 2);
    this.sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
  }

  /** Forward: X_k = sum x_j e^{-2 pi i jk/n}; inverse: (1/n) sum X_k e^{+2 pi i jk/n}. */
  transform(re: Float64Array, im: Float64Array, inverse = false): void {
    const n = this.n;
    const rev = this.rev;
    for (let i = 0; i < n; i++) {
      const j = rev[i]!;
      if (j > i) {
        const tr = re[i]!;
        re[i] = re[j]!;
        re[j] = tr;
        const ti = im[i]!;
        im[i] = im[j]!;
        im[j] = ti;
      }
    }
    const sgn = inverse ? -1 : 1;
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let j = 0, k = 0; j < half; j++, k += step) {
          const c = this.cos[k]!;
          const s = sgn * this.sin[k]!;
          const a = start + j;
          const b = a + half;
          const br = re[b]!;
          const bi = im[b]!;
          // b * e^{-i theta} (forward) or e^{+i theta} (inverse)
          const tr = br * c + bi * s;
          const ti = bi * c - br * s;
          re[b] = re[a]! - tr;
          im[b] = im[a]! - ti;
          re[a] = re[a]! + tr;
          im[a] = im[a]! + ti;
        }
      }
    }
    if (inverse) {
      for (let i = 0; i < n; i++) {
        re[i] = re[i]! / n;
        im[i] = im[i]! / n;
      }
    }
  }
}

const fftCache = new Map<number, Fft>();
function fftOf(n: number): Fft {
  let f = fftCache.get(n);
  if (!f) {
    f = new Fft(n);
    fftCache.set(n, f);
  }
  return f;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Sub-sample delay between two segments.

export type DelayRejection = 'edge' | 'uncorrelated' | 'refine_failed';

/** Search half-width (samples) of the fine step, around the coarse integer lag. */
const FINE_SEARCH_SAMPLES = 16;

export interface DelayEstimate {
  /** samples by which b plays the material later than a (b[t + delay] = a[t]) */
  delay: number;
  /** normalised correlation at the peak (the worse of the two directions), 1 = identical */
  quality: number;
  /** d(a->b) - (-d(b->a)): 0 for a pure delay; the part the symmetrisation removed (samples) */
  asymmetry: number;
}

/**
 * Delay of b against a, both `W + 2 * maxLag` samples covering the same index range; a's window is
 * the middle W samples.
 * 1. Coarse: the correlation of a's window (rectangular) with all of b at integer lags (FFT) and
 *    its peak m (at the range's edge: rejected as `edge`).
 * 2. Fine, in both directions on the same material: a's window against b around a + m, and b's
 *    window at a + m against a around a's window, each over +-16 samples. Each peak is the exact
 *    maximum of the band-limited correlation c(tau) = (1/N) sum_k P_k e^{i w_k tau} (P = conj(X) Y,
 *    the cross spectrum), found by Newton's method on that sum: it evaluates the correlation between
 *    the samples exactly (a parabola through three lags of a band-limited peak is biased by up to
 *    ~0.02 samples = 0.4 µs). The result is the mean of the two directions: antisymmetric in form,
 *    so identical inputs read exactly 0, and the first-order bias of the rectangular windows'
 *    edges cancels. Matching the windows by m keeps both directions on the same event when the lag
 *    moves inside the window (a burst at the edge of one channel's window but not the other's
 *    read 2.5 µs off at 600 ppm).
 */
export function fractionalDelay(a: Float64Array, b: Float64Array, maxLag: number): DelayEstimate | DelayRejection {
  const m = a.length;
  const w = m - 2 * maxLag;
  if (b.length !== m || !Number.isInteger(maxLag) || maxLag < 1 || w < 2) throw new RangeError('fractionalDelay: a and b must have equal length W + 2 * maxLag, W >= 2');
  const coarse = coarseLag(a.subarray(maxLag, maxLag + w), b);
  if (coarse === 0 || coarse === 2 * maxLag) return 'edge';
  if (coarse < 0) return 'uncorrelated';
  const shift = coarse - maxLag; // b's copy of a's window starts at maxLag + shift
  const k = Math.min(FINE_SEARCH_SAMPLES, maxLag - Math.abs(shift), maxLag);
  if (k < 2) return 'edge';
  // forward: a's window against b from maxLag + shift - k; delay = shift - k + tau
  const fwd = refinePeak(a.subarray(maxLag, maxLag + w), b.subarray(maxLag + shift - k, maxLag + shift + w + k), k);
  if (typeof fwd === 'string') return fwd;
  // reverse: b's window at maxLag + shift against a from maxLag - k; delay = shift + k - tau
  const rev = refinePeak(b.subarray(maxLag + shift, maxLag + shift + w), a.subarray(maxLag - k, maxLag + w + k), k);
  if (typeof rev === 'string') return rev;
  const dFwd = shift + (fwd.tau - k);
  const dRev = shift - (rev.tau - k);
  return { delay: (dFwd + dRev) / 2, quality: Math.min(fwd.quality, rev.quality), asymmetry: dFwd - dRev };
}

/** Integer lag t in [0, y.length - x.length] maximising sum x[i] y[i + t]; -1 without a positive peak. */
function coarseLag(x: Float64Array, y: Float64Array): number {
  const n = nextPow2(y.length);
  const { pr, pi } = crossSpectrum(x, y, n);
  const c = integerCorrelation(pr, pi, n);
  const lags = y.length - x.length;
  let best = 0;
  for (let t = 1; t <= lags; t++) if (c[t]! > c[best]!) best = t;
  return c[best]! > 0 ? best : -1;
}

/** conj(X) Y for k = 0..n/2 of x (zero-padded) and y, from one complex FFT (x real part, y imaginary). */
function crossSpectrum(x: Float64Array, y: Float64Array, n: number): { pr: Float64Array; pi: Float64Array } {
  const fft = fftOf(n);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  re.set(x);
  im.set(y);
  fft.transform(re, im);
  const half = n >> 1;
  const pr = new Float64Array(half + 1);
  const pi = new Float64Array(half + 1);
  for (let k = 0; k <= half; k++) {
    const nk = (n - k) % n;
    const xr = (re[k]! + re[nk]!) / 2;
    const xi = (im[k]! - im[nk]!) / 2;
    const yr = (im[k]! + im[nk]!) / 2;
    const yi = -(re[k]! - re[nk]!) / 2;
    pr[k] = xr * yr + xi * yi;
    pi[k] = xr * yi - xi * yr;
  }
  return { pr, pi };
}

/** The correlation at integer lags: inverse transform of the Hermitian cross spectrum. */
function integerCorrelation(pr: Float64Array, pi: Float64Array, n: number): Float64Array {
  const half = n >> 1;
  const cr = new Float64Array(n);
  const ci = new Float64Array(n);
  for (let k = 0; k <= half; k++) {
    cr[k] = pr[k]!;
    ci[k] = pi[k]!;
    if (k > 0 && k < half) {
      cr[n - k] = pr[k]!;
      ci[n - k] = -pi[k]!;
    }
  }
  fftOf(n).transform(cr, ci, true);
  return cr;
}

/** Fractional lag tau in (0, 2k) maximising the band-limited correlation of x (length W) with y (W + 2k). */
function refinePeak(x: Float64Array, y: Float64Array, k: number): { tau: number; quality: number } | DelayRejection {
  const w = x.length;
  const n = nextPow2(y.length);
  const { pr, pi } = crossSpectrum(x, y, n);
  const cr = integerCorrelation(pr, pi, n);
  let best = 0;
  for (let t = 1; t <= 2 * k; t++) if (cr[t]! > cr[best]!) best = t;
  let ex = 0;
  for (let i = 0; i < w; i++) ex += x[i]! * x[i]!;
  if (!(cr[best]! > 0) || !(ex > 0)) return 'uncorrelated';
  if (best === 0 || best === 2 * k) return 'refine_failed';
  const ym = cr[best - 1]!;
  const y0 = cr[best]!;
  const yp = cr[best + 1]!;
  const den = ym - 2 * y0 + yp;
  let tau = best + (den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (ym - yp)) / den)) : 0);
  let converged = false;
  for (let it = 0; it < NEWTON_MAX_ITERATIONS; it++) {
    const { d1, d2 } = derivatives(pr, pi, n, tau);
    if (!(d2 < 0)) return 'refine_failed';
    const step = Math.max(-0.5, Math.min(0.5, -d1 / d2));
    tau += step;
    if (Math.abs(step) < NEWTON_TOLERANCE_SAMPLES) {
      converged = true;
      break;
    }
  }
  if (!converged || Math.abs(tau - best) > MAX_REFINE_MOVE_SAMPLES) return 'refine_failed';
  // Quality at the refined peak (at the nearest integer lag, a peak half-way between samples of
  // 16 kHz noise reads ~0.8): the correlation there over the geometric mean of the energies, y's
  // energy under the window interpolated between the two integer lags around tau.
  const lo = Math.floor(tau);
  let eLo = 0;
  for (let i = 0; i < w; i++) eLo += y[lo + i]! ** 2;
  const eHi = eLo - y[lo]! ** 2 + (y[lo + w] ?? 0) ** 2;
  const ey = eLo + (eHi - eLo) * (tau - lo);
  const peak = correlationAt(pr, pi, n, tau);
  const quality = ey > 0 ? Math.min(1, peak / Math.sqrt(ex * ey)) : 0;
  return { tau, quality };
}

/** The band-limited correlation at fractional lag tau: (1/n) sum_k Re(P_k e^{i omega_k tau}) (Nyquist left out). */
function correlationAt(pr: Float64Array, pi: Float64Array, n: number, tau: number): number {
  const half = n >> 1;
  const dTheta = (2 * Math.PI * tau) / n;
  const stepRe = Math.cos(dTheta);
  const stepIm = Math.sin(dTheta);
  let er = 1;
  let ei = 0;
  let s = pr[0]!;
  for (let k = 1; k < half; k++) {
    if (k % PHASE_RESYNC_BINS === 0) {
      er = Math.cos(k * dTheta);
      ei = Math.sin(k * dTheta);
    } else {
      const nr = er * stepRe - ei * stepIm;
      ei = er * stepIm + ei * stepRe;
      er = nr;
    }
    s += 2 * (pr[k]! * er - pi[k]! * ei);
  }
  return s / n;
}

/**
 * First and second derivative (up to the common positive factor 2/n) of the band-limited
 * correlation sum_k w_k Re(P_k e^{i omega_k tau}) over k = 0..n/2-1 (the Nyquist bin, empty for a
 * band-limited signal, is left out: its interpolation is ambiguous).
 */
function derivatives(pr: Float64Array, pi: Float64Array, n: number, tau: number): { d1: number; d2: number } {
  const half = n >> 1;
  const dTheta = (2 * Math.PI * tau) / n;
  const stepRe = Math.cos(dTheta);
  const stepIm = Math.sin(dTheta);
  let er = 1;
  let ei = 0;
  let s1 = 0;
  let s2 = 0;
  for (let k = 1; k < half; k++) {
    if (k % PHASE_RESYNC_BINS === 0) {
      er = Math.cos(k * dTheta);
      ei = Math.sin(k * dTheta);
    } else {
      const nr = er * stepRe - ei * stepIm;
      ei = er * stepIm + ei * stepRe;
      er = nr;
    }
    const omega = (2 * Math.PI * k) / n;
    const re = pr[k]! * er - pi[k]! * ei;
    const im = pr[k]! * ei + pi[k]! * er;
    s1 -= omega * im;
    s2 -= omega * omega * re;
  }
  return { d1: s1, d2: s2 };
}

// ---------------------------------------------------------------------------------------------
// Recording access

/** A stereo int16 recording (interleaved L, R). */
export interface StereoRecording {
  samples: Int16Array;
  rate: number;
}

export function frameCount(rec: StereoRecording): number {
  return Math.floor(rec.samples.length / 2);
}

/** Channel c (0 left, 1 right) of frames [from, from + len) as floats (full scale 1). */
export function channelSegment(rec: StereoRecording, channel: 0 | 1, from: number, len: number): Float64Array {
  const out = new Float64Array(len);
  const s = rec.samples;
  for (let i = 0; i < len; i++) out[i] = s[(from + i) * 2 + channel]! / INT16_FULL_SCALE;
  return out;
}

/** A sample above this (LSB, -60 dBFS) is sound: the floor is ~330 LSB rms, idle members play zeros. */
export const SOUND_MIN_ABS = 32;

/** First frame at or after `fromFrame` where each channel has sound (null: none). */
export function firstSoundFrame(rec: StereoRecording, fromFrame = 0, minAbs = SOUND_MIN_ABS): { left: number | null; right: number | null } {
  const s = rec.samples;
  const frames = frameCount(rec);
  const found: [number | null, number | null] = [null, null];
  for (let f = Math.max(0, Math.floor(fromFrame)); f < frames && (found[0] === null || found[1] === null); f++) {
    for (const c of [0, 1] as const) {
      if (found[c] !== null) continue;
      const v = s[f * 2 + c]!;
      if (v > minAbs || v < -minAbs) found[c] = f;
    }
  }
  return { left: found[0], right: found[1] };
}

// ---------------------------------------------------------------------------------------------
// Dropouts

export type DropoutKind = 'both' | 'left' | 'right';

export interface Dropout {
  kind: DropoutKind;
  startFrame: number;
  /** exclusive */
  endFrame: number;
  /** start, seconds after t0Frame */
  tS: number;
  ms: number;
}

export interface DropoutReport {
  both: number;
  left: number;
  right: number;
  list: Dropout[];
}

export interface DropoutOptions {
  fromFrame?: number;
  toFrame?: number;
  /** frame of tS = 0 (default fromFrame) */
  t0Frame?: number;
  maxAbs?: number;
  minMs?: number;
}

/** Runs of |sample| <= maxAbs of at least minFrames on one channel within [from, to). */
function quietRuns(rec: StereoRecording, channel: 0 | 1, from: number, to: number, maxAbs: number, minFrames: number): Array<[number, number]> {
  const s = rec.samples;
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let f = from; f < to; f++) {
    const v = s[f * 2 + channel]!;
    if (v <= maxAbs && v >= -maxAbs) {
      if (start < 0) start = f;
    } else if (start >= 0) {
      if (f - start >= minFrames) runs.push([start, f]);
      start = -1;
    }
  }
  if (start >= 0 && to - start >= minFrames) runs.push([start, to]);
  return runs;
}

/**
 * Stretches in [from, to) where a channel lost its noise floor (near-zero for >= minMs). Where both
 * channels are silent at the same frames the stretch is `both` (the server produced nothing for
 * anyone: a dropped cycle, or both members starved at once); what one channel is silent beyond
 * that is that member's own (`left` / `right`). Pieces under minMs are dropped (two members a
 * fraction of a millisecond apart leave such slivers at the ends of a shared gap).
 */
export function dropouts(rec: StereoRecording, opts: DropoutOptions = {}): DropoutReport {
  const frames = frameCount(rec);
  const from = Math.max(0, Math.floor(opts.fromFrame ?? 0));
  const to = Math.min(frames, Math.ceil(opts.toFrame ?? frames));
  const t0 = opts.t0Frame ?? from;
  const maxAbs = opts.maxAbs ?? DEFAULT_DROPOUT_MAX_ABS;
  const minFrames = Math.max(1, Math.round(((opts.minMs ?? DEFAULT_DROPOUT_MIN_MS) / 1000) * rec.rate));
  const left = quietRuns(rec, 0, from, to, maxAbs, minFrames);
  const right = quietRuns(rec, 1, from, to, maxAbs, minFrames);
  const mk = (kind: DropoutKind, a: number, b: number): Dropout => ({ kind, startFrame: a, endFrame: b, tS: (a - t0) / rec.rate, ms: ((b - a) / rec.rate) * 1000 });
  const list: Dropout[] = [
    ...intersect(left, right).map(([a, b]) => mk('both', a, b)),
    ...subtract(left, right).map(([a, b]) => mk('left', a, b)),
    ...subtract(right, left).map(([a, b]) => mk('right', a, b)),
  ].filter((d) => d.endFrame - d.startFrame >= minFrames);
  list.sort((x, y) => x.startFrame - y.startFrame || x.kind.localeCompare(y.kind));
  return {
    both: list.filter((d) => d.kind === 'both').length,
    left: list.filter((d) => d.kind === 'left').length,
    right: list.filter((d) => d.kind === 'right').length,
    list,
  };
}

type Span = [number, number];

/** Intersection of two sorted lists of disjoint half-open spans. */
function intersect(a: readonly Span[], b: readonly Span[]): Span[] {
  const out: Span[] = [];
  let j = 0;
  for (const [as, ae] of a) {
    while (j < b.length && b[j]![1] <= as) j++;
    for (let k = j; k < b.length && b[k]![0] < ae; k++) {
      const s = Math.max(as, b[k]![0]);
      const e = Math.min(ae, b[k]![1]);
      if (e > s) out.push([s, e]);
    }
  }
  return out;
}

/** a minus b, for sorted lists of disjoint half-open spans. */
function subtract(a: readonly Span[], b: readonly Span[]): Span[] {
  const out: Span[] = [];
  let j = 0;
  for (const [as, ae] of a) {
    while (j < b.length && b[j]![1] <= as) j++;
    let cur = as;
    for (let k = j; k < b.length && b[k]![0] < ae; k++) {
      if (b[k]![0] > cur) out.push([cur, b[k]![0]]);
      cur = Math.max(cur, b[k]![1]);
    }
    if (cur < ae) out.push([cur, ae]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Onsets

/**
 * Frames where channel `channel` first reaches `threshold` (full scale 1) after at least
 * ONSET_REFRACTORY_MS below it (the first crossing in [from, to) counts once the refractory span
 * is inside the range).
 */
export function detectOnsets(rec: StereoRecording, channel: 0 | 1, from: number, to: number, threshold = DEFAULT_BURST_THRESHOLD): number[] {
  const s = rec.samples;
  const thr = threshold * INT16_FULL_SCALE;
  const refractory = Math.round((ONSET_REFRACTORY_MS / 1000) * rec.rate);
  const out: number[] = [];
  let quietSince = from;
  for (let f = from; f < to; f++) {
    const v = s[f * 2 + channel]!;
    if (v >= thr || v <= -thr) {
      if (f - quietSince >= refractory) out.push(f);
      quietSince = f + 1;
    }
  }
  return out;
}

function countOnsets(rec: StereoRecording, channel: 0 | 1, from: number, to: number, threshold: number): number {
  const s = rec.samples;
  const thr = threshold * INT16_FULL_SCALE;
  let n = 0;
  let above = false;
  for (let f = from; f < to; f++) {
    const v = s[f * 2 + channel]!;
    const on = v >= thr || v <= -thr;
    if (on && !above) n++;
    above = on;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// L/R offset per window

export type WindowRejection = 'partial' | 'silent' | 'silent_left' | 'silent_right' | 'dropout_left' | 'dropout_right' | 'no_bursts' | DelayRejection;

/**
 * Sub-window length (s). Two members correcting their rates differently (the drift loops apply
 * hundreds of ppm, e.g. -140 and +400 ppm on PulseAudio) move the L/R lag within a window: 540
 * ppm is 26 samples per second, which smears a 1 s correlation beyond recognition. Over 20 ms even
 * 1000 ppm moves it by under one sample (normalised correlation of 16 kHz noise > 0.94).
 */
export const DEFAULT_SUB_WINDOW_S = 0.02;

export interface WindowResult {
  /** window centre, seconds after t0Frame */
  tS: number;
  /** first frame of the window */
  startFrame: number;
  frames: number;
  /** right minus left at the window centre, µs (right heard later > 0); null when rejected */
  offsetUs: number | null;
  /** median normalised correlation of the accepted sub-windows */
  quality: number | null;
  /** max - min of the sub-window offsets (µs): drift plus any step inside the window */
  spreadUs: number | null;
  /** rms distance of the sub-window offsets from the fitted line (µs): steps, wobble, noise */
  residualUs: number | null;
  /** slope of the line (ppm: µs of offset per s): the members' rate difference as heard */
  driftPpm: number | null;
  /** accepted / all sub-windows */
  subWindows: { accepted: number; total: number };
  rejected: WindowRejection | null;
}

export interface LrOptions {
  fromFrame?: number;
  /** exclusive; windows must end by here */
  toFrame?: number;
  t0Frame?: number;
  maxLagMs?: number;
  minQuality?: number;
  /** reject windows without a burst on both channels (default true; per length in WindowSpec) */
  requireBursts?: boolean;
  burstThreshold?: number;
  /** one-sided dropouts reject the windows they touch; computed over the range when absent */
  dropouts?: readonly Dropout[];
  subWindowS?: number;
}

/** One sub-window's delay, placed at the energy centroid of its left channel. */
interface SubDelay {
  centroidFrame: number;
  /** right later > 0, samples */
  delay: number | null;
  quality: number;
  rejected: DelayRejection | null;
}

/**
 * The L/R offset per consecutive window of `windowS` seconds (see lrOffsetSeries).
 */
export function lrOffsets(rec: StereoRecording, rate: number, windowS = 1, opts: LrOptions = {}): WindowResult[] {
  return lrOffsetSeries(rec, rate, [{ windowS }], opts)[0]!;
}

/** One window length of lrOffsetSeries; requireBursts overrides the option's for this length. */
export interface WindowSpec {
  windowS: number;
  requireBursts?: boolean;
}

/**
 * L/R offsets over several window lengths at once, sharing the sub-window measurements (window
 * lengths should be whole multiples of the sub-window). Per sub-window: the sub-sample delay of
 * the right channel against the left (fractionalDelay) over +-maxLagMs, read at the sub-window's
 * energy centroid (a burst inside it dominates the correlation). Per window: a least-squares line
 * through the accepted sub-window delays, read at the window centre. Windows are rejected, with the
 * reason, when they reach past the recording (partial), hold no music (silent) or none on one
 * channel (silent_left / silent_right: that member is not playing), touch a one-sided
 * dropout (the missing side would bias the peak), hold no burst on a channel (no_bursts), or fewer
 * than half their sub-windows give a delay (the most frequent sub-window reason: edge = beyond
 * the search range, uncorrelated, refine_failed).
 */
export function lrOffsetSeries(rec: StereoRecording, rate: number, specs: readonly WindowSpec[], opts: LrOptions = {}): WindowResult[][] {
  if (rate !== rec.rate) throw new RangeError(`lrOffsets: rate ${rate} != recording rate ${rec.rate}`);
  const frames = frameCount(rec);
  const from = Math.max(0, Math.round(opts.fromFrame ?? 0));
  const to = Math.min(frames, Math.round(opts.toFrame ?? frames));
  const t0 = opts.t0Frame ?? from;
  const lag = Math.max(1, Math.round(((opts.maxLagMs ?? DEFAULT_MAX_LAG_MS) / 1000) * rate));
  const minQuality = opts.minQuality ?? DEFAULT_MIN_QUALITY;
  const thr = opts.burstThreshold ?? DEFAULT_BURST_THRESHOLD;
  const oneSided = (opts.dropouts ?? dropouts(rec, { fromFrame: from, toFrame: to }).list).filter((d) => d.kind !== 'both');
  const sub = Math.max(16, Math.round((opts.subWindowS ?? DEFAULT_SUB_WINDOW_S) * rate));
  // Sub-window delays on one grid from `from`, computed lazily and shared by all window lengths.
  const subs = new Map<number, SubDelay>();
  const subAt = (start: number): SubDelay => {
    let d = subs.get(start);
    if (d === undefined) {
      d = subDelay(rec, start, sub, lag, minQuality);
      subs.set(start, d);
    }
    return d;
  };
  return specs.map(({ windowS, requireBursts = opts.requireBursts ?? true }) => {
    const w = Math.round(windowS * rate);
    if (w < sub) throw new RangeError(`lrOffsets: window ${windowS} s is shorter than the ${sub}-frame sub-window`);
    const out: WindowResult[] = [];
    const count = Math.floor((to - from) / w);
    for (let k = 0; k < count; k++) {
      const start = from + k * w;
      const centre = start + w / 2;
      const base = { tS: (centre - t0) / rate, startFrame: start, frames: w, offsetUs: null, quality: null, spreadUs: null, residualUs: null, driftPpm: null, subWindows: { accepted: 0, total: 0 } };
      const reject = (why: WindowRejection): void => {
        out.push({ ...base, rejected: why });
      };
      if (start - lag < 0 || start + w + lag > frames) {
        reject('partial');
        continue;
      }
      // One channel silent while the other plays: a member missing (not started yet, stopped).
      const quietL = channelRms(rec, 0, start, w) < SILENT_RMS;
      const quietR = channelRms(rec, 1, start, w) < SILENT_RMS;
      if (quietL || quietR) {
        reject(quietL && quietR ? 'silent' : quietL ? 'silent_left' : 'silent_right');
        continue;
      }
      const touching = oneSided.find((d) => d.startFrame < start + w + lag && d.endFrame > start - lag);
      if (touching) {
        reject(touching.kind === 'left' ? 'dropout_left' : 'dropout_right');
        continue;
      }
      if (requireBursts && (countOnsets(rec, 0, start, start + w, thr) === 0 || countOnsets(rec, 1, start, start + w, thr) === 0)) {
        reject('no_bursts');
        continue;
      }
      const parts: SubDelay[] = [];
      for (let s0 = start; s0 + sub <= start + w; s0 += sub) parts.push(subAt(s0));
      const good = parts.filter((p) => p.delay !== null);
      const subWindows = { accepted: good.length, total: parts.length };
      if (good.length * 2 < parts.length || good.length === 0) {
        const why = new Map<DelayRejection, number>();
        for (const p of parts) if (p.rejected) why.set(p.rejected, (why.get(p.rejected) ?? 0) + 1);
        const worst = [...why.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] ?? 'uncorrelated';
        out.push({ ...base, subWindows, rejected: worst });
        continue;
      }
      const fit = lineAt(good.map((p) => p.centroidFrame - centre), good.map((p) => p.delay!));
      const delays = good.map((p) => p.delay!);
      const qs = good.map((p) => p.quality).sort((x, y) => x - y);
      const us = (samples: number): number => (samples / rate) * 1e6;
      out.push({
        ...base,
        offsetUs: us(fit.value),
        quality: qs[Math.floor((qs.length - 1) / 2)]!,
        spreadUs: us(Math.max(...delays) - Math.min(...delays)),
        residualUs: us(fit.rms),
        driftPpm: fit.slope * 1e6,
        subWindows,
        rejected: null,
      });
    }
    return out;
  });
}

function subDelay(rec: StereoRecording, start: number, len: number, lag: number, minQuality: number): SubDelay {
  const l = channelSegment(rec, 0, start - lag, len + 2 * lag);
  const r = channelSegment(rec, 1, start - lag, len + 2 * lag);
  let e = 0;
  let m = 0;
  for (let i = 0; i < len; i++) {
    const p = l[lag + i]! * l[lag + i]!;
    e += p;
    m += p * i;
  }
  const centroidFrame = start + (e > 0 ? m / e : len / 2);
  const est = fractionalDelay(l, r, lag);
  if (typeof est === 'string') return { centroidFrame, delay: null, quality: 0, rejected: est };
  if (est.quality < minQuality) return { centroidFrame, delay: null, quality: est.quality, rejected: 'uncorrelated' };
  return { centroidFrame, delay: est.delay, quality: est.quality, rejected: null };
}

/**
 * Least-squares line y = value + slope * x (x relative to the point of interest, 0), its rms
 * residual. With one point, or all x equal, the mean (slope 0). All-zero ys give exactly 0.
 */
export function lineAt(xs: readonly number[], ys: readonly number[]): { value: number; slope: number; rms: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const value = my - slope * mx;
  let r = 0;
  for (let i = 0; i < n; i++) r += (ys[i]! - (value + slope * xs[i]!)) ** 2;
  return { value, slope, rms: Math.sqrt(r / n) };
}

function channelRms(rec: StereoRecording, channel: 0 | 1, from: number, len: number): number {
  const s = rec.samples;
  let acc = 0;
  for (let f = from; f < from + len; f++) {
    const v = s[f * 2 + channel]! / INT16_FULL_SCALE;
    acc += v * v;
  }
  return Math.sqrt(acc / len);
}


// ---------------------------------------------------------------------------------------------
// Recording frames on the host clock

/** One chunk the recorder received: host CLOCK_MONOTONIC ns at arrival, frames recorded up to its end. */
export interface Arrival {
  monoNs: number;
  endFrame: number;
}

/**
 * Places recorded frames on the host clock (the idea of test/helpers/pulse.ts RecordingTimeMap):
 * a chunk is never early, only late (scheduling, pipe), so the lower envelope of
 * `arrival - endFrame / rate` near a frame is the monitor's own timeline plus its fixed delivery
 * latency (the "monitor bias" a schedule error contains). The rate is fitted from the envelope (a
 * null sink is not exactly 48000 frames per host second); estimates are local (+-2 s) so a chunk
 * lost elsewhere does not shift them. Arrivals must be sorted by endFrame (they are, as recorded).
 */
export class ArrivalTimeMap {
  readonly rateHz: number;
  private readonly frames: Float64Array;
  private readonly ns: Float64Array;

  constructor(arrivals: readonly Arrival[], nominalRate: number, private readonly windowS = TIME_MAP_WINDOW_S) {
    this.frames = Float64Array.from(arrivals, (a) => a.endFrame);
    this.ns = Float64Array.from(arrivals, (a) => a.monoNs);
    this.rateHz = fittedRateHz(arrivals, nominalRate) ?? nominalRate;
  }

  /** Host ns at which recorded frame `frame` (fractional) reached the monitor, undelayed; null without arrivals nearby. */
  hostNsOf(frame: number): number | null {
    const half = this.windowS * this.rateHz;
    let i = lowerBound(this.frames, frame - half);
    let best = Infinity;
    for (; i < this.frames.length && this.frames[i]! <= frame + half; i++) {
      const v = this.ns[i]! - ((this.frames[i]! - frame) / this.rateHz) * 1e9;
      if (v < best) best = v;
    }
    return Number.isFinite(best) ? best : null;
  }

  /** Recorded frame (fractional) heard at host ns `ns` (inverse of hostNsOf); null outside the recording. */
  frameAtHostNs(ns: number): number | null {
    if (this.frames.length === 0) return null;
    // nearest arrival as a first guess, then two corrections through hostNsOf
    let i = lowerBound(this.ns, ns);
    if (i >= this.ns.length) i = this.ns.length - 1;
    let f = this.frames[i]! - ((this.ns[i]! - ns) / 1e9) * this.rateHz;
    for (let it = 0; it < 3; it++) {
      const h = this.hostNsOf(f);
      if (h === null) return null;
      f -= ((h - ns) / 1e9) * this.rateHz;
    }
    return f;
  }
}

function lowerBound(xs: Float64Array, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}


// ---------------------------------------------------------------------------------------------
// Heard minus scheduled, per member

export interface TrackInfo {
  /** interleaved stereo int16, L == R */
  pcm: Int16Array;
  frames: number;
  /** burst start frames, ascending */
  bursts: readonly number[];
}

export interface ScheduleInput {
  rec: StereoRecording;
  channel: 0 | 1;
  fromFrame: number;
  toFrame: number;
  track: TrackInfo;
  /** leader time at which track frame 0 of the first lap reaches the DAC (the play command's atUs) */
  playAtUs: number;
  map: ArrivalTimeMap;
  leaderUsToHostNs: (leaderUs: number) => number;
  hostNsToLeaderUs: (hostNs: number) => number;
  burstThreshold?: number;
}

export interface HeardBurst {
  burst: number;
  lap: number;
  /** recording frame (fractional) of the burst's first frame */
  recFrame: number;
  /** heard - scheduled, µs (late > 0) */
  errorUs: number;
  /** how the position was found: correlation against the source, or the threshold crossing alone */
  aligned: boolean;
}

export interface ScheduleResult {
  onsets: number;
  matched: HeardBurst[];
  unmatched: number;
}

/**
 * When each burst was heard on one channel, against when the timeline scheduled it: burst onsets
 * are found by threshold, matched to the nearest scheduled burst (track frame -> leader µs through
 * the play's atUs and the loop length -> host ns), aligned to the source waveform to a fraction of a
 * sample, and placed on the host clock through the recorder's arrival time map.
 */
export function scheduleErrors(input: ScheduleInput): ScheduleResult {
  const { rec, channel, track, map } = input;
  const rate = rec.rate;
  const n = track.frames;
  const thr = input.burstThreshold ?? DEFAULT_BURST_THRESHOLD;
  const srcRec: StereoRecording = { samples: track.pcm, rate };
  // The detector's onset in the source for each burst (looking from 60 ms before the burst on).
  const lead = Math.round(0.06 * rate);
  const srcOnset = track.bursts.map((b) => {
    const o = detectOnsets(srcRec, 0, Math.max(0, b - lead), Math.min(n, b + Math.round(0.004 * rate)), thr);
    return o.length > 0 ? o[o.length - 1]! : b;
  });
  const onsets = detectOnsets(rec, channel, input.fromFrame, input.toFrame, thr);
  const tol = (SCHEDULE_MATCH_MS / 1000) * rate;
  const ctx = Math.round((BURST_CONTEXT_MS / 1000) * rate);
  const search = Math.round((BURST_SEARCH_MS / 1000) * rate);
  const burstLen = Math.round(0.002 * rate);
  const segLen = ctx + burstLen + ctx + 2 * search;
  const matched: HeardBurst[] = [];
  const seen = new Set<string>();
  let unmatched = 0;
  for (const o of onsets) {
    const h = map.hostNsOf(o);
    if (h === null) {
      unmatched++;
      continue;
    }
    const pos = ((input.hostNsToLeaderUs(h) - input.playAtUs) * rate) / 1e6;
    let best: { burst: number; lap: number; dist: number } | null = null;
    const lap0 = Math.floor(pos / n);
    for (let lap = lap0 - 1; lap <= lap0 + 1; lap++) {
      if (lap < 0) continue;
      const i = nearestIndex(srcOnset, pos - lap * n);
      if (i < 0) continue;
      const dist = Math.abs(lap * n + srcOnset[i]! - pos);
      if (dist <= tol && (best === null || dist < best.dist)) best = { burst: i, lap, dist };
    }
    const key = best ? `${best.lap}:${best.burst}` : '';
    if (best === null || seen.has(key)) {
      unmatched++;
      continue;
    }
    seen.add(key);
    const b = track.bursts[best.burst]!;
    // Coarse: the recording frame of the burst's start from the onset; then the waveform.
    const coarse = o + (b - srcOnset[best.burst]!);
    let recFrame = coarse;
    let aligned = false;
    const segStart = coarse - ctx - search;
    if (segStart >= 0 && segStart + segLen <= frameCount(rec)) {
      const src = new Float64Array(segLen);
      for (let i = 0; i < segLen; i++) {
        const f = (((b - ctx - search + i) % n) + n) % n;
        src[i] = track.pcm[f * 2]! / INT16_FULL_SCALE;
      }
      const heard = channelSegment(rec, channel, segStart, segLen);
      const est = fractionalDelay(src, heard, search);
      if (typeof est !== 'string' && est.quality >= BURST_MIN_QUALITY) {
        recFrame = coarse + est.delay;
        aligned = true;
      }
    }
    const heardNs = map.hostNsOf(recFrame);
    if (heardNs === null) {
      unmatched++;
      continue;
    }
    const scheduledNs = input.leaderUsToHostNs(input.playAtUs + ((best.lap * n + b) / rate) * 1e6);
    matched.push({ burst: best.burst, lap: best.lap, recFrame, errorUs: (heardNs - scheduledNs) / 1000, aligned });
  }
  return { onsets: onsets.length, matched, unmatched };
}

function nearestIndex(sorted: readonly number[], v: number): number {
  if (sorted.length === 0) return -1;
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(sorted[lo - 1]! - v) <= Math.abs(sorted[lo]! - v)) return lo - 1;
  return lo;
}

export interface ScheduleStats {
  n: number;
  /** median heard - scheduled: includes the monitor's fixed delivery bias */
  median_us: number | null;
  /** percentiles of |x - median| */
  p50_us: number | null;
  p99_us: number | null;
  max_us: number | null;
}

export function scheduleStats(errorsUs: readonly number[]): ScheduleStats {
  if (errorsUs.length === 0) return { n: 0, median_us: null, p50_us: null, p99_us: null, max_us: null };
  const sorted = [...errorsUs].sort((x, y) => x - y);
  const med = percentileSorted(sorted, 50);
  const dev = errorsUs.map((x) => Math.abs(x - med)).sort((x, y) => x - y);
  return { n: errorsUs.length, median_us: med, p50_us: percentileSorted(dev, 50), p99_us: percentileSorted(dev, 99), max_us: dev[dev.length - 1]! };
}

// ---------------------------------------------------------------------------------------------
// Summary

export interface AbsSummary {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export function absSummary(values: readonly number[]): AbsSummary {
  const abs = values.map(Math.abs).sort((x, y) => x - y);
  if (abs.length === 0) return { n: 0, p50: null, p99: null, max: null };
  return { n: abs.length, p50: percentileSorted(abs, 50), p99: percentileSorted(abs, 99), max: abs[abs.length - 1]! };
}

export interface OffsetSummary {
  offset_us: AbsSummary;
  /** max |offset| over the accepted fine windows that start in the first second of music; null if none */
  first_second_us: number | null;
  first_second_windows: number;
  /** fine windows of the first second that are out of sync but unmeasurable: beyond the search
   *  range, or one member not playing yet */
  first_second_unmeasured: number;
  /** seconds from the first music until every later fine window is measured and < IN_SYNC_US; null = never */
  in_sync_after_s: number | null;
}

/** Rejections that mean out of sync, not unknown: the channels are further apart than the search
 *  range (edge, uncorrelated, refine_failed), or one member plays while the other does not. */
export const OUT_OF_SYNC_REJECTIONS: ReadonlySet<WindowRejection> = new Set(['edge', 'uncorrelated', 'refine_failed', 'silent_left', 'silent_right']);

/**
 * The report's figures: |offset| percentiles over the accepted (1 s) windows; the first second and
 * the time to sync from the fine (100 ms) windows, whose tS counts from the first music. A fine
 * window holding only the noise floor is as good a measurement as one with a burst (the floor is
 * the same noise on both channels), so the fine series need not require bursts. For the time to
 * sync, a window whose offset lies beyond the search range, or with one member silent, counts as
 * out of sync; windows rejected for other reasons (dropout, no burst, silence on both) count neither way.
 */
export function summarizeOffsets(windows: readonly WindowResult[], fine: readonly WindowResult[], rate: number): OffsetSummary {
  const ok = windows.filter((w) => w.offsetUs !== null);
  const startS = (w: WindowResult): number => w.tS - w.frames / rate / 2;
  const firstSecond = fine.filter((w) => startS(w) < 1 - 1e-9);
  const firstOk = firstSecond.filter((w) => w.offsetUs !== null);
  const judged = fine.filter((w) => w.offsetUs !== null || (w.rejected !== null && OUT_OF_SYNC_REJECTIONS.has(w.rejected)));
  let inSync: number | null = null;
  if (judged.length > 0) {
    let lastBad = -1;
    judged.forEach((w, i) => {
      if (w.offsetUs === null || Math.abs(w.offsetUs) >= IN_SYNC_US) lastBad = i;
    });
    // in sync from the start of the first good window after the last bad one
    inSync = lastBad === judged.length - 1 ? null : Math.max(0, startS(judged[lastBad + 1]!));
  }
  return {
    offset_us: absSummary(ok.map((w) => w.offsetUs!)),
    first_second_us: firstOk.length === 0 ? null : Math.max(...firstOk.map((w) => Math.abs(w.offsetUs!))),
    first_second_windows: firstOk.length,
    first_second_unmeasured: firstSecond.filter((w) => w.rejected !== null && OUT_OF_SYNC_REJECTIONS.has(w.rejected)).length,
    in_sync_after_s: inSync,
  };
}

/** Counts of windows by outcome. */
export function windowCounts(windows: readonly WindowResult[]): { total: number; accepted: number; rejected: Record<string, number> } {
  const rejected: Record<string, number> = {};
  for (const w of windows) if (w.rejected !== null) rejected[w.rejected] = (rejected[w.rejected] ?? 0) + 1;
  return { total: windows.length, accepted: windows.filter((w) => w.rejected === null).length, rejected };
}
