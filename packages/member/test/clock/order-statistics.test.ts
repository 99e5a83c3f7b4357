import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kthSmallest, medianInPlace, selectInPlace, twoLowRanks, twoSmallest } from '../../src/clock/order-statistics.js';
import { rng } from './delay-sim.js';

/** Random data of a few shapes: continuous, heavy duplicates, zeros of both signs, sorted, reversed, constant. */
function data(n: number, r: () => number): Float64Array {
  const a = new Float64Array(n);
  const shape = Math.floor(r() * 7);
  for (let i = 0; i < n; i++) {
    switch (shape) {
      case 0: a[i] = (r() - 0.5) * 1e4; break;
      case 1: a[i] = Math.floor(r() * 5); break; // many duplicates
      case 2: a[i] = Math.floor(r() * Math.max(1, n / 10)) - n / 20; break;
      case 3: a[i] = r() < 0.3 ? (r() < 0.5 ? -0 : 0) : r() - 0.5; break;
      case 4: a[i] = i * 0.5; break; // sorted
      case 5: a[i] = (n - i) * 3; break; // reversed
      default: a[i] = 42; // constant
    }
  }
  return a;
}

function ranksFor(n: number, r: () => number): number[] {
  const ks = [0, n - 1, Math.floor(n / 2), Math.floor(n * 0.004), Math.min(n - 1, Math.max(2, Math.floor(n * 0.004))), Math.floor(n * 0.03), Math.floor(r() * n)];
  return [...new Set(ks.filter((k) => k >= 0 && k < n))];
}

test('selectInPlace: exact rank and partition, n = 1..3000', () => {
  const r = rng(7);
  for (let n = 1; n <= 3000; n++) {
    const a = data(n, r);
    const sorted = Float64Array.from(a).sort();
    for (const k of ranksFor(n, r)) {
      const b = Float64Array.from(a);
      const v = selectInPlace(b, k);
      assert.ok(v === sorted[k], `n ${n} k ${k}: ${v} vs ${sorted[k]}`);
      assert.ok(b[k] === v);
      for (let i = 0; i < k; i++) assert.ok((b[i] as number) <= v, `n ${n} k ${k}: left ${i}`);
      for (let i = k + 1; i < n; i++) assert.ok((b[i] as number) >= v, `n ${n} k ${k}: right ${i}`);
      // still a permutation of the input
      if (n % 17 === 0) assert.deepEqual(Float64Array.from(b).sort().map(Math.abs), sorted.map(Math.abs));
    }
  }
});

test('selectInPlace on a sub-range only touches that range', () => {
  const r = rng(8);
  const a = data(1000, r);
  const b = Float64Array.from(a);
  const v = selectInPlace(b, 300, 200, 799);
  assert.equal(v, Float64Array.from(a.subarray(200, 800)).sort()[100]);
  assert.deepEqual(b.subarray(0, 200), a.subarray(0, 200));
  assert.deepEqual(b.subarray(800), a.subarray(800));
  assert.throws(() => selectInPlace(b, 100, 200, 799), RangeError);
});

test('kthSmallest, twoSmallest, twoLowRanks agree with a sort (values untouched), n = 1..3000', () => {
  const r = rng(9);
  const scratch = new Float64Array(3000);
  const out = new Float64Array(2);
  for (let n = 1; n <= 3000; n++) {
    const a = data(n, r);
    const copy = Float64Array.from(a);
    const sorted = Float64Array.from(a).sort();
    const ks = ranksFor(n, r);
    for (const k of ks) assert.ok(kthSmallest(a, n, k, scratch) === sorted[k], `kth n ${n} k ${k}`);
    const k1 = Math.min(n - 1, Math.max(2, Math.floor(n * 0.004)));
    const k2 = Math.floor(n * 0.03);
    for (const [p, q] of [[k1, k2], [k2, k1], [k1, k1], [ks[ks.length - 1] as number, k2]] as const) {
      out.fill(-1);
      assert.equal(twoSmallest(a, n, p, q, scratch, out), 3);
      assert.ok(out[0] === sorted[p] && out[1] === sorted[q], `two n ${n} ${p} ${q}`);
      out.fill(-1);
      assert.equal(twoLowRanks(a, n, p, q, scratch, out), true);
      assert.ok(out[0] === sorted[p] && out[1] === sorted[q], `low n ${n} ${p} ${q}: ${out[0]} ${out[1]} vs ${sorted[p]} ${sorted[q]}`);
    }
    assert.deepEqual(a, copy);
  }
});

test('NaN sorts last; out-of-range ranks', () => {
  const a = Float64Array.from([3, NaN, 1, 2, NaN, 0]);
  const scratch = new Float64Array(6);
  const out = new Float64Array(2);
  const sorted = Float64Array.from(a).sort(); // 0 1 2 3 NaN NaN
  for (let k = 0; k < 6; k++) assert.ok(Object.is(kthSmallest(a, 6, k, scratch), sorted[k]), `k ${k}`);
  assert.equal(kthSmallest(a, 6, 6, scratch), undefined);
  assert.equal(kthSmallest(a, 6, -1, scratch), undefined);
  assert.equal(twoLowRanks(a, 6, 0, 1, scratch, out), false); // NaN: caller falls back
  assert.equal(twoSmallest(a, 6, 1, 4, scratch, out), 3);
  assert.equal(out[0], 1);
  assert.ok(Number.isNaN(out[1]));
  out.fill(7);
  assert.equal(twoSmallest(a, 6, -1, 2, scratch, out), 2);
  assert.deepEqual([...out], [7, 2]);
  assert.equal(twoSmallest(a, 6, 9, 6, scratch, out), 0);
  assert.equal(twoLowRanks(Float64Array.from([1, 2]), 2, 0, 2, scratch, out), false);
  assert.equal(twoSmallest(new Float64Array(0), 0, 0, 0, scratch, out), 0);
});

test('medianInPlace gives what a sort gives (odd and even n, NaN last), n = 1..1500', () => {
  const r = rng(11);
  const sortedMedian = (s: Float64Array): number => {
    const n = s.length;
    return n % 2 === 1 ? s[n >> 1]! : (s[(n >> 1) - 1]! + s[n >> 1]!) / 2;
  };
  for (let n = 1; n <= 1500; n++) {
    const a = data(n, r);
    if (n % 5 === 0) for (let i = 0; i < n; i += 7) a[i] = NaN; // a few NaN
    const want = sortedMedian(Float64Array.from(a).sort());
    const got = medianInPlace(Float64Array.from(a), n);
    assert.ok(Object.is(got, want) || (got === 0 && want === 0), `n ${n}: ${got} vs ${want}`);
    // Only the first n values count.
    const longer = new Float64Array(n + 5).fill(-1e9);
    longer.set(a);
    const g2 = medianInPlace(longer, n);
    assert.ok(Object.is(g2, want) || (g2 === 0 && want === 0), `n ${n} in a longer array: ${g2} vs ${want}`);
  }
});
