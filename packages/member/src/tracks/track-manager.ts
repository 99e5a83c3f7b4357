// Keeps the tracks the timeline needs soon (the current and the next) fetched, decoded to PCM at
// the output rate and registered with the audio engine, and drops the rest so that memory stays
// bounded on a 512 MB Pi. A track is registered as soon as its decode starts (decoding runs
// 10-100x faster than real time, so playback can start at once instead of after the whole track).
// Streamed (the default with a writable cache): the decoder writes the PCM to a file and a
// PcmFeeder keeps a window of a few seconds of it in memory for the engine, so a track of any
// length costs ~5 MB; a decoded file is kept after use (within a disk budget, listed in an index
// that survives a restart) so a looping playlist decodes each track once and a restarted member
// plays on from disk at once. In memory (no writable disk, or too little space): into a buffer of the
// timeline's length that the decoder fills front to back. Failures are reported per track: the
// engine plays silence for that slot and the timeline goes on.
import { randomBytes } from 'node:crypto';
import { open, mkdir, readdir, stat, statfs, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MIN_WINDOW_RING_FRAMES, TrackWindow, WINDOW_MAX_TRACK_FRAMES } from '../audio/track-window.js';
import type { TrackSource } from '../audio/track-store.js';
import { DECODED_INDEX_FILE, loadDecodedIndex, saveDecodedIndex, type DecodedFile } from './decoded-index.js';
import { PcmFeeder } from './pcm-feeder.js';
import type { TrackCache, TrackInput } from './track-cache.js';

export interface DecodedPcm {
  pcm: Int16Array;
  frames: number;
}

export interface PcmDecoder {
  /** `target`: fill this buffer (timeline length) in place instead of allocating one;
   *  `targetFile`: write at most `frames` frames into this open file from byte 0 instead. */
  decode(
    input: TrackInput,
    opts: { outputRate: number; channels: number; target?: SharedArrayBuffer; targetFile?: { fd: number; frames: number } },
    cb?: { onProgress?: (fraction: number) => void; signal?: AbortSignal },
  ): Promise<DecodedPcm>;
}

export interface TrackConsumer {
  addTrack(id: string, source: TrackSource, frames: number): void;
  removeTrack(id: string): void;
}

/** Where and how tracks are streamed from disk (TrackManager's `stream` option). */
export interface TrackStreamOptions {
  /** Directory for the decoded PCM files: at start, the complete ones its index lists (decoded
   *  under the same tag) are kept for reuse, all others deleted. */
  dir: string;
  /** Names the decoder and output format (e.g. software version and rate); default: the output rate. */
  tag?: string;
  /** Ring of the window, seconds (how far ahead of the engine the PCM sits in memory). */
  windowSeconds?: number;
  /** Head of the window, seconds (each track's start, always in memory). */
  headSeconds?: number;
  /** Feeder tick while its window is short of data, ms (it checks every 250 ms once 2 s are held ahead). */
  tickMs?: number;
  /** Disk space left free beside a decoded track; below it a track is decoded into memory. */
  reserveBytes?: number;
  /** Decoded files kept for reuse after their track was dropped, at most this many bytes in all
   *  (least recently used go first; default: the track cache's size). */
  keepBytes?: number;
  onError?: (message: string) => void;
}

export const STREAM_WINDOW_SECONDS = 10;
export const STREAM_HEAD_SECONDS = 5;
const STREAM_TICK_MS = 25;
/** Feeder check once its window holds STREAM_IDLE_LEAD_SECONDS ahead: the ring refills 1 s at a
 *  time when under 5 s are left, so a 250 ms look still leaves it > 4.7 s ahead of the engine. */
const STREAM_IDLE_TICK_MS = 250;
const STREAM_IDLE_LEAD_SECONDS = 2;
const STREAM_RESERVE_BYTES = 64 * 1024 * 1024;
/** Kept behind the engine's read position (its resampler and drift corrections look back). */
const STREAM_BEHIND_SECONDS = 1;
/** Largest file read: 1 s of audio (192 KB at 48 kHz). */
const STREAM_READ_SECONDS = 1;

interface Stream {
  feeder: PcmFeeder;
  path: string;
  /** The decode finished: the file is final and can be played again without decoding. */
  complete: boolean;
}

export interface TrackStatus {
  trackId: string;
  progress: number;
  error?: string;
}

export interface NeededTimeline {
  loop: boolean;
  tracks: ReadonlyArray<{ id: string; frames: number }>;
  outputRate: number;
}

/** How many decoded tracks may be held at once: the current and the next (a 5-minute track is
 *  58 MB of PCM; tracks no longer wanted are dropped and their decode aborted at once). */
export const MAX_DECODED_TRACKS = 2;
/**
 * Tracks further ahead are fetched into the disk cache (not decoded) while nothing else loads, so
 * a member whose link is cut keeps playing through track changes. Bounded by this share of the
 * cache size so that prefetching never evicts what plays now.
 */
const PREFETCH_CACHE_SHARE = 0.5;
/** Prefetch download pace: a 5-minute WAV (53 MB) in ~25 s, an MP3 in ~3 s; spreads the network,
 *  hashing and disk work that otherwise arrives as one burst beside the audio engine. */
export const PREFETCH_BYTES_PER_S = 2 * 1024 * 1024;
/** A failed prefetch (link down, 404) is tried again after this long, not in a tight loop. */
const PREFETCH_RETRY_MS = 30_000;
/**
 * A track that failed to load is tried again after this long while the timeline still wants it:
 * a fetch can fail for a while only (it timed out while a hundred members shared the leader's
 * upload, bench:fanout; the leader restarted). Its slot is silent meanwhile; the same reason again
 * is not reported again.
 */
export const LOAD_RETRY_MS = 15_000;

export class TrackManager {
  private readonly status = new Map<string, TrackStatus>();
  private readonly loaded = new Set<string>();
  private readonly loading = new Map<string, { done: Promise<void>; abort: AbortController }>();
  /** Timeline length of each track (frames at the output rate): the size of its PCM buffer. */
  private readonly framesOf = new Map<string, number>();
  private wanted: string[] = [];
  private baseUrl: string | null = null;
  private prefetchQueue: string[] = [];
  private readonly loadFailedAtMs = new Map<string, number>();
  private readonly lastLoadError = new Map<string, string>();
  private retryTimer: NodeJS.Timeout | null = null;
  private prefetching: string | null = null;
  private readonly prefetched = new Set<string>();
  private readonly prefetchFailedAtMs = new Map<string, number>();
  /** Streamed tracks (registered ones and ones being set up). */
  private readonly streams = new Map<string, Stream>();
  /** Per wanted track: where playback is expected to start (the feeder's hint) and later positions
   *  a seek will jump to (its landings). Rebuilt by every want(). */
  private plans = new Map<string, { start: number; landings: number[] }>();
  private streamDirReady: Promise<boolean> | null = null;
  private streamFiles = 0;
  /** In file names: this run's files never collide with an earlier run's kept ones. */
  private readonly runTag = randomBytes(3).toString('hex');
  /** Complete decoded files of dropped tracks, least recently used first. */
  private readonly kept = new Map<string, { path: string; bytes: number }>();
  /** Index writes, one at a time; `indexDirty` asks for one more after the running one. */
  private indexWrite: Promise<void> | null = null;
  private indexDirty = false;

  constructor(
    private readonly cache: TrackCache,
    private readonly decoder: PcmDecoder,
    private readonly consumer: TrackConsumer,
    private readonly outputRate: number,
    private readonly onError: (trackId: string, reason: string) => void,
    /** Stream decoded tracks from files in this directory; absent: hold them in memory. */
    private readonly stream?: TrackStreamOptions,
  ) {}

  setBaseUrl(url: string): void {
    this.baseUrl = url;
    this.pump();
  }

  /**
   * `indices`: playlist indices needed now or soon, most urgent first; `startFrames[k]`: the frame
   * of indices[k] that is expected to play first (0 when absent; streamed tracks load from there).
   * An index may come again with another frame (a seek within that track later): streamed tracks
   * prepare that landing point ahead of time.
   */
  want(timeline: NeededTimeline, indices: readonly number[], startFrames: readonly number[] = []): void {
    const plans = new Map<string, { start: number; landings: number[] }>();
    for (let k = 0; k < indices.length; k++) {
      const t = timeline.tracks[indices[k]!];
      if (!t) continue;
      const start = startFrames[k] ?? 0;
      const plan = plans.get(t.id);
      if (plan !== undefined) {
        // The same track needed again at another frame later (a seek within it): a landing.
        plan.landings.push(start);
        continue;
      }
      if (plans.size >= MAX_DECODED_TRACKS) continue;
      plans.set(t.id, { start, landings: [] });
      this.framesOf.set(t.id, t.frames);
    }
    this.plans = plans;
    for (const [id, plan] of plans) {
      const feeder = this.streams.get(id)?.feeder;
      feeder?.setHint(plan.start);
      feeder?.setLandings(plan.landings);
    }
    const ids = [...plans.keys()];
    this.wanted = ids;
    for (const [id, job] of this.loading) {
      if (!ids.includes(id)) job.abort.abort(); // its buffer goes with it; load() cleans up
    }
    for (const id of [...this.loaded]) {
      if (!ids.includes(id)) {
        this.unregister(id);
        this.status.delete(id);
      }
    }
    // Decoding is one at a time: a load of a later track must not keep a more urgent one (a jump
    // taking effect in a moment) waiting. Drop it; it is loaded again after the urgent one.
    const urgent = ids.findIndex((id) => !this.loaded.has(id) && !this.loading.has(id) && this.status.get(id)?.error === undefined);
    if (urgent >= 0) {
      for (const [id, job] of this.loading) {
        if (ids.indexOf(id) <= urgent) continue;
        job.abort.abort();
        this.unregister(id);
        this.status.delete(id);
      }
    }
    for (const id of [...this.framesOf.keys()]) if (!ids.includes(id) && !this.loading.has(id)) this.framesOf.delete(id);
    this.pump();
  }

  /**
   * Track ids in the order they will play from now on: fetched into the disk cache one at a time
   * when no decode is pending, up to PREFETCH_CACHE_SHARE of the cache. Failures are left to the
   * real load (which reports them).
   */
  prefetch(ids: readonly string[]): void {
    if (!this.cache.writable) {
      this.prefetchQueue = []; // nothing to keep: fetching into memory ahead of time would only cost RAM
      return;
    }
    const budget = this.cache.maxBytes * PREFETCH_CACHE_SHARE;
    const queue: string[] = [];
    let bytes = 0;
    for (const id of ids) {
      if (queue.includes(id)) continue;
      const size = this.cache.knownSize(id);
      if (size !== undefined && bytes + size > budget) break;
      bytes += size ?? 0;
      queue.push(id);
    }
    const now = Date.now();
    this.prefetchQueue = queue.filter((id) => !this.prefetched.has(id) && !(now - (this.prefetchFailedAtMs.get(id) ?? -Infinity) < PREFETCH_RETRY_MS));
    this.pump();
  }

  statuses(): TrackStatus[] {
    return [...this.status.values()];
  }

  private pump(): void {
    if (this.baseUrl === null) return;
    const baseUrl = this.baseUrl;
    for (const id of this.wanted) {
      if (this.loaded.has(id) || this.loading.has(id)) continue;
      const failedAt = this.loadFailedAtMs.get(id);
      if (this.status.get(id)?.error && failedAt !== undefined && Date.now() - failedAt < LOAD_RETRY_MS) continue; // failed: silence for this slot for now
      if (this.loaded.size + this.loading.size >= MAX_DECODED_TRACKS) break;
      // Decode one at a time: the decoder worker is single and a Pi has one core to spare.
      if (this.loading.size > 0) break;
      this.status.set(id, { trackId: id, progress: 0 });
      const abort = new AbortController();
      const done = this.load(id, baseUrl, abort.signal).finally(() => {
        this.loading.delete(id);
        this.pump();
      });
      this.loading.set(id, { done, abort });
    }
    if (this.loading.size === 0 && this.prefetching === null) {
      const id = this.prefetchQueue.shift();
      if (id === undefined) return;
      this.prefetching = id;
      void this.cache.input(id, baseUrl, { maxBytesPerS: PREFETCH_BYTES_PER_S }).then(
        () => { this.prefetched.add(id); },
        () => { this.prefetchFailedAtMs.set(id, Date.now()); }, // the real load reports failures
      ).finally(() => {
        this.prefetching = null;
        this.pump();
      });
    }
  }

  private async load(id: string, baseUrl: string, signal: AbortSignal): Promise<void> {
    let registered = false;
    let file: Awaited<ReturnType<typeof open>> | null = null;
    try {
      if (this.stream !== undefined && this.cache.writable) await this.prepareStreamDir();
      if (await this.reuseDecoded(id)) return;
      if (signal.aborted || !this.wanted.includes(id)) return;
      const input = await this.cache.input(id, baseUrl);
      if (signal.aborted || !this.wanted.includes(id)) return; // timeline moved on while fetching
      const frames = this.framesOf.get(id) ?? 0;
      const opts: { outputRate: number; channels: number; target?: SharedArrayBuffer; targetFile?: { fd: number; frames: number } } = {
        outputRate: this.outputRate, channels: 2,
      };
      const path = frames > 0 ? await this.streamPath(id, frames) : null;
      if (signal.aborted || !this.wanted.includes(id)) return;
      if (path !== null) {
        // Streamed: playable from now on; what the decoder has not written yet reads as silence.
        file = await open(path, 'w');
        if (signal.aborted || !this.wanted.includes(id)) {
          await unlink(path).catch(() => {});
          return;
        }
        opts.targetFile = { fd: file.fd, frames };
        this.registerStream(id, path, frames, false);
        registered = true;
      } else if (frames > 0) {
        // In memory: playable from now on; frames the decoder has not reached yet read as silence.
        opts.target = new SharedArrayBuffer(frames * 4);
        this.consumer.addTrack(id, { kind: 'pcm', buffer: opts.target }, frames);
        this.loaded.add(id);
        registered = true;
      }
      const decoded = await this.decoder.decode(input, opts, {
        signal,
        onProgress: (fraction) => this.status.set(id, { trackId: id, progress: Math.min(0.999, Math.max(0, fraction)) }),
      });
      const stream = this.streams.get(id);
      if (stream !== undefined) {
        stream.complete = true;
        stream.feeder.decodeFinished();
        this.saveIndex();
      }
      // Timeline moved on while decoding, or a more urgent track preempted it: want() unregistered it.
      if (signal.aborted || !this.wanted.includes(id)) return;
      if (!registered) {
        const buffer = decoded.pcm.buffer;
        if (!(buffer instanceof SharedArrayBuffer)) throw new Error('decoder returned PCM that is not shared memory');
        this.consumer.addTrack(id, { kind: 'pcm', buffer }, decoded.frames);
        this.loaded.add(id);
      }
      this.status.set(id, { trackId: id, progress: 1 });
      this.lastLoadError.delete(id);
      this.loadFailedAtMs.delete(id);
    } catch (err) {
      if (signal.aborted) return; // dropped on purpose: want() already unregistered it
      if (registered) this.unregister(id);
      const reason = (err as Error).message || String(err);
      const before = this.lastLoadError.get(id);
      this.status.set(id, { trackId: id, progress: 0, error: reason });
      this.loadFailedAtMs.set(id, Date.now());
      this.lastLoadError.set(id, reason);
      if (before !== reason) this.onError(id, reason);
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = null;
        this.pump();
      }, LOAD_RETRY_MS + 10);
      this.retryTimer.unref?.();
    } finally {
      // The decoder is done with the descriptor (finished, failed, or its worker stopped).
      await file?.close().catch(() => {});
    }
  }

  /** Plays a kept decoded file again (no fetch, no decode); false if there is none for this track. */
  private async reuseDecoded(id: string): Promise<boolean> {
    const k = this.kept.get(id);
    if (k === undefined) return false;
    this.kept.delete(id);
    const frames = this.framesOf.get(id) ?? 0;
    try {
      const size = (await stat(k.path)).size;
      // The same track at the same rate decodes to the same bytes: a size mismatch means tampering or a bug.
      if (size !== k.bytes || size > frames * 4 || !this.wanted.includes(id)) throw new Error('not reusable');
    } catch {
      await unlink(k.path).catch(() => {});
      return false;
    }
    this.registerStream(id, k.path, frames, true);
    this.status.set(id, { trackId: id, progress: 1 });
    return true;
  }

  /** Registers a streamed track with the engine and starts feeding its window. */
  private registerStream(id: string, path: string, frames: number, complete: boolean): void {
    const st = this.stream!;
    const rate = this.outputRate;
    const head = Math.min(frames, Math.round((st.headSeconds ?? STREAM_HEAD_SECONDS) * rate));
    // A short track needs no more ring than what follows its head.
    const ring = Math.max(MIN_WINDOW_RING_FRAMES, Math.min(Math.round((st.windowSeconds ?? STREAM_WINDOW_SECONDS) * rate), frames - head));
    const window = TrackWindow.create(ring, head);
    const feeder = new PcmFeeder(path, frames, window, {
      tickMs: st.tickMs ?? STREAM_TICK_MS,
      idleTickMs: Math.max(st.tickMs ?? STREAM_TICK_MS, STREAM_IDLE_TICK_MS),
      idleLeadFrames: Math.round(STREAM_IDLE_LEAD_SECONDS * rate),
      behindFrames: Math.round(STREAM_BEHIND_SECONDS * rate),
      readFrames: Math.round(STREAM_READ_SECONDS * rate),
      onError: (message) => st.onError?.(message),
    });
    const plan = this.plans.get(id);
    feeder.setHint(plan?.start ?? 0);
    feeder.setLandings(plan?.landings ?? []);
    if (complete) feeder.decodeFinished();
    this.streams.set(id, { feeder, path, complete });
    this.consumer.addTrack(id, { kind: 'window', buffer: window.buffer }, frames);
    this.loaded.add(id);
    feeder.start();
  }

  /** Drops a registered track: from the engine, and a streamed one's feeder and file. */
  private unregister(id: string): void {
    if (this.loaded.delete(id)) this.consumer.removeTrack(id);
    const s = this.streams.get(id);
    if (s === undefined) return;
    this.streams.delete(id);
    const st = this.stream!; // streams exist only with the stream option
    void s.feeder.close().then(async () => {
      if (!s.complete) return unlink(s.path);
      // Kept for the next time this track plays (a looping playlist decodes each track once).
      const bytes = (await stat(s.path)).size;
      const older = this.kept.get(id);
      this.kept.delete(id);
      if (older !== undefined && older.path !== s.path) await unlink(older.path).catch(() => {});
      this.kept.set(id, { path: s.path, bytes });
      await this.evictKept(st.keepBytes ?? this.cache.maxBytes);
      this.saveIndex();
    }).catch(() => {});
  }

  /** Deletes kept decoded files, least recently used first, until they take at most `budget` bytes. */
  private async evictKept(budget: number): Promise<void> {
    let total = 0;
    for (const k of this.kept.values()) total += k.bytes;
    let evicted = false;
    for (const [id, k] of this.kept) {
      if (total <= budget) break;
      this.kept.delete(id);
      total -= k.bytes;
      evicted = true;
      await unlink(k.path).catch(() => {});
    }
    if (evicted) this.saveIndex();
  }

  /**
   * Once per run, before the first load: keeps the complete files the directory's index lists for
   * this tag (as kept files, least recently used first, within the budget) and deletes the rest:
   * decodes a crash cut short, files of another decoder or rate. False: stream into memory instead.
   */
  private prepareStreamDir(): Promise<boolean> {
    const st = this.stream!;
    this.streamDirReady ??= (async () => {
      try {
        await mkdir(st.dir, { recursive: true });
        const listed = await loadDecodedIndex(st.dir, this.tag());
        const names = await readdir(st.dir);
        const keep = new Set<string>();
        for (const e of listed) {
          const path = join(st.dir, e.file);
          const size = await stat(path).then((x) => (x.isFile() ? x.size : -1), () => -1);
          if (size !== e.bytes || this.kept.has(e.id)) continue;
          this.kept.set(e.id, { path, bytes: e.bytes });
          keep.add(e.file);
        }
        for (const name of names) {
          if (name !== DECODED_INDEX_FILE && !keep.has(name)) await unlink(join(st.dir, name)).catch(() => {});
        }
        await this.evictKept(st.keepBytes ?? this.cache.maxBytes);
        this.saveIndex();
        return true;
      } catch (e) {
        st.onError?.(`decoded-track directory ${st.dir}: ${(e as Error).message}; decoding into memory`);
        return false;
      }
    })();
    return this.streamDirReady;
  }

  private tag(): string {
    return this.stream?.tag ?? String(this.outputRate);
  }

  /** Writes the index of complete files (kept ones, then those streaming now) soon, one write at a time. */
  private saveIndex(): void {
    const st = this.stream;
    if (st === undefined) return;
    if (this.indexWrite !== null) {
      this.indexDirty = true;
      return;
    }
    const files: DecodedFile[] = [];
    const add = (id: string, path: string, bytes: number): void => {
      if (!files.some((f) => f.id === id)) files.push({ id, file: basename(path), bytes });
    };
    for (const [id, k] of this.kept) add(id, k.path, k.bytes);
    const streaming = [...this.streams].filter(([, s]) => s.complete);
    this.indexWrite = (async () => {
      for (const [id, s] of streaming) {
        const bytes = await stat(s.path).then((x) => x.size, () => -1);
        if (bytes >= 0) add(id, s.path, bytes);
      }
      await saveDecodedIndex(st.dir, this.tag(), files);
    })().catch((e: Error) => st.onError?.(`decoded-track index: ${e.message}`)).finally(() => {
      this.indexWrite = null;
      if (this.indexDirty) {
        this.indexDirty = false;
        this.saveIndex();
      }
    });
  }

  /**
   * The file to decode a track into, or null to decode it into memory: no stream option, a cache
   * that cannot be written, a track too long for a window, or too little disk space.
   */
  private async streamPath(id: string, frames: number): Promise<string | null> {
    const st = this.stream;
    if (st === undefined || !this.cache.writable || frames > WINDOW_MAX_TRACK_FRAMES) return null;
    if (!(await this.prepareStreamDir())) return null;
    try {
      const need = frames * 4 + (st.reserveBytes ?? STREAM_RESERVE_BYTES);
      let fs = await statfs(st.dir);
      if (fs.bavail * fs.bsize < need && this.kept.size > 0) {
        await this.evictKept(0); // kept files are the first to give way
        fs = await statfs(st.dir);
      }
      if (fs.bavail * fs.bsize < need) {
        st.onError?.(`too little disk space in ${st.dir} for a decoded track of ${Math.ceil((frames * 4) / 1e6)} MB; decoding into memory`);
        return null;
      }
    } catch {
      return null;
    }
    // A name per load: a dropped stream's file is deleted asynchronously, maybe after a reload began.
    return join(st.dir, `${id}.${this.runTag}.${++this.streamFiles}.pcm`);
  }

  /** Stops every feeder (daemon shutdown); complete files stay listed for the next start. */
  async close(): Promise<void> {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await Promise.all([...this.streams.values()].map((s) => s.feeder.close()));
    await this.indexWrite;
  }
}
