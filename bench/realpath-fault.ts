// bench:realpath --fault server-restart|suspend: what a listener hears when the audio server dies in
// the middle of a song and comes back, or holds the sink suspended for a while (issue #16).
// (--fault rate-44100, a device that only opens at 44.1 kHz, is analysed like any run: realpath.ts.) The recording before the fault is analysed as usual;
// this file analyses the one made after the server's return, and the members' own account of it.
//
//   - first sound after the return, per channel (ms after the server was back);
//   - back_in_sync_s: from the return to the first of 5 consecutive 100 ms windows within 100 µs
//     (left against right, as everywhere in bench:realpath);
//   - max_offset_after_us over the windows from then on;
//   - loud_samples: samples above -3 dBFS (the test track peaks at -6 dBFS: anything louder is a
//     burst of noise, e.g. a stale or garbage buffer played at full scale);
//   - per member: how long it took to notice (its "audio output lost" log line after the kill), the
//     gap it reports (status `audio.output.lastGapMs`), and its restart count.
import { ArrivalTimeMap, firstSoundFrame, frameCount, lrOffsetSeries, type StereoRecording, type WindowResult } from './realpath-analysis.js';
import { round } from './lib/stats.js';

export const FAULTS = ['server-restart', 'sink-unload', 'suspend', 'stress', 'rate-44100'] as const;
export type AnyFault = (typeof FAULTS)[number];
export const isFault = (s: string): s is AnyFault => (FAULTS as readonly string[]).includes(s);
/**
 * Faults after which the audio path comes back (analysed from a second recording made after the
 * return); `stress` (CPU starvation) is analysed in the one recording that spans it; `rate-44100` is
 * a device that is odd from the start.
 */
export type FaultKind = 'server-restart' | 'sink-unload' | 'suspend';
export const isTimedFault = (f: AnyFault): f is FaultKind => f === 'server-restart' || f === 'sink-unload' || f === 'suspend';
/** Default length of the stress fault (the 30 s on both cores). */
export const STRESS_DEFAULT_S = 30;
/** The rate of the device that cannot do the timeline's 48 kHz (--fault rate-44100). */
export const ODD_DEVICE_RATE = 44_100;

/** Windows and the in-sync rule of the issue: 5 consecutive 100 ms windows within 100 µs. */
const WINDOW_S = 0.1;
const IN_SYNC_US = 100;
const IN_SYNC_WINDOWS = 5;
/** -3 dBFS: the test track never reaches it. */
const LOUD_ABS = Math.round(32767 * 10 ** (-3 / 20));

export interface FaultTimes {
  /** host CLOCK_MONOTONIC ns of the kill and of the server being back (sinks loaded) */
  killedNs: number;
  upNs: number;
  /** host wall ms of the kill (member log lines carry wall ms) */
  killedWallMs: number;
  downMs: number;
}

export interface MemberFaultView {
  id: string;
  /** the member's log lines (pino JSON) */
  logLines: readonly string[];
  /** `audio.output` of its last status after the return, if any */
  output: { lost?: unknown; restarts?: unknown; lastGapMs?: unknown } | null;
}

export interface FaultReport {
  fault: FaultKind;
  down_ms: number;
  first_sound_after_return_ms: { left: number | null; right: number | null };
  back_in_sync_s: number | null;
  max_offset_after_us: number | null;
  windows_after: { total: number; accepted: number };
  loud_samples: number;
  peak_dbfs_after: number | null;
  members: Record<string, { noticed_after_ms: number | null; back_log_after_ms: number | null; reported_gap_ms: number | null; restarts: number | null; lost_at_end: boolean | null }>;
  /** [s after the return, offset µs] per accepted 100 ms window */
  series: Array<[number, number]>;
}

/** Pino wall time (ms) of the first log line matching `re` at or after `fromWallMs`. */
function firstLogMs(lines: readonly string[], re: RegExp, fromWallMs: number): number | null {
  for (const l of lines) {
    if (!re.test(l)) continue;
    try {
      const t = (JSON.parse(l) as { time?: unknown }).time;
      if (typeof t === 'number' && t >= fromWallMs) return t;
    } catch {
      // not a pino line
    }
  }
  return null;
}

/** First index i where windows i..i+n-1 are all accepted and within `limitUs`. */
export function firstInSyncRun(windows: readonly WindowResult[], limitUs = IN_SYNC_US, n = IN_SYNC_WINDOWS): number | null {
  let run = 0;
  for (let i = 0; i < windows.length; i++) {
    const o = windows[i]!.offsetUs;
    run = o !== null && Math.abs(o) < limitUs ? run + 1 : 0;
    if (run === n) return i - n + 1;
  }
  return null;
}

export function analyseFault(kind: FaultKind, rec: StereoRecording, arrivals: ConstructorParameters<typeof ArrivalTimeMap>[0], times: FaultTimes, members: readonly MemberFaultView[]): FaultReport {
  const rate = rec.rate;
  const map = new ArrivalTimeMap(arrivals, rate);
  const frames = frameCount(rec);
  const upFrame = map.frameAtHostNs(times.upNs) ?? 0;
  const sound = firstSoundFrame(rec, 0);
  const msAfterUp = (f: number | null): number | null => {
    if (f === null) return null;
    const ns = map.hostNsOf(f);
    return ns === null ? null : round((ns - times.upNs) / 1e6, 1);
  };
  let windows: WindowResult[] = [];
  if (sound.left !== null && sound.right !== null) {
    const from = Math.max(sound.left, sound.right);
    const to = frames - Math.round(0.5 * rate);
    if (to - from > WINDOW_S * rate * IN_SYNC_WINDOWS) {
      [windows] = lrOffsetSeries(rec, rate, [{ windowS: WINDOW_S, requireBursts: false }], { fromFrame: from, toFrame: to, t0Frame: upFrame }) as [WindowResult[]];
    }
  }
  const start = firstInSyncRun(windows);
  const after = start === null ? [] : windows.slice(start).filter((w) => w.offsetUs !== null).map((w) => Math.abs(w.offsetUs!));
  let loud = 0;
  let peak = 0;
  for (let i = 0; i < rec.samples.length; i++) {
    const v = Math.abs(rec.samples[i]!);
    if (v > peak) peak = v;
    if (v >= LOUD_ABS) loud++;
  }
  const out: FaultReport['members'] = {};
  for (const m of members) {
    const noticed = firstLogMs(m.logLines, /audio output lost/, times.killedWallMs);
    const back = firstLogMs(m.logLines, /audio output back after/, times.killedWallMs);
    const o = m.output;
    out[m.id] = {
      noticed_after_ms: noticed === null ? null : noticed - times.killedWallMs,
      back_log_after_ms: back === null ? null : back - times.killedWallMs,
      reported_gap_ms: typeof o?.lastGapMs === 'number' ? o.lastGapMs : null,
      restarts: typeof o?.restarts === 'number' ? o.restarts : null,
      lost_at_end: typeof o?.lost === 'boolean' ? o.lost : null,
    };
  }
  return {
    fault: kind,
    down_ms: times.downMs,
    first_sound_after_return_ms: { left: msAfterUp(sound.left), right: msAfterUp(sound.right) },
    back_in_sync_s: start === null ? null : round(windows[start]!.tS - WINDOW_S / 2, 2),
    max_offset_after_us: after.length > 0 ? round(Math.max(...after), 1) : null,
    windows_after: { total: windows.length, accepted: windows.filter((w) => w.offsetUs !== null).length },
    loud_samples: loud,
    peak_dbfs_after: peak > 0 ? round(20 * Math.log10(peak / 32767), 1) : null,
    members: out,
    series: windows.filter((w) => w.offsetUs !== null).map((w) => [round(w.tS, 2)!, round(w.offsetUs!, 1)!]),
  };
}

export interface StressReport {
  fault: 'stress';
  /** seconds of music at which the stress began and ended */
  stress_from_s: number;
  stress_to_s: number;
  /** gaps in the recording from the stress's start to 2 s after its end, by who was silent */
  gaps: { count: number; max_ms: number | null; total_ms: number; list: Array<{ kind: string; t_s: number; ms: number }> };
  /** worst 100 ms window during the stress (and 1 s after), µs */
  max_offset_during_us: number | null;
  /** from the stress's end to the first of 5 consecutive 100 ms windows within 100 µs (0: never out) */
  back_in_sync_s: number | null;
  /** worst window from then to the end */
  max_offset_after_us: number | null;
  windows: { during: number; during_accepted: number; after: number; after_accepted: number };
  /** members' underrun counts (status `audio.underruns`) gained over the stress */
  underruns: Record<string, number | null>;
}

/**
 * The stress fault from the run's own analysis: 100 ms windows (tS after the music's start),
 * dropouts, and each member's underrun count at the stress's start and at the end of the run.
 */
export function analyseStress(fine: readonly WindowResult[], drops: ReadonlyArray<{ kind: string; tS: number; ms: number }>, fromS: number, toS: number, underruns: Record<string, [number | null, number | null]>): StressReport {
  const during = fine.filter((w) => w.tS >= fromS && w.tS < toS + 1);
  const after = fine.filter((w) => w.tS >= toS);
  const abs = (ws: readonly WindowResult[]): number[] => ws.filter((w) => w.offsetUs !== null).map((w) => Math.abs(w.offsetUs!));
  const duringAbs = abs(during);
  const out = after.findIndex((w) => w.offsetUs !== null && Math.abs(w.offsetUs) >= IN_SYNC_US);
  let backS: number | null = 0;
  let tail = after;
  // Out of sync after the stress's end (or a window of it missing): how long until 5 good ones.
  if (out >= 0 || after.some((w) => w.offsetUs === null)) {
    const start = firstInSyncRun(after);
    backS = start === null ? null : round(Math.max(0, after[start]!.tS - WINDOW_S / 2 - toS), 2);
    tail = start === null ? [] : after.slice(start);
  }
  const tailAbs = abs(tail);
  const gaps = drops.filter((d) => d.tS >= fromS && d.tS < toS + 2);
  const ur: Record<string, number | null> = {};
  for (const [id, [a, b]] of Object.entries(underruns)) ur[id] = a !== null && b !== null ? b - a : null;
  return {
    fault: 'stress',
    stress_from_s: round(fromS, 2)!,
    stress_to_s: round(toS, 2)!,
    gaps: {
      count: gaps.length,
      max_ms: gaps.length > 0 ? round(Math.max(...gaps.map((g) => g.ms)), 1) : null,
      total_ms: round(gaps.reduce((t, g) => t + g.ms, 0), 1)!,
      list: gaps.slice(0, 50).map((g) => ({ kind: g.kind, t_s: round(g.tS, 2)!, ms: round(g.ms, 1)! })),
    },
    max_offset_during_us: duringAbs.length > 0 ? round(Math.max(...duringAbs), 1) : null,
    back_in_sync_s: backS,
    max_offset_after_us: tailAbs.length > 0 ? round(Math.max(...tailAbs), 1) : null,
    windows: { during: during.length, during_accepted: duringAbs.length, after: after.length, after_accepted: abs(after).length },
    underruns: ur,
  };
}
