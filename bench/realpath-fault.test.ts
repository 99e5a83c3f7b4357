import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFault, firstInSyncRun } from './realpath-fault.js';
import type { WindowResult } from './realpath-analysis.js';

const win = (offsetUs: number | null, i: number): WindowResult => ({ tS: i * 0.1 + 0.05, startFrame: i * 4800, frames: 4800, offsetUs, quality: 1, spreadUs: 0, rmsUs: 0, rejected: offsetUs === null ? 'silent' : null } as unknown as WindowResult);

test('firstInSyncRun: the first of 5 consecutive accepted windows within 100 µs', () => {
  const ws = [500, 90, 80, null, 10, 20, 30, 40, 150, 10, 10, 10, 10, 10].map(win);
  assert.equal(firstInSyncRun(ws), 9);
  assert.equal(firstInSyncRun([1, 2, 3, 4].map(win)), null);
  assert.equal(firstInSyncRun([1, 2, 3, 4, 5].map(win)), 0);
});

test('analyseFault: a recording that comes back in sync, with one loud sample, and the members\' own account', () => {
  const rate = 48_000;
  const frames = rate * 4;
  const samples = new Int16Array(frames * 2);
  let seed = 1;
  const rnd = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31 - 0.5;
  };
  // 0.5 s of silence (the server just came back), then noise, the right channel 1 sample late.
  let prev = 0;
  for (let f = rate / 2; f < frames; f++) {
    const v = Math.round(rnd() * 8000);
    samples[2 * f] = v;
    samples[2 * f + 1] = prev;
    prev = v;
  }
  samples[2 * (rate * 3)] = 32_000; // one full-scale click
  const upNs = 1e12;
  const arrivals = Array.from({ length: 400 }, (_, i) => ({ monoNs: upNs + (i + 1) * 10e6, endFrame: (i + 1) * 480 }));
  const killedWallMs = 1_796_000_000_000;
  const log = (msg: string, dt: number): string => JSON.stringify({ level: 40, time: killedWallMs + dt, msg });
  const r = analyseFault('server-restart', { samples, rate }, arrivals, { killedNs: upNs - 2e9, upNs, killedWallMs, downMs: 2000 }, [
    { id: 'member1', logLines: [log('audio output lost: the output stream ended', 180), log('audio output back after a 2400 ms gap', 2600)], output: { lost: false, restarts: 1, lastGapMs: 2400 } },
    { id: 'member2', logLines: [], output: null },
  ]);
  assert.ok(r.first_sound_after_return_ms.left !== null && Math.abs(r.first_sound_after_return_ms.left - 500) < 15, JSON.stringify(r.first_sound_after_return_ms));
  assert.ok(r.back_in_sync_s !== null && r.back_in_sync_s >= 0.45 && r.back_in_sync_s < 0.8, `back in sync at ${r.back_in_sync_s} s`);
  assert.ok(r.max_offset_after_us !== null && Math.abs(r.max_offset_after_us - 1e6 / rate) < 2, `max offset ${r.max_offset_after_us} µs`);
  assert.equal(r.loud_samples, 1);
  assert.deepEqual(r.members['member1'], { noticed_after_ms: 180, back_log_after_ms: 2600, reported_gap_ms: 2400, restarts: 1, lost_at_end: false });
  assert.deepEqual(r.members['member2'], { noticed_after_ms: null, back_log_after_ms: null, reported_gap_ms: null, restarts: null, lost_at_end: null });
});
