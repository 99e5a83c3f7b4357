// REST API through fastify.inject(): commands, validation errors with their codes, content types,
// body limit, 404s, OpenAPI, and the track route (hash lookup, Range, ETag).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../src/http/http-server.js';
import { registerRestRoutes, type RestDeps } from '../../src/http/rest-routes.js';
import { registerTrackRoutes } from '../../src/http/track-routes.js';
import { TimelineController } from '../../src/timeline/timeline-controller.js';
import { sha256File, type CatalogTrack } from '../../src/playlist/track-catalog.js';
import type { MemberView } from '../../src/members/member-registry.js';

const T0_US = 1_700_000_000_000_000;
let nowUs = T0_US;
const wallNowMs = (): number => nowUs / 1000;
let dir: string;
let app: FastifyInstance;
let controller: TimelineController;
let tracks: CatalogTrack[] = [];
const loads: unknown[] = [];
let loudness = { normalize: 'off' as 'off' | 'track' | 'album', targetLufs: -16 };

const member = (id: string): MemberView => ({
  id, hostname: id, endpoint: `10.99.0.2:7701`, source: 'mdns', status: 'connected', connected: true,
  rttUs: { last: 1000, p90: 1000, samples: 5 }, lastSeenWallMs: 0, hello: null, state: null, trackErrors: [], error: null,
});

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jas-rest-'));
  const file = path.join(dir, 'a.wav');
  await writeFile(file, Buffer.from('RIFF....WAVEfmt 0123456789abcdefghijklmnopqrstuvwxyz'));
  const st = await stat(file);
  const id = await sha256File(file);
  tracks = [
    { id, path: file, title: 'A', frames: 48000 * 10, sourceRate: 48000, sourceFrames: 480000, channels: 2, sizeBytes: st.size, mtimeMs: st.mtimeMs, line: 1 },
    { id: 'b'.repeat(64), path: file, title: 'B', frames: 48000 * 5, sourceRate: 48000, sourceFrames: 240000, channels: 2, sizeBytes: st.size, mtimeMs: st.mtimeMs, line: 2 },
  ];
  controller = new TimelineController({ timescale: { nowUs: () => nowUs }, outputRate: 48000, wallNowMs, minLeadMs: 250 });
  controller.setTracks(tracks);
  const deps: RestDeps = {
    controller,
    members: () => [member('member1')],
    tracks: () => tracks,
    playlistPath: () => '/music/list.m3u8',
    playlistProblems: () => [],
    loadPlaylist: async (source) => {
      loads.push(source);
      return { path: 'path' in source ? source.path ?? null : null, tracks: 2, problems: [] };
    },
    leader: () => ({ id: 'leader', version: '0.1.0', protocol: '1.0', nowUs, ntpPort: 11123, outputRate: 48000 }),
    loudness: () => ({ ...loudness, tracks: [] }),
    loudnessSettings: () => ({ ...loudness }),
    setLoudness: (body) => {
      loudness = { normalize: body.normalize ?? loudness.normalize, targetLufs: body.targetLufs ?? loudness.targetLufs };
      return { ...loudness, rev: 1, atUs: nowUs, at: 'x' };
    },
    events: new EventEmitter(),
    version: '0.1.0',
  };
  app = createHttpServer();
  registerTrackRoutes(app, { lookup: (h) => tracks.find((t) => t.id === h) });
  registerRestRoutes(app, deps);
  await app.ready();
});
after(async () => {
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

async function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await app.inject({ method: 'POST', url, payload: typeof body === 'string' ? body : JSON.stringify(body), headers });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

test('play without options schedules min lead time ahead and replies with rev, atUs, at', async () => {
  nowUs += 1_000_000;
  const r = await post('/api/play', {});
  assert.equal(r.status, 200);
  assert.equal(r.body['atUs'], nowUs + 250_000);
  assert.equal(r.body['at'], new Date((nowUs + 250_000) / 1000).toISOString());
  assert.equal(controller.timeline.revisions.at(-1)?.playing, true);
});

test('POST without a body works for commands', async () => {
  nowUs += 1_000_000;
  const res = await app.inject({ method: 'POST', url: '/api/stop' });
  assert.equal(res.statusCode, 200, res.body);
});

test('validation errors name the field and use JAS_ERR_VALIDATION', async () => {
  const cases: [string, unknown, string][] = [
    ['/api/play', { index: 'one' }, '/index'],
    ['/api/play', { index: -1 }, '/index'],
    ['/api/play', { index: 1.5 }, '/index'],
    ['/api/play', { positionMs: 1e300 }, '/positionMs'],
    ['/api/play', { extra: true }, '/extra'],
    ['/api/play', { delayMs: -5 }, '/delayMs'],
    ['/api/seek', {}, '/positionMs'],
    ['/api/seek', { positionMs: '100' }, '/positionMs'],
    ['/api/stop', { at: '' }, '/at'],
  ];
  for (const [url, body, field] of cases) {
    const r = await post(url, body);
    assert.equal(r.status, 400, `${url} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body['error'], 'JAS_ERR_VALIDATION');
    assert.equal(r.body['field'], field, JSON.stringify(r.body));
    assert.equal(typeof r.body['message'], 'string');
  }
});

test('volume out of range, NaN-like and huge values are refused', async () => {
  for (const payload of ['{"volume": 1.5}', '{"volume": -0.1}', '{"volume": 1e400}', '{"volume": "0.5"}']) {
    const res = await app.inject({ method: 'PUT', url: '/api/volume', payload, headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 400, payload);
    assert.equal(res.json().error, 'JAS_ERR_VALIDATION');
  }
  const nan = await app.inject({ method: 'PUT', url: '/api/volume', payload: '{"volume": NaN}', headers: { 'content-type': 'application/json' } });
  assert.equal(nan.statusCode, 400);
  assert.equal(nan.json().error, 'JAS_ERR_BAD_JSON');
  nowUs += 1_000_000;
  const ok = await app.inject({ method: 'PUT', url: '/api/volume', payload: '{"volume": 0.5}', headers: { 'content-type': 'application/json' } });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(controller.timeline.volume?.gain, 0.5);
});

test('times in the past, too soon, too far, unreadable', async () => {
  nowUs += 1_000_000;
  const past = new Date(wallNowMs() - 60_000).toISOString();
  let r = await post('/api/play', { at: past });
  assert.equal(r.status, 422);
  assert.equal(r.body['error'], 'JAS_ERR_TIME_IN_PAST');
  r = await post('/api/play', { at: '+100ms' });
  assert.equal(r.body['error'], 'JAS_ERR_TIME_IN_PAST');
  assert.match(String(r.body['message']), /too soon/);
  r = await post('/api/play', { delayMs: 25 * 3600 * 1000 });
  assert.equal(r.status, 400, 'schema bound: 24 h');
  r = await post('/api/play', { at: '+25h' });
  assert.equal(r.status, 422);
  assert.equal(r.body['error'], 'JAS_ERR_TIME_TOO_FAR');
  r = await post('/api/play', { at: 'tomorrow-ish' });
  assert.equal(r.status, 400);
  assert.equal(r.body['error'], 'JAS_ERR_BAD_TIME');
  r = await post('/api/play', { at: '+3s' });
  assert.equal(r.status, 200);
  assert.equal(r.body['atUs'], nowUs + 3_000_000);
});

test('position outside the track and index outside the playlist are refused', async () => {
  nowUs += 1_000_000;
  let r = await post('/api/play', { index: 5 });
  assert.equal(r.status, 400);
  assert.equal(r.body['field'], '/index');
  r = await post('/api/seek', { index: 1, positionMs: 6000 });
  assert.equal(r.status, 400);
  assert.equal(r.body['field'], '/positionMs');
});

test('wrong content type is 415; bad JSON is JAS_ERR_BAD_JSON; oversize body is 413', async () => {
  let r = await post('/api/play', 'index=1', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(r.status, 415);
  assert.equal(r.body['error'], 'JAS_ERR_UNSUPPORTED_MEDIA');
  r = await post('/api/play', '{"index": 1}', { 'content-type': 'text/plain' });
  assert.equal(r.status, 415);
  r = await post('/api/play', '{"index": ', { 'content-type': 'application/json' });
  assert.equal(r.status, 400);
  assert.equal(r.body['error'], 'JAS_ERR_BAD_JSON');
  r = await post('/api/play', JSON.stringify({ at: 'x'.repeat(2 * 1024 * 1024) }));
  assert.equal(r.status, 413);
  assert.equal(r.body['error'], 'JAS_ERR_TOO_LARGE');
});

test('unknown route is 404 with the error contract', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/nope' });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error, 'JAS_ERR_NOT_FOUND');
});

test('member settings: unknown member 404, empty body 400, valid update 200', async () => {
  let res = await app.inject({ method: 'PUT', url: '/api/members/ghost', payload: { volume: 0.5 } });
  assert.equal(res.statusCode, 404);
  res = await app.inject({ method: 'PUT', url: '/api/members/member1', payload: {} });
  assert.equal(res.statusCode, 400);
  res = await app.inject({ method: 'PUT', url: '/api/members/member1', payload: { channelMode: 'surround' } });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().field, '/channelMode');
  res = await app.inject({ method: 'PUT', url: '/api/members/bad%20id', payload: { volume: 0.5 } });
  assert.equal(res.statusCode, 400);
  res = await app.inject({ method: 'PUT', url: '/api/members/member1', payload: { volume: 0.25, outputDelayMs: 12.5, channelMode: 'left' } });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(controller.memberSettings('member1'), { volume: 0.25, outputDelayMs: 12.5, channelMode: 'left' });
});

test('playlist: JSON path and uploaded m3u8 text', async () => {
  let res = await app.inject({ method: 'PUT', url: '/api/playlist', payload: { path: '/music/x.m3u8' } });
  assert.equal(res.statusCode, 200, res.body);
  res = await app.inject({ method: 'PUT', url: '/api/playlist', payload: '#EXTM3U\na.mp3\n', headers: { 'content-type': 'audio/x-mpegurl' } });
  assert.equal(res.statusCode, 200, res.body);
  res = await app.inject({ method: 'PUT', url: '/api/playlist', payload: Buffer.from('#EXTM3U\nCaf\xe9.mp3\n', 'latin1'), headers: { 'content-type': 'text/plain' } });
  assert.equal(res.statusCode, 200, res.body);
  // Uploads reach the m3u8 parser as the bytes sent, so it can tell Latin-1 from UTF-8 itself.
  assert.deepEqual(loads, [{ path: '/music/x.m3u8' }, { bytes: Buffer.from('#EXTM3U\na.mp3\n') }, { bytes: Buffer.from('#EXTM3U\nCaf\xe9.mp3\n', 'latin1') }]);
  res = await app.inject({ method: 'GET', url: '/api/playlist' });
  assert.equal(res.json().tracks.length, 2);
});

test('status and OpenAPI document', async () => {
  const status = (await app.inject({ method: 'GET', url: '/api/status' })).json();
  assert.equal(status.playlist.length, 2);
  assert.equal(status.members[0].id, 'member1');
  assert.equal(status.members[0].health, 'warn', 'no state report yet');
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  assert.equal(doc.openapi, '3.0.3');
  assert.ok(doc.paths['/api/play'].post.requestBody);
  assert.ok(doc.paths['/api/members/{id}'].put.parameters[0].name === 'id');
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

test('track route: by hash only, 404 for unknown, Range, ETag', async () => {
  const t = tracks[0]!;
  const full = await app.inject({ method: 'GET', url: `/tracks/${t.id}` });
  assert.equal(full.statusCode, 200);
  assert.equal(full.headers['content-length'], String(t.sizeBytes));
  assert.equal(full.headers['etag'], `"${t.id}"`);
  assert.equal(full.headers['content-type'], 'audio/wav');
  const part = await app.inject({ method: 'GET', url: `/tracks/${t.id}`, headers: { range: 'bytes=4-7' } });
  assert.equal(part.statusCode, 206);
  assert.equal(part.body, '....');
  assert.equal(part.headers['content-range'], `bytes 4-7/${t.sizeBytes}`);
  const suffix = await app.inject({ method: 'GET', url: `/tracks/${t.id}`, headers: { range: 'bytes=-3' } });
  assert.equal(suffix.body, 'xyz');
  const bad = await app.inject({ method: 'GET', url: `/tracks/${t.id}`, headers: { range: 'bytes=9999-' } });
  assert.equal(bad.statusCode, 416);
  assert.equal(bad.headers['content-range'], `bytes */${t.sizeBytes}`);
  const cached = await app.inject({ method: 'GET', url: `/tracks/${t.id}`, headers: { 'if-none-match': `"${t.id}"` } });
  assert.equal(cached.statusCode, 304);
  const unknown = await app.inject({ method: 'GET', url: `/tracks/${'c'.repeat(64)}` });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error, 'JAS_ERR_NOT_FOUND');
  const traversal = await app.inject({ method: 'GET', url: '/tracks/..%2F..%2Fetc%2Fpasswd' });
  assert.equal(traversal.statusCode, 400);
  // Hash known, but the file on disk changed since hashing: not served under the old hash.
  const changed = await app.inject({ method: 'GET', url: `/tracks/${'b'.repeat(64)}` });
  assert.equal(changed.statusCode, 200, 'same file, same size and mtime');
  await writeFile(t.path, 'different content');
  const after = await app.inject({ method: 'GET', url: `/tracks/${t.id}` });
  assert.equal(after.statusCode, 404);
});

test('PUT /api/loudness: mode and target are validated at the boundary, then set; status shows them', async () => {
  const put = async (body: unknown) => {
    const res = await app.inject({ method: 'PUT', url: '/api/loudness', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  for (const bad of [{ normalize: 'loud' }, { targetLufs: -3 }, { targetLufs: 'x' }, {}, { normalize: 'track', extra: 1 }]) {
    const r = await put(bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.body['error'], 'JAS_ERR_VALIDATION');
  }
  assert.equal(loudness.normalize, 'off', 'a refused body changes nothing');
  const ok = await put({ normalize: 'album', targetLufs: -18 });
  assert.equal(ok.status, 200);
  assert.equal(ok.body['normalize'], 'album');
  const status = (await app.inject({ method: 'GET', url: '/api/status' })).json() as { loudness: unknown };
  assert.deepEqual(status.loudness, { normalize: 'album', targetLufs: -18 });
  const got = (await app.inject({ method: 'GET', url: '/api/loudness' })).json() as { normalize: string };
  assert.equal(got.normalize, 'album');
});

test('PUT /api/crossfade: 0..12000 ms, validated at the boundary; status shows it', async () => {
  const put = async (body: unknown) => {
    const res = await app.inject({ method: 'PUT', url: '/api/crossfade', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  for (const bad of [{ crossfadeMs: -1 }, { crossfadeMs: 12_001 }, { crossfadeMs: 'long' }, {}, { crossfadeMs: 1, x: 1 }]) {
    const r = await put(bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.body['error'], 'JAS_ERR_VALIDATION');
  }
  const ok = await put({ crossfadeMs: 3000 });
  assert.equal(ok.status, 200);
  assert.equal(ok.body['crossfadeMs'], 3000);
  assert.equal(controller.timeline.crossfadeFrames, 3 * 48_000);
  const status = (await app.inject({ method: 'GET', url: '/api/status' })).json() as { crossfadeMs: number };
  assert.equal(status.crossfadeMs, 3000);
  assert.equal((await put({ crossfadeMs: 0 })).body['crossfadeMs'], 0);
});
