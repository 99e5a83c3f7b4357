// Clock memory file: a fit comes back only for exactly the key it was saved under; anything else
// (another boot, timescale or injected clock, a corrupt or foreign file) reads as none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatClockMemory, loadClockMemory, parseClockMemory, saveClockMemory, type ClockMemoryKey } from '../../src/clock/clock-memory.js';
import type { FitParams } from '../../src/clock/time-filter.js';

const key: ClockMemoryKey = { bootId: '6b1f0c9e-0000-4000-8000-000000000001', timescaleId: 'abc123', clock: { offsetUs: 2.5e6, ratePpm: -40 } };
const fit: FitParams = { refLocalUs: 123456789.5, offsetUs: 1.7e15, rate: -3.9e-5, varOffset: 410.2, varRate: 2e-16, covOffsetRate: 1e-6 };

test('a saved fit loads back under the same key, exactly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-clock-mem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'clock-memory.json');
  assert.equal(await loadClockMemory(file, key), null, 'no file: none');
  await saveClockMemory(file, key, fit);
  assert.deepEqual(await loadClockMemory(file, key), fit);
  assert.equal(existsSync(`${file}.tmp`), false, 'written through a temporary file and renamed');
  await saveClockMemory(file, key, { ...fit, offsetUs: fit.offsetUs + 1 });
  assert.equal((await loadClockMemory(file, key))?.offsetUs, fit.offsetUs + 1, 'overwritten');
  assert.ok(readFileSync(file, 'utf8').length < 1000);
});

test('another boot, timescale or injected clock gets nothing', () => {
  const text = formatClockMemory(key, fit);
  assert.deepEqual(parseClockMemory(text, key), fit);
  assert.equal(parseClockMemory(text, { ...key, bootId: 'other-boot' }), null);
  assert.equal(parseClockMemory(text, { ...key, timescaleId: 'other' }), null);
  assert.equal(parseClockMemory(text, { ...key, clock: { ...key.clock, ratePpm: 0 } }), null);
  assert.equal(parseClockMemory(text, { ...key, clock: { ...key.clock, offsetUs: 0 } }), null);
});

test('corrupt, foreign or oversized files read as none', async (t) => {
  const good = JSON.parse(formatClockMemory(key, fit)) as Record<string, unknown>;
  const bad: unknown[] = [
    '', 'not json', 'null', '[]', '42',
    { ...good, version: 2 },
    { ...good, clock: null },
    { ...good, fit: null },
    { ...good, fit: { ...fit, rate: 'fast' } },
    { ...good, fit: { ...fit, varOffset: null } },
    { ...good, fit: { refLocalUs: 1 } },
  ];
  for (const b of bad) assert.equal(parseClockMemory(typeof b === 'string' ? b : JSON.stringify(b), key), null, JSON.stringify(b));
  assert.equal(parseClockMemory(JSON.stringify({ ...good, pad: 'x'.repeat(5000) }), key), null);
  // NaN and Infinity do not survive JSON; a number that overflows does not either.
  assert.equal(parseClockMemory(JSON.stringify(good).replace(/"rate":[^,}]+/, '"rate":1e999'), key), null);
  const dir = mkdtempSync(join(tmpdir(), 'jas-clock-mem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'x.json'), '\u0000\u0001garbage');
  assert.equal(await loadClockMemory(join(dir, 'x.json'), key), null);
  assert.equal(await loadClockMemory(dir, key), null, 'a directory is not a memory');
});
