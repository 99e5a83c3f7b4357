// Crossfade end to end: a 440 Hz track and a 1 kHz track with a 7 s crossfade set over REST; on
// every member's capture the 440 Hz tone falls by cos and the 1 kHz tone rises by sin of the same
// quarter turn over the same 7 s of leader time, and the playlist ends 7 s earlier than gapless.
// 7 s is longer than a streamed track's 5 s head: the incoming track's last 2 s of the overlap come
// from its ring, read while the outgoing track's ring is read too. Set while playing (second test),
// the crossfade moves nothing that plays and applies from the next track change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Capture } from '@jaudiosync/member/capture-file';
import { sineTrack, toneCluster } from './tone-cluster.js';

const TRACK_S = 16;
const CROSSFADE_MS = 7000;
const AMPLITUDE = 0.3;
const TONES_HZ = [440, 1000];
/** 50 ms: a whole number of periods of both tones. */
const WINDOW_S = 0.05;
/** Amplitude error allowed (full scale 1): the curve's change within a window is below 0.005. */
const TOLERANCE = 0.01;

/** Amplitude of the `hz` component of the capture in the window centred on true time `ns`. */
function toneAmplitude(cap: Capture, ns: number, hz: number): number {
  const count = Math.round(WINDOW_S * cap.sampleRate);
  const from = Math.round(cap.frameAtTrueTime(ns)) - (count >> 1);
  const x = cap.monoSamples(from, count);
  let re = 0;
  let im = 0;
  for (let i = 0; i < count; i++) {
    const w = (2 * Math.PI * hz * i) / cap.sampleRate;
    re += x[i]! * Math.cos(w);
    im += x[i]! * Math.sin(w);
  }
  return (2 / count) * Math.hypot(re, im);
}

test('a 7 s crossfade: every member fades the tracks over the same leader time by the equal-power curve (captures)', { timeout: 180_000 }, async (t) => {
  const { fc, wd } = await toneCluster(t, {
    name: 'crossfade',
    tracks: TONES_HZ.map((hz) => ({ name: `tone${hz}`, pcm: sineTrack(hz, AMPLITUDE, TRACK_S) })),
    members: [{ id: 'member1', dacPpm: 50, clockOffsetUs: 800_000 }, { id: 'member2', dacPpm: -40, clockOffsetUs: -300_000 }],
  });
  const set = await fc.c.api<{ crossfadeMs: number }>('PUT', '/api/crossfade', { crossfadeMs: CROSSFADE_MS });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const play = await fc.c.api<{ atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  const endS = 2 * TRACK_S - CROSSFADE_MS / 1000;
  await fc.sleepPastLeaderUs(play.body.atUs, endS * 1000 + 1500);
  await fc.c.stop();

  const fadeStartS = TRACK_S - CROSSFADE_MS / 1000;
  const nsAt = (s: number): number => fc.monoNsOfLeaderUs(play.body.atUs + Math.round(s * 1e6));
  const points = [-0.2, 0.1, 0.25, 0.5, 0.75, 0.9, 0.97, 1.2];
  const measured: Record<string, Array<[number, number, number]>> = {};
  for (const id of ['member1', 'member2']) {
    const cap = fc.capture(id);
    measured[id] = points.map((u) => {
      const ns = nsAt(fadeStartS + u * (CROSSFADE_MS / 1000));
      return [u, toneAmplitude(cap, ns, TONES_HZ[0]!), toneAmplitude(cap, ns, TONES_HZ[1]!)];
    });
    // The playlist ends when the second track does: 25 s, not 32 s.
    const tail = toneAmplitude(cap, nsAt(endS - 0.2), TONES_HZ[1]!);
    const after = toneAmplitude(cap, nsAt(endS + 0.2), TONES_HZ[1]!);
    assert.ok(Math.abs(tail - AMPLITUDE) < TOLERANCE, `${id}: the second track still plays 0.2 s before ${endS} s (${tail.toFixed(3)})`);
    assert.ok(after < 0.002, `${id}: silence 0.2 s after ${endS} s (${after.toFixed(4)})`);
  }
  wd.report(t, { crossfadeMs: CROSSFADE_MS, measured });
  for (const [id, rows] of Object.entries(measured)) {
    for (const [u, outgoing, incoming] of rows) {
      const v = Math.min(1, Math.max(0, u));
      const wantOut = AMPLITUDE * Math.cos((Math.PI / 2) * v);
      const wantIn = AMPLITUDE * Math.sin((Math.PI / 2) * v);
      assert.ok(Math.abs(outgoing - wantOut) < TOLERANCE, `${id} at u=${u}: ${TONES_HZ[0]} Hz at ${outgoing.toFixed(4)}, want ${wantOut.toFixed(4)}`);
      assert.ok(Math.abs(incoming - wantIn) < TOLERANCE, `${id} at u=${u}: ${TONES_HZ[1]} Hz at ${incoming.toFixed(4)}, want ${wantIn.toFixed(4)}`);
      // Equal power: the two gains' squares add up to one throughout.
      assert.ok(Math.abs(outgoing ** 2 + incoming ** 2 - AMPLITUDE ** 2) < 2 * TOLERANCE * AMPLITUDE, `${id} at u=${u}: power ${(outgoing ** 2 + incoming ** 2).toFixed(4)}`);
    }
  }
  wd.passed();
});

test('a crossfade set while the second track plays moves nothing audible and fades into the third (captures)', { timeout: 180_000 }, async (t) => {
  const tones = [440, 1000, 660];
  const trackS = 6;
  const { fc, wd } = await toneCluster(t, {
    name: 'crossfade-live',
    tracks: tones.map((hz) => ({ name: `tone${hz}`, pcm: sineTrack(hz, AMPLITUDE, trackS) })),
    members: [{ id: 'member1', dacPpm: 30, clockOffsetUs: 400_000 }, { id: 'member2', dacPpm: -60, clockOffsetUs: -900_000 }],
  });
  const play = await fc.c.api<{ atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  // 1.5 s into the second track (gapless so far), a 2 s crossfade.
  await fc.sleepPastLeaderUs(play.body.atUs, (trackS + 1.5) * 1000);
  const anchor = fc.anchor();
  const setAtUs = anchor.anchorWallUs + (fc.nowMonoNs() - anchor.anchorMonoNs) / 1000;
  const set = await fc.c.api<{ crossfadeMs: number }>('PUT', '/api/crossfade', { crossfadeMs: 2000 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  // The second track now ends 2 s early: the third starts 10 s in, the playlist ends at 16 s.
  await fc.sleepPastLeaderUs(play.body.atUs, 16_000 + 1500);
  await fc.c.stop();

  const nsAt = (sec: number): number => fc.monoNsOfLeaderUs(play.body.atUs + Math.round(sec * 1e6));
  const changeS = (setAtUs - play.body.atUs) / 1e6;
  const report: Record<string, unknown> = { changeS };
  for (const id of ['member1', 'member2']) {
    const cap = fc.capture(id);
    // Around the change: the second track's tone stays at full level, every 50 ms (no jump, no fade).
    let worst = 0;
    const series: string[] = [];
    for (let sec = trackS + 0.5; sec < trackS + 3.8; sec += 0.05) {
      const v = toneAmplitude(cap, nsAt(sec), tones[1]!);
      if (Math.abs(v - AMPLITUDE) > worst) worst = Math.abs(v - AMPLITUDE);
      if (Math.abs(v - AMPLITUDE) > TOLERANCE) series.push(`${sec.toFixed(2)}:${v.toFixed(3)}/${toneAmplitude(cap, nsAt(sec), tones[0]!).toFixed(3)}/${toneAmplitude(cap, nsAt(sec), tones[2]!).toFixed(3)}`);
    }
    if (series.length > 0) t.diagnostic(`${id} off-level: ${series.join(' ')}`);
    // The new overlap: 10..12 s, the middle at 11 s.
    const mid = [toneAmplitude(cap, nsAt(11), tones[1]!), toneAmplitude(cap, nsAt(11), tones[2]!)];
    const before = toneAmplitude(cap, nsAt(9.7), tones[2]!);
    const after = toneAmplitude(cap, nsAt(12.3), tones[1]!);
    const end = [toneAmplitude(cap, nsAt(15.8), tones[2]!), toneAmplitude(cap, nsAt(16.2), tones[2]!)];
    report[id] = { worstDeviationAroundChange: worst, mid, thirdBefore: before, secondAfter: after, end };
    assert.ok(worst < TOLERANCE, `${id}: the playing track's level moved by ${worst.toFixed(4)} around the change`);
    for (const v of mid) assert.ok(Math.abs(v - AMPLITUDE * Math.SQRT1_2) < TOLERANCE, `${id}: at the overlap's middle each tone at -3 dB (${mid.map((x) => x.toFixed(4)).join(', ')})`);
    assert.ok(before < 0.005 && after < 0.005, `${id}: nothing of the third track before 10 s (${before.toFixed(4)}), of the second after 12 s (${after.toFixed(4)})`);
    assert.ok(Math.abs(end[0]! - AMPLITUDE) < TOLERANCE && end[1]! < 0.002, `${id}: the playlist ends at 16 s (${end.map((x) => x.toFixed(4)).join(', ')})`);
  }
  wd.report(t, report);
  wd.passed();
});
