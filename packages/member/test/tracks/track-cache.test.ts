import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TrackCache, sha256 } from '../../src/tracks/track-cache.js';

async function serve(files: Map<string, Buffer>): Promise<{ server: Server; url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    const id = (req.url ?? '').split('/').pop() ?? '';
    const body = files.get(id);
    if (!body) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}/tracks/`, hits: () => hits };
}

test('fetches by hash, verifies, caches, and evicts least recently used', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const files = new Map<string, Buffer>();
  const blobs = [randomBytes(40_000), randomBytes(40_000), randomBytes(40_000)];
  for (const b of blobs) files.set(sha256(b), b);
  const { server, url, hits } = await serve(files);
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  const cache = new TrackCache({ dir, maxBytes: 100_000 });
  const ids = blobs.map((b) => sha256(b));
  assert.deepEqual(await cache.get(ids[0]!, url), blobs[0]);
  assert.deepEqual(await cache.get(ids[0]!, url), blobs[0]);
  assert.equal(hits(), 1, 'second get is served from disk');
  await cache.get(ids[1]!, url);
  await new Promise((r) => setTimeout(r, 20));
  await cache.get(ids[2]!, url);
  const onDisk = readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
  assert.equal(onDisk.length, 2, 'bounded: oldest evicted');
  assert.ok(!onDisk.includes(ids[0]!));
});

test('rejects a body whose hash does not match, and unknown ids', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const good = randomBytes(1000);
  const files = new Map<string, Buffer>([[sha256(good), randomBytes(1000)]]);
  const { server, url } = await serve(files);
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  const cache = new TrackCache({ dir, maxBytes: 1e6 });
  await assert.rejects(cache.get(sha256(good), url), /failed verification/);
  await assert.rejects(cache.get('a'.repeat(64), url), /HTTP 404/);
  await assert.rejects(cache.get('../etc/passwd', url), /invalid track id/);
  assert.equal(readdirSync(dir).length, 0);
});

test('an unwritable cache still delivers the track and reports why', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const blocker = join(parent, 'file');
  writeFileSync(blocker, 'x'); // a file where the cache dir should be: mkdir fails even for root
  const b = randomBytes(5000);
  const { server, url } = await serve(new Map([[sha256(b), b]]));
  t.after(() => { server.close(); chmodSync(parent, 0o700); rmSync(parent, { recursive: true, force: true }); });
  const cache = new TrackCache({ dir: join(blocker, 'tracks'), maxBytes: 1e6 });
  assert.deepEqual(await cache.get(sha256(b), url), b);
  assert.equal(cache.writable, false);
  assert.match(cache.warning()?.message ?? '', /not writable/);
});

test('input() gives the verified file path (streamed to disk), or the bytes when the disk fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const b = randomBytes(300_000);
  const id = sha256(b);
  const { server, url, hits } = await serve(new Map([[id, b]]));
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  const cache = new TrackCache({ dir, maxBytes: 1e6 });
  const got = await cache.input(id, url);
  assert.equal(got, join(dir, id));
  assert.ok(readFileSync(join(dir, id)).equals(b));
  assert.equal(await cache.input(id, url), join(dir, id));
  assert.equal(hits(), 1);
  assert.equal(cache.knownSize(id), b.length);
  assert.deepEqual(readdirSync(dir), [id], 'no temp file left');
  // corrupted on disk (by another process): hashed again, fetched again
  writeFileSync(join(dir, id), Buffer.from('tampered'));
  assert.equal(await cache.input(id, url), join(dir, id));
  assert.equal(hits(), 2);
  assert.ok(readFileSync(join(dir, id)).equals(b));

  const parent = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  writeFileSync(join(parent, 'file'), 'x');
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const memoryOnly = new TrackCache({ dir: join(parent, 'file', 'tracks'), maxBytes: 1e6 });
  const bytes = await memoryOnly.input(id, url);
  assert.ok(Buffer.isBuffer(bytes) && bytes.equals(b));
});

test('a paced download (prefetch) is spread out; an urgent caller lifts the pace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const a = randomBytes(200_000);
  const b = randomBytes(200_000);
  const { server, url } = await serve(new Map([[sha256(a), a], [sha256(b), b]]));
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  const cache = new TrackCache({ dir, maxBytes: 1e7 });
  let t0 = performance.now();
  await cache.input(sha256(a), url, { maxBytesPerS: 400_000 });
  const pacedMs = performance.now() - t0;
  assert.ok(pacedMs >= 300, `200 kB at 400 kB/s took only ${pacedMs.toFixed(0)} ms`);
  t0 = performance.now();
  const slow = cache.input(sha256(b), url, { maxBytesPerS: 20_000 }); // would take 10 s
  await new Promise((r) => setTimeout(r, 50));
  const urgent = await cache.input(sha256(b), url);
  assert.equal(urgent, await slow);
  const liftedMs = performance.now() - t0;
  assert.ok(liftedMs < 5000, `lifted pace still took ${liftedMs.toFixed(0)} ms`);
});

test('sends the bearer token; a 401, a track over the size limit and a non-http URL are refused with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const body = randomBytes(2000);
  const id = sha256(body);
  const seen: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== 'Bearer right') { res.writeHead(401).end(); return; }
    if ((req.url ?? '').endsWith('b'.repeat(64))) { res.writeHead(200, { 'content-length': String(600 * 1024 * 1024) }).end(); return; }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/tracks/`;
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  await assert.rejects(new TrackCache({ dir, maxBytes: 1e6, bearerToken: 'wrong' }).get(id, url), /HTTP 401 \(the leader has another shared key/);
  const cache = new TrackCache({ dir, maxBytes: 1e6, bearerToken: 'right' });
  assert.deepEqual(await cache.get(id, url), body);
  assert.deepEqual(seen.slice(-2), ['Bearer wrong', 'Bearer right']);
  await assert.rejects(cache.get('b'.repeat(64), url), /over the \d+ limit/);
  await assert.rejects(cache.get('c'.repeat(64), 'ftp://127.0.0.1/tracks/'), /only http and https/);
});

test('list() follows the cache\'s own fetches and evictions at once and reads the directory at most every 10 s otherwise', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const files = new Map<string, Buffer>();
  const blobs = [randomBytes(40_000), randomBytes(40_000), randomBytes(40_000)];
  for (const b of blobs) files.set(sha256(b), b);
  const { server, url } = await serve(files);
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  const cache = new TrackCache({ dir, maxBytes: 100_000 });
  const ids = blobs.map((b) => sha256(b));
  assert.deepEqual(await cache.list(), { ids: [], bytes: 0 });
  await cache.get(ids[0]!, url);
  assert.deepEqual(await cache.list(), { ids: [ids[0]], bytes: 40_000 }, 'a fetch shows at once');
  await cache.get(ids[1]!, url);
  await new Promise((r) => setTimeout(r, 20));
  await cache.get(ids[2]!, url); // evicts ids[0]
  const after = await cache.list();
  assert.deepEqual([...after.ids].sort(), [ids[1]!, ids[2]!].sort(), 'an eviction shows at once');
  assert.equal(after.bytes, 80_000);
  // A file removed by hand is not noticed before the listing is 10 s old (the state report's cost).
  rmSync(join(dir, ids[1]!));
  assert.equal((await cache.list()).ids.length, 2, 'listing kept');
  const listed = await cache.list();
  listed.ids.length = 0; // a caller's copy: the kept listing is not touched
  assert.equal((await cache.list()).ids.length, 2);
});

test('a download hands its freed chunks back: releaseMemory after every 4 MB and at its end, not after a small file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cache-'));
  const big = randomBytes(11 * 1024 * 1024); // collections at 4 and 8 MB, and one at the end (3 MB since)
  const small = randomBytes(500_000);
  const { server, url } = await serve(new Map([[sha256(big), big], [sha256(small), small]]));
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  let released = 0;
  const cache = new TrackCache({ dir, maxBytes: 1e9, releaseMemory: () => { released++; } });
  assert.equal(await cache.input(sha256(big), url), join(dir, sha256(big)));
  assert.equal(released, 3);
  await cache.input(sha256(small), url);
  assert.equal(released, 3, 'a small download ends without a collection');
});
