// planTracks with a crossfade: the previous track stays wanted while its tail still plays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Timeline } from '@jaudiosync/protocol/timeline';
import { planTracks } from '../../src/tracks/track-plan.js';

const RATE = 48_000;
const T0 = 1_700_000_000_000_000;
const tl = (crossfadeFrames: number): Timeline => ({
  rev: 1, outputRate: RATE, loop: false, crossfadeFrames,
  tracks: [{ id: 'a', frames: 60 * RATE }, { id: 'b', frames: 60 * RATE }, { id: 'c', frames: 60 * RATE }],
  revisions: [{ atUs: T0, playing: true, index: 0, frame: 0 }],
});

test('inside a crossfade the outgoing track is planned right after the incoming one, at its tail frame', () => {
  // 5 s overlap: b starts 55 s in; 2 s later a's tail (frames 57..60 s) still plays.
  const p = planTracks(tl(5 * RATE), T0 + 57_000_000);
  assert.deepEqual(p.indices.slice(0, 2), [1, 0]);
  assert.equal(p.startFrames[0], 2 * RATE);
  assert.equal(p.startFrames[1], 57 * RATE);
  // After the overlap only b (and later c) are wanted.
  assert.deepEqual(planTracks(tl(5 * RATE), T0 + 61_000_000).indices, [1]);
  // Gapless: a is gone as soon as b plays.
  assert.deepEqual(planTracks(tl(0), T0 + 61_000_000).indices, [1]);
});

test('the next track is preloaded by when it starts, which a crossfade brings forward', () => {
  // 20 s into a with a 12 s crossfade: b starts at 48 s, 28 s away (< 30 s): b is wanted next.
  assert.deepEqual(planTracks(tl(12 * RATE), T0 + 20_000_000).indices, [0, 1]);
  assert.deepEqual(planTracks(tl(0), T0 + 20_000_000).indices, [0]);
});

test('a jump into a track (next) plays no tail: the previous track is not planned for it', () => {
  const t = tl(5 * RATE);
  // "next" at 10 s: b from frame 0; 2 s later b is at 2 s, inside the a->b overlap region.
  t.revisions.push({ atUs: T0 + 10_000_000, playing: true, index: 1, frame: 0 });
  assert.deepEqual(planTracks(t, T0 + 12_000_000).indices, [1]);
  // A revision continuing the stream (same position) keeps the tail where the stream ran into b.
  const c = tl(5 * RATE);
  c.revisions.push({ atUs: T0 + 56_000_000, playing: true, index: 1, frame: RATE });
  assert.deepEqual(planTracks(c, T0 + 57_000_000).indices.slice(0, 2), [1, 0]);
});
