// TrackStore: decoded tracks the engine may read, id -> interleaved stereo int16 PCM over a
// SharedArrayBuffer (no copy between threads): the whole track, or a TrackWindow of a few seconds
// that a feeder keeps filled from the decoded file on disk. The main thread adds and removes
// entries; the worker keeps an identical map built from the same messages. Bounded: callers
// remove what the playlist no longer needs.
import { overlapFrames } from '@jaudiosync/protocol/timeline';
import { TrackWindow, WINDOW_MAX_TRACK_FRAMES as WINDOW_MAX_FRAMES } from './track-window.js';

export const TRACK_CHANNELS = 2;
/** Frames of the crossfade mixing buffer allocated up front: more than any engine chunk reads. */
const SCRATCH_FRAMES = 4096;
/** Refuses more entries than this (a bug upstream, not a reason to exhaust memory). */
export const TRACK_STORE_MAX_TRACKS = 4096;

export interface StoredTrack {
  readonly id: string;
  /** The whole track, interleaved stereo samples (frame f at [2f, 2f+1]); or null when streamed. */
  readonly pcm: Int16Array | null;
  /** The streamed track's window (when pcm is null). */
  readonly window: TrackWindow | null;
  readonly frames: number;
}

/** How a track's PCM crosses to the engine thread: the whole track, or a streaming window. */
export type TrackSource = { kind: 'pcm'; buffer: SharedArrayBuffer } | { kind: 'window'; buffer: SharedArrayBuffer };

export class TrackStore {
  private readonly map = new Map<string, StoredTrack>();
  private ver = 0;

  /** Changes whenever a track is added or removed (readers cache lookups by it). */
  get version(): number {
    return this.ver;
  }

  get size(): number {
    return this.map.size;
  }

  /**
   * Registers (or replaces) a track. `pcm` is the SharedArrayBuffer (or a view on one) holding
   * `frames` interleaved stereo int16 frames, or a TrackWindow streaming a track of `frames`
   * frames. Returns an error message instead of throwing.
   */
  add(id: string, pcm: SharedArrayBuffer | Int16Array | TrackWindow, frames: number): string | null {
    if (typeof id !== 'string' || id.length === 0) return 'track id must be a non-empty string';
    if (!Number.isSafeInteger(frames) || frames < 0) return `track ${id}: frames must be a non-negative integer`;
    let entry: StoredTrack;
    if (pcm instanceof TrackWindow) {
      if (frames > WINDOW_MAX_FRAMES) return `track ${id}: too long to stream (${frames} frames)`;
      entry = { id, pcm: null, window: pcm, frames };
    } else {
      let view: Int16Array;
      if (pcm instanceof Int16Array) view = pcm;
      else if (pcm instanceof SharedArrayBuffer) view = new Int16Array(pcm, 0, Math.floor(pcm.byteLength / 2));
      else return `track ${id}: pcm must be a SharedArrayBuffer, an Int16Array or a TrackWindow`;
      if (view.length < frames * TRACK_CHANNELS) return `track ${id}: buffer holds fewer than ${frames} stereo frames`;
      entry = { id, pcm: view, window: null, frames };
    }
    if (!this.map.has(id) && this.map.size >= TRACK_STORE_MAX_TRACKS) return `track store full (${TRACK_STORE_MAX_TRACKS})`;
    this.map.set(id, entry);
    this.ver++;
    return null;
  }

  /** add() for a TrackSource as it arrives in a message (the buffer checked first). */
  addSource(id: string, source: TrackSource, frames: number): string | null {
    if (typeof source !== 'object' || source === null || !(source.buffer instanceof SharedArrayBuffer)) {
      return `track ${String(id)}: source must be { kind, buffer: SharedArrayBuffer }`;
    }
    if (source.kind === 'pcm') return this.add(id, source.buffer, frames);
    if (source.kind !== 'window') return `track ${String(id)}: source kind must be pcm or window`;
    const w = TrackWindow.attach(source.buffer);
    return typeof w === 'string' ? `track ${String(id)}: ${w}` : this.add(id, w, frames);
  }

  remove(id: string): boolean {
    const had = this.map.delete(id);
    if (had) this.ver++;
    return had;
  }

  get(id: string): StoredTrack | undefined {
    return this.map.get(id);
  }

  ids(): string[] {
    return [...this.map.keys()];
  }
}

/** A playlist entry as the reader needs it (TimelineTrack's shape). */
export interface PlaylistTrack {
  id: string;
  frames: number;
}

/**
 * Reads frames along the playlist as stereo floats: global frame g is frame (g - start of k) of
 * track k; track k+1 follows k without a gap. Missing or undecoded tracks read as silence (the
 * timeline keeps going). With `loop`, g wraps modulo the playlist length; otherwise frames outside
 * the playlist are silence. Each track's frames are scaled by its normalization gain, so a gain
 * starts exactly on the track's first frame (the same frame on every member); across a change of
 * gains (`setTrackGains`) it moves from the old to the new one by the blend the caller sets per read.
 */
export class PlaylistReader {
  private tracks: readonly PlaylistTrack[] = [];
  private starts = new Float64Array(1);
  /** Frames by which track k overlaps its successor (crossfade). */
  private overlap = new Float64Array(0);
  private scratch = new Float32Array(0);
  private views: (StoredTrack | undefined)[] = [];
  private loop = false;
  private total = 0;
  private seenVersion = -1;
  private lastK = 0;
  /** Linear gain of each track before and after a gain change; empty: all 1. */
  private gainFrom: Float32Array = new Float32Array(0);
  private gainTo: Float32Array = new Float32Array(0);
  private blend0 = 1;
  private blend1 = 1;
  /** Playlist frame where the stream being read started (see setStreamStart). */
  private streamStart = 0;

  constructor(private readonly store: TrackStore) {}

  get totalFrames(): number {
    return this.total;
  }

  get looping(): boolean {
    return this.loop;
  }

  /**
   * True when global frame `g` is within `tol` of a track boundary: where a track ends (the next
   * one's start, or the playlist's end), modulo a lap when looping.
   */
  isTrackBoundary(g: number, tol: number): boolean {
    if (this.tracks.length === 0 || this.total <= 0 || !Number.isFinite(g)) return false;
    const gm = this.loop ? g - Math.floor(g / this.total) * this.total : g;
    for (let k = 1; k <= this.tracks.length; k++) if (Math.abs(gm - this.starts[k]!) <= tol) return true;
    return this.loop && Math.abs(gm) <= tol;
  }

  /** Global frame of (index, frame); NaN if index is out of range. */
  globalFrame(index: number, frame: number): number {
    if (index < 0 || index >= this.tracks.length) return Number.NaN;
    return this.starts[index]! + frame;
  }

  /**
   * Where global frame `g` (fractional allowed) lies: track, frame in it and loop lap; null outside
   * the playlist. With `moveTo`, the same place in another geometry (a changed crossfade).
   */
  locate(g: number): { id: string; index: number; frame: number; lap: number } | null {
    if (this.tracks.length === 0 || this.total <= 0 || !Number.isFinite(g)) return null;
    const lap = this.loop ? Math.floor(g / this.total) : 0;
    const gm = g - lap * this.total;
    if (gm < 0 || gm >= this.total) return null;
    const index = this.trackOf(Math.floor(gm));
    return { id: this.tracks[index]!.id, index, frame: gm - this.starts[index]!, lap };
  }

  /** Global frame of a place `locate` returned, in the current geometry; NaN if that track is not at that index now. */
  globalOf(place: { id: string; index: number; frame: number; lap: number }): number {
    const t = this.tracks[place.index];
    if (t === undefined || t.id !== place.id) return Number.NaN;
    return place.lap * this.total + this.starts[place.index]! + place.frame;
  }

  /** The playlist; with `crossfadeFrames`, track k+1 starts overlapFrames(k) before k ends (protocol/timeline.ts). */
  setPlaylist(tracks: readonly PlaylistTrack[], loop: boolean, crossfadeFrames = 0): void {
    this.tracks = tracks;
    this.loop = loop;
    this.starts = new Float64Array(tracks.length + 1);
    this.overlap = new Float64Array(tracks.length);
    for (let k = 0; k < tracks.length; k++) {
      this.overlap[k] = overlapFrames(tracks, k, loop, crossfadeFrames);
      this.starts[k + 1] = this.starts[k]! + tracks[k]!.frames - this.overlap[k]!;
    }
    this.total = this.starts[tracks.length]!;
    // The outgoing track's buffer, sized here (not in the engine's render path) for any chunk.
    if (crossfadeFrames > 0 && this.scratch.length < 2 * SCRATCH_FRAMES) this.scratch = new Float32Array(2 * SCRATCH_FRAMES);
    this.seenVersion = -1;
    this.lastK = 0;
    this.gainFrom = new Float32Array(0);
    this.gainTo = new Float32Array(0);
  }

  /** Per-track linear gains (after setPlaylist, one per track): `from` before a change, `to` after it. */
  setTrackGains(from: Float32Array, to: Float32Array): void {
    const n = this.tracks.length;
    if (from.length !== n || to.length !== n) throw new RangeError(`track gains: ${n} expected, got ${from.length}/${to.length}`);
    let unity = true;
    for (let k = 0; k < n && unity; k++) unity = from[k] === 1 && to[k] === 1;
    this.gainFrom = unity ? new Float32Array(0) : from;
    this.gainTo = unity ? new Float32Array(0) : to;
  }

  /**
   * The playlist frame the playing stream started from (a start, resume, seek or jump). A crossfade
   * mixes in the previous track's tail only where the stream ran into the track from the previous
   * one, so a jump into a track (next, seek, a resume) cuts in with its own fade instead.
   */
  setStreamStart(frame: number): void {
    this.streamStart = frame;
  }

  /** Where the next read lies in a gain change: 0 = the old gains, 1 = the new ones, linear between. */
  setGainBlend(atStart: number, atEnd: number): void {
    this.blend0 = atStart;
    this.blend1 = atEnd;
  }

  /**
   * Fills `out[0 .. 2*count)` with playlist frames [start, start + count) (start may be negative).
   * Returns how many of them belong to a track but had no audio to give (track not registered, a
   * streamed track's frames not loaded yet): the caller fades in when they become available.
   * Silence before or after the playlist is not missing. Inside a crossfade both tracks are read
   * and mixed by the equal-power curve (incoming sin, outgoing cos of the overlap's quarter turn).
   */
  read(start: number, count: number, out: Float32Array): number {
    if (this.seenVersion !== this.store.version) this.resolve();
    let missing = 0;
    let g = start;
    let o = 0;
    let left = count;
    const n0 = this.tracks.length;
    while (left > 0) {
      let gm = g;
      if (this.loop && this.total > 0) gm = ((g % this.total) + this.total) % this.total;
      if (gm < 0 || gm >= this.total) {
        // Before the playlist: silence up to frame 0; after it: silence.
        const n = gm < 0 ? Math.min(left, -gm) : left;
        out.fill(0, o, o + 2 * n);
        o += 2 * n;
        g += n;
        left -= n;
        continue;
      }
      const k = this.trackOf(gm);
      const f = gm - this.starts[k]!;
      // The previous track still sounds over the first overlap frames of this one, where the stream
      // ran into this track from it (the last track's tail over track 0 from the second lap on).
      const prev = k > 0 ? k - 1 : this.loop ? n0 - 1 : -1;
      const fade = prev >= 0 ? this.overlap[prev]! : 0;
      const inFade = f < fade && this.streamStart < g - f;
      const segmentEnd = inFade ? Math.min(this.starts[k + 1]!, this.starts[k]! + fade) : this.starts[k + 1]!;
      const n = Math.min(left, segmentEnd - gm);
      const u0 = (g - start) / count;
      const u1 = (g + n - start) / count;
      missing += this.readTrack(k, f, n, out, o, u0, u1);
      if (inFade) {
        const scratch = this.scratchFor(n);
        missing += this.readTrack(prev, this.tracks[prev]!.frames - fade + f, n, scratch, 0, u0, u1);
        const quarter = Math.PI / 2 / fade;
        for (let i = 0, q = o; i < n; i++, q += 2) {
          const a = (f + i) * quarter;
          const fin = Math.sin(a);
          const fout = Math.cos(a);
          out[q] = out[q]! * fin + scratch[2 * i]! * fout;
          out[q + 1] = out[q + 1]! * fin + scratch[2 * i + 1]! * fout;
        }
      }
      o += 2 * n;
      g += n;
      left -= n;
    }
    return missing;
  }

  /** Frames [f, f + n) of track k into out[at..], scaled by its gain; returns the frames missing. */
  private readTrack(k: number, f: number, n: number, out: Float32Array, at: number, u0: number, u1: number): number {
    const t = this.views[k];
    let o = at;
    const avail = t === undefined ? 0 : Math.max(0, Math.min(n, t.frames - f));
    let missing = n - avail;
    if (t !== undefined && avail > 0 && t.window !== null) {
      missing += avail - t.window.read(f, avail, out, o);
      o += 2 * avail;
    } else if (t !== undefined && avail > 0 && t.pcm !== null) {
      const pcm = t.pcm;
      let s = 2 * f;
      for (let i = 0; i < avail; i++, s += 2, o += 2) {
        out[o] = pcm[s]! * (1 / 32768);
        out[o + 1] = pcm[s + 1]! * (1 / 32768);
      }
    }
    if (avail < n) out.fill(0, o, o + 2 * (n - avail));
    if (this.gainTo.length > 0 && avail > 0) this.applyGain(k, out, at, avail, u0, u1);
    return missing;
  }

  /** A buffer for the outgoing track of a crossfade: grows once to the largest read, then reused. */
  private scratchFor(frames: number): Float32Array {
    if (this.scratch.length < 2 * frames) this.scratch = new Float32Array(2 * frames);
    return this.scratch;
  }

  /** Scales `frames` frames at `out[at]` by track k's gain; u0..u1 is where they lie in this read (0..1). */
  private applyGain(k: number, out: Float32Array, at: number, frames: number, u0: number, u1: number): void {
    const from = this.gainFrom[k]!;
    const to = this.gainTo[k]!;
    const b0 = this.blend0 + (this.blend1 - this.blend0) * u0;
    const b1 = this.blend0 + (this.blend1 - this.blend0) * u1;
    const g0 = from + (to - from) * b0;
    const step = frames > 1 ? (from + (to - from) * b1 - g0) / frames : 0;
    let o = at;
    for (let i = 0; i < frames; i++, o += 2) {
      const gain = g0 + step * i;
      out[o] = out[o]! * gain;
      out[o + 1] = out[o + 1]! * gain;
    }
  }

  /** Re-reads the store if it changed (drops views of removed tracks now, not at the next read). */
  sync(): void {
    if (this.seenVersion !== this.store.version) this.resolve();
  }

  private resolve(): void {
    this.views = this.tracks.map((t) => {
      const s = this.store.get(t.id);
      return s === undefined ? undefined : { id: s.id, pcm: s.pcm, window: s.window, frames: Math.min(s.frames, t.frames) };
    });
    this.seenVersion = this.store.version;
  }

  /** Track holding global frame gm (0 <= gm < total); empty tracks are never returned. */
  private trackOf(gm: number): number {
    const st = this.starts;
    const k0 = this.lastK;
    if (k0 < this.tracks.length && st[k0]! <= gm && gm < st[k0 + 1]!) return k0;
    let lo = 0;
    let hi = this.tracks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (st[mid]! <= gm) lo = mid;
      else hi = mid - 1;
    }
    // Equal starts mean empty tracks: the last one with start <= gm is the non-empty one.
    this.lastK = lo;
    return lo;
  }
}
