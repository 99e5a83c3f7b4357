// Tests for the benchmark percentile statistics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { correlation, percentile, round, summarize } from './stats.js';

test('nearest-rank percentiles', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100 unsorted
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile(xs, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('summarize ignores non-finite values and reports NaN for empty input', () => {
  const s = summarize([3, 1, 2, NaN, Infinity]);
  assert.deepEqual([s.n, s.min, s.p50, s.max, s.mean], [3, 1, 2, 3, 2]);
  const e = summarize([]);
  assert.equal(e.n, 0);
  assert.ok(Number.isNaN(e.p99));
  assert.equal(round(e.p99), null);
});

test('correlation', () => {
  assert.equal(round(correlation([1, 2, 3, 4], [2, 4, 6, 8]), 6), 1);
  assert.equal(round(correlation([1, 2, 3, 4], [8, 6, 4, 2]), 6), -1);
  assert.ok(Number.isNaN(correlation([1, 1, 1], [1, 2, 3])));
});
