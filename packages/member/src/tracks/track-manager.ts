// Keeps the tracks the timeline needs soon (the current and the next) fetched, decoded to PCM at
// the output rate and registered with the audio engine, and drops the rest so that memory stays
// bounded on a 512 MB Pi. A track is registered as soon as its decode starts, into a buffer of the
// timeline's length that the decoder fills front to back (decoding runs 10-100x faster than real
// time, so playback can start at once instead of after the whole track). Failures are reported per
// track: the engine plays silence for that slot and the timeline goes on.
import type { TrackCache, TrackInput } from './track-cache.js';

export interface DecodedPcm {
  pcm: Int16Array;
  frames: number;
}

export interface PcmDecoder {
  /** `target`: fill this buffer (timeline length) in place instead of allocating one. */
  decode(
    input: TrackInput,
    opts: { outputRate: number; channels: number; target?: SharedArrayBuffer },
    cb?: { onProgress?: (fraction: number) => void; signal?: AbortSignal },
  ): Promise<DecodedPcm>;
}

export interface TrackConsumer {
  addTrack(id: string, pcm: SharedArrayBuffer, frames: number): void;
  removeTrack(id: string): void;
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

export class TrackManager {
  private readonly status = new Map<string, TrackStatus>();
  private readonly loaded = new Set<string>();
  private readonly loading = new Map<string, { done: Promise<void>; abort: AbortController }>();
  /** Timeline length of each track (frames at the output rate): the size of its PCM buffer. */
  private readonly framesOf = new Map<string, number>();
  private wanted: string[] = [];
  private baseUrl: string | null = null;
  private prefetchQueue: string[] = [];
  private prefetching: string | null = null;
  private readonly prefetched = new Set<string>();
  private readonly prefetchFailedAtMs = new Map<string, number>();

  constructor(
    private readonly cache: TrackCache,
    private readonly decoder: PcmDecoder,
    private readonly consumer: TrackConsumer,
    private readonly outputRate: number,
    private readonly onError: (trackId: string, reason: string) => void,
  ) {}

  setBaseUrl(url: string): void {
    this.baseUrl = url;
    this.pump();
  }

  /** `indices`: playlist indices needed now or soon, most urgent first. */
  want(timeline: NeededTimeline, indices: readonly number[]): void {
    const ids: string[] = [];
    for (const i of indices) {
      const t = timeline.tracks[i];
      if (t && !ids.includes(t.id)) {
        ids.push(t.id);
        this.framesOf.set(t.id, t.frames);
      }
      if (ids.length >= MAX_DECODED_TRACKS) break;
    }
    this.wanted = ids;
    for (const [id, job] of this.loading) {
      if (!ids.includes(id)) job.abort.abort(); // its buffer goes with it; load() cleans up
    }
    for (const id of [...this.loaded]) {
      if (!ids.includes(id)) {
        this.consumer.removeTrack(id);
        this.loaded.delete(id);
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
        if (this.loaded.delete(id)) this.consumer.removeTrack(id);
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
      if (this.status.get(id)?.error) continue; // failed: silence for this slot until the timeline changes
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
    try {
      const input = await this.cache.input(id, baseUrl);
      if (signal.aborted || !this.wanted.includes(id)) return; // timeline moved on while fetching
      const frames = this.framesOf.get(id) ?? 0;
      const opts: { outputRate: number; channels: number; target?: SharedArrayBuffer } = { outputRate: this.outputRate, channels: 2 };
      if (frames > 0) {
        // Playable from now on: frames the decoder has not reached yet read as silence.
        opts.target = new SharedArrayBuffer(frames * 4);
        this.consumer.addTrack(id, opts.target, frames);
        this.loaded.add(id);
        registered = true;
      }
      const decoded = await this.decoder.decode(input, opts, {
        signal,
        onProgress: (fraction) => this.status.set(id, { trackId: id, progress: Math.min(0.999, Math.max(0, fraction)) }),
      });
      // Timeline moved on while decoding, or a more urgent track preempted it: want() unregistered it.
      if (signal.aborted || !this.wanted.includes(id)) return;
      if (!registered) {
        const buffer = decoded.pcm.buffer;
        if (!(buffer instanceof SharedArrayBuffer)) throw new Error('decoder returned PCM that is not shared memory');
        this.consumer.addTrack(id, buffer, decoded.frames);
        this.loaded.add(id);
      }
      this.status.set(id, { trackId: id, progress: 1 });
    } catch (err) {
      if (signal.aborted) return; // dropped on purpose: want() already unregistered it
      if (registered && this.loaded.delete(id)) this.consumer.removeTrack(id);
      const reason = (err as Error).message || String(err);
      this.status.set(id, { trackId: id, progress: 0, error: reason });
      this.onError(id, reason);
    }
  }
}
