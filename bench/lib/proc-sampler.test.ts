// Tests for /proc based CPU/RSS sampling of processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProcSampler, readCpuTicks, readStatusKiB } from './proc-sampler.js';

test('reads this process from /proc', { skip: process.platform !== 'linux' }, () => {
  assert.ok((readCpuTicks(process.pid) ?? -1) >= 0);
  assert.ok((readStatusKiB(process.pid, 'VmRSS') ?? 0) > 1000);
  assert.equal(readCpuTicks(2 ** 30), undefined);
});

test('summarises CPU and RSS between samples with an injected clock', { skip: process.platform !== 'linux' }, () => {
  let nowMs = 0;
  const s = new ProcSampler(1000, () => nowMs);
  s.add('self', process.pid);
  s.add('gone', 2 ** 30);
  const until = Date.now() + 200;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + 1); // burn ~200 ms of CPU
  nowMs = 1000;
  s.sampleAll();
  const [self, gone] = s.summary();
  assert.equal(self?.samples, 2);
  assert.ok((self?.cpuPctAvg ?? 0) >= 5, `cpu ${self?.cpuPctAvg}`);
  assert.ok((self?.rssMiBMax ?? 0) > 1);
  assert.equal(gone?.samples, 0);
  assert.equal(gone?.cpuPctAvg, null);
  assert.ok(x > 0);
});
