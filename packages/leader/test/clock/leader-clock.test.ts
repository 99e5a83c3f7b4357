// The leader clock's anchor and timescale id: a leader restarted on the same boot with its state
// directory serves the same timescale under the same id (members keep their clock memory); a
// re-anchored timescale gets another id (members must not use what they remembered).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLeaderClock, timescaleIdOf } from '../../src/leader-clock.js';
import { WelcomeMessage } from '@jaudiosync/protocol';
import { Value } from '@sinclair/typebox/value';

test('same boot and state directory: same anchor and timescale id; a lost anchor: a new id', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-leader-clock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { ntpPort: 1, host: '127.0.0.1', stateDir: dir };
  const a = createLeaderClock(opts);
  const b = createLeaderClock(opts);
  assert.equal(a.resumed, false);
  assert.equal(b.resumed, true);
  assert.equal(b.timescale.anchorWallUs, a.timescale.anchorWallUs);
  assert.equal(b.timescaleId, a.timescaleId);
  assert.match(a.timescaleId!, /^[0-9a-f]{32}$/);
  unlinkSync(join(dir, 'timescale.json'));
  const c = createLeaderClock(opts);
  assert.equal(c.resumed, false);
  assert.notEqual(c.timescaleId, a.timescaleId);
});

test('the timescale id names boot and anchor, and fits the welcome schema', () => {
  const t0 = { anchorWallUs: 1_764_000_000_000_000, anchorMonoNs: 123_456_789n };
  const id = timescaleIdOf('boot-a', t0);
  assert.equal(timescaleIdOf('boot-a', { ...t0 }), id);
  assert.notEqual(timescaleIdOf('boot-b', t0), id);
  assert.notEqual(timescaleIdOf('boot-a', { ...t0, anchorWallUs: t0.anchorWallUs + 1 }), id);
  assert.notEqual(timescaleIdOf('boot-a', { ...t0, anchorMonoNs: t0.anchorMonoNs + 1n }), id);
  assert.notEqual(timescaleIdOf(null, t0), id);
  const welcome = { type: 'welcome', v: '1.2', leaderId: 'leader', ntpPort: 123, trackBaseUrl: 'http://10.0.0.1:8080/tracks', serverTimeUs: 1, timescaleId: id };
  assert.ok(Value.Check(WelcomeMessage, welcome));
  assert.ok(!Value.Check(WelcomeMessage, { ...welcome, timescaleId: 'no spaces allowed' }));
  assert.ok(!Value.Check(WelcomeMessage, { ...welcome, timescaleId: 'x'.repeat(65) }));
});
