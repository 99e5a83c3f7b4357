// The leader's wall clock from a phone: the system clock set where permitted, else the phone's time
// kept on CLOCK_MONOTONIC (and kept across a restart on the same boot only); dropped once the
// system clock agrees again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WallClock } from '../../src/clock/wall-clock.js';

const YEAR_MS = 365 * 86_400_000;
const REAL_MS = 1_800_000_000_000;

function fakeClocks() {
  const t = { system: REAL_MS - 3 * YEAR_MS, mono: 5_000_000 };
  return { t, systemNowMs: () => t.system, monoNowMs: () => t.mono, advance: (ms: number) => { t.system += ms; t.mono += ms; } };
}

test('without --set-system-clock: the phone time is kept as an offset on the monotonic clock, across a restart on the same boot', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jas-wall-'));
  try {
    const f = fakeClocks();
    const w = new WallClock({ stateDir: dir, systemNowMs: f.systemNowMs, monoNowMs: f.monoNowMs, bootId: 'boot-a' });
    assert.equal(w.source, 'system');
    assert.equal(w.nowMs(), f.t.system);
    {
      const r = await w.set(REAL_MS);
      assert.equal(r.method, 'offset');
      assert.equal(r.stepMs, 3 * YEAR_MS);
      assert.match(r.detail ?? '', /--set-system-clock/);
      assert.equal(w.source, 'phone');
      f.advance(10_000);
      assert.equal(w.nowMs(), REAL_MS + 10_000);
      // A restart on the same boot keeps it; another boot does not.
      assert.equal(new WallClock({ stateDir: dir, systemNowMs: f.systemNowMs, monoNowMs: f.monoNowMs, bootId: 'boot-a' }).nowMs(), REAL_MS + 10_000);
      assert.equal(new WallClock({ stateDir: dir, systemNowMs: f.systemNowMs, monoNowMs: f.monoNowMs, bootId: 'boot-b' }).nowMs(), f.t.system);
      // The system clock put right later (chrony found a source): the system clock again.
      f.t.system = REAL_MS + 10_400;
      assert.equal(w.nowMs(), REAL_MS + 10_400);
      assert.equal(w.source, 'system');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with --set-system-clock: the system clock is set; when that fails, the offset with the reason', async () => {
  const f = fakeClocks();
  const set: number[] = [];
  const w = new WallClock({ setSystemClock: true, systemNowMs: f.systemNowMs, monoNowMs: f.monoNowMs, bootId: 'b', setSystem: async (ms) => { set.push(ms); f.t.system = ms; } });
  const r = await w.set(REAL_MS);
  assert.deepEqual(r, { method: 'system', stepMs: 3 * YEAR_MS });
  assert.deepEqual(set, [REAL_MS]);
  assert.equal(w.source, 'system');
  assert.equal(w.nowMs(), REAL_MS);
  const failing = new WallClock({ setSystemClock: true, systemNowMs: f.systemNowMs, monoNowMs: f.monoNowMs, bootId: 'b', setSystem: async () => { throw new Error('date: cannot set date: Operation not permitted'); } });
  const r2 = await failing.set(REAL_MS + 60_000);
  assert.equal(r2.method, 'offset');
  assert.match(r2.detail ?? '', /Operation not permitted/);
  assert.equal(failing.nowMs(), REAL_MS + 60_000);
});
