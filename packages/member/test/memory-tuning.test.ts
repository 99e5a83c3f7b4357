// The member's malloc settings: applied by default, an operator's MALLOC_* / GLIBC_TUNABLES win.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAvailable } from '@jaudiosync/portaudio';
import { MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_BYTES, tuneMemory } from '../src/memory-tuning.js';

test('tuneMemory asks for the member\'s settings, and the environment still wins (the rule: portaudio malloc-tuning.test)', () => {
  const plain = tuneMemory({});
  assert.equal(plain.arenaMax, MALLOC_ARENA_MAX);
  assert.equal(plain.mmapThresholdBytes, MALLOC_MMAP_THRESHOLD_BYTES);
  if (isAvailable()) assert.deepEqual(plain.result, { arenaMax: true, mmapThreshold: true });
  else assert.ok('error' in plain.result);
  const own = tuneMemory({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536' });
  assert.equal(own.arenaMax, 0);
  assert.equal(own.mmapThresholdBytes, 0);
});
