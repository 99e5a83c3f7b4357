// The REST bearer token (docs/security.md): with a key every route but GET /healthz and the web
// page needs `Authorization: Bearer <restToken(key)>` (401 JAS_ERR_UNAUTHORIZED otherwise, with a
// WWW-Authenticate challenge), /tracks included; a token in the query string does not count;
// without a key everything stays open (development).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AuthKey, restToken } from '@jaudiosync/protocol/auth';
import { createHttpServer } from '../../src/http/http-server.js';
import { registerRestRoutes, type RestDeps } from '../../src/http/rest-routes.js';
import { registerTrackRoutes } from '../../src/http/track-routes.js';
import { registerUiRoutes } from '../../src/http/ui-routes.js';
import { TimelineController } from '../../src/timeline/timeline-controller.js';
import { sha256File, type CatalogTrack } from '../../src/playlist/track-catalog.js';

const T0_US = 1_700_000_000_000_000;
const key = AuthKey.generate();
const token = restToken(key);
let dir: string;
let keyed: FastifyInstance;
let open: FastifyInstance;
let trackId = '';

async function build(withKey: AuthKey | undefined, tracks: CatalogTrack[]): Promise<FastifyInstance> {
  const controller = new TimelineController({ timescale: { nowUs: () => T0_US }, outputRate: 48000, wallNowMs: () => T0_US / 1000, minLeadMs: 250 });
  controller.setTracks(tracks);
  const deps: RestDeps = {
    controller,
    members: () => [],
    tracks: () => tracks,
    playlistPath: () => undefined,
    playlistProblems: () => [],
    loadPlaylist: async () => ({ path: null, tracks: 0, problems: [] }),
    leader: () => ({ id: 'leader', version: '0.1.0', protocol: '1.1', nowUs: T0_US, ntpPort: 11123, outputRate: 48000 }),
    loudness: () => ({ normalize: 'off', targetLufs: -16, tracks: [] }),
    loudnessSettings: () => ({ normalize: 'off', targetLufs: -16 }),
    setLoudness: () => ({ normalize: 'off', targetLufs: -16, rev: null, atUs: null, at: null }),
    events: new EventEmitter(),
    version: '0.1.0',
  };
  const app = createHttpServer({ key: withKey });
  registerTrackRoutes(app, { lookup: (h) => tracks.find((t) => t.id === h) });
  registerRestRoutes(app, deps);
  registerUiRoutes(app);
  await app.ready();
  return app;
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jas-rest-auth-'));
  const file = path.join(dir, 'a.wav');
  await writeFile(file, Buffer.from('RIFF....WAVEfmt track bytes'));
  const st = await stat(file);
  trackId = await sha256File(file);
  const tracks: CatalogTrack[] = [
    { id: trackId, path: file, title: 'A', frames: 48000, sourceRate: 48000, sourceFrames: 48000, channels: 2, sizeBytes: st.size, mtimeMs: st.mtimeMs, line: 1 },
  ];
  keyed = await build(key, tracks);
  open = await build(undefined, tracks);
});
after(async () => {
  await keyed.close();
  await open.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(app: FastifyInstance, method: 'GET' | 'POST' | 'PUT', url: string, authorization?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers['authorization'] = authorization;
  const res = await app.inject({ method, url, headers, ...(method === 'GET' ? {} : { payload: '{}' }) });
  return res;
}

function assertUnauthorized(res: Awaited<ReturnType<typeof call>>, reason: RegExp): void {
  assert.equal(res.statusCode, 401, res.body);
  assert.equal(res.headers['www-authenticate'], 'Bearer realm="jaudiosync"');
  const body = res.json() as { error: string; message: string };
  assert.equal(body.error, 'JAS_ERR_UNAUTHORIZED');
  assert.match(body.message, reason);
  assert.ok(!res.body.includes(token) && !res.body.includes(key.reveal()), 'no secret echoed');
}

test('without the token: 401 on every API route, /tracks and unknown routes', async () => {
  const routes: Array<['GET' | 'POST' | 'PUT', string]> = [
    ['GET', '/api/status'], ['GET', '/api/members'], ['GET', '/api/playlist'], ['GET', '/api/openapi.json'], ['GET', '/api/events'],
    ['POST', '/api/stop'], ['POST', '/api/play'], ['PUT', '/api/volume'], ['PUT', '/api/playlist'],
    ['GET', `/tracks/${'0'.repeat(64)}`], ['GET', '/no/such/route'], ['POST', '/healthz'],
  ];
  for (const [method, url] of routes) assertUnauthorized(await call(keyed, method, url), /missing Authorization header/);
  const res = await keyed.inject({ method: 'GET', url: `/tracks/${trackId}` });
  assertUnauthorized(res, /missing Authorization/);
});

test('wrong token, the raw key, another scheme, or a token in the query string: 401 with the reason', async () => {
  assertUnauthorized(await call(keyed, 'GET', '/api/status', `Bearer ${restToken(AuthKey.generate())}`), /wrong REST token/);
  assertUnauthorized(await call(keyed, 'GET', '/api/status', `Bearer ${key.reveal()}`), /that is the shared key; send the REST token/);
  assertUnauthorized(await call(keyed, 'GET', '/api/status', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`), /Bearer/);
  assertUnauthorized(await call(keyed, 'GET', `/api/status?token=${token}`), /missing Authorization/);
  assertUnauthorized(await call(keyed, 'GET', `/api/status?access_token=${token}`), /missing Authorization/);
  assertUnauthorized(await call(keyed, 'POST', '/api/stop', `Bearer ${token}x`), /wrong REST token/);
});

test('with the token: 200 on the API and /tracks (what members send)', async () => {
  const status = await call(keyed, 'GET', '/api/status', `Bearer ${token}`);
  assert.equal(status.statusCode, 200, status.body);
  assert.equal((status.json() as { leader: { id: string } }).leader.id, 'leader');
  const track = await keyed.inject({ method: 'GET', url: `/tracks/${trackId}`, headers: { authorization: `Bearer ${token}` } });
  assert.equal(track.statusCode, 200);
  assert.equal(track.body, 'RIFF....WAVEfmt track bytes');
  // Errors behind the hook keep their own codes.
  const missing = await call(keyed, 'GET', '/no/such/route', `Bearer ${token}`);
  assert.equal(missing.statusCode, 404);
});

test('public without the token: GET /healthz and the web page (which then asks for the token)', async () => {
  const health = await call(keyed, 'GET', '/healthz');
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { ok: true });
  const page = await call(keyed, 'GET', '/');
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  const script = await call(keyed, 'GET', '/ui/app.js');
  assert.equal(script.statusCode, 200);
});

test('no key configured: everything open as before (development)', async () => {
  assert.equal((await call(open, 'GET', '/api/status')).statusCode, 200);
  assert.equal((await call(open, 'POST', '/api/stop')).statusCode, 200);
  assert.equal((await open.inject({ method: 'GET', url: `/tracks/${trackId}` })).statusCode, 200);
});
