import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { ClockModelShare, leaderFromLocal, localFromLeader, type ClockModel } from '../../src/clock/clock-model.js';
import { ClockSource } from '../../src/clock/clock-source.js';

const m: ClockModel = { localRefUs: 1e9, leaderRefUs: 1.7e15, rate: 87e-6, uncertaintyUs: 12.5, synced: true, samples: 300, rttUs: 812.25, lastSampleLocalUs: 1e9 - 5 };

test('leaderFromLocal and localFromLeader are inverse', () => {
  const l = leaderFromLocal(m, 1e9 + 10e6);
  assert.ok(Math.abs(l - (1.7e15 + 10e6 * (1 + 87e-6))) < 0.5);
  assert.ok(Math.abs(localFromLeader(m, l) - (1e9 + 10e6)) < 0.5);
});

test('share: null before publish, then exact round trip', () => {
  const s = new ClockModelShare();
  assert.equal(s.read(), null);
  s.publish(m);
  assert.deepEqual(s.read(), m);
  const r = new ClockModelShare(s.buffer);
  assert.deepEqual(r.read(), m);
  assert.throws(() => new ClockModelShare(new SharedArrayBuffer(4)));
});

test('share: a reader in another thread never sees a torn model', async () => {
  const s = new ClockModelShare();
  s.publish({ ...m, localRefUs: 0, leaderRefUs: 0 });
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const w = new Int32Array(workerData);
    const f = new Float64Array(1); const i = new Int32Array(f.buffer);
    let torn = 0, reads = 0;
    const end = Date.now() + 300;
    while (Date.now() < end) {
      const s1 = Atomics.load(w, 0); if (s1 & 1) continue;
      i[0] = Atomics.load(w, 2); i[1] = Atomics.load(w, 3); const a = f[0];
      i[0] = Atomics.load(w, 4); i[1] = Atomics.load(w, 5); const b = f[0];
      if (Atomics.load(w, 0) !== s1) continue;
      reads++; if (b !== a * 2) torn++;
    }
    parentPort.postMessage({ torn, reads });`;
  const worker = new Worker(src, { eval: true, workerData: s.buffer });
  const result = new Promise<{ torn: number; reads: number }>((resolve) => worker.once('message', resolve));
  let k = 0;
  const end = Date.now() + 350;
  while (Date.now() < end) {
    k++;
    s.publish({ ...m, localRefUs: k, leaderRefUs: 2 * k });
    if (k % 1000 === 0) await new Promise((r) => setImmediate(r));
  }
  const r = await result;
  await worker.terminate();
  assert.ok(r.reads > 0);
  assert.equal(r.torn, 0);
});

test('ClockSource applies offset and rate and validates env', () => {
  const c = new ClockSource({ offsetUs: 5e6, ratePpm: 100 });
  assert.equal(c.fromHostMonoUs(1e6), 1e6 * 1.0001 + 5e6);
  assert.ok(Math.abs(c.toHostMonoUs(c.fromHostMonoUs(123456.5)) - 123456.5) < 1e-6);
  const host = Number(process.hrtime.bigint()) / 1000;
  assert.ok(Math.abs(c.nowUs() - c.fromHostMonoUs(host)) < 50_000);
  assert.deepEqual(ClockSource.fromEnv({}).params, { offsetUs: 0, ratePpm: 0 });
  assert.deepEqual(ClockSource.fromEnv({ JAS_CLOCK_OFFSET_US: '-2500000', JAS_CLOCK_RATE_PPM: '-80.5' }).params, { offsetUs: -2.5e6, ratePpm: -80.5 });
  assert.throws(() => ClockSource.fromEnv({ JAS_CLOCK_OFFSET_US: '3s' }), /JAS_CLOCK_OFFSET_US/);
  assert.throws(() => ClockSource.fromEnv({ JAS_CLOCK_RATE_PPM: '5000' }), /ratePpm/);
  assert.throws(() => new ClockSource({ offsetUs: Infinity }));
});
