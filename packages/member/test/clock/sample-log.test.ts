import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SampleLog } from '../../src/clock/sample-log.js';

test('sample log: off without a path, one line per exchange, a bad path is an error not a crash', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-sample-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(SampleLog.open(undefined), { log: null, error: null });
  assert.deepEqual(SampleLog.open(''), { log: null, error: null });
  const file = path.join(dir, 'm.samples');
  const { log, error } = SampleLog.open(file);
  assert.equal(error, null);
  assert.ok(log);
  log.write(1.5, 1796000000000000.25, 1796000000000030.5, 260.75, true);
  log.write(2, 3, 4, 5, false);
  log.close();
  log.write(6, 7, 8, 9, true); // after close: ignored
  assert.equal(readFileSync(file, 'utf8'), '1.5 1796000000000000.2 1796000000000030.5 260.75 1\n2 3 4 5 0\n');
  const bad = SampleLog.open(path.join(dir, 'no', 'such', 'dir', 'x'));
  assert.equal(bad.log, null);
  assert.match(bad.error ?? '', /^JAS_CLOCK_SAMPLE_LOG: ENOENT/);
});
