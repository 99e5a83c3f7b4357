// The addon's lifetime rules: a running stream is stopped when its worker thread is terminated
// (the engine runs in a worker) and does not crash a process that exits without closing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { isAvailable, getLoadError, createPcmRing, createTimingRing } from '../src/index.js';
import { missingPulseTools, startPrivatePulse } from './private-pulse.js';

const INDEX_URL = new URL('../src/index.js', import.meta.url).href;
const RUNNING_CALLBACKS = 10;
const WAIT_RUNNING_MS = 10_000;
const CHILD_TIMEOUT_MS = 20_000;

/**
 * Child-process code (ESM) that opens a stream `s` on the pulse device and waits until it ran
 * RUNNING_CALLBACKS callbacks (bounded by WAIT_RUNNING_MS); `t` reads the timing ring's count.
 */
const STARTED_STREAM = `
      const pa = await import(${JSON.stringify(INDEX_URL)});
      const pcm = pa.createPcmRing(4800, 2, 48000), timing = pa.createTimingRing(64);
      const s = new pa.OutputStream({ device: 'pulse', sampleRate: 48000, channels: 2, pcmRing: pcm, timingRing: timing });
      s.start();
      const t = new BigInt64Array(timing, 0, 1), end = Date.now() + ${WAIT_RUNNING_MS};
      while (Number(Atomics.load(t, 0)) < ${RUNNING_CALLBACKS} && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function timingCount(timing: SharedArrayBuffer): number {
  return Number(Atomics.load(new BigInt64Array(timing, 0, 1), 0));
}

const skipReason = !isAvailable()
  ? `native addon not built: ${getLoadError()?.message ?? ''}`
  : missingPulseTools();

test('stream lifetime follows its thread and the process', { skip: skipReason ?? false, timeout: 60_000 }, async (t) => {
  const pulse = await startPrivatePulse();
  t.after(() => pulse.stop());

  await t.test('terminating the owning worker stops the callbacks', async () => {
    const pcm = createPcmRing(4800, 2, 48000);
    const timing = createTimingRing(64);
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.url).then((pa) => {
         const s = new pa.OutputStream({ device: 'pulse', sampleRate: 48000, channels: 2,
           pcmRing: workerData.pcm, timingRing: workerData.timing });
         s.start();
         parentPort.postMessage('started');
         setInterval(() => {}, 1000);
       }).catch((e) => parentPort.postMessage('error: ' + e.message));`,
      { eval: true, workerData: { url: INDEX_URL, pcm, timing } },
    );
    t.after(() => worker.terminate());
    const first = await new Promise<unknown>((resolve) => worker.once('message', resolve));
    assert.equal(first, 'started');
    const deadline = Date.now() + WAIT_RUNNING_MS;
    while (timingCount(timing) < RUNNING_CALLBACKS && Date.now() < deadline) await sleep(20);
    assert.ok(timingCount(timing) >= RUNNING_CALLBACKS, 'callbacks ran in the worker');
    await worker.terminate();
    const stoppedAt = timingCount(timing);
    await sleep(300);
    assert.ok(timingCount(timing) - stoppedAt <= 1, 'no callbacks after the worker is gone');
  });

  await t.test('process.exit with a running stream exits cleanly', () => {
    const code = `${STARTED_STREAM}
      console.log('callbacks', Number(Atomics.load(t, 0)));
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      env: pulse.env,
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT_MS,
    });
    assert.equal(r.signal, null, `child died by ${String(r.signal)}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const callbacks = Number(/callbacks (\d+)/.exec(r.stdout)?.[1] ?? 0);
    assert.ok(callbacks >= RUNNING_CALLBACKS, `stream ran in the child (${r.stdout})`);
  });

  await t.test('closeAsync closes a running stream off the JS thread; the object is closed at once', () => {
    const code = `${STARTED_STREAM}
      const pending = s.closeAsync(5000);
      let statsError = '';
      try { s.stats(); } catch (e) { statsError = e.message; }
      const result = await pending;
      const before = Number(Atomics.load(t, 0));
      await new Promise((r) => setTimeout(r, 200));
      console.log(JSON.stringify({ result, closed: s.closed, statsError, again: await s.closeAsync(), grew: Number(Atomics.load(t, 0)) - before }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: pulse.env, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.deepEqual(out, { result: 'closed', closed: true, statsError: 'stream is closed', again: 'closed', grew: 0 });
  });
});
