// Finds a source track's clicks in a monitor recording: matches the onset pattern to get the one
// plausible shift, then cross-correlates each click's exact source PCM against the recording for a
// sub-frame position, a shape similarity (normalised correlation) and the gain of each channel.

/** Onset threshold on the mono mix (int16 units): far above silence/dither, below any click. */
const ONSET_THRESHOLD = 1500;
/** An onset needs this much quiet before it (frames): one onset per click. */
const ONSET_QUIET_FRAMES = 2400;
/** Onset pattern match tolerance (frames, 5 ms): covers engine resampling drift over a track. */
const MATCH_TOLERANCE_FRAMES = 240;
/** Context around each click in the correlation window (frames). */
const WINDOW_PAD_FRAMES = 24;
/** Candidate shifts are tried from the first this many recorded onsets. */
const MAX_SHIFT_CANDIDATES = 64;

export interface Pcm {
  /** interleaved int16 */
  samples: Int16Array;
  channels: number;
}

export interface ClickMatch {
  /** source frame of the click's first sample */
  srcFrame: number;
  /** recording frame (fractional) holding source frame srcFrame */
  recFrame: number;
  /** normalised correlation of source and recording around the click (1 = same shape) */
  correlation: number;
  /** recording / source amplitude, left and right */
  gainLeft: number;
  gainRight: number;
}

export interface ClickSearch {
  /** recording frame - source frame of the best onset pattern match, null if none */
  shiftFrames: number | null;
  /** clicks whose onset pattern matched, of all */
  patternMatched: number;
  matches: ClickMatch[];
  recordedOnsets: number;
}

function mono(p: Pcm): Float64Array {
  const n = Math.floor(p.samples.length / p.channels);
  const out = new Float64Array(n);
  for (let f = 0; f < n; f++) {
    let s = 0;
    for (let c = 0; c < p.channels; c++) s += p.samples[f * p.channels + c]!;
    out[f] = s / p.channels;
  }
  return out;
}

/** First frames reaching the threshold after a quiet stretch. */
export function onsets(x: Float64Array, threshold = ONSET_THRESHOLD, quietFrames = ONSET_QUIET_FRAMES): number[] {
  const out: number[] = [];
  let lastLoud = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(x[i]!) < threshold) continue;
    if (i - lastLoud > quietFrames) out.push(i);
    lastLoud = i;
  }
  return out;
}

function countNear(sorted: readonly number[], target: number, tol: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < target - tol) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo]! <= target + tol;
}

function channelGain(src: Pcm, rec: Pcm, srcFrom: number, recFrom: number, n: number, ch: number): number {
  let xy = 0;
  let xx = 0;
  for (let i = 0; i < n; i++) {
    const x = src.samples[(srcFrom + i) * src.channels + ch] ?? 0;
    const y = rec.samples[(recFrom + i) * rec.channels + ch] ?? 0;
    xy += x * y;
    xx += x * x;
  }
  return xx > 0 ? xy / xx : 0;
}

/** Locates each click of `clickFrames` / `clickLength` of `src` in `rec` (both at the same rate). */
export function locateClicks(rec: Pcm, src: Pcm, clickFrames: readonly number[], clickLength: number): ClickSearch {
  const xr = mono(rec);
  const xs = mono(src);
  const recOnsets = onsets(xr);
  const srcOnsets = clickFrames.map((c) => {
    for (let i = c; i < c + clickLength; i++) if (Math.abs(xs[i] ?? 0) >= ONSET_THRESHOLD) return i;
    return c;
  });
  // 1. The shift that lines up the most onsets.
  let shift: number | null = null;
  let bestScore = 0;
  for (const r of recOnsets.slice(0, MAX_SHIFT_CANDIDATES)) {
    for (const s of srcOnsets.slice(0, 4)) {
      const cand = r - s;
      let score = 0;
      for (const o of srcOnsets) if (countNear(recOnsets, o + cand, MATCH_TOLERANCE_FRAMES)) score++;
      if (score > bestScore) {
        bestScore = score;
        shift = cand;
      }
    }
  }
  const result: ClickSearch = { shiftFrames: shift, patternMatched: bestScore, matches: [], recordedOnsets: recOnsets.length };
  if (shift === null) return result;
  // 2. Each click refined by cross-correlation of the exact source samples.
  const W = clickLength + 2 * WINDOW_PAD_FRAMES;
  const S = MATCH_TOLERANCE_FRAMES;
  for (const c of clickFrames) {
    const s0 = c - WINDOW_PAD_FRAMES;
    if (s0 < 0 || s0 + W > xs.length) continue;
    const r0 = s0 + shift - S;
    if (r0 < 0 || r0 + W + 2 * S > xr.length) continue;
    let xx = 0;
    for (let i = 0; i < W; i++) xx += xs[s0 + i]! ** 2;
    const corr = new Float64Array(2 * S + 1);
    let m = 0;
    for (let d = 0; d <= 2 * S; d++) {
      let acc = 0;
      for (let i = 0; i < W; i++) acc += xs[s0 + i]! * xr[r0 + d + i]!;
      corr[d] = acc;
      if (acc > corr[m]!) m = d;
    }
    let yy = 0;
    for (let i = 0; i < W; i++) yy += xr[r0 + m + i]! ** 2;
    const correlation = xx > 0 && yy > 0 ? corr[m]! / Math.sqrt(xx * yy) : 0;
    let frac = 0;
    if (m > 0 && m < 2 * S) {
      const a = corr[m - 1]!;
      const b = corr[m]!;
      const d = corr[m + 1]!;
      const den = a - 2 * b + d;
      if (den < 0) frac = Math.max(-0.5, Math.min(0.5, (0.5 * (a - d)) / den));
    }
    const lag = r0 + m - s0; // recording frame - source frame at the integer peak
    result.matches.push({
      srcFrame: c,
      recFrame: c + lag + frac,
      correlation,
      gainLeft: channelGain(src, rec, s0, s0 + lag, W, 0),
      gainRight: src.channels > 1 && rec.channels > 1 ? channelGain(src, rec, s0, s0 + lag, W, 1) : Number.NaN,
    });
  }
  return result;
}

/** Block length for gap detection (frames): 1 ms, a quarter cycle of the 250 Hz pilot. */
const GAP_BLOCK_FRAMES = 48;
/** A block whose mono peak stays below this is silent (the pilot's mono peak is ~400 there). */
const GAP_LEVEL = 100;

export interface Gap {
  fromFrame: number;
  toFrame: number;
}

/** Runs of silent blocks in [fromFrame, toFrame) of a recording that should never be silent. */
export function silentGaps(rec: Pcm, fromFrame: number, toFrame: number): Gap[] {
  const x = mono(rec);
  const gaps: Gap[] = [];
  const lo = Math.max(0, Math.floor(fromFrame));
  const hi = Math.min(x.length, Math.floor(toFrame));
  let open: Gap | null = null;
  for (let b = lo; b + GAP_BLOCK_FRAMES <= hi; b += GAP_BLOCK_FRAMES) {
    let peak = 0;
    for (let i = b; i < b + GAP_BLOCK_FRAMES; i++) peak = Math.max(peak, Math.abs(x[i]!));
    if (peak < GAP_LEVEL) {
      if (open) open.toFrame = b + GAP_BLOCK_FRAMES;
      else open = { fromFrame: b, toFrame: b + GAP_BLOCK_FRAMES };
    } else if (open) {
      gaps.push(open);
      open = null;
    }
  }
  if (open) gaps.push(open);
  return gaps;
}
