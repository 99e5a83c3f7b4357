// The calibration's analysis on synthetic recordings: probes delayed by known fractional amounts,
// a recorder clock off by 700 ppm, white noise at -20 dB SNR, a member that is never heard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanSquare, withRoomNoise } from '@jaudiosync/test-support';
import type { CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import { analyseCalibration } from '../../src/calibration/calibration-analysis.js';
import { planCalibration, probeTrackPcm, SEARCH_AFTER_MS, SEARCH_BEFORE_MS } from '../../src/calibration/calibration-plan.js';
import { DEFAULT_PROBE, probeSamples, probeFrames } from '../../src/calibration/probe-signal.js';
import { ProbeDetector } from '../../src/calibration/probe-detector.js';

const RATE = 48_000;
const PROBE = { ...DEFAULT_PROBE, rate: RATE };
const START_US = 5_000_000_000;

function schedule(memberIds: string[], rounds: number, outputDelayMs: number[] = memberIds.map(() => 0)): CalibrationReply {
  const plan = planCalibration(memberIds, rounds, PROBE);
  return {
    runId: 'test',
    probe: PROBE,
    probes: plan.probes.map((p) => ({ memberId: p.memberId, atUs: START_US + (p.frame * 1e6) / RATE })),
    members: memberIds.map((memberId, i) => ({ memberId, outputDelayMs: outputDelayMs[i] ?? 0, volume: 1 })),
    startUs: START_US,
    endUs: START_US + (plan.trackFrames * 1e6) / RATE,
    searchBeforeMs: SEARCH_BEFORE_MS,
    searchAfterMs: SEARCH_AFTER_MS,
  };
}

/**
 * A recording starting at leader time `recStartUs`, its clock `ppm` fast, in which each member's
 * probes arrive `delaysMs` late (NaN: silent) at `gain`. The probe is placed by band-limited
 * (windowed-sinc) interpolation, so fractional delays are real.
 */
function record(s: CalibrationReply, delaysMs: Record<string, number | number[]>, recStartUs: number, ppm: number, gain = 1): Float32Array {
  const probe = probeSamples(PROBE);
  const lenS = (s.endUs - recStartUs) / 1e6 + 1.5;
  const out = new Float32Array(Math.ceil(lenS * RATE));
  const seen = new Map<string, number>();
  for (const p of s.probes) {
    const k = seen.get(p.memberId) ?? 0;
    seen.set(p.memberId, k + 1);
    const given = delaysMs[p.memberId] ?? Number.NaN;
    const d = Array.isArray(given) ? given[k] ?? Number.NaN : given;
    if (Number.isNaN(d)) continue;
    const at = ((p.atUs - recStartUs) / 1e6 + d / 1000) * (1 + ppm / 1e6) * RATE;
    const base = Math.floor(at);
    const frac = at - base;
    for (let k = -16; k < probe.length + 16; k++) {
      // out[base + k] = probe(k - frac): sinc interpolation over 33 taps with a Hann window.
      let v = 0;
      for (let j = -16; j <= 16; j++) {
        const idx = k + j;
        if (idx < 0 || idx >= probe.length) continue;
        const x = j + frac;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const w = 0.5 + 0.5 * Math.cos((Math.PI * x) / 17);
        v += probe[idx]! * sinc * w;
      }
      const i = base + k;
      if (i >= 0 && i < out.length) out[i] = out[i]! + gain * v;
    }
  }
  return out;
}

test('the probe track holds each probe at its planned frame, both channels', () => {
  const plan = planCalibration(['a', 'b'], 2, PROBE);
  assert.equal(plan.probes.length, 4);
  const pcm = probeTrackPcm(plan);
  const probe = probeSamples(PROBE);
  const p = plan.probes[3]!;
  const k = 12_345;
  assert.equal(pcm[(p.frame + k) * 2], Math.round(probe[k]! * 32767));
  assert.equal(pcm[(p.frame + k) * 2 + 1], pcm[(p.frame + k) * 2]);
  assert.equal(pcm[(p.frame - 1) * 2], 0);
  // Members take turns (a, b, a, b); each window holds exactly one whole probe, its member's, and
  // overlaps no other.
  assert.deepEqual(plan.probes.map((q) => q.memberId), ['a', 'b', 'a', 'b']);
  assert.equal(plan.windows.length, plan.probes.length);
  for (const w of plan.windows) {
    const inside = plan.probes.filter((q) => {
      const startUs = (q.frame * 1e6) / RATE;
      const whole = startUs >= w.unmuteUs && startUs + PROBE.durationMs * 1000 <= w.muteUs;
      const disjoint = startUs + PROBE.durationMs * 1000 <= w.unmuteUs || startUs >= w.muteUs;
      assert.ok(whole || disjoint, `a probe of ${q.memberId} partly in a window of ${w.memberId}`);
      return whole;
    });
    assert.deepEqual(inside.map((q) => q.memberId), [w.memberId]);
  }
});

test('finds fractional delays within 20 µs at -20 dB SNR with a 700 ppm recorder clock', () => {
  const ids = ['m0', 'm37', 'm180'];
  const s = schedule(ids, 2, [0, 5, 0]);
  const delays = { m0: 12.3456, m37: 12.3456 + 37.0417, m180: 12.3456 + 180.2083 };
  const recStartUs = START_US - 700_000;
  const clean = record(s, delays, recStartUs, 700);
  const probePower = meanSquare(probeSamples(PROBE));
  const noisy = withRoomNoise(clean, probePower, -20, 42);
  // The recorder believes it started 15 ms later than it did: absolute figures move, relative ones do not.
  const r = analyseCalibration(s, { samples: noisy, rate: RATE, firstSampleLeaderUs: recStartUs + 15_000 });
  const by = Object.fromEntries(r.members.map((m) => [m.memberId, m]));
  for (const id of ids) {
    const m = by[id]!;
    assert.equal(m.heard, 2, `${id} heard`);
    assert.ok(m.confidenceDb! > 25, `${id} confidence ${m.confidenceDb}`);
    assert.equal(m.problem, undefined);
  }
  assert.ok(Math.abs(by['m37']!.relativeMs! - 37.0417) < 0.02, `m37 ${by['m37']!.relativeMs}`);
  assert.ok(Math.abs(by['m180']!.relativeMs! - 180.2083) < 0.02, `m180 ${by['m180']!.relativeMs}`);
  assert.equal(by['m0']!.relativeMs, 0);
  assert.ok(Math.abs(by['m0']!.delayMs! - (12.3456 + 15)) < 0.05, `absolute ${by['m0']!.delayMs}`);
  assert.ok(Math.abs(r.recorderRatePpm - 700) < 20, `rate ${r.recorderRatePpm}`);
  // Proposals add the relative delay to what each member had: later members play earlier.
  assert.ok(Math.abs(by['m37']!.proposedOutputDelayMs! - (5 + 37.0417)) < 0.02);
  assert.ok(Math.abs(by['m37']!.acousticMs! - (12.3456 + 37.0417 + 15 + 5)) < 0.05);
  assert.ok(Math.abs(by['m180']!.proposedOutputDelayMs! - 180.2083) < 0.02);
});

test('a member never heard gets no delay and no proposal; the others are still measured', () => {
  const s = schedule(['a', 'mute', 'b'], 2);
  const clean = record(s, { a: 3, mute: Number.NaN, b: 40 }, START_US - 300_000, 0, 0.3);
  const noisy = withRoomNoise(clean, meanSquare(probeSamples(PROBE)) * 0.09, -20, 7);
  const r = analyseCalibration(s, { samples: noisy, rate: RATE, firstSampleLeaderUs: START_US - 300_000 });
  const mute = r.members.find((m) => m.memberId === 'mute')!;
  assert.equal(mute.heard, 0);
  assert.equal(mute.delayMs, undefined);
  assert.equal(mute.proposedOutputDelayMs, undefined);
  assert.match(mute.problem ?? '', /none of its 2 probes heard/);
  const b = r.members.find((m) => m.memberId === 'b')!;
  assert.ok(Math.abs(b.relativeMs! - 37) < 0.05, `b ${b.relativeMs}`);
  assert.ok(r.probes.filter((p) => p.memberId === 'mute').every((p) => !p.heard && p.peakToNoiseDb < 18));
});

test('noise alone is not taken for a probe', () => {
  const det = new ProbeDetector(probeSamples(PROBE), RATE);
  const noise = withRoomNoise(new Float32Array(3 * RATE), 0.1, 0, 3);
  for (let k = 0; k < 3; k++) {
    const m = det.find(noise, k * 1000, k * 1000 + RATE)!;
    assert.equal(m.heard, false, `window ${k}: ${m.peakToNoiseDb} dB`);
  }
  assert.equal(det.find(noise, 2 * RATE, 3 * RATE), null, 'a window past the end is not searched');
  assert.equal(probeFrames(PROBE), RATE);
});

test('a member whose probes disagree gets no proposal and does not bend the others', () => {
  const s = schedule(['a', 'moved', 'b'], 2);
  // "moved" played its second probe 5 ms later than its first (a playback jump during its turn).
  const clean = record(s, { a: 10, moved: [20, 25], b: 60 }, START_US - 300_000, 300);
  const r = analyseCalibration(s, { samples: clean, rate: RATE, firstSampleLeaderUs: START_US - 300_000 });
  const moved = r.members.find((m) => m.memberId === 'moved')!;
  assert.equal(moved.inconsistent, true);
  assert.equal(moved.proposedOutputDelayMs, undefined);
  assert.match(moved.problem ?? '', /disagree by up to 2\.5/);
  const b = r.members.find((m) => m.memberId === 'b')!;
  assert.ok(Math.abs(b.relativeMs! - 50) < 0.02, `b ${b.relativeMs}`);
  assert.ok(Math.abs(r.recorderRatePpm - 300) < 10, `rate ${r.recorderRatePpm}`);
});

test('with three probes, one moved by a playback jump is left out and reported', () => {
  const s = schedule(['a', 'b'], 3);
  const clean = record(s, { a: 10, b: [30, 30, 42] }, START_US - 300_000, -200);
  const r = analyseCalibration(s, { samples: withRoomNoise(clean, meanSquare(probeSamples(PROBE)), -20, 5), rate: RATE, firstSampleLeaderUs: START_US - 300_000 });
  const b = r.members.find((m) => m.memberId === 'b')!;
  assert.equal(b.inconsistent, undefined);
  assert.match(b.problem ?? '', /1 of 3 probes left out: 1[12]\.\d+ ms off/);
  assert.ok(Math.abs(b.relativeMs! - 20) < 0.05, `b ${b.relativeMs}`);
  assert.equal(r.probes.filter((p) => p.outlier === true).length, 1);
});
