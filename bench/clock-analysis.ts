// Pure analysis for bench:clock: turns member probe reports into errors against the true leader
// time (exact, because every process shares CLOCK_MONOTONIC) and summarises them per member.
import { correlation, percentileSorted, round, roundSummary, summarize } from './lib/stats.js';

export const CONVERGE_THRESHOLD_US = 100; // "converged" = |error| stays below this
export const AFTER_OUTAGE_S = 30; // after a blackhole, errors in this span are reported apart
const STEADY_START_S = 10; // error statistics start here (targets want convergence within 5 s)

export interface ProbeReport {
  localUs: number;
  leaderEstUs: number;
  synced: boolean;
  uncertaintyUs: number;
  rttUs: number;
  /** The member's NTP socket has kernel timestamps (absent from older probes). */
  kernelTimestamps?: boolean;
  /** The midpoint estimator's share of the member's fit, 0..1 (absent from older probes). */
  midpointShare?: number;
}

export interface LeaderAnchor {
  anchorWallUs: number;
  anchorMonoNs: bigint;
}

export interface MemberClockParams {
  host: string;
  offsetUs: number;
  ratePpm: number;
}

export interface ClockSample {
  /** seconds since the member process was spawned (true monotonic time) */
  tS: number;
  /** leaderEstUs - true leader time */
  errUs: number;
  synced: boolean;
  uncertaintyUs: number;
  rttUs: number;
}

export interface Window {
  fromS: number;
  toS: number;
}

/** Parses one probe output line; undefined for anything that is not a valid report. */
export function parseProbeReport(line: string): ProbeReport | undefined {
  let j: unknown;
  try {
    j = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null) return undefined;
  const o = j as Record<string, unknown>;
  const num = (k: string): number | undefined => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : undefined);
  const localUs = num('localUs');
  const leaderEstUs = num('leaderEstUs');
  if (localUs === undefined || leaderEstUs === undefined || typeof o['synced'] !== 'boolean') return undefined;
  const report: ProbeReport = { localUs, leaderEstUs, synced: o['synced'], uncertaintyUs: num('uncertaintyUs') ?? NaN, rttUs: num('rttUs') ?? NaN };
  if (typeof o['kernelTimestamps'] === 'boolean') report.kernelTimestamps = o['kernelTimestamps'];
  const share = num('midpointShare');
  if (share !== undefined) report.midpointShare = share;
  return report;
}

export function parseLeaderAnchor(line: string): LeaderAnchor | undefined {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (typeof o['anchorWallUs'] !== 'number' || typeof o['anchorMonoNs'] !== 'string' || !/^[0-9]+$/.test(o['anchorMonoNs'])) return undefined;
    return { anchorWallUs: o['anchorWallUs'], anchorMonoNs: BigInt(o['anchorMonoNs']) };
  } catch {
    return undefined;
  }
}

/** Undoes the injected offset and rate: host CLOCK_MONOTONIC in µs at the report's instant. */
export function hostMonoUsOf(localUs: number, p: MemberClockParams): number {
  return (localUs - p.offsetUs) / (1 + p.ratePpm / 1e6);
}

/** The leader's monotonic anchor in µs (ns -> µs without losing the fraction to 2^53). */
export function anchorMonoUsOf(a: LeaderAnchor): number {
  return Number(a.anchorMonoNs / 1000n) + Number(a.anchorMonoNs % 1000n) / 1000;
}

/** leaderEstUs minus the true leader time at host time hostMonoUs; computed on differences to
 *  stay clear of 2^53 rounding. */
export function leaderErrorUs(leaderEstUs: number, hostMonoUs: number, a: LeaderAnchor): number {
  return leaderEstUs - a.anchorWallUs - (hostMonoUs - anchorMonoUsOf(a));
}

/** Error of the member's estimate in one report. */
export function clockErrorUs(r: ProbeReport, p: MemberClockParams, a: LeaderAnchor): number {
  return leaderErrorUs(r.leaderEstUs, hostMonoUsOf(r.localUs, p), a);
}

function inAny(t: number, ws: readonly Window[]): boolean {
  return ws.some((w) => t >= w.fromS && t < w.toS);
}

/**
 * Convergence time: the time of the first sample after which every later sample (outside the
 * excluded windows) is synced with |error| < CONVERGE_THRESHOLD_US. null if the last one is not.
 */
export function convergeTimeS(samples: readonly ClockSample[], exclude: readonly Window[] = []): number | null {
  const considered = samples.filter((s) => !inAny(s.tS, exclude));
  let k = considered.length;
  while (k > 0) {
    const s = considered[k - 1] as ClockSample;
    if (!s.synced || !(Math.abs(s.errUs) < CONVERGE_THRESHOLD_US)) break;
    k--;
  }
  return k === considered.length ? null : (considered[k] as ClockSample).tS;
}

export function steadyStartS(runSeconds: number): number {
  return Math.min(STEADY_START_S, runSeconds / 2);
}

export interface MemberAnalysisOptions {
  runSeconds: number;
  /** windows (member time) left out of convergence and steady statistics, e.g. an outage */
  exclude?: Window[];
}

export function analyzeMember(samples: readonly ClockSample[], opts: MemberAnalysisOptions) {
  const exclude = opts.exclude ?? [];
  const start = steadyStartS(opts.runSeconds);
  const steady = samples.filter((s) => s.tS >= start && !inAny(s.tS, exclude));
  const abs = steady.map((s) => Math.abs(s.errUs));
  const err = summarize(abs);
  const signed = summarize(steady.map((s) => s.errUs));
  const rtts = steady.map((s) => s.rttUs).filter((v) => Number.isFinite(v));
  const firstSynced = samples.find((s) => s.synced);
  const withUnc = steady.filter((s) => Number.isFinite(s.uncertaintyUs));
  return {
    samples: samples.length,
    steady_samples: steady.length,
    steady_from_s: start,
    error_us: { p50: round(err.p50), p99: round(err.p99), max: round(err.max) },
    signed_error_us: roundSummary(signed),
    converge_s: round(convergeTimeS(samples, exclude) ?? NaN, 2),
    first_synced_s: round(firstSynced?.tS ?? NaN, 2),
    unsynced_steady_samples: steady.filter((s) => !s.synced).length,
    over_threshold_steady_samples: abs.filter((v) => v >= CONVERGE_THRESHOLD_US).length,
    rtt_us: roundSummary(summarize(rtts), 0),
    error_rtt_correlation: round(correlation(steady.map((s) => Math.abs(s.errUs)), steady.map((s) => s.rttUs)), 3),
    error_by_rtt_quartile: errorByRttQuartile(steady),
    /** fraction of steady samples whose |error| is within the member's own uncertainty */
    uncertainty_coverage: withUnc.length === 0 ? null : round(withUnc.filter((s) => Math.abs(s.errUs) <= s.uncertaintyUs).length / withUnc.length, 3),
    uncertainty_us: roundSummary(summarize(withUnc.map((s) => s.uncertaintyUs))),
  };
}

export type MemberAnalysis = ReturnType<typeof analyzeMember>;

/** |error| p50/p99 and signed mean for each quarter of the RTTs reported with the samples. */
function errorByRttQuartile(steady: readonly ClockSample[]) {
  const withRtt = steady.filter((s) => Number.isFinite(s.rttUs)).sort((a, b) => a.rttUs - b.rttUs);
  if (withRtt.length < 8) return [];
  const out = [];
  for (let q = 0; q < 4; q++) {
    const part = withRtt.slice(Math.floor((q * withRtt.length) / 4), Math.floor(((q + 1) * withRtt.length) / 4));
    const abs = part.map((s) => Math.abs(s.errUs)).sort((a, b) => a - b);
    out.push({
      rtt_us_from: round((part[0] as ClockSample).rttUs, 0),
      rtt_us_to: round((part[part.length - 1] as ClockSample).rttUs, 0),
      abs_error_p50_us: round(percentileSorted(abs, 50)),
      abs_error_p99_us: round(percentileSorted(abs, 99)),
      mean_error_us: round(part.reduce((a, s) => a + s.errUs, 0) / part.length),
    });
  }
  return out;
}

/** Errors during an outage window and in the AFTER_OUTAGE_S that follow it (member time). */
export function analyzeOutage(samples: readonly ClockSample[], w: Window) {
  const during = samples.filter((s) => s.tS >= w.fromS && s.tS < w.toS);
  const afterEnd = w.toS + AFTER_OUTAGE_S;
  const after = samples.filter((s) => s.tS >= w.toS && s.tS < afterEnd);
  const maxAbs = (xs: readonly ClockSample[]): number => (xs.length === 0 ? NaN : Math.max(...xs.map((s) => Math.abs(s.errUs))));
  const reconv = convergeTimeS(samples.filter((s) => s.tS >= w.toS));
  return {
    from_s: round(w.fromS, 2),
    to_s: round(w.toS, 2),
    samples_during: during.length,
    max_error_during_us: round(maxAbs(during)),
    unsynced_during: during.filter((s) => !s.synced).length,
    max_error_after_us: round(maxAbs(after)),
    after_window_s: AFTER_OUTAGE_S,
    reconverge_after_end_s: reconv === null ? null : round(reconv - w.toS, 2),
  };
}
