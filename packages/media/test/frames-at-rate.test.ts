// framesAtRate: exact ceil(frames * out / in) in integers, matching the resampler's definition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { framesAtRate, MAX_SOURCE_FRAMES } from '../src/frames-at-rate.js';

test('known values', () => {
  assert.equal(framesAtRate(882000, 44100, 48000), 960000);
  assert.equal(framesAtRate(1, 44100, 48000), 2); // source times 0 and 0.919 are both < 1
  assert.equal(framesAtRate(0, 44100, 48000), 0);
  assert.equal(framesAtRate(147, 44100, 48000), 160);
  assert.equal(framesAtRate(148, 44100, 48000), 162); // 161.088... -> 162
  assert.equal(framesAtRate(160, 48000, 44100), 147);
  assert.equal(framesAtRate(161, 48000, 44100), 148);
  assert.equal(framesAtRate(12345, 48000, 48000), 12345);
  assert.equal(framesAtRate(3, 96000, 48000), 2); // output frames at source times 0 and 2
});

test('equals the exact BigInt ceiling for any input', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: MAX_SOURCE_FRAMES }),
    fc.integer({ min: 1, max: 768000 }),
    fc.integer({ min: 1, max: 768000 }),
    (frames, inRate, outRate) => {
      const num = BigInt(frames) * BigInt(outRate);
      const den = BigInt(inRate);
      const want = Number((num + den - 1n) / den);
      assert.equal(framesAtRate(frames, inRate, outRate), want);
    }), { numRuns: 2000 });
});

test('rejects bad arguments', () => {
  assert.throws(() => framesAtRate(-1, 44100, 48000), RangeError);
  assert.throws(() => framesAtRate(1.5, 44100, 48000), RangeError);
  assert.throws(() => framesAtRate(MAX_SOURCE_FRAMES + 1, 44100, 48000), RangeError);
  assert.throws(() => framesAtRate(10, 0, 48000), RangeError);
  assert.throws(() => framesAtRate(10, 44100, Number.NaN), RangeError);
  assert.throws(() => framesAtRate(10, 44100, 10_000_000), RangeError);
});
