// The calibration run on the leader with fakes (no daemons): refused while music plays unless
// forced, members muted then unmuted one at a time at their own volume, the probe track served
// by hash, the real timeline and settings back afterwards; the REST route validates its body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { MessageInput } from '@jaudiosync/protocol/messages';
import { CalibrationRunner } from '../../src/calibration/calibration-runner.js';
import { createHttpServer } from '../../src/http/http-server.js';
import { calibrationRoutes } from '../../src/http/calibration-routes.js';
import { registerRestRoutes, type RestDeps } from '../../src/http/rest-routes.js';
import type { MemberView } from '../../src/members/member-registry.js';
import { TimelineController, type MemberSettings } from '../../src/timeline/timeline-controller.js';

const RATE = 48_000;

const member = (id: string, connected = true): MemberView => ({
  id, hostname: id, endpoint: `10.99.0.2:7701`, source: 'mdns', status: connected ? 'connected' : 'backoff', connected,
  rttUs: { last: 1000, p90: 1000, samples: 5 }, lastSeenWallMs: 0, hello: null, state: null, trackErrors: [], error: null,
} as MemberView);

async function setup(t: { after(fn: () => Promise<void> | void): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'jas-cal-'));
  const base = Date.now() * 1000;
  const t0 = performance.now();
  const nowUs = (): number => base + (performance.now() - t0) * 1000;
  const controller = new TimelineController({ timescale: { nowUs }, outputRate: RATE, minLeadMs: 250, memberRtts: () => [] });
  controller.setTracks([{ id: 'a'.repeat(64), frames: 600 * RATE }]);
  controller.updateMemberSettings('m1', { volume: 0.5, outputDelayMs: 12 });
  const broadcasts: MessageInput[] = [];
  const settings: Array<{ id: string; s: MemberSettings; atUs: number; sentUs: number }> = [];
  const timelines: number[] = [];
  controller.on('timeline', (tl) => timelines.push(tl.rev));
  const members = [member('m1'), member('m2'), member('gone', false)];
  let decoded = false;
  const runner = new CalibrationRunner({
    controller,
    members: { list: () => members, broadcast: (m) => { broadcasts.push(m); return 2; }, trackDecodedEverywhere: () => decoded },
    sendSettings: (id, s, atUs) => settings.push({ id, s, atUs, sentUs: nowUs() }),
    nowUs, outputRate: RATE, dir, log: pino({ level: 'silent' }), decodeTimeoutMs: 2000,
  });
  t.after(async () => {
    runner.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { controller, runner, broadcasts, settings, timelines, setDecoded: (v: boolean) => { decoded = v; }, nowUs };
}

test('refused while music plays unless forced; unknown members and a second run are refused', async (t) => {
  const h = await setup(t);
  h.controller.play({});
  await new Promise((r) => setTimeout(r, 450));
  await assert.rejects(h.runner.start({}), /music is playing/);
  assert.equal(h.broadcasts.length, 0, 'nothing sent for a refused run');
  await assert.rejects(h.runner.start({ force: true, members: ['gone'] }), /connected member gone/);
  h.setDecoded(true);
  const run = h.runner.start({ force: true, rounds: 1 });
  await assert.rejects(h.runner.start({ force: true }), /already running/);
  const schedule = await run;
  assert.equal(schedule.probes.length, 2);
});

test('members are muted, then each unmuted at its own volume around its probes only; everything is restored', async (t) => {
  const h = await setup(t);
  const revBefore = h.controller.timeline.rev;
  setTimeout(() => h.setDecoded(true), 200);
  const s = await h.runner.start({ rounds: 1 });
  // The probe track: served by its hash, a WAV as long as the timeline says.
  const tl = h.broadcasts.at(-1) as Extract<MessageInput, { type: 'timeline' }>;
  assert.equal(tl.rev, revBefore + 2, 'two borrowed revisions: the stopped probe track, then playing');
  assert.equal(tl.revisions[0]?.playing, true);
  assert.equal(tl.revisions[0]?.atUs, s.startUs);
  const served = h.runner.servedTrack(tl.tracks[0]!.id)!;
  const bytes = await readFile(served.path);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), tl.tracks[0]!.id);
  assert.equal((bytes.length - 44) / 4, tl.tracks[0]!.frames);
  assert.deepEqual(s.members, [{ memberId: 'm1', outputDelayMs: 12, volume: 0.5 }, { memberId: 'm2', outputDelayMs: 0, volume: 1 }]);
  assert.deepEqual(s.probes.map((p) => p.memberId), ['m1', 'm2']);
  // At the start: every connected member muted, its delay and channel mode kept.
  const first = h.settings.slice(0, 2);
  assert.deepEqual(first.map((x) => [x.id, x.s.volume, x.s.outputDelayMs]), [['m1', 0, 12], ['m2', 0, 0]]);
  await new Promise((r) => setTimeout(r, (s.endUs - h.nowUs()) / 1000 + 600));
  // During the run: per member an unmute to its own volume before its probe, a mute after it.
  const during = h.settings.slice(2, 6);
  for (const p of s.probes) {
    const mine = during.filter((x) => x.id === p.memberId);
    assert.equal(mine.length, 2, `${p.memberId}: unmute and mute`);
    const [up, down] = mine;
    assert.equal(up!.s.volume, p.memberId === 'm1' ? 0.5 : 1);
    assert.ok(up!.atUs < p.atUs && up!.atUs > p.atUs - 500_000, 'unmuted shortly before its probe');
    assert.ok(up!.sentUs < up!.atUs, 'sent ahead');
    assert.equal(down!.s.volume, 0);
    assert.ok(down!.atUs > p.atUs + s.probe.durationMs * 1000 && down!.atUs < p.atUs + s.probe.durationMs * 1000 + 500_000, 'muted after its probe');
    assert.ok(down!.sentUs > up!.atUs, 'the mute is sent only once the unmute applied (one ramp at a time)');
  }
  const other = s.probes.find((p) => p.memberId === 'm2')!;
  const m1down = during.filter((x) => x.id === 'm1')[1]!;
  assert.ok(m1down.atUs < other.atUs - 250_000, 'm1 is muted before m2 plays');
  // Afterwards: own settings back, and the real timeline again under a newer revision.
  const last = h.settings.slice(6);
  assert.deepEqual(last.map((x) => [x.id, x.s.volume, x.s.outputDelayMs]), [['m1', 0.5, 12], ['m2', 1, 0]]);
  assert.equal(h.timelines.at(-1), revBefore + 3);
  assert.equal(h.runner.running, false);
});

test('members that never decode the probe track: refused after the timeout, everything restored', async (t) => {
  const h = await setup(t);
  const revBefore = h.controller.timeline.rev;
  await assert.rejects(h.runner.start({}), /did not decode the probe track/);
  assert.equal(h.runner.running, false);
  assert.equal(h.timelines.at(-1), revBefore + 2, 'the real timeline republished');
  assert.deepEqual(h.settings.slice(-2).map((x) => [x.id, x.s.volume]), [['m1', 0.5], ['m2', 1]]);
});

test('POST /api/calibration validates its body and is in the OpenAPI document', async (t) => {
  const h = await setup(t);
  const app = createHttpServer({ logger: false });
  const deps = {
    controller: h.controller, members: () => [], tracks: () => [], playlistPath: () => undefined, playlistProblems: () => [],
    loadPlaylist: async () => ({ path: null, tracks: 0, problems: [] }),
    leader: () => ({ id: 'l', version: '0', protocol: '1.0', nowUs: 0, ntpPort: 1, outputRate: RATE }),
    events: new (await import('node:events')).EventEmitter(), version: '0', extraRoutes: calibrationRoutes(h.runner),
  } as unknown as RestDeps;
  registerRestRoutes(app, deps);
  t.after(() => app.close());
  for (const payload of [{ rounds: 0 }, { rounds: 6 }, { members: [] }, { force: 'yes' }, { extra: 1 }]) {
    const res = await app.inject({ method: 'POST', url: '/api/calibration', payload });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.equal(res.json().error, 'JAS_ERR_VALIDATION');
  }
  h.controller.play({});
  await new Promise((r) => setTimeout(r, 450));
  const busy = await app.inject({ method: 'POST', url: '/api/calibration', payload: {} });
  assert.equal(busy.statusCode, 409);
  assert.match(busy.json().message, /music is playing/);
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, unknown> };
  assert.ok(doc.paths['/api/calibration']);
});

test('more probes than one run may hold: refused with a clear error, nothing sent', async (t) => {
  const h = await setup(t);
  const many = Array.from({ length: 20 }, (_, i) => member(`n${i}`));
  const runner = new CalibrationRunner({
    controller: h.controller, members: { list: () => many, broadcast: () => 0, trackDecodedEverywhere: () => true },
    sendSettings: () => assert.fail('nothing is sent'), nowUs: h.nowUs, outputRate: RATE, dir: tmpdir(), log: pino({ level: 'silent' }),
  });
  await assert.rejects(runner.start({ rounds: 3 }), /20 members x 3 rounds is more than 48 probes/);
  assert.equal(runner.running, false);
});
