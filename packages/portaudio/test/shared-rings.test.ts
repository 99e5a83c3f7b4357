// Pins the shared-memory layout of docs/audio-shared-memory.md as created by createPcmRing and
// createTimingRing, and their input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPcmRing, createTimingRing, readPcmRingHeader, TIMING_MIN_CAPACITY } from '../src/shared-rings.js';

test('PCM ring: 64-byte header then int16 frames', () => {
  const sab = createPcmRing(1000, 2, 48000);
  assert.ok(sab instanceof SharedArrayBuffer);
  assert.equal(sab.byteLength, 64 + 1000 * 2 * 2);
  const dv = new DataView(sab);
  for (const offset of [0, 8, 16, 24]) assert.equal(dv.getBigInt64(offset, true), 0n);
  assert.equal(dv.getInt32(32, true), 2);
  assert.equal(dv.getInt32(36, true), 1000);
  assert.equal(dv.getInt32(40, true), 0);
  assert.equal(dv.getInt32(44, true), 48000);
  for (let o = 48; o < 64; o++) assert.equal(dv.getUint8(o), 0);
  assert.deepEqual(readPcmRingHeader(sab), { channels: 2, capacityFrames: 1000, sampleFormat: 0, sampleRate: 48000 });
});

test('timing ring: count 0, capacity at byte 8, 32-byte entries after 64', () => {
  const sab = createTimingRing(1024);
  assert.equal(sab.byteLength, 64 + 1024 * 32);
  const dv = new DataView(sab);
  assert.equal(dv.getBigInt64(0, true), 0n);
  assert.equal(dv.getInt32(8, true), 1024);
});

test('ring factories reject bad sizes', () => {
  assert.throws(() => createPcmRing(0, 2, 48000), RangeError);
  assert.throws(() => createPcmRing(1.5, 2, 48000), RangeError);
  assert.throws(() => createPcmRing(100, 0, 48000), RangeError);
  assert.throws(() => createPcmRing(100, 2, 100), RangeError);
  assert.throws(() => createPcmRing(2 ** 30, 2, 48000), RangeError);
  assert.throws(() => createTimingRing(TIMING_MIN_CAPACITY - 1), RangeError);
  assert.throws(() => createTimingRing(Number.NaN), RangeError);
  assert.throws(() => readPcmRingHeader(new SharedArrayBuffer(8)), RangeError);
});
