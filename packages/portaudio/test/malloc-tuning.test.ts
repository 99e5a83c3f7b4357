// tuneMalloc: glibc's fixed mmap threshold and arena cap keep a process that frees multi-MiB
// buffers (a member's tracks) from growing through heap fragmentation. Measured in child
// processes, with and without the tuning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isAvailable, getLoadError, trimMalloc, tuneMalloc, tuneMallocUnlessSet } from '../src/index.js';

const skip = isAvailable() ? false : `native addon not built: ${getLoadError()?.message ?? ''}`;
const fixture = fileURLToPath(new URL('./malloc-fragmenter.js', import.meta.url));
/** 40 frees of 3-9 MiB; measured here: 18-20 MiB of growth untuned, 1.5-3.5 MiB tuned. */
const MAX_TUNED_GROWTH_MIB = 8;

function run(mode: 'tune' | 'default'): { tuned: unknown; growthMiB: number } {
  const env = { ...process.env };
  for (const k of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'GLIBC_TUNABLES']) delete env[k];
  const r = spawnSync(process.execPath, ['--expose-gc', fixture, mode], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as { tuned: unknown; growthMiB: number };
}

test('tuneMalloc applies both settings and bounds the growth from freed buffers', { skip }, (t) => {
  const untuned = run('default');
  const tuned = run('tune');
  t.diagnostic(`RSS growth over 40 freed 3-9 MiB buffers: ${untuned.growthMiB.toFixed(1)} MiB untuned, ${tuned.growthMiB.toFixed(1)} MiB tuned`);
  assert.deepEqual(tuned.tuned, { arenaMax: true, mmapThreshold: true });
  assert.ok(tuned.growthMiB < MAX_TUNED_GROWTH_MIB, `tuned process grew ${tuned.growthMiB.toFixed(1)} MiB`);
});

test('tuneMalloc refuses bad arguments with a reason and never throws', { skip }, () => {
  for (const [a, b] of [[-1, 0], [0, -1], [1.5, 0], [0, Number.NaN], [2000, 0], [0, 64 * 1024 * 1024]] as const) {
    const r = tuneMalloc(a, b);
    assert.ok('error' in r, `${a}, ${b} accepted`);
    assert.match(r.error, /bad arguments|must be in/);
  }
  assert.deepEqual(tuneMalloc(0, 0), { arenaMax: false, mmapThreshold: false });
});

test('tuneMallocUnlessSet asks for both settings unless the environment sets them (the daemons\' rule)', () => {
  const plain = tuneMallocUnlessSet(2, 65_536, {});
  assert.equal(plain.arenaMax, 2);
  assert.equal(plain.mmapThresholdBytes, 65_536);
  if (isAvailable()) assert.deepEqual(plain.result, { arenaMax: true, mmapThreshold: true });
  else assert.ok('error' in plain.result);
  const own = tuneMallocUnlessSet(2, 65_536, { MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '131072' });
  assert.equal(own.arenaMax, 0);
  assert.equal(own.mmapThresholdBytes, 0);
  const arenaTunable = tuneMallocUnlessSet(2, 65_536, { GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' });
  assert.equal(arenaTunable.arenaMax, 0);
  assert.equal(arenaTunable.mmapThresholdBytes, 65_536);
  const mmapTunable = tuneMallocUnlessSet(2, 65_536, { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536' });
  assert.equal(mmapTunable.arenaMax, 2);
  assert.equal(mmapTunable.mmapThresholdBytes, 0);
});

/** A child that frees 7 of every 8 small (16 KiB, malloc'ed) buffers, so the survivors pin the
 *  heap's pages, then trims: prints RSS before and after and what trimMalloc returned. */
const TRIM_CHILD = `
import { tuneMalloc, trimMalloc } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
import { readFileSync } from 'node:fs';
const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
tuneMalloc(1, 128 * 1024);
let bufs = Array.from({ length: 6000 }, () => Buffer.allocUnsafeSlow(16 * 1024).fill(1));
bufs = bufs.filter((_, i) => i % 8 === 0);
gc(); gc();
const before = rss();
const released = trimMalloc();
const after = rss();
console.log(JSON.stringify({ before, after, released, kept: bufs.length }));
`;

test('trimMalloc hands free pages inside the heap back to the kernel', { skip }, (t) => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', TRIM_CHILD], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const { before, after, released } = JSON.parse(r.stdout.trim()) as { before: number; after: number; released: unknown };
  t.diagnostic(`RSS with 82 MiB of freed 16 KiB buffers under live ones: ${before.toFixed(1)} MiB, after trimMalloc ${after.toFixed(1)} MiB`);
  assert.equal(released, true);
  assert.ok(before - after > 40, `trim gave back only ${(before - after).toFixed(1)} MiB`);
});
