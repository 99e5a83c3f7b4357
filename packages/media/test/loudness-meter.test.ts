// LoudnessMeter against the EBU's reference levels (EBU Tech 3341 test signals, synthesized here):
// stereo sines read at their level, the gates drop quiet passages, the true peak sees between samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoudnessMeter } from '../src/loudness-meter.js';

/** Stereo sine sections [dBFS, seconds] at `rate`, pushed in decoder-sized chunks. */
function measure(rate: number, sections: Array<[number, number]>, freq = 1000, phase = 0): ReturnType<LoudnessMeter['result']> {
  const meter = new LoudnessMeter(rate);
  const chunk = 4096;
  const l = new Float32Array(chunk);
  const r = new Float32Array(chunk);
  let n = 0;
  for (const [db, seconds] of sections) {
    const amp = db === -Infinity ? 0 : 10 ** (db / 20);
    let left = Math.round(seconds * rate);
    while (left > 0) {
      const m = Math.min(chunk, left);
      for (let i = 0; i < m; i++, n++) l[i] = r[i] = amp * Math.sin((2 * Math.PI * freq * n) / rate + phase);
      meter.push(l.subarray(0, m), r.subarray(0, m));
      left -= m;
    }
  }
  return meter.result();
}

test('Tech 3341 cases 1-2: a 1 kHz stereo sine at -23 / -33 dBFS reads -23 / -33 LUFS (48 and 44.1 kHz)', () => {
  for (const rate of [48_000, 44_100]) {
    for (const db of [-23, -33, -20]) {
      const r = measure(rate, [[db, 20]]);
      assert.ok(r.integratedLufs !== null && Math.abs(r.integratedLufs - db) <= 0.1, `${rate} Hz, ${db} dBFS: ${String(r.integratedLufs)} LUFS`);
    }
  }
});

test('Tech 3341 case 3: -36 / -23 / -36 dBFS for 10 / 60 / 10 s reads -23 LUFS (relative gate)', () => {
  const r = measure(48_000, [[-36, 10], [-23, 60], [-36, 10]]);
  assert.ok(r.integratedLufs !== null && Math.abs(r.integratedLufs + 23) <= 0.1, `${String(r.integratedLufs)}`);
  // Without gating the mean would be lower: the quiet parts count for nothing.
});

test('Tech 3341 case 4: -72 / -36 / -23 / -36 / -72 dBFS reads -23 LUFS (absolute gate)', () => {
  const r = measure(48_000, [[-72, 10], [-36, 10], [-23, 60], [-36, 10], [-72, 10]]);
  assert.ok(r.integratedLufs !== null && Math.abs(r.integratedLufs + 23) <= 0.1, `${String(r.integratedLufs)}`);
});

test('K-weighting: a 10 kHz sine reads louder than a 1 kHz one at the same level, a 25 Hz one much quieter', () => {
  const k1 = measure(48_000, [[-23, 5]], 1000).integratedLufs!;
  const k10 = measure(48_000, [[-23, 5]], 10_000).integratedLufs!;
  const k25 = measure(48_000, [[-23, 5]], 25).integratedLufs!;
  assert.ok(k10 - k1 > 3 && k10 - k1 < 5, `10 kHz is ${k10 - k1} LU above 1 kHz`);
  assert.ok(k1 - k25 > 5, `25 Hz is ${k1 - k25} LU below 1 kHz`);
});

test('silence and near-silence have no integrated loudness; -Infinity true peak for digital silence', () => {
  const silent = measure(48_000, [[-Infinity, 3]]);
  assert.equal(silent.integratedLufs, null);
  assert.equal(silent.truePeakDbtp, -Infinity);
  assert.equal(measure(48_000, [[-80, 3]]).integratedLufs, null);
});

test('true peak: a sine at fs/4 sampled 45 degrees off its crests reads its real peak, 3 dB above the samples', () => {
  // Samples hit 0.707 of the amplitude only: the sample peak is -9.03 dBFS, the true peak -6.02 dBTP.
  const r = measure(48_000, [[-6.02, 2]], 12_000, Math.PI / 4);
  assert.ok(r.truePeakDbtp > -6.02 - 0.4 && r.truePeakDbtp < -6.02 + 0.2, `${r.truePeakDbtp} dBTP`);
  // A 997 Hz sine: the true peak is its amplitude.
  const s = measure(44_100, [[-1, 2]], 997);
  assert.ok(Math.abs(s.truePeakDbtp + 1) < 0.2, `${s.truePeakDbtp} dBTP`);
});

test('rejects an impossible sample rate', () => {
  assert.throws(() => new LoudnessMeter(0), RangeError);
});

test('true peak: an inter-sample peak after a passage whose samples were as high is still found', () => {
  // 1 s of 1 kHz at -6.02 dBFS (true peak = sample peak = 0.5), then fs/4 at 45 degrees with
  // samples at 0.5 too but crests at 0.707 (-3 dBTP): the meter must not skip the second passage.
  const rate = 48_000;
  const meter = new LoudnessMeter(rate);
  const a = new Float32Array(rate);
  for (let i = 0; i < rate; i++) a[i] = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / rate);
  meter.push(a, a);
  const b = new Float32Array(rate);
  for (let i = 0; i < rate; i++) b[i] = Math.SQRT1_2 * Math.sin((2 * Math.PI * 12_000 * i) / rate + Math.PI / 4);
  meter.push(b, b);
  const r = meter.result();
  assert.ok(r.truePeakDbtp > -3.01 - 0.4 && r.truePeakDbtp < -3.01 + 0.2, `${r.truePeakDbtp} dBTP`);
});
