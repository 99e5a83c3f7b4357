// Measures sync between members from their capture files: the time offset between the same program
// material in two captures on the true (host monotonic) time axis, with sub-sample precision, plus
// onset detection and RMS levels. Used by tests and benchmarks; pure functions over `Capture`.
import type { Capture } from '@jaudiosync/member/capture-file';

/** Analysis window: long enough for a stable correlation peak, short enough to follow drift. */
export const DEFAULT_WINDOW_MS = 30;
/** Spacing of window centres on the true time axis. */
export const DEFAULT_STEP_MS = 100;
/** Largest offset searched (both signs); beyond it the members are simply not in sync. */
export const DEFAULT_MAX_LAG_US = 10_000;
/** Windows quieter than this (RMS, full scale 1) carry no usable timing. */
export const DEFAULT_MIN_RMS = 0.005;
/** Windows whose normalised correlation peak is below this are rejected (different material, noise). */
export const DEFAULT_MIN_CORRELATION = 0.8;
/** Onset threshold (absolute sample, full scale 1): well above dither, well below programme level. */
export const DEFAULT_ONSET_THRESHOLD = 0.05;
/** Half-width in lags of the windowed-sinc interpolation of the correlation around its peak. */
const SINC_HALF_WIDTH = 16;
/** Fine search step around the peak, in samples; parabolic interpolation finishes the job. */
const FINE_STEP_SAMPLES = 1 / 64;
/**
 * A window is ambiguous (rejected) when another local peak of the normalised correlation comes
 * this close to the best one, in units of the best one's distance from a perfect 1: periodic
 * material (a sustained bass note) matches itself one period away almost as well as at the true lag.
 */
export const AMBIGUITY_RATIO = 3;
/** Interpolated normalised correlations are good to ~1e-5 (they can exceed 1 by that much). */
const NCC_NOISE_FLOOR = 1e-4;
/** Integer-lag peaks refined and compared per window (the true one and its period neighbours). */
const CANDIDATE_PEAKS = 4;

/** What measureOffset reads of a capture (a Capture, or e.g. a rendering of the schedule). */
export type CaptureView = Pick<Capture, 'sampleRate' | 'firstFrame' | 'endFrame' | 'trueTimeOfFrame' | 'frameAtTrueTime' | 'monoSamples'>;

export interface OffsetPoint {
  /** True time (host monotonic ns) in capture A of the window's energy centre, where the offset is read. */
  readonly trueTimeNs: number;
  /** When capture B plays the material A plays at trueTimeNs, minus trueTimeNs, in µs (B late > 0). */
  readonly offsetUs: number;
  /** Normalised correlation at the peak (1 = identical shape). */
  readonly correlation: number;
}

export interface OffsetStats {
  readonly count: number;
  readonly medianUs: number;
  readonly meanUs: number;
  readonly minUs: number;
  readonly maxUs: number;
  readonly p50AbsUs: number;
  readonly p99AbsUs: number;
  readonly maxAbsUs: number;
}

export interface OffsetSeries {
  readonly points: OffsetPoint[];
  readonly stats: OffsetStats;
  /** Windows considered, and how many were dropped as silent / uncorrelated / peak at the search edge /
   *  ambiguous (a second peak, e.g. one period of a bass note away, nearly as good as the best) /
   *  partial (the window or B's search span reaches past what was captured). */
  readonly windows: number;
  readonly rejected: {
    readonly quiet: number;
    readonly uncorrelated: number;
    readonly edge: number;
    readonly ambiguous: number;
    readonly partial: number;
  };
}

export interface MeasureOffsetOptions {
  /** True-time range (host monotonic ns) of A to analyse; defaults to all of A. */
  fromNs?: number;
  toNs?: number;
  windowMs?: number;
  stepMs?: number;
  maxLagUs?: number;
  minRms?: number;
  minCorrelation?: number;
}

function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Summary statistics of a series of offsets (NaN fields when empty). */
export function summarizeOffsets(offsetsUs: readonly number[]): OffsetStats {
  const signed = [...offsetsUs].sort((x, y) => x - y);
  const abs = offsetsUs.map(Math.abs).sort((x, y) => x - y);
  const n = offsetsUs.length;
  return {
    count: n,
    medianUs: nearestRank(signed, 0.5),
    meanUs: n === 0 ? Number.NaN : offsetsUs.reduce((s, x) => s + x, 0) / n,
    minUs: n === 0 ? Number.NaN : signed[0]!,
    maxUs: n === 0 ? Number.NaN : signed[n - 1]!,
    p50AbsUs: nearestRank(abs, 0.5),
    p99AbsUs: nearestRank(abs, 0.99),
    maxAbsUs: n === 0 ? Number.NaN : abs[n - 1]!,
  };
}

function hann(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n);
  return w;
}

/** Energy-weighted centre (frame) of A's mono signal in [from, from + n). */
function energyCentroid(x: Float32Array, from: number): number | null {
  let e = 0;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const p = x[i]! * x[i]!;
    e += p;
    m += p * i;
  }
  return e > 0 ? from + m / e : null;
}

/** Band-limited value of the sequence c at fractional index t (Hann-windowed sinc). */
function sincAt(c: Float64Array, t: number): number {
  const base = Math.floor(t);
  let acc = 0;
  for (let k = base - SINC_HALF_WIDTH + 1; k <= base + SINC_HALF_WIDTH; k++) {
    if (k < 0 || k >= c.length) continue;
    const d = t - k;
    const sinc = d === 0 ? 1 : Math.sin(Math.PI * d) / (Math.PI * d);
    const win = 0.5 + 0.5 * Math.cos((Math.PI * d) / SINC_HALF_WIDTH);
    acc += c[k]! * sinc * win;
  }
  return acc;
}

/** Fractional position and value of the maximum of f (a smooth function of the lag) near integer lag m. */
function refinePeak(f: (t: number) => number, m: number): { t: number; value: number } {
  let bestT = m;
  let best = -Infinity;
  const steps = Math.round(1 / FINE_STEP_SAMPLES);
  for (let s = -steps; s <= steps; s++) {
    const t = m + s * FINE_STEP_SAMPLES;
    const v = f(t);
    if (v > best) {
      best = v;
      bestT = t;
    }
  }
  const ym = f(bestT - FINE_STEP_SAMPLES);
  const yp = f(bestT + FINE_STEP_SAMPLES);
  const denom = ym - 2 * best + yp;
  const frac = denom < 0 ? (0.5 * (ym - yp)) / denom : 0;
  return { t: bestT + Math.max(-1, Math.min(1, frac)) * FINE_STEP_SAMPLES, value: best };
}

/**
 * Offset between the audio of two captures of the same programme (e.g. two members), over time.
 * Each step of A's true time contributes one window centred on its loudest part (transients of
 * sparse material like clicks, any part of continuous music) and re-centred on its energy (so the
 * event is not cut by the window edge), tapered (Hann), cross-correlated against B around the same true time,
 * and the peak of the correlation normalised per lag (by B's windowed energy at that lag) refined on
 * its band-limited interpolation. Normalising matters: the raw correlation of a decaying or swelling
 * note is larger one period away (where B is louder) than at the true lag, which made periodic
 * material read as offsets of one bass period (6-9 ms). Windows whose second-best peak is nearly as
 * good are rejected as ambiguous. Works across different sample rate errors, since both are placed on
 * the true time axis.
 */
export function measureOffset(a: CaptureView, b: CaptureView, options: MeasureOffsetOptions = {}): OffsetSeries {
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const stepMs = options.stepMs ?? DEFAULT_STEP_MS;
  const maxLagUs = options.maxLagUs ?? DEFAULT_MAX_LAG_US;
  const minRms = options.minRms ?? DEFAULT_MIN_RMS;
  const minCorrelation = options.minCorrelation ?? DEFAULT_MIN_CORRELATION;
  for (const [name, v] of [['windowMs', windowMs], ['stepMs', stepMs], ['maxLagUs', maxLagUs]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`measureOffset: ${name} must be > 0`);
  }
  const W = Math.max(16, Math.round((windowMs / 1000) * a.sampleRate));
  const L = Math.max(2, Math.ceil((maxLagUs / 1e6) * b.sampleRate) + 1);
  const fromNs = options.fromNs ?? a.trueTimeOfFrame(a.firstFrame);
  const toNs = options.toNs ?? a.trueTimeOfFrame(a.endFrame);
  const w = hann(W);
  const points: OffsetPoint[] = [];
  const rejected = { quiet: 0, uncorrelated: 0, edge: 0, ambiguous: 0, partial: 0 };
  let windows = 0;
  let lastCentre = -Infinity;
  const stepNs = stepMs * 1e6;
  const maxWindows = Math.ceil((toNs - fromNs) / stepNs) + 1;
  const stepFrames = Math.max(1, Math.round((stepNs / 1e9) * a.sampleRate));
  const subFrames = Math.max(1, Math.floor(W / 8));
  for (let k = 0; k < maxWindows; k++) {
    // Each step of A contributes one window, placed on its loudest part (a click, an attack) ...
    const segStart = Math.round(a.frameAtTrueTime(fromNs)) + k * stepFrames;
    if (a.trueTimeOfFrame(segStart) >= toNs) break;
    const seg = a.monoSamples(segStart, stepFrames);
    let bestSub = 0;
    let bestEnergy = -1;
    for (let j = 0; j * subFrames < seg.length; j++) {
      let e = 0;
      for (let i = j * subFrames; i < Math.min(seg.length, (j + 1) * subFrames); i++) e += seg[i]! * seg[i]!;
      if (e > bestEnergy) {
        bestEnergy = e;
        bestSub = j;
      }
    }
    // ... then re-centred on the energy around it, so the taper does not cut the event.
    let centre = segStart + (bestSub + 0.5) * subFrames;
    for (let it = 0; it < 2; it++) {
      const start = Math.round(centre - W / 2);
      const c = energyCentroid(a.monoSamples(start, W), start);
      if (c === null) break;
      centre = c;
    }
    const lo = a.frameAtTrueTime(fromNs) + W / 2;
    const hi = a.frameAtTrueTime(toNs) - W / 2;
    const ca = Math.round(Math.min(hi, Math.max(lo, centre)));
    if (Math.abs(ca - lastCentre) < W / 4) continue; // the same event found again
    windows++;
    const fa0 = ca - W / 2;
    const xa = a.monoSamples(Math.round(fa0), W);
    let ex = 0;
    let exw = 0;
    let mxw = 0;
    const x = new Float64Array(W);
    for (let i = 0; i < W; i++) {
      const v = xa[i]!;
      ex += v * v;
      exw += w[i]! * v * v;
      mxw += w[i]! * v * v * i;
      x[i] = w[i]! * v;
    }
    if (Math.sqrt(ex / W) < minRms) {
      rejected.quiet++;
      continue;
    }
    lastCentre = ca;
    const centreNs = a.trueTimeOfFrame(ca);
    const cb = Math.round(b.frameAtTrueTime(centreNs));
    const fb0 = cb - Math.round(W / 2) - L;
    // Frames outside a capture read as silence: an event cut by either capture's end (one sink
    // stopped while the other still played it) would correlate with a biased peak (1-2 µs seen).
    if (fa0 < a.firstFrame || fa0 + W > a.endFrame || fb0 < b.firstFrame || fb0 + W + 2 * L + 1 > b.endFrame) {
      rejected.partial++;
      continue;
    }
    const y = b.monoSamples(fb0, W + 2 * L + 1);
    // B's windowed energy at every lag (running sums would lose precision; W * 2L is the cost of the correlation anyway)
    const corr = new Float64Array(2 * L + 1);
    const energy = new Float64Array(2 * L + 1);
    const ncc = new Float64Array(2 * L + 1);
    for (let lag = 0; lag <= 2 * L; lag++) {
      let acc = 0;
      let eyw = 0;
      for (let i = 0; i < W; i++) {
        const yv = y[i + lag]!;
        acc += x[i]! * yv;
        eyw += w[i]! * yv * yv;
      }
      corr[lag] = acc;
      energy[lag] = eyw;
      ncc[lag] = exw > 0 && eyw > 0 ? acc / Math.sqrt(exw * eyw) : 0;
    }
    // Candidates: the best local peaks of the normalised correlation at integer lags, each refined
    // to sub-sample precision (correlation and energy are band-limited in the lag, so both
    // interpolate exactly): at integer lags a peak one period away can win just by sitting
    // closer to a whole sample than the true one.
    const nccAt = (t: number): number => {
      const e = sincAt(energy, t);
      return e > 0 ? sincAt(corr, t) / Math.sqrt(exw * e) : 0;
    };
    const peaks: number[] = [];
    for (let j = 0; j <= 2 * L; j++) {
      if ((j === 0 || ncc[j]! >= ncc[j - 1]!) && (j === 2 * L || ncc[j]! > ncc[j + 1]!)) peaks.push(j);
    }
    peaks.sort((p, q) => ncc[q]! - ncc[p]!);
    const refined = peaks.slice(0, CANDIDATE_PEAKS).map((j) => ({ j, ...(j === 0 || j === 2 * L ? { t: j, value: ncc[j]! } : refinePeak(nccAt, j)) }));
    refined.sort((p, q) => q.value - p.value);
    const top = refined[0];
    if (top === undefined || top.j === 0 || top.j === 2 * L) {
      rejected.edge++;
      continue;
    }
    const best = top.value;
    if (best < minCorrelation) {
      rejected.uncorrelated++;
      continue;
    }
    const second = refined.find((p) => Math.abs(p.t - top.t) >= 2)?.value ?? -Infinity;
    if (1 - second < AMBIGUITY_RATIO * Math.max(1 - best, NCC_NOISE_FLOOR)) {
      rejected.ambiguous++;
      continue;
    }
    const lag = top.t;
    // A frame fa0 + i matches B frame fb0 + i + lag. Across the window the lag changes with the two
    // DACs' rate difference (160 ppm: 2.4 µs over 15 ms), and the peak gives the lag where the
    // weighted energy is: read the offset there, not at the window centre (an event that a capture's
    // end pushed off centre read 1-2 µs off).
    const at = mxw / exw;
    const trueTimeNs = a.trueTimeOfFrame(fa0 + at);
    const offsetNs = b.trueTimeOfFrame(fb0 + at + lag) - trueTimeNs;
    points.push({ trueTimeNs, offsetUs: offsetNs / 1000, correlation: best });
  }
  return { points, stats: summarizeOffsets(points.map((p) => p.offsetUs)), windows, rejected };
}

/** Largest absolute sample over channels of frame `f` of block samples `s` (full scale 1). */
function frameLevel(s: Int16Array, base: number, channels: number): number {
  let m = 0;
  for (let c = 0; c < channels; c++) m = Math.max(m, Math.abs(s[base + c]!));
  return m / 32768;
}

/**
 * True time (host monotonic ns) of the first frame at or after `afterNs` whose level (max over
 * channels) reaches `threshold`, interpolated linearly between the frame below and the frame above;
 * null if none.
 */
export function findOnset(capture: Capture, afterNs: number, threshold = DEFAULT_ONSET_THRESHOLD): number | null {
  if (!(threshold > 0)) throw new RangeError('findOnset: threshold must be > 0');
  const startFrame = Math.ceil(capture.frameAtTrueTime(afterNs));
  const ch = capture.channels;
  let prevFrame = -1;
  let prevLevel = 0;
  for (const block of capture.blocks) {
    const end = block.deviceFrame + block.frames;
    if (end <= startFrame || block.samples === null) {
      prevFrame = -1;
      continue;
    }
    const s = block.samples;
    for (let f = Math.max(startFrame, block.deviceFrame); f < end; f++) {
      const level = frameLevel(s, (f - block.deviceFrame) * ch, ch);
      if (level >= threshold) {
        let frame = f;
        if (prevFrame === f - 1 && level > prevLevel) frame = f - (level - threshold) / (level - prevLevel);
        return capture.trueTimeOfFrame(Math.max(frame, startFrame));
      }
      prevFrame = f;
      prevLevel = level;
    }
  }
  return null;
}

/** RMS over all channels (full scale 1) of the frames whose true time is in [fromNs, toNs); 0 if none. */
export function rmsLevel(capture: Capture, fromNs: number, toNs: number): number {
  const lo = Math.ceil(capture.frameAtTrueTime(fromNs));
  const hi = Math.ceil(capture.frameAtTrueTime(toNs));
  if (hi <= lo) return 0;
  const ch = capture.channels;
  let sum = 0;
  for (const block of capture.blocks) {
    if (block.samples === null) continue;
    const s = block.samples;
    const from = Math.max(lo, block.deviceFrame);
    const to = Math.min(hi, block.deviceFrame + block.frames);
    for (let i = (from - block.deviceFrame) * ch; i < (to - block.deviceFrame) * ch; i++) sum += s[i]! * s[i]!;
  }
  return Math.sqrt(sum / ((hi - lo) * ch)) / 32768;
}
