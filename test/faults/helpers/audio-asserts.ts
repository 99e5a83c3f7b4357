// The one verdict every fault test applies to a member's captured audio: every click the timeline
// puts in the window was played, nothing else was, each from the right track and within 1 ms of
// its place; clicks disturbed by an underrun (machine starvation, reported apart) must stay rare.
import assert from 'node:assert/strict';
import { describe, type ClickReport } from './click-check.js';
import { MAX_TIMELINE_ERROR_US } from './fault-env.js';

/** More starved clicks than this share means the machine was too loaded to judge the fault. */
export const MAX_STARVED_SHARE = 0.2;

export function assertCleanAudio(name: string, r: ClickReport, minExpected: number): void {
  const d = `${name}: ${describe(r)}`;
  assert.ok(r.expected >= minExpected, `${d} (expected at least ${minExpected} clicks in the window)`);
  assert.equal(r.missing.length, 0, d);
  assert.equal(r.extra.length, 0, d);
  assert.equal(r.wrongTrack, 0, d);
  assert.ok(r.maxAbsErrorUs < MAX_TIMELINE_ERROR_US, d);
  assert.ok(r.starved <= MAX_STARVED_SHARE * r.expected, `${d}: the machine starved the member too often to judge`);
}
