import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeferredLog, type LineLogger } from '../src/deferred-log.js';

function recorder(): LineLogger & { lines: Array<[string, object, string]> } {
  const lines: Array<[string, object, string]> = [];
  return {
    lines,
    info: (obj, msg) => void lines.push(['info', obj, msg]),
    warn: (obj, msg) => void lines.push(['warn', obj, msg]),
    error: (obj, msg) => void lines.push(['error', obj, msg]),
  };
}

test('lines written before attach reach the logger in order, each with the time it was written', () => {
  const log = new DeferredLog();
  const before = Date.now();
  log.info({ a: 1 }, 'first');
  log.error({}, 'second');
  const target = recorder();
  log.attach(target);
  assert.deepEqual(target.lines.map(([level, , msg]) => [level, msg]), [['info', 'first'], ['error', 'second']]);
  const [, obj] = target.lines[0]!;
  assert.equal((obj as { a: number }).a, 1);
  const at = (obj as { writtenAt: number }).writtenAt;
  assert.ok(at >= before && at <= Date.now());
});

test('after attach lines pass straight through, without writtenAt', () => {
  const log = new DeferredLog();
  const target = recorder();
  log.attach(target);
  log.warn({ b: 2 }, 'now');
  assert.deepEqual(target.lines, [['warn', { b: 2 }, 'now']]);
});
