import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitRobustLine, type RobustLineFit } from '../../src/audio/robust-line.js';

function fit(xs: number[], ys: number[], floor = 1): RobustLineFit | null {
  const n = xs.length;
  const out: RobustLineFit = { a: 0, b: 0, x0: 0, scale: 0, weight: 0, spread: 0, slopeSe: 0 };
  const ok = fitRobustLine(Float64Array.from(xs), Float64Array.from(ys), n, new Float64Array(n), new Float64Array(n), { scaleFloor: floor }, out);
  return ok ? out : null;
}

test('fitRobustLine: exact on a clean line', () => {
  const xs = Array.from({ length: 50 }, (_, i) => i * 10);
  const f = fit(xs, xs.map((x) => 3 + 0.5 * x))!;
  assert.ok(Math.abs(f.b - 0.5) < 1e-12);
  assert.ok(Math.abs(f.a + f.b * (0 - f.x0) - 3) < 1e-9);
  assert.equal(f.scale, 1, 'scale floor');
});

test('fitRobustLine: a third of the points 2000 off (a wrong report level) do not move the line', () => {
  const xs = Array.from({ length: 90 }, (_, i) => i);
  const ys = xs.map((x, i) => 100 + 2 * x + (i % 3 === 2 ? -2000 : 0) + ((i * 7919) % 11) - 5);
  const f = fit(xs, ys)!;
  assert.ok(Math.abs(f.b - 2) < 0.05, `slope ${f.b}`);
  assert.ok(Math.abs(f.a + f.b * (45 - f.x0) - (100 + 90)) < 3, `value at 45: ${f.a + f.b * (45 - f.x0)}`);
  assert.ok(f.weight < 62 && f.weight > 50, `outliers carry no weight: ${f.weight}`);
  assert.ok(f.scale < 10, `scale of the kept points ${f.scale}`);
});

test('fitRobustLine: the prior holds the slope of two points, and fewer than two points fail', () => {
  const out: RobustLineFit = { a: 0, b: 0, x0: 0, scale: 0, weight: 0, spread: 0, slopeSe: 0 };
  const ok = fitRobustLine(Float64Array.from([0, 1]), Float64Array.from([0, 10]), 2, new Float64Array(2), new Float64Array(2), { scaleFloor: 1, priorB: 1, priorSxx: 1e6 }, out);
  assert.ok(ok);
  assert.ok(Math.abs(out.b - 1) < 0.01, `slope ${out.b}`);
  assert.equal(fit([1], [1]), null);
});
