// Unit tests of the real-path analysis on synthetic recordings: click location, shape and gain,
// silent gaps, and the recording time map (fitted rate, lower envelope of late arrivals).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLICK_FRAMES, CLICK_RATE_HZ, makeClickTrack } from './click-track.js';
import { locateClicks, silentGaps } from './click-locator.js';
import { RecordingTimeMap, type Arrival, type MonitorRecording } from '../helpers/pulse.js';

const SHIFT = 12_345;
const GAIN = 0.9;

function fakeRecording(track: ReturnType<typeof makeClickTrack>, muteFrom: number, muteTo: number): Int16Array {
  const out = new Int16Array((track.frames + 2 * SHIFT) * 2);
  for (let f = 0; f < track.frames; f++) {
    if (f >= muteFrom && f < muteTo) continue;
    out[(f + SHIFT) * 2] = Math.round(track.pcm[f * 2]! * GAIN);
    out[(f + SHIFT) * 2 + 1] = Math.round(track.pcm[f * 2 + 1]! * GAIN);
  }
  return out;
}

test('locateClicks finds every click at its shift, with shape and gain; a muted stretch is a gap', () => {
  const track = makeClickTrack(4000);
  const n = track.clickFrames.length;
  assert.ok(n >= 10);
  const muted = track.clickFrames[4]!;
  const rec = fakeRecording(track, muted - 2400, muted + 2400);
  const r = locateClicks({ samples: rec, channels: 2 }, { samples: track.pcm, channels: 2 }, track.clickFrames, CLICK_FRAMES);
  assert.equal(r.shiftFrames !== null && Math.abs(r.shiftFrames - SHIFT) <= 2, true, `shift ${String(r.shiftFrames)}`);
  assert.equal(r.patternMatched, n - 1);
  assert.equal(r.recordedOnsets, n - 1);
  for (const m of r.matches) {
    if (m.srcFrame === muted) {
      assert.ok(m.correlation < 0.5, 'the muted click does not match');
      continue;
    }
    assert.ok(Math.abs(m.recFrame - (m.srcFrame + SHIFT)) < 0.05, `click ${m.srcFrame} at ${m.recFrame}`);
    assert.ok(m.correlation > 0.999);
    assert.ok(Math.abs(m.gainLeft - GAIN) < 0.01 && Math.abs(m.gainRight - GAIN) < 0.01);
  }
  const gaps = silentGaps({ samples: rec, channels: 2 }, SHIFT + 960, SHIFT + track.frames - 960);
  assert.equal(gaps.length, 1);
  assert.ok(Math.abs(gaps[0]!.fromFrame - (SHIFT + muted - 2400)) <= 48 && Math.abs(gaps[0]!.toFrame - (SHIFT + muted + 2400)) <= 48);
  const clean = fakeRecording(track, 0, 0);
  assert.deepEqual(silentGaps({ samples: clean, channels: 2 }, SHIFT + 960, SHIFT + track.frames - 960), []);
});

test('RecordingTimeMap recovers frame times from late arrivals and fits the sink rate', () => {
  const rateHz = 48_002.4; // a null sink's real rate here
  const t0Ns = 5e12;
  const arrivals: Arrival[] = [];
  let seed = 7;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let end = 480; end <= rateHz * 12; end += 480) {
    // Late by 0-3 ms, with a few quick ones (the envelope).
    const lateNs = rnd() < 0.1 ? rnd() * 20_000 : rnd() * 3e6;
    arrivals.push({ monoNs: t0Ns + (end / rateHz) * 1e9 + lateNs, endFrame: end });
  }
  const rec: MonitorRecording = { samples: new Int16Array(0), frames: arrivals.at(-1)!.endFrame, channels: 2, rate: 48000, startMonoNs: t0Ns, arrivals };
  const map = new RecordingTimeMap(rec);
  assert.ok(Math.abs((map.rateHz / rateHz - 1) * 1e6) < 5, `rate ${map.rateHz}`);
  for (const f of [24_000, 200_000, 500_000]) {
    const ns = map.hostNsOf(f)!;
    assert.ok(Math.abs(ns - (t0Ns + (f / rateHz) * 1e9)) < 100_000, `frame ${f}: ${(ns - t0Ns - (f / rateHz) * 1e9) / 1000} µs`);
  }
  assert.equal(map.hostNsOf(rec.frames + CLICK_RATE_HZ * 10), null);
});
