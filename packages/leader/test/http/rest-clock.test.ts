// PUT /api/clock: refused without a shared key (nobody is authenticated) and without the token;
// refused while a command given as a time of day is scheduled unless confirmed; then times of day
// are read against the phone's time while the leader timescale does not move.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { generateKey, parseKey, restToken } from '@jaudiosync/protocol/auth';
import { createHttpServer } from '../../src/http/http-server.js';
import { registerRestRoutes } from '../../src/http/rest-routes.js';
import { TimelineController } from '../../src/timeline/timeline-controller.js';
import { WallClock } from '../../src/clock/wall-clock.js';
import type { CatalogTrack } from '../../src/playlist/track-catalog.js';
import { loudnessOff } from './loudness-stub.js';

const RATE = 48_000;
const YEAR_MS = 365 * 86_400_000;
const apps: FastifyInstance[] = [];
after(async () => { for (const a of apps) await a.close(); });

async function setup(keyed: boolean) {
  const t = { mono: 1_000_000, system: Date.UTC(2023, 5, 1, 10, 0, 0) }; // the leader's clock: three years behind
  const wall = new WallClock({ systemNowMs: () => t.system, monoNowMs: () => t.mono, bootId: 'b' });
  const timescale = { nowUs: () => 1_600_000_000_000_000 + t.mono * 1000 };
  const controller = new TimelineController({ timescale, outputRate: RATE, wallNowMs: () => wall.nowMs(), minLeadMs: 250 });
  const tracks: CatalogTrack[] = [{ id: 'a'.repeat(64), path: '/m/a.flac', title: 'A', frames: RATE * 600, sourceRate: RATE, sourceFrames: RATE * 600, channels: 2, sizeBytes: 1, mtimeMs: 0, line: 1 }];
  controller.setTracks(tracks);
  const key = keyed ? parseKey(generateKey()) : undefined;
  const app = createHttpServer(key ? { key } : {});
  registerRestRoutes(app, {
    ...loudnessOff(), controller, members: () => [], tracks: () => tracks, playlistPath: () => undefined, playlistProblems: () => [],
    loadPlaylist: async () => ({ path: null, tracks: 0, problems: [] }),
    leader: () => ({ id: 'leader', version: '0.1.0', protocol: '1.0', nowUs: timescale.nowUs(), ntpPort: 11123, outputRate: RATE }),
    events: new EventEmitter(), version: '0.1.0',
    clock: { settable: keyed, nowMs: () => wall.nowMs(), set: (ms) => wall.set(ms) },
  });
  await app.ready();
  apps.push(app);
  const auth: Record<string, string> = key ? { authorization: `Bearer ${restToken(key)}` } : {};
  const call = async (method: 'PUT' | 'POST', url: string, body: unknown, headers: Record<string, string> = auth) => {
    const res = await app.inject({ method, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  return { t, wall, timescale, controller, call };
}

test('refused without a shared key on the leader, and without the token on a keyed one', async () => {
  const open = await setup(false);
  let r = await open.call('PUT', '/api/clock', { wallMs: Date.UTC(2026, 5, 1) });
  assert.equal(r.status, 401);
  assert.equal(r.body['error'], 'JAS_ERR_UNAUTHORIZED');
  assert.match(String(r.body['message']), /shared key/);
  assert.equal(open.wall.source, 'system');
  const keyed = await setup(true);
  r = await keyed.call('PUT', '/api/clock', { wallMs: Date.UTC(2026, 5, 1) }, {});
  assert.equal(r.status, 401);
  assert.equal(keyed.wall.source, 'system');
});

test('validated: wallMs an integer between 2000 and 2100, confirm a boolean, nothing else', async () => {
  const { call } = await setup(true);
  for (const [body, field] of [[{}, '/wallMs'], [{ wallMs: 12 }, '/wallMs'], [{ wallMs: '1800000000000' }, '/wallMs'], [{ wallMs: 1.8e12 + 0.5 }, '/wallMs'],
    [{ wallMs: 1.8e12, confirm: 'yes' }, '/confirm'], [{ wallMs: 1.8e12, at: '+5s' }, '/at']] as const) {
    const r = await call('PUT', '/api/clock', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body['field'], field, JSON.stringify(r.body));
  }
});

test('takes the phone time: the time of day is then read against it, the timescale does not move', async () => {
  const { t, controller, timescale, call } = await setup(true);
  const phoneMs = t.system + 3 * YEAR_MS + 7_200_000 + 1234; // three years and two hours on
  const before = timescale.nowUs();
  const r = await call('PUT', '/api/clock', { wallMs: phoneMs });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body['method'], 'offset');
  assert.equal(r.body['stepMs'], phoneMs - t.system);
  assert.equal(r.body['wallMs'], phoneMs);
  assert.equal(timescale.nowUs(), before, 'the leader timescale did not step');
  // "HH:MM:SS" five seconds ahead by the phone's clock plays five seconds from now.
  const at = new Date(phoneMs + 5000);
  const hhmmss = [at.getHours(), at.getMinutes(), at.getSeconds()].map((v) => String(v).padStart(2, '0')).join(':');
  const play = controller.play({ at: hhmmss });
  const frac = (phoneMs + 5000) % 1000;
  assert.equal(play.atUs, before + 5_000_000 - frac * 1000);
});

test('refused while a time-of-day command is scheduled, unless confirmed; delays do not count', async () => {
  const { t, controller, call } = await setup(true);
  controller.play({ delayMs: 60_000 });
  let r = await call('PUT', '/api/clock', { wallMs: t.system + 10_000 });
  assert.equal(r.status, 200, 'a delay is not a time of day');
  const at = new Date(t.system + 10_000 + 120_000);
  controller.stop({ at: at.toISOString() });
  r = await call('PUT', '/api/clock', { wallMs: t.system + 20_000 });
  assert.equal(r.status, 409);
  assert.equal(r.body['error'], 'JAS_ERR_CONFLICT');
  assert.match(String(r.body['message']), /confirm/);
  r = await call('PUT', '/api/clock', { wallMs: t.system + 20_000, confirm: true });
  assert.equal(r.status, 200);
  assert.equal(r.body['stepMs'], 10_000);
  // A volume change at a time of day counts too.
  t.mono += 200_000; // past the stop
  controller.setVolume({ volume: 0.5, at: new Date(t.system + 20_000 + 200_000 + 60_000).toISOString() });
  r = await call('PUT', '/api/clock', { wallMs: t.system + 20_000 + 200_000 });
  assert.equal(r.status, 409);
});
