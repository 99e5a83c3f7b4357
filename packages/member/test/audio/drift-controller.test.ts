import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriftController, DRIFT_MAX_CORRECTION_PPM } from '../../src/audio/drift-controller.js';

const RATE = 48_000;
const DT = 128 / RATE;

/** Closed loop: the played position advances by (1 + corr + plantPpm) per frame vs the target. */
function simulate(initialErrFrames: number, plantPpm: number, seconds: number, noiseFrames = 0) {
  const c = new DriftController({ outputRate: RATE });
  let err = initialErrFrames;
  let maxAbsPpm = 0;
  let maxStepPpm = 0;
  let prev = 0;
  const errs: number[] = [];
  let seed = 1;
  for (let t = 0; t < seconds; t += DT) {
    seed = (seed * 16807) % 2147483647;
    const measured = err + (seed / 2147483647 - 0.5) * 2 * noiseFrames;
    const ppm = c.update(measured, DT);
    maxAbsPpm = Math.max(maxAbsPpm, Math.abs(ppm));
    maxStepPpm = Math.max(maxStepPpm, Math.abs(ppm - prev));
    prev = ppm;
    err += (ppm + plantPpm) * 1e-6 * 128;
    errs.push(err);
  }
  return { err, maxAbsPpm, maxStepPpm, errs };
}

test('converges from an initial offset without exceeding the bound or overshooting much', () => {
  const r = simulate(48, 0, 20); // 1 ms ahead
  assert.ok(Math.abs(r.err) < 0.1, `final ${r.err} frames`);
  assert.ok(r.maxAbsPpm <= DRIFT_MAX_CORRECTION_PPM + 1e-9);
  assert.ok(Math.min(...r.errs) > -48 * 0.05, `overshoot ${Math.min(...r.errs)}`);
  // Slew-limited: no step larger than 1000 ppm/s * dt.
  assert.ok(r.maxStepPpm <= 1000 * DT + 1e-9);
});

test('holds a constant rate error (bias) to ~0 through the integrator', () => {
  const r = simulate(0, 300, 60); // the feed-forward misses 300 ppm
  // Proportional alone would sit at 300 / 20.8 = 14.4 frames; the integrator pulls it to ~0.
  assert.ok(Math.abs(r.err) < 0.5, `final ${r.err} frames`);
  assert.ok(Math.abs(r.err) < Math.abs(r.errs[Math.floor(r.errs.length / 2)]!) / 2);
  assert.ok(r.maxAbsPpm <= DRIFT_MAX_CORRECTION_PPM);
});

test('a bias beyond the bound cannot be held: it saturates instead of going unbounded', () => {
  const r = simulate(0, 800, 5);
  assert.equal(r.maxAbsPpm, DRIFT_MAX_CORRECTION_PPM);
  assert.ok(r.err > 0);
});

test('measurement noise is smoothed: the correction stays small', () => {
  const r = simulate(0, 0, 20, 1); // +-1 frame (21 µs) of noise per step
  const last = r.errs.slice(-2000);
  const rms = Math.sqrt(last.reduce((a, b) => a + b * b, 0) / last.length);
  assert.ok(rms < 0.3, `rms ${rms} frames`);
  assert.ok(r.maxAbsPpm < 60, `max ${r.maxAbsPpm} ppm`);
});

test('ignores non-finite errors and non-positive dt; reset clears state', () => {
  const c = new DriftController({ outputRate: RATE });
  c.update(10, DT);
  const v = c.correctionPpm;
  assert.equal(c.update(Number.NaN, DT), v);
  assert.equal(c.update(5, 0), v);
  c.reset();
  assert.equal(c.correctionPpm, 0);
  assert.throws(() => new DriftController({ outputRate: 0 }), RangeError);
});
