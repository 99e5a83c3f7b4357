// DacTimingRing: layout, append/latest/since, and the validity rule count_now - index <= capacity - 16.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAC_TIMING_SAFETY_MARGIN, DacTimingRing, dacTimingRingByteLength } from '../../src/audio/dac-timing-ring.js';

const entry = (i: number) => ({
  deviceFrame: i * 256,
  ringPos: i * 256 - 3,
  dacTimeNs: 10n ** 15n + BigInt(i) * 5_333_333n,
  callbackTimeNs: 10n ** 15n + BigInt(i) * 5_333_333n - 20_000_000n,
});

test('create, append and the documented byte layout', () => {
  const ring = DacTimingRing.create(32);
  assert.equal(ring.sab.byteLength, 64 + 32 * 32);
  assert.equal(dacTimingRingByteLength(32), ring.sab.byteLength);
  assert.equal(new Int32Array(ring.sab, 0, 16)[2], 32);
  ring.append(entry(0));
  ring.append({ deviceFrame: 256n, ringPos: 253n, dacTimeNs: 10n ** 15n + 5_333_333n, callbackTimeNs: 1 });
  const i64 = new BigInt64Array(ring.sab);
  assert.equal(i64[0], 2n);
  assert.deepEqual([...i64.subarray(8, 12)], [0n, -3n, 10n ** 15n, 10n ** 15n - 20_000_000n]);
  assert.deepEqual([...i64.subarray(12, 16)], [256n, 253n, 10n ** 15n + 5_333_333n, 1n]);
  assert.throws(() => ring.append({ ...entry(2), deviceFrame: 1.5 }), RangeError);
  assert.throws(() => ring.append({ ...entry(2), dacTimeNs: 2n ** 63n }), RangeError);
});

test('latest(n) returns the newest entries oldest first; since(i) the ones from i', () => {
  const ring = DacTimingRing.create(64);
  assert.deepEqual(ring.latest(5), []);
  for (let i = 0; i < 10; i++) ring.append(entry(i));
  const reader = new DacTimingRing(ring.sab);
  const last3 = reader.latest(3);
  assert.deepEqual(last3.map((e) => e.index), [7, 8, 9]);
  assert.deepEqual(last3[2], { index: 9, ...entry(9) });
  assert.equal(reader.latest(100).length, 10);
  assert.deepEqual(reader.since(6).map((e) => e.index), [6, 7, 8, 9]);
  assert.deepEqual(reader.since(10), []);
  assert.deepEqual(reader.since(42), []);
});

test('after wraparound only entries within capacity - 16 of count are returned', () => {
  const cap = 32;
  const ring = DacTimingRing.create(cap);
  for (let i = 0; i < 100; i++) ring.append(entry(i));
  const all = ring.latest(1000);
  assert.equal(all.length, cap - DAC_TIMING_SAFETY_MARGIN);
  assert.equal(all[0]!.index, 100 - (cap - DAC_TIMING_SAFETY_MARGIN));
  for (const e of all) assert.deepEqual(e, { index: e.index, ...entry(e.index) }, 'contents not mixed up by the wrap');
  const since = ring.since(3);
  assert.equal(since[0]!.index, 84, 'lost entries are skipped, the result starts later');
  assert.equal(since.length, 16);
});

test('entries read while a writer thread laps the ring are never torn', async () => {
  const { Worker } = await import('node:worker_threads');
  const ring = DacTimingRing.create(32);
  const moduleUrl = new URL('../../src/audio/dac-timing-ring.js', import.meta.url).href;
  // The writer appends entries whose four fields are derived from their index, as fast as it can.
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.moduleUrl).then(({ DacTimingRing }) => {
      const ring = new DacTimingRing(workerData.sab);
      for (let i = 0; i < 300000; i++) {
        ring.append({ deviceFrame: i * 256, ringPos: i * 256 - 3, dacTimeNs: 10n ** 15n + BigInt(i) * 5333333n,
          callbackTimeNs: 10n ** 15n + BigInt(i) * 5333333n - 20000000n });
      }
      parentPort.postMessage('done');
    });
  `;
  const worker = new Worker(src, { eval: true, workerData: { sab: ring.sab, moduleUrl } });
  const done = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  let finished = false;
  void done.then(() => (finished = true));
  let checked = 0;
  const deadline = Date.now() + 20_000;
  while (!finished && Date.now() < deadline) {
    for (let k = 0; k < 200; k++) {
      for (const e of ring.latest(16)) {
        assert.deepEqual(e, { index: e.index, ...entry(e.index) });
        checked++;
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  await done;
  await worker.terminate();
  assert.equal(ring.count, 300000);
  assert.ok(checked > 0);
});

test('attach rejects bad buffers and headers', () => {
  assert.throws(() => new DacTimingRing(new SharedArrayBuffer(16)), RangeError);
  assert.throws(() => new DacTimingRing(new SharedArrayBuffer(1024)), /capacity/, 'capacity 0');
  const sab = new SharedArrayBuffer(64 + 32 * 40);
  new Int32Array(sab)[2] = 41;
  assert.throws(() => new DacTimingRing(sab), /bytes/);
  new Int32Array(sab)[2] = 31;
  assert.throws(() => new DacTimingRing(sab), /capacity/, 'too small for the safety margin');
  new Int32Array(sab)[2] = 40;
  assert.doesNotThrow(() => new DacTimingRing(sab));
  new BigInt64Array(sab)[0] = -1n;
  assert.throws(() => new DacTimingRing(sab), /negative/);
  assert.throws(() => DacTimingRing.create(8), RangeError);
  assert.throws(() => DacTimingRing.create(2 ** 20 + 1), RangeError);
});
