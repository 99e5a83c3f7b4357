// Pure analysis of bench:fanout's light-member events: how far each member's planned instant is from
// the true one (planned sync), when the members had each revision, and how the playlist spread.
import type { LightEvent } from '@jaudiosync/testkit/helpers/light-member.js';
import { absStats, type AbsStats } from './sync-analysis.js';
import { percentileSorted, round } from './lib/stats.js';

type Planned = Extract<LightEvent, { e: 'planned' }>;
type Sample = Extract<LightEvent, { e: 'sample' }>;

/** True host CLOCK_MONOTONIC ns at leader time `atUs`. */
export type TruthNs = (atUs: number) => number;

export interface InstantSpread {
  /** each member's planned instant minus the true one, µs */
  errorUs: AbsStats;
  /** largest minus smallest planned instant across members, per instant, µs */
  rangeUs: { n: number; p50: number | null; p99: number | null; max: number | null };
}

/**
 * Errors of planned instants against the truth, grouped by instant (`key`): every member's error,
 * and the range across members at each instant. Members whose clock was not synced yet are left out
 * of the errors (they would not have played) and counted in `unsynced`.
 */
export function spreadOf(items: ReadonlyArray<{ key: number; atUs: number; plannedNs: number; synced?: boolean }>, truth: TruthNs): InstantSpread & { unsynced: number } {
  const errors: number[] = [];
  const byKey = new Map<number, number[]>();
  let unsynced = 0;
  for (const it of items) {
    if (it.synced === false) {
      unsynced++;
      continue;
    }
    const err = (it.plannedNs - truth(it.atUs)) / 1000;
    errors.push(err);
    byKey.set(it.key, [...(byKey.get(it.key) ?? []), err]);
  }
  const ranges = [...byKey.values()].filter((v) => v.length >= 2).map((v) => Math.max(...v) - Math.min(...v)).sort((a, b) => a - b);
  return {
    errorUs: absStats(errors),
    rangeUs: { n: ranges.length, p50: round(percentileSorted(ranges, 50), 1), p99: round(percentileSorted(ranges, 99), 1), max: ranges.length === 0 ? null : round(ranges[ranges.length - 1]!, 1) },
    unsynced,
  };
}

/** Planned instants of one revision. */
export function plannedOfRev(events: readonly LightEvent[], rev: number): Planned[] {
  return events.filter((e): e is Planned => e.e === 'planned' && e.rev === rev);
}

/** Steady-state samples whose instant lies in [fromNs, toNs) of true time. */
export function samplesIn(events: readonly LightEvent[], truth: TruthNs, fromNs: number, toNs: number): Sample[] {
  return events.filter((e): e is Sample => e.e === 'sample' && truth(e.atUs) >= fromNs && truth(e.atUs) < toNs);
}

/** First arrival (host ns) of revision `rev` at each light member. */
export function arrivalsOfRev(events: readonly LightEvent[], rev: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) if (e.e === 'timeline' && e.rev === rev && !out.has(e.id)) out.set(e.id, e.ns);
  return out;
}

export interface Distribution {
  members: number;
  tracks: number;
  playlist_mb: number;
  /** s from `t0Ns` until every member had track index `k` cached (null: some never did) */
  track_all_s: Array<number | null>;
  /** s from `t0Ns` until each member had the whole playlist */
  member_all_s: { p50: number | null; p99: number | null; max: number | null; complete: number };
  /** s until every member had the whole playlist, and the leader's mean upload rate until then */
  all_s: number | null;
  upload_mb_per_s: number | null;
  fetch_failures: number;
}

/** How the playlist reached the light members (cached events), from `t0Ns`. */
export function distributionOf(events: readonly LightEvent[], memberIds: readonly string[], trackIds: readonly string[], trackBytes: readonly number[], t0Ns: number): Distribution {
  const cachedAt = new Map<string, Map<string, number>>(memberIds.map((id) => [id, new Map()]));
  let failures = 0;
  for (const e of events) {
    if (e.e === 'fetch-failed') failures++;
    if (e.e !== 'cached') continue;
    const m = cachedAt.get(e.id);
    if (m && !m.has(e.trackId)) m.set(e.trackId, e.ns);
  }
  const s = (ns: number): number => (ns - t0Ns) / 1e9;
  const trackAll = trackIds.map((tid) => {
    const times = memberIds.map((id) => cachedAt.get(id)?.get(tid));
    return times.every((t): t is number => t !== undefined) && times.length > 0 ? round(s(Math.max(...times)), 2) : null;
  });
  const perMember = memberIds
    .map((id) => trackIds.map((tid) => cachedAt.get(id)?.get(tid)))
    .filter((ts): ts is number[] => ts.every((t) => t !== undefined) && ts.length > 0)
    .map((ts) => s(Math.max(...ts)))
    .sort((a, b) => a - b);
  const complete = perMember.length;
  const allS = complete === memberIds.length && complete > 0 ? perMember[complete - 1]! : null;
  const totalBytes = trackBytes.reduce((a, b) => a + b, 0);
  return {
    members: memberIds.length,
    tracks: trackIds.length,
    playlist_mb: round(totalBytes / 1e6, 2) ?? 0,
    track_all_s: trackAll,
    member_all_s: { p50: round(percentileSorted(perMember, 50), 2), p99: round(percentileSorted(perMember, 99), 2), max: complete === 0 ? null : round(perMember[complete - 1]!, 2), complete },
    all_s: allS === null ? null : round(allS, 2),
    upload_mb_per_s: allS === null || allS <= 0 ? null : round((totalBytes * memberIds.length) / 1e6 / allS, 2),
    fetch_failures: failures,
  };
}
