import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  advance,
  framesInUs,
  leaderUsOfPosition,
  nextAt,
  overlapFrames,
  playlistFrames,
  positionAt,
  previousAt,
  repeatTrackAt,
  stopAfterTrackAt,
  trackEndUs,
  pruneRevisions,
  resumeAt,
  revisionAt,
  seekAt,
  spanFrames,
  stopAt,
  usOfFrames,
  validateTimeline,
  withRevision,
  type Timeline,
} from '../src/timeline.js';

const RATE = 48_000;
const T0 = 1_700_000_000_000_000; // a wall-anchored leader time, as in production

function tl(over: Partial<Timeline> = {}): Timeline {
  return {
    rev: 1,
    outputRate: RATE,
    loop: false,
    tracks: [
      { id: 'a', frames: 48_000 },
      { id: 'b', frames: 24_000 },
      { id: 'c', frames: 96_000 },
    ],
    revisions: [{ atUs: T0, playing: true, index: 0, frame: 0 }],
    ...over,
  };
}

test('framesInUs is floor(us * rate / 1e6) exactly, also for huge and awkward values', () => {
  assert.equal(framesInUs(0, RATE), 0);
  assert.equal(framesInUs(20, RATE), 0);
  assert.equal(framesInUs(21, RATE), 1); // 21 * 0.048 = 1.008
  assert.equal(framesInUs(1_000_000, RATE), 48_000);
  assert.equal(framesInUs(999_999, RATE), 47_999);
  assert.equal(framesInUs(1_000_000, 44_100), 44_100);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 52n }), fc.constantFrom(44_100, 48_000, 96_000, 22_050), (us, rate) => {
      const exact = (us * BigInt(rate)) / 1_000_000n;
      assert.equal(framesInUs(Number(us), rate), Number(exact));
    }),
  );
});

test('usOfFrames is the first integer µs at which a frame count is reached', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom(44_100, 48_000), (frames, rate) => {
      const us = usOfFrames(frames, rate);
      assert.ok(framesInUs(us, rate) >= frames);
      if (us > 0) assert.ok(framesInUs(us - 1, rate) < frames);
    }),
  );
});

test('revisionAt picks the latest revision with atUs <= t', () => {
  const t = tl({
    revisions: [
      { atUs: T0, playing: true, index: 0, frame: 0 },
      { atUs: T0 + 1000, playing: false, index: 0, frame: 48 },
      { atUs: T0 + 5000, playing: true, index: 0, frame: 48 },
    ],
  });
  assert.equal(revisionAt(t, T0 - 1), -1);
  assert.equal(revisionAt(t, T0), 0);
  assert.equal(revisionAt(t, T0 + 999), 0);
  assert.equal(revisionAt(t, T0 + 1000), 1);
  assert.equal(revisionAt(t, T0 + 4999), 1);
  assert.equal(revisionAt(t, T0 + 5000), 2);
  assert.equal(revisionAt(t, T0 + 1e12), 2);
});

test('positionAt advances one frame per 1/outputRate and crosses track boundaries without a gap', () => {
  const t = tl();
  assert.deepEqual(positionAt(t, T0 - 1), { ended: false, index: 0, frame: 0, playing: false, revision: -1 });
  assert.deepEqual(positionAt(t, T0), { ended: false, index: 0, frame: 0, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + 20), { ended: false, index: 0, frame: 0, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + 21), { ended: false, index: 0, frame: 1, playing: true, revision: 0 });
  // Last frame of track 0 is 47999, reached at ceil(47999 / 0.048) µs.
  const lastA = T0 + usOfFrames(47_999, RATE);
  assert.deepEqual(positionAt(t, lastA), { ended: false, index: 0, frame: 47_999, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + 1_000_000), { ended: false, index: 1, frame: 0, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + 1_500_000), { ended: false, index: 2, frame: 0, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + 3_499_999), { ended: false, index: 2, frame: 95_999, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + 3_500_000), { ended: true, revision: 0 });
});

test('positionAt wraps when looping, also after many laps', () => {
  const t = tl({ loop: true });
  assert.deepEqual(positionAt(t, T0 + 3_500_000), { ended: false, index: 0, frame: 0, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + 3_500_000 * 1000 + 1_250_000), {
    ended: false,
    index: 1,
    frame: 12_000,
    playing: true,
    revision: 0,
  });
});

test('positionAt while stopped reports the resume point; empty playlists are ended', () => {
  const t = tl({ revisions: [{ atUs: T0, playing: false, index: 2, frame: 123 }] });
  assert.deepEqual(positionAt(t, T0 + 1e9), { ended: false, index: 2, frame: 123, playing: false, revision: 0 });
  assert.deepEqual(positionAt(tl({ tracks: [], revisions: [] }), T0), { ended: true, revision: -1 });
});

test('positionAt skips empty tracks', () => {
  const t = tl({ tracks: [{ id: 'a', frames: 10 }, { id: 'e', frames: 0 }, { id: 'c', frames: 10 }] });
  assert.deepEqual(advance(t.tracks, 0, 9, 1, false), { index: 2, frame: 0 });
  assert.equal(advance(t.tracks, 0, 9, 11, false), null);
  assert.deepEqual(advance(t.tracks, 0, 9, 11, true), { index: 0, frame: 0 });
  assert.equal(advance([{ id: 'e', frames: 0 }], 0, 0, 0, true), null);
});

test('property: positionAt agrees with a frame-by-frame walk of the playlist', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 0, max: 10 ** 12 }),
      fc.boolean(),
      (lens, startGlobal, dUs, loop) => {
        const tracks = lens.map((frames, i) => ({ id: `t${i}`, frames }));
        const total = lens.reduce((a, b) => a + b, 0);
        if (total === 0) return;
        const g0 = startGlobal % total;
        // Position of global frame g0.
        let index = 0;
        let rem = g0;
        while (rem >= (tracks[index]?.frames ?? 0)) rem -= tracks[index++]!.frames;
        const t: Timeline = { rev: 0, outputRate: RATE, loop, tracks, revisions: [{ atUs: T0, playing: true, index, frame: rem }] };
        const p = positionAt(t, T0 + dUs);
        const g = g0 + Number((BigInt(dUs) * BigInt(RATE)) / 1_000_000n);
        if (!loop && g >= total) {
          assert.equal(p.ended, true);
          return;
        }
        let want = g % total;
        let wi = 0;
        while (want >= tracks[wi]!.frames) want -= tracks[wi++]!.frames;
        assert.deepEqual(p, { ended: false, index: wi, frame: want, playing: true, revision: 0 });
      },
    ),
    { numRuns: 300 },
  );
});

test('leaderUsOfPosition inverts positionAt', () => {
  const t = tl();
  const r = t.revisions[0]!;
  for (const [index, frame] of [
    [0, 0],
    [0, 1],
    [0, 47_999],
    [1, 0],
    [2, 77_777],
  ] as const) {
    const at = leaderUsOfPosition(r, index, frame, t.tracks, RATE);
    assert.ok(at !== null);
    const p = positionAt(t, at);
    assert.deepEqual([p.ended ? -1 : p.index, p.ended ? -1 : p.frame], [index, frame]);
    const before = positionAt(t, at - 1);
    assert.ok(before.ended || !before.playing || before.index !== index || before.frame !== frame);
  }
  assert.equal(leaderUsOfPosition({ ...r, playing: false }, 1, 0, t.tracks, RATE), null);
  assert.equal(leaderUsOfPosition({ ...r, index: 1 }, 0, 5, t.tracks, RATE), null);
});

test('stop then resume continues from the frame at the DAC when stopping', () => {
  let t = tl();
  const stop = stopAt(t, T0 + 500_000);
  assert.deepEqual(stop, { atUs: T0 + 500_000, playing: false, index: 0, frame: 24_000 });
  t = withRevision(t, stop);
  assert.equal(t.rev, 2);
  const resume = resumeAt(t, T0 + 10_000_000);
  assert.deepEqual(resume, { atUs: T0 + 10_000_000, playing: true, index: 0, frame: 24_000 });
  t = withRevision(t, resume);
  const p = positionAt(t, T0 + 10_500_000);
  assert.deepEqual(p, { ended: false, index: 1, frame: 0, playing: true, revision: 2 });
  assert.throws(() => stopAt(t, T0 + 10_000_000), RangeError); // not after the last revision
});

test('stop after the end rewinds the resume point to the start', () => {
  const t = tl();
  assert.deepEqual(stopAt(t, T0 + 60_000_000), { atUs: T0 + 60_000_000, playing: false, index: 0, frame: 0 });
});

test('seek, next and previous', () => {
  const t = tl();
  assert.deepEqual(seekAt(t, T0 + 100, 2, 500), { atUs: T0 + 100, playing: true, index: 2, frame: 500 });
  assert.deepEqual(seekAt(t, T0 + 100, 2, 500, false), { atUs: T0 + 100, playing: false, index: 2, frame: 500 });
  assert.throws(() => seekAt(t, T0 + 100, 3, 0), RangeError);
  assert.throws(() => seekAt(t, T0 + 100, 1, 24_000), RangeError);
  assert.deepEqual(nextAt(t, T0 + 100), { atUs: T0 + 100, playing: true, index: 1, frame: 0 });
  assert.deepEqual(nextAt(t, T0 + 1_600_000), { atUs: T0 + 1_600_000, playing: false, index: 0, frame: 0 });
  assert.deepEqual(nextAt(tl({ loop: true }), T0 + 1_600_000), { atUs: T0 + 1_600_000, playing: true, index: 0, frame: 0 });
  // Early in track 1: previous track. Late in track 2: restart track 2.
  assert.deepEqual(previousAt(t, T0 + 1_100_000), { atUs: T0 + 1_100_000, playing: true, index: 0, frame: 0 });
  assert.deepEqual(previousAt(t, T0 + 3_100_000), { atUs: T0 + 3_100_000, playing: true, index: 1, frame: 0 });
  assert.deepEqual(previousAt(t, T0 + 3_100_000, 1_000_000), {
    atUs: T0 + 3_100_000,
    playing: true,
    index: 2,
    frame: 0,
  });
  assert.deepEqual(previousAt(t, T0 + 100), { atUs: T0 + 100, playing: true, index: 0, frame: 0 });
  assert.deepEqual(previousAt(tl({ loop: true }), T0 + 100), { atUs: T0 + 100, playing: true, index: 2, frame: 0 });
});

test('withRevision replaces pending revisions at or after the new one', () => {
  let t = tl();
  t = withRevision(t, stopAt(t, T0 + 2_000_000));
  t = withRevision({ ...t, revisions: t.revisions }, { atUs: T0 + 1_000_000, playing: true, index: 2, frame: 0 });
  assert.deepEqual(
    t.revisions.map((r) => r.atUs),
    [T0, T0 + 1_000_000],
  );
});

test('pruneRevisions keeps the revision in effect (after a grace) and everything later', () => {
  const t = tl({
    revisions: [
      { atUs: T0, playing: true, index: 0, frame: 0 },
      { atUs: T0 + 1000, playing: false, index: 0, frame: 48 },
      { atUs: T0 + 5_000_000, playing: true, index: 0, frame: 48 },
    ],
  });
  assert.equal(pruneRevisions(t, T0 + 500, 0).revisions.length, 3);
  assert.equal(pruneRevisions(t, T0 + 2000, 0).revisions.length, 2);
  assert.equal(pruneRevisions(t, T0 + 2000).revisions.length, 3); // within the default grace
  assert.equal(pruneRevisions(t, T0 + 7_000_000).revisions.length, 1);
  // Pruning never changes a position from the prune time on.
  const pruned = pruneRevisions(t, T0 + 7_000_000);
  for (const at of [T0 + 7_000_000, T0 + 9_000_000]) assert.deepEqual(positionAt(pruned, at).ended, positionAt(t, at).ended);
});

test('validateTimeline rejects malformed input and accepts good timelines', () => {
  assert.equal(validateTimeline(tl()), null);
  assert.equal(validateTimeline({ ...tl(), volume: { gain: 0.5, atUs: T0 } }), null);
  assert.equal(validateTimeline(tl({ tracks: [], revisions: [{ atUs: 0, playing: false, index: 0, frame: 0 }] })), null);
  const bad: unknown[] = [
    null,
    'x',
    { ...tl(), rev: -1 },
    { ...tl(), outputRate: 48_000.5 },
    { ...tl(), loop: 'yes' },
    { ...tl(), tracks: [{ id: '', frames: 1 }] },
    { ...tl(), tracks: [{ id: 'a', frames: -1 }] },
    tl({ revisions: [{ atUs: T0, playing: true, index: 3, frame: 0 }] }),
    tl({ revisions: [{ atUs: T0, playing: true, index: 1, frame: 24_000 }] }),
    tl({
      revisions: [
        { atUs: T0, playing: true, index: 0, frame: 0 },
        { atUs: T0, playing: false, index: 0, frame: 0 },
      ],
    }),
    { ...tl(), volume: { gain: 2, atUs: 0 } },
    { ...tl(), volume: { gain: Number.NaN, atUs: 0 } },
  ];
  for (const b of bad) assert.equal(typeof validateTimeline(b), 'string', JSON.stringify(b));
});

test('trackEndUs: the instant the playing track has played its last frame, also laps later and mid-track', () => {
  const t = tl();
  // Track a (1 s) from T0: ends at T0 + 1 s, where track b's frame 0 is at the DAC.
  assert.deepEqual(trackEndUs(t, T0), { endUs: T0 + 1_000_000, index: 0 });
  assert.deepEqual(trackEndUs(t, T0 + 999_999), { endUs: T0 + 1_000_000, index: 0 });
  assert.deepEqual(trackEndUs(t, T0 + 1_000_000), { endUs: T0 + 1_500_000, index: 1 });
  // A revision mid-track at an awkward frame: the end is where the frame count is reached.
  const mid = tl({ tracks: [{ id: 'a', frames: 44_101 }, { id: 'b', frames: 10 }], outputRate: 44_100, revisions: [{ atUs: T0, playing: true, index: 0, frame: 7 }] });
  const e = trackEndUs(mid, T0 + 5)!;
  assert.equal(positionAt(mid, e.endUs - 1).ended, false);
  assert.deepEqual(pick(positionAt(mid, e.endUs - 1)), { index: 0, frame: 44_100 });
  assert.deepEqual(pick(positionAt(mid, e.endUs)), { index: 1, frame: 0 });
  // Looping: the second lap's track b ends one lap (3.5 s) after the first.
  const looped = tl({ loop: true });
  assert.deepEqual(trackEndUs(looped, T0 + 3_500_000 + 1_200_000), { endUs: T0 + 3_500_000 + 1_500_000, index: 1 });
  // Not playing: no end.
  assert.equal(trackEndUs(tl({ revisions: [{ atUs: T0, playing: false, index: 1, frame: 5 }] }), T0 + 10), null);
  assert.equal(trackEndUs(t, T0 + 3_500_000), null); // ran off the end
});

test('repeat one: the lap revision starts the same track at its end, on the frame every member computes', () => {
  const t = tl();
  const lap = repeatTrackAt(t, T0 + 1_200_000)!; // in track b (0.5 s, from T0 + 1 s)
  assert.deepEqual(lap, { atUs: T0 + 1_500_000, playing: true, index: 1, frame: 0 });
  const withLap = withRevision(t, lap);
  // Just before the lap: b's last frame; at it: b's first frame again (not c).
  assert.deepEqual(pick(positionAt(withLap, lap.atUs - 1)), { index: 1, frame: 23_999 });
  assert.deepEqual(pick(positionAt(withLap, lap.atUs)), { index: 1, frame: 0 });
  assert.deepEqual(pick(positionAt(withLap, lap.atUs + 250_000)), { index: 1, frame: 12_000 });
  // The next lap follows from the first one.
  assert.deepEqual(repeatTrackAt(withLap, lap.atUs + 1), { atUs: lap.atUs + 500_000, playing: true, index: 1, frame: 0 });
  // Without the lap revision the maths goes on to track c: the revision is what repeats.
  assert.deepEqual(pick(positionAt(t, lap.atUs)), { index: 2, frame: 0 });
  assert.equal(repeatTrackAt(tl({ revisions: [{ atUs: T0, playing: false, index: 0, frame: 0 }] }), T0 + 1), null);
});

test('stop after: stops at the end of the current track with the next track as the resume point', () => {
  const t = tl();
  const stop = stopAfterTrackAt(t, T0 + 300_000)!;
  assert.deepEqual(stop, { atUs: T0 + 1_000_000, playing: false, index: 1, frame: 0 });
  const stopped = withRevision(t, stop);
  assert.deepEqual(positionAt(stopped, stop.atUs - 1), { ended: false, index: 0, frame: 47_999, playing: true, revision: 0 });
  assert.deepEqual(positionAt(stopped, stop.atUs), { ended: false, index: 1, frame: 0, playing: false, revision: 1 });
  assert.deepEqual(positionAt(stopped, stop.atUs + 60_000_000), { ended: false, index: 1, frame: 0, playing: false, revision: 1 });
  // Resuming plays the next track from its start.
  assert.deepEqual(resumeAt(stopped, stop.atUs + 10), { atUs: stop.atUs + 10, playing: true, index: 1, frame: 0 });
  // After the last track the resume point is the playlist's start.
  assert.deepEqual(stopAfterTrackAt(t, T0 + 1_600_000), { atUs: T0 + 3_500_000, playing: false, index: 0, frame: 0 });
  // With the members' stop fade: that much earlier, so the fade ends on the track's last frame.
  assert.deepEqual(stopAfterTrackAt(t, T0 + 300_000, 6000), { atUs: T0 + 994_000, playing: false, index: 1, frame: 0 });
});

function pick(p: ReturnType<typeof positionAt>): { index: number; frame: number } | 'ended' {
  return p.ended ? 'ended' : { index: p.index, frame: p.frame };
}

test('crossfade: track k+1 starts overlapFrames before track k ends (at most half of either), the last one only when looping', () => {
  const tracks = [{ id: 'a', frames: 48_000 }, { id: 'b', frames: 24_000 }, { id: 'c', frames: 96_000 }];
  assert.equal(overlapFrames(tracks, 0, false, 30_000), 12_000, 'half of the shorter neighbour');
  assert.equal(overlapFrames(tracks, 1, false, 10_000), 10_000);
  assert.equal(overlapFrames(tracks, 2, false, 10_000), 0, 'the last track without loop');
  assert.equal(overlapFrames(tracks, 2, true, 10_000), 10_000, 'the last track into the first when looping');
  assert.equal(overlapFrames(tracks, 0, false, 0), 0);
  assert.equal(playlistFrames(tracks, false, 10_000), 48_000 + 24_000 + 96_000 - 20_000);
  assert.equal(playlistFrames(tracks, true, 10_000), 48_000 + 24_000 + 96_000 - 30_000);
  const t = tl({ crossfadeFrames: 10_000 });
  // Track b's frame 0 is at the DAC 38 000 frames after a's frame 0; from then on the position is in b.
  assert.deepEqual(positionAt(t, T0 + usOfFrames(37_999, RATE)), { ended: false, index: 0, frame: 37_999, playing: true, revision: 0 });
  assert.deepEqual(positionAt(t, T0 + usOfFrames(38_000, RATE)), { ended: false, index: 1, frame: 0, playing: true, revision: 0 });
  assert.equal(leaderUsOfPosition(t.revisions[0]!, 2, 5, t.tracks, RATE, false, 10_000), T0 + usOfFrames(38_000 + 14_000 + 5, RATE));
  // The playlist ends when the last track does: 148 000 frames.
  assert.equal(positionAt(t, T0 + usOfFrames(147_999, RATE)).ended, false);
  assert.equal(positionAt(t, T0 + usOfFrames(148_000, RATE)).ended, true);
  // A revision placed in a track's tail (inside the overlap) is the same instant of the next track.
  assert.deepEqual(advance(t.tracks, 0, 40_000, 0, false, 10_000), { index: 1, frame: 2_000 });
});

test('property: with a crossfade, positionAt agrees with a walk along the track spans', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 0, max: 10 ** 12 }),
      fc.boolean(),
      (lens, xf, startGlobal, dUs, loop) => {
        const tracks = lens.map((frames, i) => ({ id: `t${i}`, frames }));
        const spans = tracks.map((_, k) => spanFrames(tracks, k, loop, xf));
        spans.forEach((s, k) => assert.ok(s >= Math.ceil(tracks[k]!.frames / 2) && s <= tracks[k]!.frames));
        const total = spans.reduce((a, b) => a + b, 0);
        if (total === 0) return;
        const g0 = startGlobal % total;
        let index = 0;
        let rem = g0;
        while (rem >= spans[index]!) rem -= spans[index++]!;
        const t: Timeline = { rev: 0, outputRate: RATE, loop, tracks, crossfadeFrames: xf, revisions: [{ atUs: T0, playing: true, index, frame: rem }] };
        const p = positionAt(t, T0 + dUs);
        const g = g0 + Number((BigInt(dUs) * BigInt(RATE)) / 1_000_000n);
        if (!loop && g >= total) {
          assert.equal(p.ended, true);
          return;
        }
        let want = g % total;
        let wi = 0;
        while (want >= spans[wi]!) want -= spans[wi++]!;
        assert.deepEqual(p, { ended: false, index: wi, frame: want, playing: true, revision: 0 });
      },
    ),
    { numRuns: 300 },
  );
});

test('validateTimeline bounds crossfadeFrames to 12 s', () => {
  assert.equal(validateTimeline(tl({ crossfadeFrames: 12 * RATE })), null);
  assert.match(validateTimeline(tl({ crossfadeFrames: 12 * RATE + 1 })) ?? '', /crossfadeFrames/);
  assert.match(validateTimeline(tl({ crossfadeFrames: -1 })) ?? '', /crossfadeFrames/);
  assert.match(validateTimeline(tl({ crossfadeFrames: 1.5 })) ?? '', /crossfadeFrames/);
});
