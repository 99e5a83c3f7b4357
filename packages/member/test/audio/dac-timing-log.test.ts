import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DacTimingLog } from '../../src/audio/dac-timing-log.js';

test('DacTimingLog writes one line per entry at flush, appends, and reports a bad path instead of throwing', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-dac-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'm.dac.ndjson');
  const { log, error } = DacTimingLog.open(file);
  assert.equal(error, null);
  log!.add({ deviceFrame: 256, ringPos: 0, dacTimeNs: 123_456_789_012n, callbackTimeNs: 123_400_000_000n });
  assert.equal(readFileSync(file, 'utf8'), '', 'buffered until flush');
  log!.flush();
  log!.add({ deviceFrame: 512, ringPos: 256, dacTimeNs: 2, callbackTimeNs: 1 });
  log!.close();
  assert.equal(readFileSync(file, 'utf8'), '256 0 123456789012 123400000000\n512 256 2 1\n');
  log!.add({ deviceFrame: 1, ringPos: 1, dacTimeNs: 1, callbackTimeNs: 1 });
  log!.flush(); // closed: ignored
  assert.equal(readFileSync(file, 'utf8').split('\n').length, 3);
  const bad = DacTimingLog.open(join(dir, 'missing-dir', 'x'));
  assert.equal(bad.log, null);
  assert.match(bad.error ?? '', /JAS_DAC_TIMING_LOG/);
  assert.deepEqual(DacTimingLog.open(undefined), { log: null, error: null });
});
