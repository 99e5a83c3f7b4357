// The recorder side: calibrate() against a fake leader (REST through an injected fetch) and a fake
// recorder whose audio holds the probes at known delays; `ctl calibrate` with a real recorder
// command (silence) reports every member as not heard and exits 3; usage errors exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import { calibrate, type RecordedAudio, type Recorder } from '../../src/cli/calibrate.js';
import { runCtl } from '../../src/cli/ctl.js';
import { planCalibration, SEARCH_AFTER_MS, SEARCH_BEFORE_MS } from '../../src/calibration/calibration-plan.js';
import { DEFAULT_PROBE, probeSamples } from '../../src/calibration/probe-signal.js';

const RATE = 48_000;
const PROBE = { ...DEFAULT_PROBE, rate: RATE };
/** Leader time = local performance.now() µs + this. */
const OFFSET_US = 1_750_000_000_000_000;
const leaderNowUs = (): number => performance.now() * 1000 + OFFSET_US;

/** A schedule that already ended (so nothing waits): probes of `ids` from 20 s ago. */
function pastSchedule(ids: string[], outputDelayMs: number[]): CalibrationReply {
  const plan = planCalibration(ids, 3, PROBE);
  const startUs = Math.round(leaderNowUs() - 20_000_000);
  return {
    runId: 'fake', probe: PROBE,
    probes: plan.probes.map((p) => ({ memberId: p.memberId, atUs: startUs + (p.frame * 1e6) / RATE })),
    members: ids.map((memberId, i) => ({ memberId, outputDelayMs: outputDelayMs[i]!, volume: 1 })),
    startUs, endUs: startUs + (plan.trackFrames * 1e6) / RATE, searchBeforeMs: SEARCH_BEFORE_MS, searchAfterMs: SEARCH_AFTER_MS,
  };
}

interface Call { method: string; url: string; body: unknown }

function fakeLeader(schedule: CalibrationReply | { status: number; error: string; message: string }): { fetch: typeof globalThis.fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetch = (async (url: string | URL, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) as unknown : undefined;
    calls.push({ method, url: String(url), body });
    const json = (status: number, v: unknown): Response => new Response(JSON.stringify(v), { status, headers: { 'content-type': 'application/json' } });
    if (String(url).endsWith('/api/status')) return json(200, { leader: { nowUs: leaderNowUs() } });
    if (String(url).endsWith('/api/calibration')) return 'status' in schedule ? json(schedule.status, schedule) : json(200, schedule);
    if (method === 'PUT') return json(200, { ok: true });
    return json(404, { error: 'JAS_ERR_NOT_FOUND', message: 'not found' });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

/** Audio that began 25 s ago (local time), with each member's probes `delaysMs` after schedule. */
class FakeRecorder implements Recorder {
  started = false;
  stopped = false;
  constructor(private readonly schedule: () => CalibrationReply, private readonly delaysMs: Record<string, number>) {}
  async start(): Promise<void> {
    this.started = true;
  }
  async stop(): Promise<RecordedAudio> {
    this.stopped = true;
    const firstSampleLocalMs = performance.now() - 25_000;
    const firstLeaderUs = firstSampleLocalMs * 1000 + OFFSET_US;
    const samples = new Float32Array(26 * RATE);
    const probe = probeSamples(PROBE);
    for (const p of this.schedule().probes) {
      const d = this.delaysMs[p.memberId];
      if (d === undefined) continue;
      const at = Math.round(((p.atUs + d * 1000 - firstLeaderUs) / 1e6) * RATE);
      for (let i = 0; i < probe.length; i++) samples[at + i] = samples[at + i]! + probe[i]!;
    }
    return { samples, rate: RATE, firstSampleLocalMs };
  }
}

test('calibrate(): reads the leader clock, records around the run, finds delays and applies the proposal', async () => {
  const schedule = pastSchedule(['a', 'b'], [0, 10]);
  const leader = fakeLeader(schedule);
  const rec = new FakeRecorder(() => schedule, { a: 5, b: 47 });
  const r = await calibrate({ baseUrl: 'http://leader:7700', headers: { authorization: 'Bearer x' }, fetch: leader.fetch, recorder: rec, body: { rounds: 3 }, apply: true });
  assert.ok(rec.started && rec.stopped);
  const b = r.report.members.find((m) => m.memberId === 'b')!;
  assert.ok(Math.abs(b.relativeMs! - 42) < 0.05, `b ${b.relativeMs}`);
  // Absolute figures: the fake leader's clock is exact, so only the REST round trip bounds them.
  const a = r.report.members.find((m) => m.memberId === 'a')!;
  assert.ok(Math.abs(a.delayMs! - 5) < 1 + r.clockErrorUs / 1000, `a ${a.delayMs}`);
  assert.deepEqual(r.applied, ['a', 'b']);
  const puts = leader.calls.filter((c) => c.method === 'PUT');
  assert.deepEqual(puts.map((c) => c.url), ['http://leader:7700/api/members/a', 'http://leader:7700/api/members/b']);
  assert.ok(Math.abs((puts[1]!.body as { outputDelayMs: number }).outputDelayMs - 52) < 0.05);
  const post = leader.calls.find((c) => c.method === 'POST')!;
  assert.deepEqual(post.body, { rounds: 3 });
});

test('calibrate(): a refused run stops the recorder and reports the leader\'s error', async () => {
  const leader = fakeLeader({ status: 409, error: 'JAS_ERR_CONFLICT', message: 'conflict: music is playing' });
  const rec = new FakeRecorder(() => pastSchedule([], []), {});
  await assert.rejects(calibrate({ baseUrl: 'http://l', headers: {}, fetch: leader.fetch, recorder: rec, body: {}, apply: true }), /JAS_ERR_CONFLICT: conflict: music is playing/);
  assert.ok(rec.stopped);
  assert.equal(leader.calls.filter((c) => c.method === 'PUT').length, 0);
});

test('calibrate(): a schedule that is not one is refused before anything is analysed or applied', async () => {
  const bad = { ...pastSchedule(['a'], [0]), probes: [{ memberId: 'a', atUs: 'soon' }] } as unknown as CalibrationReply;
  const leader = fakeLeader(bad);
  const rec = new FakeRecorder(() => pastSchedule([], []), {});
  await assert.rejects(calibrate({ baseUrl: 'http://l', headers: {}, fetch: leader.fetch, recorder: rec, body: {}, apply: true }), /schedule is not usable: \/probes\/0\/atUs/);
  assert.ok(rec.stopped);
  assert.equal(leader.calls.filter((c) => c.method === 'PUT').length, 0);
});

test('ctl calibrate: a real recorder command hearing silence: every member NOT HEARD, exit 3, nothing applied', async () => {
  const schedule = pastSchedule(['m1'], [0]);
  const leader = fakeLeader(schedule);
  let out = '';
  let err = '';
  const code = await runCtl(['ctl', 'calibrate', '--leader', 'http://leader:7700', '--apply', '--record-cmd', 'head -c 96000 /dev/zero; sleep 5'],
    { env: {}, fetch: leader.fetch, out: (s) => { out += s; }, err: (s) => { err += s; } });
  assert.equal(code, 3, err);
  assert.match(out, /m1: NOT HEARD/);
  assert.match(out, /not applied/);
  assert.equal(leader.calls.filter((c) => c.method === 'PUT').length, 0);
});

test('ctl calibrate: usage errors exit 2', async () => {
  for (const args of [['--rounds', 'x'], ['--channels', '0'], ['--bogus', '1']]) {
    let err = '';
    const code = await runCtl(['ctl', 'calibrate', ...args], { env: {}, fetch: fakeLeader(pastSchedule([], [])).fetch, out: () => {}, err: (s) => { err += s; } });
    assert.equal(code, 2, `${args.join(' ')}: ${err}`);
  }
});
