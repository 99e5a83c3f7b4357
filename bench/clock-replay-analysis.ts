// Pure part of bench/clock-replay: feeds logged NTP exchanges (sample-log.ts lines) back through
// the member's TimeFilter and measures its estimate against the exact truth (every process of a
// bench:clock run shares CLOCK_MONOTONIC), plus the exchanges' own one-way delays.
import { TimeFilter } from '@jaudiosync/member/time-filter';
import { leaderFromLocal } from '@jaudiosync/member/clock-model';
import { anchorMonoUsOf, hostMonoUsOf, leaderErrorUs, type LeaderAnchor, type MemberClockParams } from './clock-analysis.js';
import { percentileSorted, round } from './lib/stats.js';

export interface LoggedExchange {
  t1: number;
  t2: number;
  t3: number;
  t4: number;
  kernel: boolean;
}

/** Parses a sample log; malformed lines are counted, not fatal. */
export function parseSampleLog(text: string): { exchanges: LoggedExchange[]; bad: number } {
  const exchanges: LoggedExchange[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length !== 5 || !f.every(Number.isFinite) || (f[4] !== 0 && f[4] !== 1)) {
      bad++;
      continue;
    }
    const [t1, t2, t3, t4, k] = f as [number, number, number, number, number];
    exchanges.push({ t1, t2, t3, t4, kernel: k === 1 });
  }
  return { exchanges, bad };
}

export interface ReplayResult {
  exchanges: number;
  /** |estimate - truth| at each exchange from fromS on (s since the first exchange), µs */
  error_us: { p50: number | null; p99: number | null; max: number | null };
  /** Time (s since the first exchange) after which every estimate is synced and within 100 µs. */
  converge_s: number;
  /** Lowest true one-way delays, µs: member -> leader (up) and back (down). */
  lowest_up_us: number[];
  lowest_down_us: number[];
  /** Median over all exchanges of the true asymmetry (up - down) / 2, µs: the error a perfect
   *  averaging estimator would keep. */
  median_asymmetry_us: number | null;
}

const CONVERGE_US = 100;

export function replayExchanges(xs: readonly LoggedExchange[], p: MemberClockParams, a: LeaderAnchor, fromS: number): ReplayResult {
  const anchorMonoUs = anchorMonoUsOf(a);
  const leaderToHost = (leaderUs: number) => leaderUs - a.anchorWallUs + anchorMonoUs;
  const filter = new TimeFilter();
  const errs: number[] = [];
  const ups: number[] = [];
  const downs: number[] = [];
  const asym: number[] = [];
  let lastBadS = 0;
  const first = xs[0];
  for (const x of xs) {
    const h1 = hostMonoUsOf(x.t1, p);
    const h4 = hostMonoUsOf(x.t4, p);
    const up = leaderToHost(x.t2) - h1;
    const down = h4 - leaderToHost(x.t3);
    ups.push(up);
    downs.push(down);
    asym.push((up - down) / 2);
    filter.addSample({ t1LocalUs: x.t1, t2LeaderUs: x.t2, t3LeaderUs: x.t3, t4LocalUs: x.t4 });
    const m = filter.update(x.t4);
    const tS = (x.t4 - (first as LoggedExchange).t4) / 1e6;
    // Truth at the reply's arrival: the leader timescale at host time h4.
    const err = m === null ? Infinity : Math.abs(leaderErrorUs(leaderFromLocal(m, x.t4), h4, a));
    if (m === null || !m.synced || err > CONVERGE_US) lastBadS = tS;
    if (tS >= fromS && m !== null && m.synced) errs.push(err);
  }
  errs.sort((u, v) => u - v);
  ups.sort((u, v) => u - v);
  downs.sort((u, v) => u - v);
  asym.sort((u, v) => u - v);
  const pct = (v: number[], q: number) => (v.length === 0 ? null : round(percentileSorted(v, q), 1));
  return {
    exchanges: xs.length,
    error_us: { p50: pct(errs, 50), p99: pct(errs, 99), max: errs.length === 0 ? null : round(errs[errs.length - 1] as number, 1) },
    converge_s: round(lastBadS, 2) ?? 0,
    lowest_up_us: ups.slice(0, 5).map((v) => round(v, 1) ?? 0),
    lowest_down_us: downs.slice(0, 5).map((v) => round(v, 1) ?? 0),
    median_asymmetry_us: pct(asym, 50),
  };
}
