// Timeline controller with a fake timescale and fake member RTTs: each command yields the right
// revision at the right lead time; start-time parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JasError } from '@jaudiosync/protocol/errors';
import type { RecentRtt } from '../../src/members/rtt-stats.js';
import { LEAD_MARGIN_US, STOP_FADE_US, TimelineController } from '../../src/timeline/timeline-controller.js';
import { parseStartTime } from '../../src/timeline/start-time.js';
import { positionAt, type Timeline } from '@jaudiosync/protocol/timeline';

const RATE = 48000;
const START_US = 1_750_000_000_000_000;

/** Member RTTs with p50 = p90 (a path as slow throughout). */
const even = (...us: number[]): RecentRtt[] => us.map((u) => ({ p50Us: u, p90Us: u }));

function setup(rttsUs: RecentRtt[] = []) {
  const clock = { nowUs: START_US };
  const rtts = { values: rttsUs };
  const c = new TimelineController({
    timescale: { nowUs: () => clock.nowUs }, outputRate: RATE, wallNowMs: () => clock.nowUs / 1000,
    minLeadMs: 250, memberRtts: () => rtts.values,
  });
  c.setTracks([{ id: 'a'.repeat(64), frames: 10 * RATE }, { id: 'b'.repeat(64), frames: 20 * RATE }, { id: 'c'.repeat(64), frames: 5 * RATE }]);
  const sent: number[] = [];
  c.on('timeline', (tl) => sent.push(tl.rev));
  return { c, clock, rtts, sent };
}

const code = (c: string) => (err: unknown) => err instanceof JasError && err.code === c;

test('lead time: minimum, or RTT p90 + p50 + margin of the slowest connected member', () => {
  const { c, rtts } = setup();
  assert.equal(c.leadTimeUs(), 250_000);
  rtts.values = even(10_000, 40_000);
  assert.equal(c.leadTimeUs(), 250_000);
  // A path slow throughout (all RTTs high): two round trips, as before.
  rtts.values = even(10_000, 200_000);
  assert.equal(c.leadTimeUs(), 2 * 200_000 + LEAD_MARGIN_US);
  // Congestion at every member: the lead grows with it.
  rtts.values = even(...Array.from({ length: 100 }, (_, i) => 400_000 + i * 1000));
  assert.equal(c.leadTimeUs(), 2 * 499_000 + LEAD_MARGIN_US);
  // 1 % loss (issue #14): two pongs of the last 10 delayed by a TCP retransmission (RTO >= 200 ms)
  // make the p90 ~230 ms at an otherwise fast member. One retransmission plus a round trip, not
  // two retransmissions: 2 x 230 + 50 = 510 ms asked before.
  rtts.values = [{ p50Us: 15_000, p90Us: 230_000 }, ...even(15_000, 20_000)];
  assert.equal(c.leadTimeUs(), 230_000 + 15_000 + LEAD_MARGIN_US);
  assert.ok(c.leadTimeUs() <= 500_000);
  // The slowest member is whichever has the largest sum, not the largest p90.
  rtts.values = [{ p50Us: 10_000, p90Us: 300_000 }, { p50Us: 250_000, p90Us: 260_000 }];
  assert.equal(c.leadTimeUs(), 510_000 + LEAD_MARGIN_US);
});

test('play, stop, resume, next, previous, seek produce the right revisions', () => {
  const { c, clock, sent } = setup();
  const play = c.play();
  assert.deepEqual(play.revision, { atUs: START_US + 250_000, playing: true, index: 0, frame: 0 });
  assert.equal(sent.length, 1);

  clock.nowUs += 2_000_000; // 1.75 s played at the stop's atUs + ...
  const stop = c.stop();
  assert.equal(stop.atUs, clock.nowUs + 250_000);
  assert.deepEqual(stop.revision, { atUs: stop.atUs, playing: false, index: 0, frame: 2 * RATE });

  clock.nowUs += 5_000_000;
  const resume = c.resume();
  assert.deepEqual(resume.revision, { atUs: clock.nowUs + 250_000, playing: true, index: 0, frame: 2 * RATE });

  clock.nowUs += 1_000_000;
  const next = c.next();
  assert.deepEqual(next.revision, { atUs: clock.nowUs + 250_000, playing: true, index: 1, frame: 0 });

  clock.nowUs += 10_000_000; // 10 s into track 1: previous restarts it
  const prev = c.previous();
  assert.deepEqual(prev.revision, { atUs: clock.nowUs + 250_000, playing: true, index: 1, frame: 0 });

  clock.nowUs += 1_000_000;
  const seek = c.seek({ positionMs: 2500, index: 2 });
  assert.deepEqual(seek.revision, { atUs: clock.nowUs + 250_000, playing: true, index: 2, frame: 2.5 * RATE });
  assert.ok(seek.rev > prev.rev);
  assert.equal(sent.length, 6);
});

test('a command before a scheduled one cancels it (latest command wins)', () => {
  const { c, clock } = setup();
  c.play({ at: '+60s' });
  const stop = c.stop();
  assert.equal(stop.atUs, clock.nowUs + 250_000);
  assert.equal(c.timeline.revisions.filter((r) => r.playing).length, 0);
});

test('user start times: delay, wall time, refusals', () => {
  const { c, clock } = setup(even(100_000));
  const lead = c.leadTimeUs();
  assert.equal(lead, 250_000);
  assert.equal(c.play({ delayMs: 5000 }).atUs, clock.nowUs + 5_000_000);
  const iso = new Date(clock.nowUs / 1000 + 60_000).toISOString();
  assert.equal(c.stop({ at: iso }).atUs, clock.nowUs + 60_000_000);
  assert.throws(() => c.play({ at: '+100ms' }), code('JAS_ERR_TIME_IN_PAST'));
  assert.throws(() => c.play({ at: new Date(clock.nowUs / 1000 - 1000).toISOString() }), code('JAS_ERR_TIME_IN_PAST'));
  assert.doesNotThrow(() => c.play({ at: '+23h' }));
  assert.throws(() => c.play({ at: '+25h' }), code('JAS_ERR_TIME_TOO_FAR'));
  assert.throws(() => c.play({ at: '+1s', delayMs: 1000 }), code('JAS_ERR_VALIDATION'));
});

test('commands need a playlist (stop does not); bad index/position refused', () => {
  const c = new TimelineController({ timescale: { nowUs: () => START_US }, outputRate: RATE });
  assert.throws(() => c.play(), code('JAS_ERR_NO_PLAYLIST'));
  assert.doesNotThrow(() => c.stop());
  const { c: c2 } = setup();
  assert.throws(() => c2.play({ index: 3 }), code('JAS_ERR_VALIDATION'));
  assert.throws(() => c2.seek({ positionMs: 5000, index: 2 }), code('JAS_ERR_VALIDATION'));
});

test('volume and member settings', () => {
  const { c, clock } = setup();
  const v = c.setVolume({ volume: 0.3 });
  assert.deepEqual(c.timeline.volume, { gain: 0.3, atUs: clock.nowUs + 250_000 });
  assert.equal(v.volume, 0.3);
  let got: unknown;
  c.on('settings', (id, s, atUs) => { got = { id, s, atUs }; });
  c.updateMemberSettings('m1', { outputDelayMs: 3 });
  assert.deepEqual(got, { id: 'm1', s: { volume: 1, outputDelayMs: 3, channelMode: 'stereo' }, atUs: clock.nowUs + 250_000 });
});

test('snapshot/restore keeps the timeline unchanged', () => {
  const { c } = setup();
  c.play();
  const snap = JSON.parse(JSON.stringify(c.snapshot()));
  const c2 = new TimelineController({ timescale: { nowUs: () => START_US + 9e6 }, outputRate: RATE });
  c2.restore(snap);
  assert.deepEqual(c2.timeline, c.timeline);
});

test('parseStartTime forms', () => {
  const now = Date.UTC(2025, 5, 21, 12, 0, 0);
  assert.deepEqual(parseStartTime('+5s', undefined, now), { kind: 'delay', delayUs: 5_000_000 });
  assert.deepEqual(parseStartTime('+250ms', undefined, now), { kind: 'delay', delayUs: 250_000 });
  assert.deepEqual(parseStartTime('+1.5 min', undefined, now), { kind: 'delay', delayUs: 90_000_000 });
  assert.deepEqual(parseStartTime(undefined, 1500, now), { kind: 'delay', delayUs: 1_500_000 });
  assert.equal(parseStartTime(undefined, undefined, now), undefined);
  const tod = parseStartTime('18:55:00', undefined, now);
  const expected = new Date(now);
  expected.setHours(18, 55, 0, 0);
  assert.deepEqual(tod, { kind: 'wall', wallUs: expected.getTime() * 1000 });
  const frac = parseStartTime('18:55:00.25', undefined, now);
  assert.equal(frac?.kind === 'wall' && frac.wallUs - expected.getTime() * 1000, 250_000);
  assert.deepEqual(parseStartTime('2025-06-21T18:55:00Z', undefined, now), { kind: 'wall', wallUs: Date.UTC(2025, 5, 21, 18, 55) * 1000 });
  for (const bad of ['25:00', '18:61', 'soon', '+5 parsecs', '5s', '2025-13-45T00:00:00Z']) {
    assert.throws(() => parseStartTime(bad, undefined, now), code('JAS_ERR_BAD_TIME'), bad);
  }
});

test('a jump to a track some member has not decoded gets the time to decode it, unless the user gave a time', () => {
  const clock = { nowUs: START_US };
  const decoded = new Set(['a'.repeat(64)]);
  const c = new TimelineController({
    timescale: { nowUs: () => clock.nowUs }, outputRate: RATE, wallNowMs: () => clock.nowUs / 1000,
    minLeadMs: 250, trackReady: (id) => decoded.has(id),
  });
  c.setTracks([{ id: 'a'.repeat(64), frames: 10 * RATE }, { id: 'b'.repeat(64), frames: 20 * RATE }]);
  assert.equal(c.play({ index: 0 }).leadUs, 250_000, 'decoded everywhere: the minimum lead');
  const jump = c.play({ index: 1 });
  assert.equal(jump.leadUs, 1_500_000);
  assert.deepEqual(jump.revision, { atUs: START_US + 1_500_000, playing: true, index: 1, frame: 0 });
  assert.equal(c.stop().leadUs, 250_000, 'stopping needs no decode');
  assert.equal(c.play({ index: 1, delayMs: 400 }).atUs, START_US + 400_000, 'an explicit time is kept');
  decoded.add('b'.repeat(64));
  assert.equal(c.play({ index: 1 }).leadUs, 250_000);
});

function orderSetup(frames: number[], seeds: number[] = [1, 2, 3, 4, 5]) {
  const clock = { nowUs: START_US };
  const c = new TimelineController({
    timescale: { nowUs: () => clock.nowUs }, outputRate: RATE, wallNowMs: () => clock.nowUs / 1000,
    minLeadMs: 250, drawSeed: () => seeds.shift() ?? 99,
  });
  c.setTracks(frames.map((f, i) => ({ id: String(i).padStart(64, '0'), frames: f * RATE, title: `t${i}` })));
  return { c, clock };
}

const ids = (c: TimelineController) => c.timeline.tracks.map((t) => Number(t.id));

test('shuffle while stopped at the start: the whole order is drawn from the seed, the same seed gives the same order', () => {
  const { c } = orderSetup(Array.from({ length: 12 }, () => 10));
  const r = c.setShuffle(true, 12345);
  assert.equal(r.seed, 12345);
  const first = ids(c);
  assert.notDeepEqual(first, [...first].sort((a, b) => a - b));
  assert.deepEqual([...first].sort((a, b) => a - b), Array.from({ length: 12 }, (_v, i) => i));
  assert.deepEqual(c.orderState().order, first); // the order maps play positions to m3u8 positions
  c.setShuffle(false);
  assert.deepEqual(ids(c), Array.from({ length: 12 }, (_v, i) => i));
  c.setShuffle(true, 12345);
  assert.deepEqual(ids(c), first);
  // A drawn seed when none is given.
  assert.equal(c.setShuffle(true).seed, 1);
});

test('shuffle while playing keeps the playing track and those before it in place, so the position does not move', () => {
  const { c, clock } = orderSetup(Array.from({ length: 10 }, () => 10));
  c.play({ index: 3 });
  clock.nowUs += 12_000_000; // 11.75 s played: track 4, 1.75 s in
  const before = c.positionNow();
  const r = c.setShuffle(true, 777);
  const order = ids(c);
  assert.deepEqual(order.slice(0, 5), [0, 1, 2, 3, 4]);
  assert.notDeepEqual(order.slice(5), [5, 6, 7, 8, 9]);
  assert.deepEqual(c.positionNow(), before);
  assert.equal(r.atUs, clock.nowUs + 250_000);
  // The next track is the shuffled one: at the end of track 4 plays order[5].
  const end = START_US + 250_000 + 20_000_000;
  const p = positionAt(c.timeline, end);
  assert.ok(!p.ended && p.index === 5 && c.timeline.tracks[5]!.id === String(order[5]).padStart(64, '0'));
  // Off: the upcoming tracks back in m3u8 order, the rest stays.
  c.setShuffle(false);
  assert.deepEqual(ids(c), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('repeat one: a lap revision at the end of the playing track, re-added at each lap; off removes the pending one', () => {
  const { c, clock } = orderSetup([10, 20, 5]);
  const play = c.play();
  c.setRepeat('one');
  const lap1 = play.atUs + 10_000_000;
  assert.deepEqual(c.timeline.revisions.at(-1), { atUs: lap1, playing: true, index: 0, frame: 0 });
  assert.deepEqual(pick(c.timeline, lap1 + 1_000_000), { index: 0, frame: RATE });
  clock.nowUs = lap1 + 1000;
  c.refreshAuto();
  assert.deepEqual(c.timeline.revisions.at(-1), { atUs: lap1 + 10_000_000, playing: true, index: 0, frame: 0 });
  // next under repeat one: the new track repeats.
  const next = c.next();
  assert.deepEqual(c.timeline.revisions.at(-1), { atUs: next.atUs + 20_000_000, playing: true, index: 1, frame: 0 });
  c.setRepeat('off');
  assert.ok(c.timeline.revisions.every((r) => r.atUs <= next.atUs));
  assert.deepEqual(pick(c.timeline, next.atUs + 20_000_000), { index: 2, frame: 0 });
});

test('repeat all is the loop flag; switching it keeps the past (a revision holds the position at now)', () => {
  const { c, clock } = orderSetup([10, 20, 5]);
  const play = c.play();
  c.setRepeat('all');
  assert.equal(c.timeline.loop, true);
  clock.nowUs = play.atUs + 40_000_000; // second lap, 5 s in
  assert.deepEqual(c.positionNow().index, 0);
  c.setRepeat('off');
  assert.equal(c.timeline.loop, false);
  // Still playing where it was (without the held position the old revision would be past the end).
  const p = c.positionNow();
  assert.deepEqual([p.playing, p.index, p.frame], [true, 0, 5 * RATE]);
  assert.deepEqual(pick(c.timeline, clock.nowUs + 30_000_000), 'ended');
  // Turning repeat all on after the end does not start anything.
  clock.nowUs += 60_000_000;
  c.setRepeat('all');
  assert.equal(c.positionNow().playing, false);
});

test('stop after: a stop at the end of the current track, cancelled on demand, done once it took effect', () => {
  const { c, clock } = orderSetup([10, 20, 5]);
  const play = c.play();
  clock.nowUs = play.atUs + 3_000_000;
  const r = c.setStopAfter(true);
  // The track ends at +10 s; the stop is the members' 6 ms stop fade before that.
  assert.equal(r.atUs, play.atUs + 10_000_000 - STOP_FADE_US);
  assert.deepEqual(c.timeline.revisions.at(-1), { atUs: r.atUs, playing: false, index: 1, frame: 0 });
  c.setStopAfter(false);
  assert.equal(c.timeline.revisions.at(-1)!.atUs, play.atUs);
  c.setStopAfter(true);
  clock.nowUs = r.atUs + 1000;
  c.refreshAuto();
  assert.equal(c.orderState().stopAfter, false);
  assert.equal(c.positionNow().playing, false);
  // Resume plays the next track from its start.
  assert.deepEqual(c.resume().revision, { atUs: clock.nowUs + 250_000, playing: true, index: 1, frame: 0 });
});

test('order state survives a restart: the restored controller recognises its lap revision and keeps the order', () => {
  const { c, clock } = orderSetup([10, 20, 5, 7, 8]);
  c.setShuffle(true, 4242);
  c.play();
  c.setRepeat('one');
  const snap = JSON.parse(JSON.stringify(c.snapshot())) as ReturnType<TimelineController['snapshot']>;
  const { c: c2 } = orderSetup([1]);
  (c2 as unknown as { options: { timescale: { nowUs(): number } } }).options.timescale = { nowUs: () => clock.nowUs };
  c2.restore(snap);
  assert.deepEqual(c2.orderState(), c.orderState());
  assert.deepEqual(c2.timeline.revisions, c.timeline.revisions);
  c2.setRepeat('off'); // the restored lap is known as automatic: it goes
  assert.equal(c2.timeline.revisions.filter((r) => r.playing).length, 1);
  // A saved order that does not fit the tracks falls back to playlist order.
  c2.restore({ ...snap, order: { ...snap.order!, order: [0, 0, 1, 2, 3] } });
  assert.deepEqual(c2.orderState().order, [0, 1, 2, 3, 4]);
});

function pick(tl: Timeline, atUs: number): { index: number; frame: number } | 'ended' {
  const p = positionAt(tl, atUs);
  return p.ended ? 'ended' : { index: p.index, frame: p.frame };
}

test('new normalization gains take effect for every member at one future time, in the timeline', () => {
  let now = 1_000_000_000;
  const c = new TimelineController({ timescale: { nowUs: () => now }, outputRate: 48_000, minLeadMs: 250 });
  c.setTracks([{ id: 'a'.repeat(64), frames: 48_000, gainDb: -3 }, { id: 'b'.repeat(64), frames: 48_000, gainDb: 0 }]);
  assert.equal(c.timeline.tracks[0]!.gainDb, -3);
  assert.equal(c.timeline.tracks[1]!.gainDb, undefined, '0 dB is not sent');
  now += 5_000_000;
  const r = c.setTrackGains([2, -1.5]);
  assert.equal(r.atUs, now + 250_000);
  assert.equal(c.timeline.trackGainAtUs, r.atUs);
  assert.deepEqual(c.timeline.tracks.map((t) => t.gainDb), [2, -1.5]);
  assert.throws(() => c.setTrackGains([1]), RangeError);
});

test('a crossfade set while playing keeps the position of every future instant in the current track', () => {
  let now = 1_000_000_000;
  const c = new TimelineController({ timescale: { nowUs: () => now }, outputRate: 48_000, minLeadMs: 250 });
  c.setTracks([{ id: 'a'.repeat(64), frames: 48_000 * 10 }, { id: 'b'.repeat(64), frames: 48_000 * 60 }, { id: 'c'.repeat(64), frames: 48_000 * 60 }]);
  const play = c.play({});
  now = play.atUs + 15_000_000; // 5 s into b
  const before = [0, 1_000_000, 20_000_000].map((d) => positionAt(c.timeline, now + d));
  const r = c.setCrossfade(4000);
  assert.equal(r.crossfadeMs, 4000);
  assert.equal(c.timeline.crossfadeFrames, 4 * 48_000);
  const after = [0, 1_000_000, 20_000_000].map((d) => positionAt(c.timeline, now + d));
  assert.deepEqual(after, before.map((p, i) => ({ ...p, revision: (after[i] as { revision: number }).revision })));
  // b now ends 4 s earlier on the timeline: c starts at b's 56 s.
  const p = positionAt(c.timeline, now + 51_000_000);
  assert.deepEqual([p.ended, (p as { index: number }).index], [false, 2]);
  assert.throws(() => c.setCrossfade(12_001), /crossfadeMs/);
  assert.throws(() => c.setCrossfade(Number.NaN), /crossfadeMs/);
  assert.equal(c.setCrossfade(0).crossfadeMs, 0);
  assert.equal(c.timeline.crossfadeFrames, undefined, 'gapless sends no field');
});

test('normalization gains follow each track through a shuffle: given in m3u8 order, each id gets its own', () => {
  const { c } = orderSetup([10, 10, 10, 10, 10, 10]);
  c.setShuffle(true, 4242);
  const order = c.orderState().order;
  assert.notDeepEqual(order, [0, 1, 2, 3, 4, 5]);
  const gains = [-1, -2, -3, -4, -5, -6]; // m3u8 order: track i gets -(i + 1) dB
  c.setTrackGains(gains);
  for (const t of c.timeline.tracks) assert.equal(t.gainDb, -(Number(t.id) + 1), `track ${Number(t.id)}`);
  // And they stay with their tracks through another shuffle.
  c.setShuffle(true, 7);
  for (const t of c.timeline.tracks) assert.equal(t.gainDb, -(Number(t.id) + 1), `track ${Number(t.id)} after a reshuffle`);
});
