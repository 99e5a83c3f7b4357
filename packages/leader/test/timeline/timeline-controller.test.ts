// Timeline controller with a fake timescale and fake member RTTs: each command yields the right
// revision at the right lead time; start-time parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JasError } from '@jaudiosync/protocol/errors';
import { positionAt } from '@jaudiosync/protocol/timeline';
import { TimelineController } from '../../src/timeline/timeline-controller.js';
import { parseStartTime } from '../../src/timeline/start-time.js';

const RATE = 48000;
const START_US = 1_750_000_000_000_000;

function setup(rttsUs: number[] = []) {
  const clock = { nowUs: START_US };
  const rtts = { values: rttsUs };
  const c = new TimelineController({
    timescale: { nowUs: () => clock.nowUs }, outputRate: RATE, wallNowMs: () => clock.nowUs / 1000,
    minLeadMs: 250, memberRttP90Us: () => rtts.values,
  });
  c.setTracks([{ id: 'a'.repeat(64), frames: 10 * RATE }, { id: 'b'.repeat(64), frames: 20 * RATE }, { id: 'c'.repeat(64), frames: 5 * RATE }]);
  const sent: number[] = [];
  c.on('timeline', (tl) => sent.push(tl.rev));
  return { c, clock, rtts, sent };
}

const code = (c: string) => (err: unknown) => err instanceof JasError && err.code === c;

test('lead time: minimum, or 2 x RTT p90 + margin of the slowest connected member', () => {
  const { c, rtts } = setup();
  assert.equal(c.leadTimeUs(), 250_000);
  rtts.values = [10_000, 40_000];
  assert.equal(c.leadTimeUs(), 250_000);
  rtts.values = [10_000, 200_000];
  assert.equal(c.leadTimeUs(), 2 * 200_000 + 50_000);
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
  const { c, clock } = setup([100_000]);
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
