// What's playing over REST: tags (title, artist, album) and the cover's hash in /api/status, the
// cover at /api/artwork/<sha256> (type, ETag, 304, hash checked, 404s), the time left in the
// playlist; the catalog reads tags once per file content.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { readArtwork, readTrackTags } from '@jaudiosync/media';
import { TINY_PNG, withId3 } from '@jaudiosync/test-support';
import { createHttpServer } from '../../src/http/http-server.js';
import { registerRestRoutes } from '../../src/http/rest-routes.js';
import { TimelineController } from '../../src/timeline/timeline-controller.js';
import { TrackCatalog } from '../../src/playlist/track-catalog.js';
import { loudnessOff } from './loudness-stub.js';

const RATE = 48_000;
const MP3 = fileURLToPath(new URL('../../../../../Music/02-pluck-parade.mp3', import.meta.url));
const PNG_SHA = createHash('sha256').update(TINY_PNG).digest('hex');
let nowUs = 1_700_000_000_000_000;
let dir: string;
let app: FastifyInstance;
let controller: TimelineController;
let catalog: TrackCatalog;
let tagReads = 0;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jas-now-'));
  const mp3 = await readFile(MP3);
  await writeFile(path.join(dir, 'a.mp3'), withId3(mp3, { title: 'Pluck Parade', artist: 'Test Ensemble', album: 'Examples', picture: { mime: 'image/png', data: TINY_PNG } }));
  await writeFile(path.join(dir, 'b.mp3'), withId3(mp3, { artist: 'Nobody' }));
  await writeFile(path.join(dir, 'c.mp3'), withId3(mp3, { title: 'Third' }));
  catalog = new TrackCatalog({
    outputRate: RATE,
    // Lengths without decoding: 10, 20, 30 s.
    analyzer: { analyze: async (p) => ({ sourceRate: RATE, sourceFrames: RATE * 10 * (1 + ['a', 'b', 'c'].indexOf(path.basename(p, '.mp3'))), channels: 2 }), close: async () => undefined },
    readTags: async (p) => { tagReads++; return readTrackTags(p); },
  });
  const loaded = await catalog.load({
    entries: ['a', 'b', 'c'].map((n, i) => ({ line: i + 2, entry: `${n}.mp3`, path: path.join(dir, `${n}.mp3`), ...(n === 'b' ? { title: 'From EXTINF' } : {}) })),
    problems: [],
  });
  controller = new TimelineController({ timescale: { nowUs: () => nowUs }, outputRate: RATE, wallNowMs: () => nowUs / 1000, minLeadMs: 250 });
  controller.setTracks(loaded.tracks);
  app = createHttpServer();
  registerRestRoutes(app, {
    ...loudnessOff(), controller, members: () => [], tracks: () => catalog.tracks, playlistPath: () => undefined, playlistProblems: () => [],
    loadPlaylist: async () => ({ path: null, tracks: 0, problems: [] }),
    leader: () => ({ id: 'leader', version: '0.1.0', protocol: '1.0', nowUs, ntpPort: 11123, outputRate: RATE }),
    events: new EventEmitter(), version: '0.1.0',
    artwork: async (sha) => { const t = catalog.byArtwork(sha); return t ? readArtwork(t.path, sha) : undefined; },
  });
  await app.ready();
});
after(async () => {
  controller.close();
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

interface Entry { title: string; artist?: string; album?: string; artwork?: string }

test('status: title (EXTINF, else the tag, else the file name), artist, album and the cover hash', async () => {
  const s = (await app.inject({ method: 'GET', url: '/api/status' })).json() as { playlist: Entry[]; remainingMs: number | null };
  assert.deepEqual(s.playlist.map((e) => [e.title, e.artist, e.album, e.artwork]), [
    ['Pluck Parade', 'Test Ensemble', 'Examples', PNG_SHA],
    ['From EXTINF', 'Nobody', undefined, undefined],
    ['Third', undefined, undefined, undefined],
  ]);
  assert.equal(s.remainingMs, null, 'stopped: nothing is left to play');
  // Tags are read once per content hash: a reload reads none again.
  const reads = tagReads;
  await catalog.load({ entries: [{ line: 1, entry: 'a.mp3', path: path.join(dir, 'a.mp3') }], problems: [] });
  assert.equal(tagReads, reads);
  await catalog.load({ entries: ['a', 'b', 'c'].map((n, i) => ({ line: i + 1, entry: `${n}.mp3`, path: path.join(dir, `${n}.mp3`) })), problems: [] });
});

test('the cover by its hash: image type, ETag, 304, nosniff; unknown or malformed hashes are 404 / 400', async () => {
  const res = await app.inject({ method: 'GET', url: `/api/artwork/${PNG_SHA}` });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'image/png');
  assert.deepEqual(res.rawPayload, TINY_PNG);
  assert.equal(res.headers['etag'], `"${PNG_SHA}"`);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.match(String(res.headers['cache-control']), /immutable/);
  const again = await app.inject({ method: 'GET', url: `/api/artwork/${PNG_SHA}`, headers: { 'if-none-match': `"${PNG_SHA}"` } });
  assert.equal(again.statusCode, 304);
  const unknown = await app.inject({ method: 'GET', url: `/api/artwork/${'0'.repeat(64)}` });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error, 'JAS_ERR_NOT_FOUND');
  for (const bad of ['../../etc/passwd', 'ABC', `${PNG_SHA}0`]) {
    const r = await app.inject({ method: 'GET', url: `/api/artwork/${encodeURIComponent(bad)}` });
    assert.equal(r.statusCode, 400, bad);
    assert.equal(r.json().error, 'JAS_ERR_VALIDATION');
  }
  // The file changed since it was catalogued: its old cover hash is not served from it.
  const file = path.join(dir, 'a.mp3');
  const before = await readFile(file);
  await writeFile(file, withId3(await readFile(MP3), { title: 'Pluck Parade' }));
  assert.equal((await app.inject({ method: 'GET', url: `/api/artwork/${PNG_SHA}` })).statusCode, 404);
  await writeFile(file, before);
});

test('time left in the playlist: the rest of this track and those after it; this track only with stop-after; none under repeat', async () => {
  const play = controller.play({ index: 1 });
  nowUs = play.atUs + 5_000_000;
  const left = async () => ((await app.inject({ method: 'GET', url: '/api/status' })).json() as { remainingMs: number | null }).remainingMs;
  assert.equal(await left(), 15_000 + 30_000);
  controller.setStopAfter(true);
  assert.equal(await left(), 15_000);
  controller.setStopAfter(false);
  controller.setRepeat('all');
  assert.equal(await left(), null);
  controller.setRepeat('off');
  // A crossfade: the next track starts that much before this one ends.
  controller.setCrossfade(4000);
  assert.equal(await left(), 15_000 + 30_000 - 4_000);
  controller.setCrossfade(0);
});

test('the OpenAPI document describes the cover route as an image', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };
  const op = doc.paths['/api/artwork/{sha256}']?.['get'];
  assert.ok(op);
  assert.deepEqual(Object.keys(op.responses['200']?.content ?? {}), ['image/*']);
  assert.ok(doc.paths['/api/clock']?.['put']);
});
