// REST of the play order: repeat, shuffle (seeded, re-drawn on demand), stop-after; the status in
// play order; validation of each body.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../src/http/http-server.js';
import { registerRestRoutes } from '../../src/http/rest-routes.js';
import { TimelineController } from '../../src/timeline/timeline-controller.js';
import type { CatalogTrack } from '../../src/playlist/track-catalog.js';
import { loudnessOff } from './loudness-stub.js';

const RATE = 48_000;
let nowUs = 1_700_000_000_000_000;
let app: FastifyInstance;
let controller: TimelineController;
const tracks: CatalogTrack[] = Array.from({ length: 8 }, (_v, i) => ({
  id: String(i).repeat(64).slice(0, 64), path: `/music/${i}.flac`, title: `T${i}`, frames: RATE * (10 + i), sourceRate: RATE,
  sourceFrames: RATE * (10 + i), channels: 2, sizeBytes: 1, mtimeMs: 0, line: i + 1,
}));

before(async () => {
  controller = new TimelineController({ timescale: { nowUs: () => nowUs }, outputRate: RATE, wallNowMs: () => nowUs / 1000, minLeadMs: 250 });
  controller.setTracks(tracks);
  app = createHttpServer();
  registerRestRoutes(app, {
    ...loudnessOff(), controller, members: () => [], tracks: () => tracks, playlistPath: () => undefined, playlistProblems: () => [],
    loadPlaylist: async () => ({ path: null, tracks: 0, problems: [] }),
    leader: () => ({ id: 'leader', version: '0.1.0', protocol: '1.0', nowUs, ntpPort: 11123, outputRate: RATE }),
    events: new EventEmitter(), version: '0.1.0',
  });
  await app.ready();
});
after(async () => {
  controller.close();
  await app.close();
});

async function call(method: 'PUT' | 'POST' | 'GET', url: string, body?: unknown) {
  const res = await app.inject({ method, url, ...(body !== undefined ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

type Status = { playlist: Array<{ index: number; playlistIndex: number; id: string }>; repeat: string; shuffle: boolean; seed: number; stopAfter: boolean; loop: boolean };

test('shuffle with a seed: the status lists the play order with each track\'s m3u8 place; the same seed, the same order', async () => {
  let r = await call('PUT', '/api/shuffle', { shuffle: true, seed: 31337 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body['seed'], 31337);
  assert.equal(r.body['shuffle'], true);
  const s1 = (await call('GET', '/api/status')).body as unknown as Status;
  assert.equal(s1.shuffle, true);
  assert.deepEqual(s1.playlist.map((e) => e.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  const order = s1.playlist.map((e) => e.playlistIndex);
  assert.notDeepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(s1.playlist.map((e) => e.id), order.map((i) => tracks[i]!.id));
  assert.deepEqual(controller.timeline.tracks.map((t) => t.id), order.map((i) => tracks[i]!.id)); // what members play
  // Re-shuffle draws a new seed; the given seed again gives the first order.
  r = await call('POST', '/api/shuffle', {});
  assert.equal(r.status, 200);
  assert.notEqual(r.body['seed'], 31337);
  r = await call('POST', '/api/shuffle', { seed: 31337 });
  const s2 = (await call('GET', '/api/status')).body as unknown as Status;
  assert.deepEqual(s2.playlist.map((e) => e.playlistIndex), order);
  r = await call('PUT', '/api/shuffle', { shuffle: false });
  const s3 = (await call('GET', '/api/status')).body as unknown as Status;
  assert.deepEqual(s3.playlist.map((e) => e.playlistIndex), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(s3.shuffle, false);
});

test('repeat: one, all (= loop), off; stop-after reports when it stops', async () => {
  nowUs += 1_000_000;
  const play = await call('POST', '/api/play', { index: 2 });
  const playAt = play.body['atUs'] as number;
  let r = await call('PUT', '/api/repeat', { repeat: 'all' });
  assert.equal(r.body['repeat'], 'all');
  let s = (await call('GET', '/api/status')).body as unknown as Status;
  assert.equal(s.loop, true);
  assert.equal(s.repeat, 'all');
  r = await call('PUT', '/api/repeat', { repeat: 'one' });
  s = (await call('GET', '/api/status')).body as unknown as Status;
  assert.deepEqual([s.loop, s.repeat], [false, 'one']);
  assert.deepEqual(controller.timeline.revisions.at(-1), { atUs: playAt + 12_000_000, playing: true, index: 2, frame: 0 });
  r = await call('PUT', '/api/stop-after', { stopAfter: true });
  assert.equal(r.status, 200);
  // At the track's end less the members' 6 ms stop fade.
  assert.equal(r.body['atUs'], playAt + 12_000_000 - 6000);
  assert.equal(r.body['at'], new Date((playAt + 12_000_000 - 6000) / 1000).toISOString());
  assert.deepEqual(controller.timeline.revisions.at(-1), { atUs: playAt + 12_000_000 - 6000, playing: false, index: 3, frame: 0 });
  s = (await call('GET', '/api/status')).body as unknown as Status;
  assert.equal(s.stopAfter, true);
  r = await call('PUT', '/api/stop-after', { stopAfter: false });
  assert.equal(r.body['stopAfter'], false);
  assert.equal(controller.timeline.revisions.at(-1)!.playing, true); // back to the repeat lap
  r = await call('PUT', '/api/repeat', { repeat: 'off' });
  assert.equal(controller.timeline.revisions.at(-1)!.atUs, playAt);
});

test('order bodies are validated: field named, JAS_ERR_VALIDATION', async () => {
  const cases: Array<['PUT' | 'POST', string, unknown, string]> = [
    ['PUT', '/api/repeat', { repeat: 'twice' }, '/repeat'],
    ['PUT', '/api/repeat', {}, '/repeat'],
    ['PUT', '/api/repeat', { repeat: true }, '/repeat'],
    ['PUT', '/api/shuffle', { shuffle: 'yes' }, '/shuffle'],
    ['PUT', '/api/shuffle', { shuffle: true, seed: -1 }, '/seed'],
    ['POST', '/api/shuffle', { seed: 2 ** 32 }, '/seed'],
    ['POST', '/api/shuffle', { seed: 1.5 }, '/seed'],
    ['PUT', '/api/stop-after', { stopAfter: 1 }, '/stopAfter'],
    ['PUT', '/api/stop-after', { stopAfter: true, at: '+5s' }, '/at'],
  ];
  for (const [method, url, body, field] of cases) {
    const r = await call(method, url, body);
    assert.equal(r.status, 400, `${url} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body['error'], 'JAS_ERR_VALIDATION');
    assert.equal(r.body['field'], field, `${url} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
  }
});

test('the OpenAPI document has the order routes', async () => {
  const doc = (await call('GET', '/api/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  assert.ok(doc.paths['/api/repeat']?.['put']);
  assert.ok(doc.paths['/api/shuffle']?.['put'] && doc.paths['/api/shuffle']['post']);
  assert.ok(doc.paths['/api/stop-after']?.['put']);
});
