// The leader's malloc settings and node options: applied by default, an operator's MALLOC_* /
// GLIBC_TUNABLES win; free heap pages go back to the kernel periodically; the missing-flags check
// names what a launcher left out.
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAvailable } from '@jaudiosync/portaudio';
import { MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_BYTES, MALLOC_TRIM_MS, startMallocTrim, tuneMemory } from '../src/memory-tuning.js';
import { LEADER_NODE_FLAGS, missingNodeFlags } from '../src/node-flags.js';

test('tuneMemory asks for the leader\'s settings, and the environment still wins (the rule: portaudio malloc-tuning.test)', () => {
  const plain = tuneMemory({});
  assert.equal(plain.arenaMax, MALLOC_ARENA_MAX);
  assert.equal(plain.mmapThresholdBytes, MALLOC_MMAP_THRESHOLD_BYTES);
  if (isAvailable()) assert.deepEqual(plain.result, { arenaMax: true, mmapThreshold: true });
  else assert.ok('error' in plain.result);
  const own = tuneMemory({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '131072' });
  assert.equal(own.arenaMax, 0);
  assert.equal(own.mmapThresholdBytes, 0);
});

test('missingNodeFlags lists the leader options a launcher left out', () => {
  assert.deepEqual(missingNodeFlags([]), [...LEADER_NODE_FLAGS]);
  assert.deepEqual(missingNodeFlags(['--inspect', ...LEADER_NODE_FLAGS]), []);
});

test('startMallocTrim trims periodically until stopped', async (t) => {
  assert.equal(MALLOC_TRIM_MS, 5_000);
  let calls = 0;
  const unavailable: string[] = [];
  const stop = startMallocTrim((r) => unavailable.push(r), 10, () => { calls++; return calls % 2 === 0; });
  t.after(stop);
  await new Promise((r) => setTimeout(r, 100));
  stop();
  const seen = calls;
  assert.ok(seen >= 3, `trimmed ${seen} times in 100 ms at a 10 ms period`);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(calls, seen, 'no trim after stop');
  assert.deepEqual(unavailable, []);
});

test('startMallocTrim stops at the first "cannot run" and reports it once', async () => {
  let calls = 0;
  const unavailable: string[] = [];
  startMallocTrim((r) => unavailable.push(r), 5, () => { calls++; return 'addon not available'; });
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(calls, 1);
  assert.deepEqual(unavailable, ['addon not available']);
  assert.throws(() => startMallocTrim(() => undefined, 0), RangeError);
});

test('startMallocTrim does not keep the process alive', () => {
  const script = `import { startMallocTrim } from ${JSON.stringify(new URL('../src/memory-tuning.js', import.meta.url).href)}; startMallocTrim(() => {}, 60_000);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
  assert.equal(r.status, 0, String(r.stderr));
});
