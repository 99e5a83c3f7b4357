// Checks what a member really played against the timeline, from its capture: finds every click
// (onset on the true time axis, track told by its tone) and matches it with where the timeline puts
// it (leader time -> host monotonic via the leader's anchor). Missing, misplaced, wrong-track and
// unexpected clicks are what a listener would hear as a fault.
import type { Capture } from '@jaudiosync/member/capture-file';
import { CLICK_BURST_MS, CLICK_RATE, clickFrames, trackOfTone } from './click-playlist.js';

/** Onset threshold (full scale 1): a fifth of the click peak, far above resampler ringing. */
const ONSET_THRESHOLD = 0.1;
/** Quiet time required before an onset: clicks are 250 ms apart, bursts 8 ms long. */
const QUIET_BEFORE_MS = 40;
/** Part of the burst whose zero crossings measure its tone (the tail decays into rounding). */
const TONE_WINDOW_MS = CLICK_BURST_MS * 0.7;
/** A detected click this close to an expected one is that click (half the click spacing is 125 ms). */
const MATCH_WINDOW_MS = 60;
/**
 * Underruns (the machine did not run a member's engine for longer than its buffer: a loaded CI box,
 * not the fault under test) are excused, and counted apart as "starved": clicks within
 * STARVED_HIT_MS of a hole the member played (`findHoles`; lost, cut or misplaced by it), and afterwards errors below the engine's 20 ms jump threshold for
 * STARVED_RECOVERY_MS (the member is late by the hole's length and slews back at <= 500 ppm,
 * docs/audio-engine.md).
 */
export const STARVED_HIT_MS = 500;
export const STARVED_RECOVERY_MS = 40_000;
export const STARVED_MAX_ERROR_US = 20_000;
/** Errors up to this are normal; beyond it a click counts as starved if an underrun explains it. */
const NORMAL_ERROR_US = 1000;

export interface DetectedClick {
  trueNs: number;
  toneHz: number;
  peak: number;
}

export interface ExpectedClick {
  trueNs: number;
  /** index of the click's track in the file set (its tone) */
  tone: number;
  /** playlist index and frame within that entry */
  entry: number;
  frame: number;
  /** may or may not be heard (e.g. inside the fade-out before a jump): never missing, never extra */
  optional?: boolean;
}

/** Fade-out of the old stream before a discontinuous revision (docs/audio-engine.md: 6 ms), with margin. */
const JUMP_FADE_MARGIN_NS = 20e6;

/**
 * The clicks of a playlist that jumps at `atNs` (a seek, next, play index): `before` up to the jump
 * (those starting in its fade-out are optional), then `after`.
 */
export function spliceAt(before: readonly ExpectedClick[], after: readonly ExpectedClick[], atNs: number): ExpectedClick[] {
  return [
    ...before.filter((e) => e.trueNs < atNs).map((e) => (e.trueNs >= atNs - JUMP_FADE_MARGIN_NS ? { ...e, optional: true } : e)),
    ...after.filter((e) => e.trueNs >= atNs),
  ];
}

/** Every click in the capture between fromNs and toNs (host monotonic ns). */
export function detectClicks(c: Capture, fromNs = -Infinity, toNs = Infinity): DetectedClick[] {
  const out: DetectedClick[] = [];
  const ch = c.channels;
  const quiet = Math.round((QUIET_BEFORE_MS / 1000) * c.sampleRate);
  const toneFrames = Math.round((TONE_WINDOW_MS / 1000) * c.sampleRate);
  const thr = ONSET_THRESHOLD * 32768;
  let lastLoud = -Infinity;
  const lo = Number.isFinite(fromNs) ? c.frameAtTrueTime(fromNs) : -Infinity;
  const hi = Number.isFinite(toNs) ? c.frameAtTrueTime(toNs) : Infinity;
  for (const b of c.blocks) {
    if (b.samples === null) continue;
    const s = b.samples;
    for (let i = 0; i < b.frames; i++) {
      const f = b.deviceFrame + i;
      const v = Math.abs(s[i * ch]!);
      if (v < thr) continue;
      if (f - lastLoud > quiet && f >= lo && f < hi) {
        const prev = i > 0 ? Math.abs(s[(i - 1) * ch]!) : 0;
        const frac = v > prev ? (v - thr) / (v - prev) : 0;
        const onset = f - Math.min(1, Math.max(0, frac));
        const mono = c.monoSamples(f, toneFrames);
        out.push({ trueNs: c.trueTimeOfFrame(onset), toneHz: toneOf(mono, c.sampleRate), peak: peakOf(mono) });
      }
      lastLoud = f;
    }
  }
  return out;
}

function peakOf(x: Float32Array): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

/** Frequency from the first and last zero crossings in x (linear interpolation). */
function toneOf(x: Float32Array, rate: number): number {
  const crossings: number[] = [];
  for (let i = 1; i < x.length; i++) {
    const a = x[i - 1]!;
    const b = x[i]!;
    if ((a < 0 && b >= 0) || (a > 0 && b <= 0)) crossings.push(i - 1 + a / (a - b));
  }
  if (crossings.length < 3) return 0;
  const span = crossings[crossings.length - 1]! - crossings[0]!;
  return ((crossings.length - 1) / 2) * (rate / span);
}

/** Shortest run of digital silence counted as a hole (the tone bed is never 0 for this long). */
const HOLE_MIN_FRAMES = 4;
/** Longer silences are not underruns but silent slots (>= 6 s here), stops, or a member not playing yet. */
const HOLE_MAX_MS = 3000;

/**
 * Underrun holes: runs of exact zeros between HOLE_MIN_FRAMES and HOLE_MAX_MS long with sound on
 * both sides (the click tracks' tone bed makes playing audio never 0 for 16 frames), as
 * [startNs, endNs] on the true time axis. What the sink played when the engine missed its deadline.
 */
export function findHoles(c: Capture): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const maxFrames = (HOLE_MAX_MS / 1000) * c.sampleRate;
  let run = 0;
  let start = 0;
  let heard = false;
  const end = (f: number): void => {
    if (heard && run >= HOLE_MIN_FRAMES && run <= maxFrames) out.push([c.trueTimeOfFrame(start), c.trueTimeOfFrame(f)]);
    run = 0;
    heard = true;
  };
  let next = -1; // expected next device frame (a gap between blocks is not captured audio)
  for (const b of c.blocks) {
    if (b.deviceFrame !== next && run > 0) {
      run = 0;
      heard = false;
    }
    next = b.deviceFrame + b.frames;
    if (b.samples === null) {
      if (run === 0) start = b.deviceFrame;
      run += b.frames;
      continue;
    }
    for (let i = 0; i < b.frames; i++) {
      let zero = true;
      for (let ch = 0; ch < c.channels; ch++) if (b.samples[i * c.channels + ch] !== 0) zero = false;
      if (zero) {
        if (run === 0) start = b.deviceFrame + i;
        run++;
      } else if (run > 0 || !heard) end(b.deviceFrame + i);
    }
  }
  return out;
}

/** True time of the first non-zero frame at or after `afterNs` (the first sound), or null. */
export function firstSoundNs(c: Capture, afterNs: number): number | null {
  const from = Math.ceil(c.frameAtTrueTime(afterNs));
  for (const b of c.blocks) {
    if (b.samples === null || b.deviceFrame + b.frames <= from) continue;
    for (let i = Math.max(0, from - b.deviceFrame); i < b.frames; i++) {
      for (let ch = 0; ch < c.channels; ch++) if (b.samples[i * c.channels + ch] !== 0) return c.trueTimeOfFrame(b.deviceFrame + i);
    }
  }
  return null;
}

export interface TimelineMap {
  /** host monotonic ns at which leader time `leaderUs` happens */
  monoNsOfLeaderUs(leaderUs: number): number;
}

/**
 * Where every click of a playlist played from entry `startEntry` frame `startFrame` at leader time
 * `atUs` (continuous, no loop) lands: entries are given as {frames, tone}; a `tone` of -1 marks an
 * entry expected silent (e.g. unavailable on this member).
 */
export function expectedClicks(map: TimelineMap, atUs: number, entries: ReadonlyArray<{ frames: number; tone: number }>, startEntry = 0, startFrame = 0): ExpectedClick[] {
  const out: ExpectedClick[] = [];
  let offsetFrames = -startFrame;
  for (let e = startEntry; e < entries.length; e++) {
    const { frames, tone } = entries[e]!;
    for (const f of clickFrames(frames)) {
      if (offsetFrames + f < 0) continue;
      const leaderUs = atUs + ((offsetFrames + f) / CLICK_RATE) * 1e6;
      out.push({ trueNs: map.monoNsOfLeaderUs(leaderUs), tone, entry: e, frame: f });
    }
    offsetFrames += frames;
  }
  return out;
}

export interface ClickReport {
  expected: number;
  matched: number;
  /** expected audible clicks with nothing near them */
  missing: ExpectedClick[];
  /** clicks heard where the timeline has silence (or a silent slot) */
  extra: DetectedClick[];
  /** clicks with the tone of another track */
  wrongTrack: number;
  /** onset - expected, µs, of matched clicks */
  errorsUs: number[];
  maxAbsErrorUs: number;
  /** matched onsets by expected time (for pairwise comparison between members) */
  onsets: Map<number, number>;
  /** clicks missing, extra or off by more than 1 ms explained by an underrun of this member (STARVED_*) */
  starved: number;
  starvedMaxErrorUs: number;
  /** of the starved: clicks lost or damaged at a hole (the rest were late by at most the hole, slewing back) */
  starvedHit: number;
}

/** Matches detected against expected clicks in [fromNs, toNs). */
export function checkClicks(detected: readonly DetectedClick[], expected: readonly ExpectedClick[], fromNs: number, toNs: number, underruns: ReadonlyArray<readonly [number, number]> = []): ClickReport {
  const exp = expected.filter((e) => e.trueNs >= fromNs && e.trueNs < toNs);
  const det = detected.filter((d) => d.trueNs >= fromNs - MATCH_WINDOW_MS * 1e6 && d.trueNs < toNs + MATCH_WINDOW_MS * 1e6);
  const used = new Set<number>();
  const report: ClickReport = { expected: 0, matched: 0, missing: [], extra: [], wrongTrack: 0, errorsUs: [], maxAbsErrorUs: 0, onsets: new Map(), starved: 0, starvedMaxErrorUs: 0, starvedHit: 0 };
  const hit = (ns: number): boolean => underruns.some(([a, b]) => ns >= a - STARVED_HIT_MS * 1e6 && ns <= b + STARVED_HIT_MS * 1e6);
  // Late by no more than the hole(s) before it (+ 1 ms), within the recovery time: slewing back.
  const recovering = (ns: number, errUs: number): boolean => {
    let holesUs = 0;
    for (const [a, b] of underruns) if (ns >= a - STARVED_HIT_MS * 1e6 && ns <= b + STARVED_RECOVERY_MS * 1e6) holesUs += (b - a) / 1000;
    return holesUs > 0 && Math.abs(errUs) <= Math.min(STARVED_MAX_ERROR_US, holesUs + NORMAL_ERROR_US);
  };
  const starve = (errUs: number, atHole: boolean): void => {
    report.starved++;
    if (atHole) report.starvedHit++;
    report.starvedMaxErrorUs = Math.max(report.starvedMaxErrorUs, Math.abs(errUs));
  };
  let j = 0;
  for (const e of exp) {
    while (j < det.length && det[j]!.trueNs < e.trueNs - MATCH_WINDOW_MS * 1e6) j++;
    let best = -1;
    for (let k = j; k < det.length && det[k]!.trueNs <= e.trueNs + MATCH_WINDOW_MS * 1e6; k++) {
      if (!used.has(k) && (best < 0 || Math.abs(det[k]!.trueNs - e.trueNs) < Math.abs(det[best]!.trueNs - e.trueNs))) best = k;
    }
    if (e.optional) {
      if (best >= 0 && Math.abs(det[best]!.trueNs - e.trueNs) < 2 * NORMAL_ERROR_US * 1000) used.add(best);
      continue;
    }
    if (e.tone < 0) continue; // silent slot: any click near it stays unmatched and counts as extra
    report.expected++;
    if (best < 0) {
      if (hit(e.trueNs)) starve(0, true);
      else report.missing.push(e);
      continue;
    }
    used.add(best);
    const d = det[best]!;
    report.matched++;
    const errUs = (d.trueNs - e.trueNs) / 1000;
    if (Math.abs(errUs) > NORMAL_ERROR_US && (hit(e.trueNs) || recovering(e.trueNs, errUs))) {
      starve(errUs, hit(e.trueNs));
      continue;
    }
    if (trackOfTone(d.toneHz) !== e.tone) report.wrongTrack++;
    report.errorsUs.push(errUs);
    report.maxAbsErrorUs = Math.max(report.maxAbsErrorUs, Math.abs(errUs));
    report.onsets.set(e.trueNs, d.trueNs);
  }
  det.forEach((d, k) => {
    if (used.has(k) || d.trueNs < fromNs || d.trueNs >= toNs) return;
    if (hit(d.trueNs)) starve(0, true);
    else report.extra.push(d);
  });
  return report;
}

/** Onset differences (µs) of the clicks both reports matched: b - a. */
export function pairwiseUs(a: ClickReport, b: ClickReport): number[] {
  const out: number[] = [];
  for (const [t, ta] of a.onsets) {
    const tb = b.onsets.get(t);
    if (tb !== undefined) out.push((tb - ta) / 1000);
  }
  return out;
}

/** Matched clicks off by more than `limitUs`, as [seconds after `originNs`, error µs] (diagnostics). */
export function outliers(r: ClickReport, limitUs: number, originNs: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [exp, got] of r.onsets) {
    const e = (got - exp) / 1000;
    if (Math.abs(e) > limitUs) out.push([Math.round((exp - originNs) / 1e7) / 100, Math.round(e)]);
  }
  return out.slice(0, 20);
}

export function describe(r: ClickReport): string {
  const miss = r.missing.slice(0, 3).map((m) => `entry ${m.entry} frame ${m.frame}`).join(', ');
  const starved = r.starved > 0 ? `, ${r.starved} starved by an underrun (${r.starvedHit} at the hole, max error ${Math.round(r.starvedMaxErrorUs)} µs)` : '';
  return `${r.matched}/${r.expected} clicks, max |err| ${r.maxAbsErrorUs.toFixed(1)} µs, ${r.missing.length} missing${miss ? ` (${miss}...)` : ''}, ${r.extra.length} extra, ${r.wrongTrack} wrong track${starved}`;
}
