import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIDPOINT_MAX_CLASSES, MIDPOINT_MIN_PER_CLASS, MidpointScratch, midpointWeights } from '../../src/clock/midpoint-fit.js';
import { weightedLine } from '../../src/clock/weighted-line.js';
import { gaussian, rng } from './delay-sim.js';

/** n samples 100 ms apart on the line y = a + b x, with offset noise of sd sdOf(delay). */
function samples(n: number, a: number, b: number, delayOf: (i: number) => number, sdOf: (d: number) => number, seed: number) {
  const g = gaussian(rng(seed));
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const d = new Float64Array(n);
  const keep = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    x[i] = (i - (n - 1)) * 1e5;
    d[i] = delayOf(i);
    y[i] = a + b * (x[i] as number) + sdOf(d[i] as number) * g();
  }
  return { x, y, d, keep };
}

test('midpoint weights: the same for every delay class when the scatter does not depend on the delay', () => {
  const n = 1200;
  const s = samples(n, 50, 20e-6, (i) => 400 + ((i * 7919) % 101), () => 35, 3);
  const sc = new MidpointScratch();
  const used = midpointWeights(s.x, s.y, s.d, s.keep, n, 50, 20e-6, sc);
  assert.ok(used > 0.99 * n, `used ${used}`);
  const ws = Array.from(sc.weight.subarray(0, n)).filter((w) => w > 0);
  const lo = Math.min(...ws);
  const hi = Math.max(...ws);
  // Each class's MAD of 150 samples is within ~15 % of the truth: weights within a factor 1.8.
  assert.ok(hi / lo < 1.8, `weights ${lo}..${hi}`);
  assert.ok(Math.abs(1 / Math.sqrt(lo) - 35) < 10 && Math.abs(1 / Math.sqrt(hi) - 35) < 10, `scales ${1 / Math.sqrt(hi)}..${1 / Math.sqrt(lo)} µs`);
});

test('midpoint weights: low-delay classes dominate when the scatter grows with the delay (WiFi)', () => {
  const n = 1200;
  const s = samples(n, 0, 0, (i) => 1000 + ((i * 7919) % 997) * 10, (d) => (d - 900) / 2, 4);
  const sc = new MidpointScratch();
  midpointWeights(s.x, s.y, s.d, s.keep, n, 0, 0, sc);
  let lowest = 0;
  let highest = Infinity;
  for (let i = 0; i < n; i++) {
    const d = s.d[i] as number;
    const w = sc.weight[i] as number;
    if (d < 1500 && w > lowest) lowest = w;
    if (d > 9000 && w > 0 && w < highest) highest = w;
  }
  assert.ok(lowest > 50 * highest, `lowest-delay weight ${lowest}, highest-delay weight ${highest}`);
});

test('midpoint weights: samples far off the preliminary line and samples not kept get weight 0', () => {
  const n = 640;
  const s = samples(n, 0, 0, (i) => 400 + (i % 50), () => 20, 5);
  s.y[100] = 5000;
  s.y[200] = -5000;
  s.keep[300] = 0;
  const sc = new MidpointScratch();
  const used = midpointWeights(s.x, s.y, s.d, s.keep, n, 0, 0, sc);
  assert.equal(sc.weight[100], 0);
  assert.equal(sc.weight[200], 0);
  assert.equal(sc.weight[300], 0);
  assert.ok(used <= n - 3 && used > n - 20, `used ${used}`);
});

test('midpoint weights: one class for a short window, at most the maximum for a long one', () => {
  const sc = new MidpointScratch();
  for (const n of [MIDPOINT_MIN_PER_CLASS - 5, 40 * MIDPOINT_MIN_PER_CLASS]) {
    // Delay classes alternate between two scatters: with one class every weight is the same.
    const s = samples(n, 0, 0, (i) => 300 + i, (d) => (d < 300 + n / 2 ? 10 : 40), 6);
    midpointWeights(s.x, s.y, s.d, s.keep, n, 0, 0, sc);
    const distinct = new Set(Array.from(sc.weight.subarray(0, n)).filter((w) => w > 0));
    if (n < MIDPOINT_MIN_PER_CLASS) assert.equal(distinct.size, 1);
    else assert.ok(distinct.size >= 2 && distinct.size <= MIDPOINT_MAX_CLASSES, `${distinct.size} classes`);
  }
  assert.equal(midpointWeights(new Float64Array(0), new Float64Array(0), new Float64Array(0), new Uint8Array(0), 0, 0, 0, sc), 0);
});

test('weighted line: recovers offset and rate; the halves are the even and odd samples', () => {
  const n = 1200;
  const s = samples(n, 123.4, -35e-6, () => 500, () => 30, 7);
  const sc = new MidpointScratch();
  // The preliminary line (the envelope's) is near the truth: the scales are the scatter about it.
  midpointWeights(s.x, s.y, s.d, s.keep, n, 120, -34e-6, sc);
  const all = weightedLine(s.x, s.y, sc.weight, n, 0, 1e-3);
  const even = weightedLine(s.x, s.y, sc.weight, n, 1, 1e-3);
  const odd = weightedLine(s.x, s.y, sc.weight, n, 2, 1e-3);
  assert.ok(all && even && odd);
  // sd of the offset at the newest sample: 30 * 2 / sqrt(1200) = 1.7 µs; of the rate ~0.05 ppm.
  assert.ok(Math.abs(all.a - 123.4) < 6, `offset ${all.a}`);
  assert.ok(Math.abs(all.b + 35e-6) < 0.3e-6, `rate ${all.b}`);
  assert.ok(Math.abs(Math.sqrt(all.varOffset) - 1.73) < 0.4, `offset sd ${Math.sqrt(all.varOffset)}`);
  assert.ok(even.varOffset > 1.8 * all.varOffset && odd.varOffset > 1.8 * all.varOffset);
  assert.equal(weightedLine(s.x, s.y, new Float64Array(n), n, 0, 1e-3), null);
});
