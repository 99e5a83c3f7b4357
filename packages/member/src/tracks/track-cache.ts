// On-disk cache of track files fetched from the leader, addressed by sha256 and verified on
// arrival. Bounded in size (least recently used files go first). Files are streamed (to disk while
// hashing, from disk for verification): a 50 MB track never sits in this process's memory. A cache
// that cannot be written (disk full, read-only) degrades to in-memory fetches and reports why; it
// never throws past input()/get().
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exposeGc } from '@jaudiosync/media/expose-gc';
import { requestTrack, type TrackResponse } from './track-request.js';

const TRACK_ID_RE = /^[0-9a-f]{64}$/;
/** A single track file larger than this is refused: it would not fit a Pi's memory decoded anyway. */
const MAX_TRACK_BYTES = 512 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 120_000;
/** Longest single pause when pacing a download (a raised pace takes effect within this). */
const MAX_PACE_WAIT_MS = 250;

interface Pace {
  bytesPerS: number;
}

/** Read size when hashing a cached file: small steps keep memory flat and the event loop free. */
const HASH_CHUNK_BYTES = 256 * 1024;
/** A download's chunks (socket reads, malloc'ed) are garbage at once, but V8 frees them only at its
 *  next collection, which external memory alone triggers late. A full collection per this many
 *  bytes (a few ms each, main thread: ~5 a second at 20 MB/s, one every 2 s for a paced prefetch)
 *  bounds them: bench:sync with 5-minute WAV tracks, main heap at start-up 44 MiB without, 17-28
 *  MiB with one per 8 MB; with those the main malloc heap still rose by ~12 MB between two,
 *  hence 4 MB. A young-generation one there was worse (chunks still in the pipeline get promoted:
 *  member peak 206 MB). Freed, they are still the process's until the allocator hands them back
 *  (`releaseMemory`). */
const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;
/** At a download's end, a collection if at least this much arrived since the last one. */
const FINAL_COLLECT_MIN_BYTES = 2 * 1024 * 1024;
/** list() reads the directory again after this long (files removed by hand show up then); the
 *  cache's own changes take effect at once. The member lists every second for its state report:
 *  a readdir and a stat per track each time kept the thread pool and the main thread busy. */
const LIST_REFRESH_MS = 10_000;
const fullGc = exposeGc();

export interface TrackCacheOptions {
  dir: string;
  maxBytes: number;
  /** REST token derived from the shared key (`restToken(key)`); sent as a bearer token when set. */
  bearerToken?: string | undefined;
  /** Called after each of a download's collections and once it ends: the member hands the freed
   *  heap pages back to the kernel there (malloc_trim). Without it a download's chunks stayed
   *  resident up to the next periodic trim, 5 s later: +17 MB of main heap at the start-up peak,
   *  where the first decode begins right after the download (docs/benchmarks.md, issue #18). */
  releaseMemory?: (() => void) | undefined;
}

export interface CacheWarning {
  code: string;
  message: string;
}

/** Where a track's bytes are: the verified file on disk (preferred) or, when the cache cannot be
 *  written, the bytes in memory. Both are valid TrackDecoder inputs. */
export type TrackInput = string | Buffer;

export class TrackCache {
  private readonly inflight = new Map<string, { promise: Promise<TrackInput>; pace: Pace }>();
  /** Files this process has hashed (size and mtime then): not hashed again while unchanged. */
  private readonly verified = new Map<string, { size: number; mtimeMs: number }>();
  private diskOk = true;
  private readonly sizes = new Map<string, number>();
  private lastWarning: CacheWarning | null = null;
  /** The last listing and when it was read (performance.now() ms); null once the cache changed. */
  private listing: { ids: string[]; bytes: number; atMs: number } | null = null;
  /** Bumped by every change this process makes to the directory (a listing read across one is not kept). */
  private generation = 0;

  constructor(private readonly opts: TrackCacheOptions) {}

  /** Ids of the files currently cached on disk (read again at most every 10 s unless this cache changed them). */
  async list(): Promise<{ ids: string[]; bytes: number }> {
    const memo = this.listing;
    if (memo !== null && performance.now() - memo.atMs < LIST_REFRESH_MS) return { ids: [...memo.ids], bytes: memo.bytes };
    const generation = this.generation;
    const value = await this.readListing();
    if (generation === this.generation) this.listing = { ...value, ids: [...value.ids], atMs: performance.now() };
    return value;
  }

  /** Called after each change this process made to the directory. */
  private changed(): void {
    this.generation++;
    this.listing = null;
  }

  private async readListing(): Promise<{ ids: string[]; bytes: number }> {
    try {
      const names = await readdir(this.opts.dir);
      let bytes = 0;
      const ids: string[] = [];
      for (const name of names) {
        if (!TRACK_ID_RE.test(name)) continue;
        try {
          bytes += (await stat(join(this.opts.dir, name))).size;
          ids.push(name);
        } catch {
          // vanished between readdir and stat: not cached
        }
      }
      return { ids, bytes };
    } catch {
      return { ids: [], bytes: 0 };
    }
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /** Size of a file known to be cached or fetched by this process (undefined: not known yet). */
  knownSize(id: string): number | undefined {
    return this.sizes.get(id);
  }

  warning(): CacheWarning | null {
    return this.lastWarning;
  }

  /**
   * Track `id` as a decoder input: the path of the verified file in the cache (fetched from
   * `baseUrl` + id and stored first if needed), or its bytes if the cache cannot be written.
   */
  input(id: string, baseUrl: string, opts: { maxBytesPerS?: number } = {}): Promise<TrackInput> {
    if (!TRACK_ID_RE.test(id)) return Promise.reject(new Error(`invalid track id ${JSON.stringify(id)}`));
    const rate = opts.maxBytesPerS !== undefined && opts.maxBytesPerS > 0 ? opts.maxBytesPerS : Infinity;
    const running = this.inflight.get(id);
    if (running) {
      running.pace.bytesPerS = Math.max(running.pace.bytesPerS, rate); // an urgent caller lifts a prefetch's pace
      return running.promise;
    }
    const pace: Pace = { bytesPerS: rate };
    const promise = this.load(id, baseUrl, pace).finally(() => this.inflight.delete(id));
    this.inflight.set(id, { promise, pace });
    return promise;
  }

  /** The bytes of track `id` (tests, tools; the member decodes from input()'s path instead). */
  async get(id: string, baseUrl: string): Promise<Buffer> {
    const got = await this.input(id, baseUrl);
    return typeof got === 'string' ? readFile(got) : got;
  }

  private async load(id: string, baseUrl: string, pace: Pace): Promise<TrackInput> {
    const path = join(this.opts.dir, id);
    try {
      const st = await stat(path);
      const known = this.verified.get(id);
      if ((known !== undefined && known.size === st.size && known.mtimeMs === st.mtimeMs) || (await sha256File(path)) === id) {
        const now = new Date();
        await utimes(path, now, now).catch(() => undefined);
        const after = await stat(path).catch(() => st);
        this.verified.set(id, { size: after.size, mtimeMs: after.mtimeMs });
        this.sizes.set(id, st.size);
        return path;
      }
      this.verified.delete(id);
      await unlink(path).catch(() => undefined); // corrupt on disk: fetch again
      this.changed();
    } catch {
      // not cached
    }
    const res = await this.request(id, baseUrl);
    const length = res.contentLength;
    if (await this.prepareDir(length, id)) {
      try {
        return await this.download(id, res, path, pace);
      } catch (err) {
        if (!isDiskError(err)) throw err;
        this.diskFailed(err);
        return this.fetchVerified(id, await this.request(id, baseUrl)); // disk failed mid-way: keep it in memory
      }
    }
    return this.fetchVerified(id, res);
  }

  private async request(id: string, baseUrl: string): Promise<TrackResponse> {
    const url = new URL(id, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    const headers: Record<string, string> = this.opts.bearerToken ? { authorization: `Bearer ${this.opts.bearerToken}` } : {};
    const res = await requestTrack(url, headers, FETCH_TIMEOUT_MS);
    const refuse = (why: string): never => {
      res.body.destroy();
      throw new Error(`fetching track ${id.slice(0, 12)}: ${why}`);
    };
    if (res.status === 401) refuse('HTTP 401 (the leader has another shared key, or none is set here)');
    if (res.status < 200 || res.status > 299) refuse(`HTTP ${res.status}`);
    if (res.contentLength > MAX_TRACK_BYTES) refuse(`${res.contentLength} bytes, over the ${MAX_TRACK_BYTES} limit`);
    return res;
  }

  /** Streams the body to a temp file while hashing; renamed into place only if the hash matches. */
  private async download(id: string, res: TrackResponse, path: string, pace: Pace): Promise<string> {
    const tmp = join(this.opts.dir, `.${id}.${process.pid}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    let nextCollect = COLLECT_EVERY_BYTES;
    let collectedAt = 0;
    const startMs = performance.now();
    const release = this.opts.releaseMemory;
    const collect = (): void => {
      collectedAt = size;
      fullGc?.();
      release?.();
    };
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size >= nextCollect) {
          nextCollect = size + COLLECT_EVERY_BYTES;
          collect();
        }
        if (size > MAX_TRACK_BYTES) return done(new Error(`track ${id.slice(0, 12)} is over the size limit`));
        hash.update(chunk);
        // Paced (background prefetch): reading slower lets TCP slow the sender too, so a 50 MB
        // file does not arrive as one burst of network and disk work beside the audio engine.
        const aheadMs = Number.isFinite(pace.bytesPerS) ? (size / pace.bytesPerS) * 1000 - (performance.now() - startMs) : 0;
        if (aheadMs > 1) setTimeout(() => done(null, chunk), Math.min(aheadMs, MAX_PACE_WAIT_MS));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(res.body, counter, createWriteStream(tmp));
      const got = hash.digest('hex');
      if (got !== id) throw new Error(`track ${id.slice(0, 12)} failed verification (sha256 ${got.slice(0, 12)})`);
      // Not fsynced (unlike state files, protocol/atomic-file.ts): a track torn by a power cut
      // fails its hash check when next used and is fetched again; fsync would cost SD writes per track.
      await rename(tmp, path);
      this.changed();
      // Same clock as the touch on a cache hit (file times use the kernel's coarse clock, which can
      // lag it by a few ms and would make a just-downloaded file look older than a just-used one).
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    } finally {
      // The last chunks too, before a decode (the usual next step) starts allocating; not worth a
      // collection after a small file (an MP3 of a few MB).
      if (size - collectedAt >= FINAL_COLLECT_MIN_BYTES) collect();
    }
    const st = await stat(path);
    this.verified.set(id, { size: st.size, mtimeMs: st.mtimeMs });
    this.sizes.set(id, size);
    this.diskOk = true;
    return path;
  }

  /** Creates the directory and makes room; false (and a warning) if the disk cannot be used. */
  private async prepareDir(incoming: number, id: string): Promise<boolean> {
    try {
      await mkdir(this.opts.dir, { recursive: true });
      await this.evict(incoming, id);
      return true;
    } catch (err) {
      this.diskFailed(err);
      return false;
    }
  }

  private diskFailed(err: unknown): void {
    // Playing matters more than caching: keep the bytes in memory, say why the disk failed.
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    this.lastWarning = { code: 'JAS_ERR_CACHE', message: `track cache ${this.opts.dir} not writable (${code}); playing from memory` };
    this.diskOk = false;
  }

  private async fetchVerified(id: string, res: TrackResponse): Promise<Buffer> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_TRACK_BYTES) {
        res.body.destroy();
        throw new Error(`track ${id.slice(0, 12)} is over the size limit`);
      }
      parts.push(chunk);
    }
    const data = Buffer.concat(parts, size);
    const got = sha256(data);
    if (got !== id) throw new Error(`track ${id.slice(0, 12)} failed verification (sha256 ${got.slice(0, 12)})`);
    this.sizes.set(id, data.length);
    return data;
  }

  get writable(): boolean {
    return this.diskOk;
  }

  /** Removes least recently used files until `incoming` more bytes fit under the bound. */
  private async evict(incoming: number, keep: string): Promise<void> {
    const entries: Array<{ name: string; size: number; mtimeMs: number }> = [];
    for (const name of await readdir(this.opts.dir)) {
      if (!TRACK_ID_RE.test(name) || name === keep) continue;
      try {
        const s = await stat(join(this.opts.dir, name));
        entries.push({ name, size: s.size, mtimeMs: s.mtimeMs });
      } catch {
        // gone already
      }
    }
    let total = entries.reduce((a, e) => a + e.size, 0) + incoming;
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const e of entries) {
      if (total <= this.opts.maxBytes) break;
      await unlink(join(this.opts.dir, e.name)).catch(() => undefined);
      this.changed();
      this.verified.delete(e.name);
      total -= e.size;
    }
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file, read in chunks (bounded memory, the event loop runs between chunks). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: HASH_CHUNK_BYTES })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Errors of the local disk (as opposed to the network or a bad body). */
function isDiskError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && ['ENOSPC', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'ENOTDIR', 'ENOENT', 'EDQUOT', 'EISDIR'].includes(code);
}
