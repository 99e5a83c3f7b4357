// bench:fanout's analysis of light-member events: planned-instant errors against the truth, the
// range across members per instant, and how the playlist spread.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LightEvent } from '@jaudiosync/testkit/helpers/light-member.js';
import { arrivalsOfRev, distributionOf, plannedOfRev, spreadOf } from './fanout-analysis.js';

const truth = (atUs: number): number => atUs * 1000 + 5e9; // host ns = leader µs shifted

test('spreadOf: each member\'s error against the truth, the range per instant, unsynced left out', () => {
  const items = [
    { key: 1, atUs: 1000, plannedNs: truth(1000) + 10_000, synced: true }, // +10 µs
    { key: 1, atUs: 1000, plannedNs: truth(1000) - 30_000, synced: true }, // -30 µs
    { key: 2, atUs: 2000, plannedNs: truth(2000) + 5_000, synced: true },
    { key: 2, atUs: 2000, plannedNs: truth(2000) + 5_000, synced: false },
  ];
  const s = spreadOf(items, truth);
  assert.equal(s.unsynced, 1);
  assert.equal(s.errorUs.n, 3);
  assert.equal(s.errorUs.max, 30);
  assert.equal(s.rangeUs.n, 1, 'instant 2 has one synced member: no range');
  assert.equal(s.rangeUs.max, 40);
});

test('planned and arrivals are picked per revision, first arrival per member', () => {
  const ev: LightEvent[] = [
    { e: 'timeline', id: 'a', ns: 10, rev: 2, atUs: 5, synced: true },
    { e: 'timeline', id: 'a', ns: 20, rev: 2, atUs: 5, synced: true },
    { e: 'timeline', id: 'b', ns: 15, rev: 3, atUs: 6, synced: true },
    { e: 'planned', id: 'a', rev: 2, atUs: 5, plannedNs: 1, synced: true, uncertaintyUs: 3 },
  ];
  assert.deepEqual([...arrivalsOfRev(ev, 2)], [['a', 10]]);
  assert.equal(plannedOfRev(ev, 2).length, 1);
  assert.equal(plannedOfRev(ev, 3).length, 0);
});

test('distributionOf: per track when every member had it, per member the whole playlist, upload rate', () => {
  const t0 = 1e9;
  const at = (s: number): number => t0 + s * 1e9;
  const ev: LightEvent[] = [
    { e: 'cached', id: 'a', ns: at(1), trackId: 'x', bytes: 1e6, paced: false },
    { e: 'cached', id: 'b', ns: at(2), trackId: 'x', bytes: 1e6, paced: false },
    { e: 'cached', id: 'a', ns: at(3), trackId: 'y', bytes: 1e6, paced: true },
    { e: 'fetch-failed', id: 'b', ns: at(3), trackId: 'y', reason: 'HTTP 503' },
    { e: 'cached', id: 'b', ns: at(4), trackId: 'y', bytes: 1e6, paced: true },
  ];
  const d = distributionOf(ev, ['a', 'b'], ['x', 'y'], [1e6, 1e6], t0);
  assert.deepEqual(d.track_all_s, [2, 4]);
  assert.equal(d.all_s, 4);
  assert.equal(d.member_all_s.complete, 2);
  assert.equal(d.upload_mb_per_s, 1, '4 MB in 4 s');
  assert.equal(d.fetch_failures, 1);
  const partial = distributionOf(ev.slice(0, 3), ['a', 'b'], ['x', 'y'], [1e6, 1e6], t0);
  assert.equal(partial.all_s, null);
  assert.deepEqual(partial.track_all_s, [2, null]);
});
