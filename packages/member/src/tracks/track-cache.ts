// On-disk cache of track files fetched from the leader, addressed by sha256 and verified on
// arrival. Bounded in size (least recently used files go first). A cache that cannot be written
// (disk full, read-only) degrades to in-memory fetches and reports why; it never throws past get().
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const TRACK_ID_RE = /^[0-9a-f]{64}$/;
/** A single track file larger than this is refused: it would not fit a Pi's memory decoded anyway. */
const MAX_TRACK_BYTES = 512 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 120_000;

export interface TrackCacheOptions {
  dir: string;
  maxBytes: number;
  fetchImpl?: typeof fetch;
  /** REST token derived from the shared key (`restToken(key)`); sent as a bearer token when set. */
  bearerToken?: string | undefined;
}

export interface CacheWarning {
  code: string;
  message: string;
}

export class TrackCache {
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private diskOk = true;
  private readonly sizes = new Map<string, number>();
  private lastWarning: CacheWarning | null = null;

  constructor(private readonly opts: TrackCacheOptions) {}

  /** Ids of the files currently cached on disk. */
  async list(): Promise<{ ids: string[]; bytes: number }> {
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

  /** The bytes of track `id`, from disk or fetched from `baseUrl` + id and verified. */
  get(id: string, baseUrl: string): Promise<Buffer> {
    if (!TRACK_ID_RE.test(id)) return Promise.reject(new Error(`invalid track id ${JSON.stringify(id)}`));
    const running = this.inflight.get(id);
    if (running) return running;
    const p = this.load(id, baseUrl).finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  private async load(id: string, baseUrl: string): Promise<Buffer> {
    const path = join(this.opts.dir, id);
    try {
      const data = await readFile(path);
      if (sha256(data) === id) {
        this.sizes.set(id, data.length);
        const now = new Date();
        await utimes(path, now, now).catch(() => undefined);
        return data;
      }
      await unlink(path).catch(() => undefined); // corrupt on disk: fetch again
    } catch {
      // not cached
    }
    const data = await this.fetchVerified(id, baseUrl);
    this.sizes.set(id, data.length);
    await this.store(id, data);
    return data;
  }

  private async fetchVerified(id: string, baseUrl: string): Promise<Buffer> {
    const url = new URL(id, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    const doFetch = this.opts.fetchImpl ?? fetch;
    const headers: Record<string, string> = this.opts.bearerToken ? { authorization: `Bearer ${this.opts.bearerToken}` } : {};
    const res = await doFetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers });
    if (res.status === 401) throw new Error(`fetching track ${id.slice(0, 12)}: HTTP 401 (the leader has another shared key, or none is set here)`);
    if (!res.ok) throw new Error(`fetching track ${id.slice(0, 12)}: HTTP ${res.status}`);
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_TRACK_BYTES) throw new Error(`track ${id.slice(0, 12)} is ${length} bytes, over the ${MAX_TRACK_BYTES} limit`);
    const data = Buffer.from(await res.arrayBuffer());
    if (data.length > MAX_TRACK_BYTES) throw new Error(`track ${id.slice(0, 12)} is over the size limit`);
    const got = sha256(data);
    if (got !== id) throw new Error(`track ${id.slice(0, 12)} failed verification (sha256 ${got.slice(0, 12)})`);
    return data;
  }

  private async store(id: string, data: Buffer): Promise<void> {
    try {
      await mkdir(this.opts.dir, { recursive: true });
      await this.evict(data.length, id);
      const tmp = join(this.opts.dir, `.${id}.${process.pid}.tmp`);
      await writeFile(tmp, data);
      await rename(tmp, join(this.opts.dir, id));
      this.diskOk = true;
    } catch (err) {
      // Playing matters more than caching: keep the bytes in memory, say why the disk failed.
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      this.lastWarning = { code: 'JAS_ERR_CACHE', message: `track cache ${this.opts.dir} not writable (${code}); playing from memory` };
      this.diskOk = false;
    }
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
      total -= e.size;
    }
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
