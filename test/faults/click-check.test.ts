// The fault tests' own yardstick, tested offline: click tracks rendered into a synthetic capture
// (with a known offset, a DAC rate error and a silent slot) are found, attributed to the right
// track and measured to a few µs; missing, extra and starved clicks are told apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capture } from '@jaudiosync/member/capture-file';
import { CLICK_RATE, clickTrackWav } from './helpers/click-playlist.js';
import { checkClicks, detectClicks, expectedClicks, findHoles, firstSoundNs, pairwiseUs, type TimelineMap } from './helpers/click-check.js';

const identity: TimelineMap = { monoNsOfLeaderUs: (us) => us * 1000 };

/** PCM (stereo int16) of the WAV bytes written by clickTrackWav. */
function pcmOf(wav: Buffer): Int16Array {
  const data = wav.subarray(44);
  return new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
}

function captureOf(tracks: Int16Array[], leadFrames: number, ratePpm: number, t0Ns: number): Capture {
  const total = leadFrames + tracks.reduce((a, t) => a + t.length / 2, 0);
  const pcm = new Int16Array(total * 2);
  let at = leadFrames * 2;
  for (const t of tracks) {
    pcm.set(t, at);
    at += t.length;
  }
  const nsPerFrame = 1e9 / (CLICK_RATE * (1 + ratePpm / 1e6));
  return Capture.fromSamples({ sampleRate: CLICK_RATE, channels: 2, ratePpm, t0DacNs: BigInt(t0Ns), nsPerFrame, latencyNs: 0n, framesPerBuffer: 256 }, 0, pcm);
}

test('clicks are found on the true time axis, attributed to their track, measured within a few µs', () => {
  const a = pcmOf(clickTrackWav(0, 3));
  const b = pcmOf(clickTrackWav(1, 3));
  const silent = new Int16Array(a.length);
  const c = pcmOf(clickTrackWav(2, 3));
  const shiftNs = 300_000; // the capture plays 0.3 ms late
  const ratePpm = 120;
  const cap = captureOf([a, b, silent, c], 4800, ratePpm, 1e12 + shiftNs);
  // Timeline: entry 0 starts where the capture's frame 4800 would be without the shift; the DAC
  // runs 120 ppm fast, so fold its rate into the map (as a synced member would follow it).
  const atUs = (1e12 + (4800 * 1e9) / (CLICK_RATE * (1 + ratePpm / 1e6))) / 1000;
  const map: TimelineMap = { monoNsOfLeaderUs: (us) => atUs * 1000 + ((us - atUs) * 1000) / (1 + ratePpm / 1e6) };
  const entries = [{ frames: 3 * CLICK_RATE, tone: 0 }, { frames: 3 * CLICK_RATE, tone: 1 }, { frames: 3 * CLICK_RATE, tone: -1 }, { frames: 3 * CLICK_RATE, tone: 2 }];
  const expected = expectedClicks(map, atUs, entries);
  const det = detectClicks(cap);
  assert.equal(det.length, 36, 'three tracks of 12 clicks; the silent slot has none');
  const r = checkClicks(det, expected, 0, Infinity);
  assert.equal(r.expected, 36);
  assert.equal(r.matched, 36);
  assert.equal(r.missing.length, 0);
  assert.equal(r.extra.length, 0);
  assert.equal(r.wrongTrack, 0);
  // Every click 300 µs late, measured to within 25 µs (the threshold crossing of a click that
  // starts at its peak is interpolated ~0.8 frame early: a constant bias shared by all members).
  for (const e of r.errorsUs) assert.ok(Math.abs(e - shiftNs / 1000) < 25, `error ${e} µs, expected ${shiftNs / 1000}`);
  assert.ok(Math.abs(firstSoundNs(cap, 0)! - (1e12 + shiftNs + 4800 * 1e9 / (CLICK_RATE * (1 + ratePpm / 1e6)))) < 25e3, 'first sound is the bed at the start');

  // The same timeline judged against a capture 2 ms late: every click off by 2 ms.
  const late = captureOf([a, b, silent, c], 4800, ratePpm, 1e12 + shiftNs + 2e6);
  const rl = checkClicks(detectClicks(late), expected, 0, Infinity);
  for (const e of rl.errorsUs) assert.ok(Math.abs(e - 2300) < 25, `error ${e} µs`);
  assert.ok(pairwiseUs(r, rl).every((d) => Math.abs(d - 2000) < 25));
  // ... but an underrun reported just before excuses it as starved (not as a fault).
  const rs = checkClicks(detectClicks(late), expected, 0, Infinity, [[1e12, 1e12 + 2.5e6]]);
  assert.equal(rs.starved, 36);
  assert.equal(rs.errorsUs.length, 0);
  // ... but not when the error is larger than the hole could explain.
  const rn = checkClicks(detectClicks(late), expected, 0, Infinity, [[1e12 - 10e9, 1e12 - 10e9 + 0.5e6]]);
  assert.equal(rn.starved, 0);
  assert.equal(rn.errorsUs.length, 36);
});

test('a click in a silent slot is extra, a missing click is missing, a wrong track is flagged', () => {
  const a = pcmOf(clickTrackWav(0, 2));
  const b = pcmOf(clickTrackWav(1, 2));
  const cap = captureOf([a, b], 0, 0, 0);
  const entries = [{ frames: 2 * CLICK_RATE, tone: 0 }, { frames: 2 * CLICK_RATE, tone: -1 }];
  const r = checkClicks(detectClicks(cap), expectedClicks(identity, 0, entries), 0, Infinity);
  assert.equal(r.matched, 8);
  assert.equal(r.extra.length, 8, 'track 2 played where the slot should be silent');
  const swapped = [{ frames: 2 * CLICK_RATE, tone: 1 }, { frames: 2 * CLICK_RATE, tone: 0 }];
  const w = checkClicks(detectClicks(cap), expectedClicks(identity, 0, swapped), 0, Infinity);
  assert.equal(w.wrongTrack, 16);
  const only = captureOf([a], 0, 0, 0);
  const m = checkClicks(detectClicks(only), expectedClicks(identity, 0, [{ frames: 2 * CLICK_RATE, tone: 0 }, { frames: 2 * CLICK_RATE, tone: 1 }]), 0, Infinity);
  assert.equal(m.missing.length, 8);
});

test('underrun holes are found in the tone bed; silent slots and the silence before playing are not holes', () => {
  const a = pcmOf(clickTrackWav(0, 2));
  a.fill(0, 2 * 30_000, 2 * 30_000 + 2 * 480); // a 10 ms hole, 0.625 s into the track
  const silent = new Int16Array(2 * 4 * CLICK_RATE); // a silent slot: 4 s
  const cap = captureOf([new Int16Array(2 * 4800), a, silent, pcmOf(clickTrackWav(1, 1))], 0, 0, 0);
  const holes = findHoles(cap);
  assert.equal(holes.length, 1, JSON.stringify(holes));
  const [start, end] = holes[0]!;
  assert.ok(Math.abs(start - ((4800 + 30_000) / CLICK_RATE) * 1e9) < 1e5 && Math.abs(end - start - 10e6) < 1e5, JSON.stringify(holes));
});
