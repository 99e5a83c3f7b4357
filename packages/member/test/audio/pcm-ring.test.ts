// PcmRing: byte layout of docs/audio-shared-memory.md, wraparound, underrun zero fill and counting,
// attach validation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PCM_RING_HEADER_BYTES, PcmRing, pcmRingByteLength } from '../../src/audio/pcm-ring.js';

function frames(start: number, count: number, channels: number): Int16Array {
  const out = new Int16Array(count * channels);
  for (let f = 0; f < count; f++) for (let c = 0; c < channels; c++) out[f * channels + c] = ((start + f) % 30000) * (c === 0 ? 1 : -1);
  return out;
}

test('create writes the documented header', () => {
  const ring = PcmRing.create(100, 2, 48000);
  assert.equal(ring.sab.byteLength, 64 + 100 * 2 * 2);
  assert.equal(pcmRingByteLength(100, 2), ring.sab.byteLength);
  const i32 = new Int32Array(ring.sab, 0, 16);
  assert.deepEqual([i32[8], i32[9], i32[10], i32[11]], [2, 100, 0, 48000]);
  const i64 = new BigInt64Array(ring.sab, 0, 4);
  assert.deepEqual([...i64], [0n, 0n, 0n, 0n]);
});

test('write/read round-trip with wraparound; positions are the documented int64 fields', () => {
  const ring = PcmRing.create(10, 2, 48000);
  const consumer = new PcmRing(ring.sab); // the consumer attaches to the same memory
  assert.equal(ring.write(frames(0, 7, 2)), 7);
  const out = new Int16Array(5 * 2);
  assert.equal(consumer.read(out, 5), 5);
  assert.deepEqual(out, frames(0, 5, 2));
  // 2 left, 8 free: this write wraps (slots 7,8,9 then 0..4)
  assert.equal(ring.freeFrames(), 8);
  assert.equal(ring.write(frames(7, 8, 2)), 8);
  assert.equal(ring.freeFrames(), 0);
  assert.equal(ring.write(frames(15, 3, 2)), 0, 'full ring accepts nothing');
  const out2 = new Int16Array(10 * 2);
  assert.equal(consumer.read(out2, 10), 10);
  assert.deepEqual(out2, frames(5, 10, 2));
  const i64 = new BigInt64Array(ring.sab, 0, 4);
  assert.equal(i64[0], 15n);
  assert.equal(i64[1], 15n);
  assert.equal(ring.writePos, 15);
  assert.equal(consumer.readPos, 15);
  assert.equal(ring.underrunFrames, 0);
  // frame p lives at (p % capacity) * channels after the header
  ring.write(frames(15, 1, 2));
  const data = new Int16Array(ring.sab, PCM_RING_HEADER_BYTES);
  assert.equal(data[(15 % 10) * 2], 15);
  assert.equal(data[(15 % 10) * 2 + 1], -15);
});

test('write with explicit count, partial when the ring is nearly full', () => {
  const ring = PcmRing.create(8, 1, 48000);
  assert.equal(ring.write(frames(0, 6, 1), 4), 4);
  assert.equal(ring.write(frames(4, 6, 1)), 4, 'only the free 4 frames are written');
  assert.equal(ring.fillFrames, 8);
  assert.throws(() => ring.write(frames(0, 2, 1), 3), RangeError);
});

test('read short: copies k, zero-fills the rest, counts underrun frames and one event', () => {
  const ring = PcmRing.create(16, 2, 48000);
  ring.write(frames(1, 3, 2));
  const out = new Int16Array(8 * 2).fill(7);
  assert.equal(ring.read(out, 8), 3);
  assert.deepEqual(out.subarray(0, 6), frames(1, 3, 2));
  assert.ok(out.subarray(6).every((s) => s === 0));
  assert.equal(ring.underrunFrames, 5);
  assert.equal(ring.underrunEvents, 1);
  assert.equal(ring.readPos, 3);
  assert.equal(ring.read(out, 4), 0);
  assert.equal(ring.underrunFrames, 9);
  assert.equal(ring.underrunEvents, 2);
  ring.write(frames(0, 4, 2));
  assert.equal(ring.read(out, 4), 4, 'a full read is no underrun');
  assert.equal(ring.underrunEvents, 2);
  assert.throws(() => ring.read(new Int16Array(3), 2), RangeError);
});

test('writeSilence and zero-copy reserve/commit', () => {
  const ring = PcmRing.create(6, 2, 44100);
  ring.write(frames(1, 4, 2));
  ring.read(new Int16Array(8), 4);
  const r = ring.reserve(5); // slots 4,5 then 0,1,2
  assert.equal(r.frames, 5);
  assert.equal(r.first.length, 4);
  assert.equal(r.second.length, 6);
  r.first.set(frames(10, 2, 2));
  r.second.set(frames(12, 3, 2));
  assert.equal(ring.fillFrames, 0, 'nothing visible before commit');
  ring.commit(5);
  assert.equal(ring.writeSilence(10), 1);
  const out = new Int16Array(12);
  assert.equal(ring.read(out, 6), 6);
  assert.deepEqual(out.subarray(0, 10), frames(10, 5, 2));
  assert.deepEqual([...out.subarray(10)], [0, 0]);
  assert.throws(() => ring.commit(7), RangeError);
});

test('attach rejects bad buffers and headers', () => {
  const good = PcmRing.create(32, 2, 48000);
  assert.throws(() => new PcmRing(new ArrayBuffer(200) as unknown as SharedArrayBuffer), TypeError);
  assert.throws(() => new PcmRing(new SharedArrayBuffer(32)), RangeError);
  assert.throws(() => new PcmRing(new SharedArrayBuffer(256)), RangeError, 'all-zero header');
  const corrupt = (mutate: (i32: Int32Array, i64: BigInt64Array) => void): SharedArrayBuffer => {
    const sab = new SharedArrayBuffer(good.sab.byteLength);
    new Uint8Array(sab).set(new Uint8Array(good.sab));
    mutate(new Int32Array(sab, 0, 16), new BigInt64Array(sab, 0, 8));
    return sab;
  };
  assert.doesNotThrow(() => new PcmRing(corrupt(() => undefined)));
  assert.throws(() => new PcmRing(corrupt((i) => (i[10] = 1))), /sampleFormat/);
  assert.throws(() => new PcmRing(corrupt((i) => (i[8] = 0))), /channels/);
  assert.throws(() => new PcmRing(corrupt((i) => (i[9] = 33))), /bytes/, 'capacity beyond the buffer');
  assert.throws(() => new PcmRing(corrupt((i) => (i[11] = 12))), /sampleRate/);
  assert.throws(() => new PcmRing(corrupt((_, w) => (w[1] = 5n))), /positions/, 'readPos > writePos');
  assert.throws(() => new PcmRing(corrupt((_, w) => (w[0] = 40n))), /positions/, 'more than capacity buffered');
  assert.throws(() => PcmRing.create(0, 2, 48000), RangeError);
  assert.throws(() => PcmRing.create(10, 0, 48000), RangeError);
  assert.throws(() => PcmRing.create(10, 2, 1.5), RangeError);
});

test('producer and consumer in different threads see each other through atomics', async () => {
  const { Worker } = await import('node:worker_threads');
  const ring = PcmRing.create(64, 2, 48000);
  // The worker consumes 1000 frames in buffers of 10 and checks the sequence.
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const i64 = new BigInt64Array(workerData, 0, 4);
    const data = new Int16Array(workerData, 64);
    let next = 0, bad = 0, spins = 0;
    while (next < 1000 && spins < 5e7) {
      spins++;
      const avail = Number(Atomics.load(i64, 0) - Atomics.load(i64, 1));
      if (avail < 10) continue;
      for (let j = 0; j < 10; j++) { const p = next + j; if (data[(p % 64) * 2] !== p % 30000) bad++; }
      next += 10;
      Atomics.add(i64, 1, 10n);
    }
    parentPort.postMessage({ next, bad });
  `;
  const worker = new Worker(src, { eval: true, workerData: ring.sab });
  const result = new Promise<{ next: number; bad: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  let written = 0;
  const deadline = Date.now() + 10_000;
  while (written < 1000 && Date.now() < deadline) {
    written += ring.write(frames(written, Math.min(7, 1000 - written), 2));
    await new Promise((r) => setImmediate(r));
  }
  const { next, bad } = await result;
  await worker.terminate();
  assert.equal(next, 1000);
  assert.equal(bad, 0);
});
