// Owns what plays when: the tracks, the Timeline and its revisions, the group volume and each
// member's settings. Every command becomes one new revision at a leader time far enough ahead for
// every member (or the user's start time), computed with the same pure maths members use
// (protocol/timeline.ts). Sending and persisting are the owner's job: it listens to `timeline`,
// `settings` and `change`.
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { JasError } from '@jaudiosync/protocol/errors';
import { MAX_REVISIONS, type ChannelMode } from '@jaudiosync/protocol/messages';
import {
  nextAt, positionAt, previousAt, pruneRevisions, repeatTrackAt, resumeAt, revisionAt, seekAt, stopAfterTrackAt, stopAt, usOfFrames, withRevision,
  TIMELINE_MAX_CROSSFADE_S, type Timeline, type TimelineRevision,
} from '@jaudiosync/protocol/timeline';
import type { RecentRtt } from '../members/rtt-stats.js';
import { isPermutation, shuffleFrom, unshuffleFrom } from './shuffle-order.js';
import { MAX_START_AHEAD_US, parseStartTime } from './start-time.js';

/** off: stop after the last track; one: the current track again and again; all: the playlist wraps (`loop`). */
export type RepeatMode = 'off' | 'one' | 'all';

/** Play order state, persisted with the timeline. */
export interface OrderState {
  /** Play position -> position in the m3u8 (the timeline's tracks are in play order). */
  order: number[];
  shuffle: boolean;
  /** Seed of the last shuffle (32 bits). */
  seed: number;
  repeat: RepeatMode;
  stopAfter: boolean;
}

/**
 * Members fade a stop out over this after its atUs (the member scheduler's TIMELINE_FADE_US): a
 * stop-after is placed this much before the track's end, so the fade ends on its last frame
 * rather than on the next track's first 6 ms.
 */
export const STOP_FADE_US = 6_000;
/** Default minimum lead time: covers a WiFi hop, JSON handling and the member's own scheduling. */
export const DEFAULT_MIN_LEAD_MS = 250;
/** Added to each member's RTT p90 + p50: processing on both ends plus a burst of jitter. */
export const LEAD_MARGIN_US = 50_000;

export interface Timescale {
  /** Leader timescale now (µs). */
  nowUs(): number;
}

export interface ControllerTrack {
  id: string;
  frames: number;
  title?: string;
  /** Loudness-normalization gain (dB; absent: 0). */
  gainDb?: number;
}

export interface MemberSettings {
  volume: number;
  outputDelayMs: number;
  channelMode: ChannelMode;
}

export const DEFAULT_MEMBER_SETTINGS: MemberSettings = { volume: 1, outputDelayMs: 0, channelMode: 'stereo' };

export interface When {
  at?: string;
  delayMs?: number;
}

export interface CommandResult {
  rev: number;
  atUs: number;
  /** ISO 8601 wall time of atUs. */
  at: string;
  leadUs: number;
  revision: TimelineRevision;
}

export interface ControllerSnapshot {
  timeline: Timeline;
  memberSettings: Record<string, MemberSettings>;
  /** Absent in state saved before shuffle and repeat existed: playlist order, repeat from `loop`. */
  order?: OrderState;
}

/** Reply to an order change: when it takes effect and the order state after it. */
export interface OrderResult {
  rev: number;
  atUs: number;
  at: string;
  shuffle: boolean;
  seed: number;
  repeat: RepeatMode;
  stopAfter: boolean;
}

export interface TimelineControllerEvents {
  /** A new timeline to broadcast to every connected member. */
  timeline: [timeline: Timeline];
  /** New settings for one member (settings take effect at `atUs`). */
  settings: [memberId: string, settings: MemberSettings, atUs: number];
  /** Anything persisted changed. */
  change: [];
}

export interface TimelineControllerOptions {
  timescale: Timescale;
  outputRate: number;
  /** Wall clock (ms since epoch), for user times of day and ISO times. */
  wallNowMs?(): number;
  minLeadMs?: number;
  /**
   * RTT p50 and p90 (µs) of each connected member over its recent pongs (the last 10 s in the
   * leader): recent, so a congestion that has passed stops refusing short leads within seconds.
   */
  memberRtts?(): RecentRtt[];
  /** Whether every connected member has this track decoded; a jump to one that is not waits for it. */
  trackReady?(trackId: string): boolean;
  loop?: boolean;
  /** Seeds for shuffles (default: crypto random); tests inject a sequence. */
  drawSeed?(): number;
  /** Crossfade between consecutive tracks at start, ms (0 or absent: gapless). */
  crossfadeMs?: number;
}

export const MAX_CROSSFADE_MS = TIMELINE_MAX_CROSSFADE_S * 1000;

/**
 * Lead time of an "as soon as possible" jump to a track some member has not decoded: fetching from
 * the cache and decoding its start takes ~0.3-0.8 s on a member (more on a Pi).
 */
const UNDECODED_LEAD_US = 1_500_000;
/** Longest setTimeout delay Node takes (beyond it fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class TimelineController extends EventEmitter<TimelineControllerEvents> {
  private tl: Timeline;
  private readonly settings = new Map<string, MemberSettings>();
  private readonly wallNowMs: () => number;
  private readonly minLeadUs: number;
  private order: number[] = [];
  private shuffle = false;
  private seed = 0;
  private repeat: RepeatMode;
  private stopAfter = false;
  /** The revisions this controller added itself (repeat-one laps, stop-after stops), by identity. */
  private auto = new Set<TimelineRevision>();
  private autoTimer: NodeJS.Timeout | null = null;
  /** Revisions and volume changes the user timed by the wall clock (a time of day, an ISO time). */
  private wallTimed = new WeakSet<object>();

  constructor(private readonly options: TimelineControllerOptions) {
    super();
    this.repeat = options.loop === true ? 'all' : 'off';
    this.wallNowMs = options.wallNowMs ?? Date.now;
    this.minLeadUs = Math.round((options.minLeadMs ?? DEFAULT_MIN_LEAD_MS) * 1000);
    const now = this.nowUs();
    const crossfadeFrames = this.crossfadeFramesOf(options.crossfadeMs ?? 0);
    this.tl = {
      rev: 0, outputRate: options.outputRate, loop: options.loop ?? false, tracks: [],
      revisions: [{ atUs: now, playing: false, index: 0, frame: 0 }],
      volume: { gain: 1, atUs: now },
      ...(crossfadeFrames > 0 ? { crossfadeFrames } : {}),
    };
  }

  get timeline(): Timeline {
    return this.tl;
  }

  private nowUs(): number {
    return Math.round(this.options.timescale.nowUs());
  }

  /**
   * How far ahead a command must be scheduled so every connected member gets it in time: the
   * minimum, or the largest over members of RTT p90 + RTT p50 + margin. The p90 is the path's slow
   * round trip: on a lossy link one with a TCP retransmission in it (an RTO of >= 200 ms plus a
   * round trip), which covers a command's one-way trip with one retransmission. The p50, an
   * ordinary round trip, covers the rest: the leader writing to every other member first, and
   * queueing. 2 x p90 (the rule before) counted the retransmission twice: on 1 % loss it asked
   * > 500 ms for 38 of 42 commands where all but one delivery took <= 410 ms (issue #14,
   * docs/benchmarks.md "Fanout"). On a path slow throughout, p50 ~ p90: two round trips, as
   * before. A loss the pongs have not shown yet is the minimum's to cover (250 ms: one 200 ms RTO
   * and a WiFi hop).
   */
  leadTimeUs(): number {
    let lead = this.minLeadUs;
    for (const r of this.options.memberRtts?.() ?? []) lead = Math.max(lead, Math.round(r.p90Us + r.p50Us + LEAD_MARGIN_US));
    return lead;
  }

  /** Resolves the user's start time into a leader time; refuses the past and > 24 h ahead. */
  resolveAt(when: When = {}): { atUs: number; leadUs: number; explicit: boolean; wall?: boolean } {
    const nowUs = this.nowUs();
    const leadUs = this.leadTimeUs();
    const start = parseStartTime(when.at, when.delayMs, this.wallNowMs());
    if (start === undefined) return { atUs: nowUs + leadUs, leadUs, explicit: false };
    // Wall -> leader time: the leader timescale runs at the wall clock's rate from its anchor, so
    // the offset between a wall time and now carries over to leader time.
    // Whole µs: a wall clock kept on CLOCK_MONOTONIC (clock/wall-clock.ts) reads fractional ms.
    const aheadUs = Math.round(start.kind === 'delay' ? start.delayUs : start.wallUs - this.wallNowMs() * 1000);
    const label = when.at ?? `+${String(when.delayMs)}ms`;
    if (aheadUs < 0) {
      throw new JasError('JAS_ERR_TIME_IN_PAST', { at: JSON.stringify(label) }, { field: when.at !== undefined ? '/at' : '/delayMs' });
    }
    if (aheadUs < leadUs) {
      throw new JasError('JAS_ERR_TIME_IN_PAST',
        `requested time ${JSON.stringify(label)} is too soon: members need at least ${Math.ceil(leadUs / 1000)} ms`,
        { field: when.at !== undefined ? '/at' : '/delayMs' });
    }
    if (aheadUs > MAX_START_AHEAD_US) {
      throw new JasError('JAS_ERR_TIME_TOO_FAR', { at: JSON.stringify(label), limit: '24 h' }, { field: when.at !== undefined ? '/at' : '/delayMs' });
    }
    return { atUs: nowUs + aheadUs, leadUs, explicit: true, wall: start.kind === 'wall' };
  }

  /** ISO wall time of a leader time (for replies and logs). */
  wallIsoOf(atUs: number): string {
    return new Date(this.wallNowMs() + (atUs - this.nowUs()) / 1000).toISOString();
  }

  private requireTracks(): void {
    if (this.tl.tracks.length === 0) throw new JasError('JAS_ERR_NO_PLAYLIST', {});
  }

  private frameOf(index: number, positionMs: number): number {
    const track = this.tl.tracks[index];
    if (!track) throw new JasError('JAS_ERR_VALIDATION', { field: '/index', detail: `no track ${index} (playlist has ${this.tl.tracks.length})` }, { field: '/index' });
    const frame = Math.floor((positionMs * this.tl.outputRate) / 1000);
    if (!Number.isSafeInteger(frame) || frame < 0 || frame >= track.frames) {
      const lengthMs = Math.floor((track.frames * 1000) / this.tl.outputRate);
      throw new JasError('JAS_ERR_VALIDATION', { field: '/positionMs', detail: `${positionMs} ms is outside track ${index} (${lengthMs} ms long)` }, { field: '/positionMs' });
    }
    return frame;
  }

  /**
   * Applies one revision at `atUs`. Revisions scheduled at or after `atUs` are cancelled first (the
   * latest command wins), so the maths sees the timeline as it will be just before `atUs`.
   */
  private apply(when: { atUs: number; leadUs: number; explicit?: boolean; wall?: boolean }, make: (base: Timeline, atUs: number) => TimelineRevision): CommandResult {
    let { atUs, leadUs } = when;
    let revision = this.revise(atUs, make);
    // "As soon as possible" to a track some member has not decoded yet: give it the time to decode
    // its start, so every member starts on the frame rather than some joining late.
    const track = revision.playing ? this.tl.tracks[revision.index] : undefined;
    if (!when.explicit && track && this.options.trackReady && !this.options.trackReady(track.id) && leadUs < UNDECODED_LEAD_US) {
      atUs += UNDECODED_LEAD_US - leadUs;
      leadUs = UNDECODED_LEAD_US;
      revision = this.revise(atUs, make);
    }
    let next = withRevision(this.tl, revision);
    next = pruneRevisions(next, this.nowUs());
    if (next.revisions.length > MAX_REVISIONS) {
      throw new JasError('JAS_ERR_CONFLICT', { detail: `more than ${MAX_REVISIONS} commands are scheduled ahead` });
    }
    // Kept by identity: the commit below keeps the object, prunes and replacements drop it.
    const added = next.revisions[next.revisions.length - 1];
    if (when.wall === true && added !== undefined) this.wallTimed.add(added);
    this.commit(next);
    return { rev: this.tl.rev, atUs, at: this.wallIsoOf(atUs), leadUs, revision };
  }

  /** Installs `next` with the automatic revisions the order state asks for, and announces it. */
  private commit(next: Timeline): void {
    this.tl = this.withAuto(next);
    this.armAutoTimer();
    this.emit('timeline', this.tl);
    this.emit('change');
  }

  /**
   * Repeat one and stop-after are revisions the leader adds itself at the end of the playing track
   * (timeline.ts `repeatTrackAt`, `stopAfterTrackAt`), so every member acts at the same frame.
   * Those still far enough ahead are derived again from the current state; nearer ones stay
   * (members may already act on them). One per gap between revisions: the next lap is added when
   * the previous one takes effect (armAutoTimer).
   */
  private withAuto(tl: Timeline): Timeline {
    const now = this.nowUs();
    const keepBefore = now + this.leadTimeUs();
    const revs = tl.revisions.filter((r) => !(this.auto.has(r) && r.atUs >= keepBefore));
    const auto = new Set(revs.filter((r) => this.auto.has(r)));
    // A stop-after that took effect is done.
    if (this.stopAfter && revs.some((r) => auto.has(r) && !r.playing && r.atUs <= now)) this.stopAfter = false;
    let stopPending = this.stopAfter && revs.some((r) => auto.has(r) && !r.playing);
    const out: TimelineRevision[] = [];
    for (let i = 0; i < revs.length; i++) {
      const r = revs[i] as TimelineRevision;
      out.push(r);
      const following = revs[i + 1];
      const wantStop = this.stopAfter && !stopPending;
      if (!r.playing || (!wantStop && this.repeat !== 'one')) continue;
      const from = Math.max(r.atUs, keepBefore);
      if (following !== undefined && following.atUs <= from) continue;
      const base: Timeline = { ...tl, revisions: out };
      const added = wantStop ? stopAfterTrackAt(base, from, STOP_FADE_US) : repeatTrackAt(base, from);
      if (added === null || added.atUs <= r.atUs || (following !== undefined && added.atUs >= following.atUs)) continue;
      out.push(added);
      auto.add(added);
      if (wantStop) stopPending = true;
    }
    this.auto = auto;
    return out.length === tl.revisions.length && out.every((r, i) => r === tl.revisions[i]) ? tl : { ...tl, revisions: out };
  }

  /** Wakes up when the next automatic revision takes effect, to add the one after it. */
  private armAutoTimer(): void {
    if (this.autoTimer) clearTimeout(this.autoTimer);
    this.autoTimer = null;
    const now = this.nowUs();
    const due = [...this.auto].map((r) => r.atUs).filter((a) => a > now).sort((a, b) => a - b)[0];
    if (due === undefined) return;
    this.autoTimer = setTimeout(() => {
      this.autoTimer = null;
      this.refreshAuto();
    // setTimeout takes at most 2^31-1 ms (24.8 days; a track may be longer): wake up and look again then.
    }, Math.min(MAX_TIMER_MS, Math.ceil((due - now) / 1000) + 1));
    this.autoTimer.unref();
  }

  /** Adds the automatic revision due after one that took effect (the timer calls it; tests too). */
  refreshAuto(): void {
    const before = this.tl;
    const next = this.withAuto(pruneRevisions(this.tl, this.nowUs()));
    this.armAutoTimer();
    if (next === before) return;
    this.tl = { ...next, rev: before.rev + 1 };
    this.emit('timeline', this.tl);
    this.emit('change');
  }

  /** Stops the timer of automatic revisions (the leader closes). */
  close(): void {
    if (this.autoTimer) clearTimeout(this.autoTimer);
    this.autoTimer = null;
  }

  private revise(atUs: number, make: (base: Timeline, atUs: number) => TimelineRevision): TimelineRevision {
    const base: Timeline = { ...this.tl, revisions: this.tl.revisions.filter((r) => r.atUs < atUs) };
    try {
      return make(base, atUs);
    } catch (err) {
      if (err instanceof JasError) throw err;
      throw new JasError('JAS_ERR_VALIDATION', { field: '', detail: (err as Error).message });
    }
  }

  play(cmd: When & { index?: number; positionMs?: number } = {}): CommandResult {
    this.requireTracks();
    const start = this.resolveAt(cmd);
    if (cmd.index === undefined && cmd.positionMs === undefined) {
      return this.apply(start, (tl, at) => resumeAt(tl, at));
    }
    return this.apply(start, (tl, at) => {
      const index = cmd.index ?? currentIndex(tl, at);
      return seekAt(tl, at, index, this.frameOf(index, cmd.positionMs ?? 0), true);
    });
  }

  stop(when: When = {}): CommandResult {
    return this.apply(this.resolveAt(when), (tl, at) => stopAt(tl, at));
  }

  resume(when: When = {}): CommandResult {
    this.requireTracks();
    return this.apply(this.resolveAt(when), (tl, at) => resumeAt(tl, at));
  }

  next(when: When = {}): CommandResult {
    this.requireTracks();
    return this.apply(this.resolveAt(when), (tl, at) => nextAt(tl, at));
  }

  previous(when: When = {}): CommandResult {
    this.requireTracks();
    return this.apply(this.resolveAt(when), (tl, at) => previousAt(tl, at));
  }

  seek(cmd: When & { positionMs: number; index?: number }): CommandResult {
    this.requireTracks();
    return this.apply(this.resolveAt(cmd), (tl, at) => {
      const index = cmd.index ?? currentIndex(tl, at);
      return seekAt(tl, at, index, this.frameOf(index, cmd.positionMs));
    });
  }

  /** Group volume: members ramp to `gain` starting at the returned time. */
  setVolume(cmd: When & { volume: number }): { rev: number; atUs: number; at: string; leadUs: number; volume: number } {
    if (!(cmd.volume >= 0 && cmd.volume <= 1)) {
      throw new JasError('JAS_ERR_VALIDATION', { field: '/volume', detail: 'must be a number from 0 to 1' }, { field: '/volume' });
    }
    const { atUs, leadUs, wall } = this.resolveAt(cmd);
    const volume = { gain: cmd.volume, atUs };
    if (wall === true) this.wallTimed.add(volume);
    this.tl = { ...this.tl, rev: this.tl.rev + 1, volume };
    this.emit('timeline', this.tl);
    this.emit('change');
    return { rev: this.tl.rev, atUs, at: this.wallIsoOf(atUs), leadUs, volume: cmd.volume };
  }

  /**
   * New normalization gains (dB, one per track, in m3u8 order, as setTracks takes them): they take
   * effect for every member at the returned leader time (members ramp from the old ones, like a
   * volume change). The timeline's tracks are in play order (shuffle): each gets its own.
   */
  setTrackGains(gainsDb: readonly number[]): { rev: number; atUs: number; at: string } {
    if (gainsDb.length !== this.tl.tracks.length) throw new RangeError(`${gainsDb.length} gains for ${this.tl.tracks.length} tracks`);
    const atUs = this.nowUs() + this.leadTimeUs();
    this.commit({
      ...this.tl,
      rev: this.tl.rev + 1,
      tracks: this.tl.tracks.map((t, i) => {
        const { gainDb: _old, ...rest } = t;
        const g = gainsDb[this.order[i] ?? i]!;
        return g !== 0 ? { ...rest, gainDb: g } : rest;
      }),
      trackGainAtUs: atUs,
    });
    return { rev: this.tl.rev, atUs, at: this.wallIsoOf(atUs) };
  }

  /** The crossfade in force, ms (0: gapless). */
  get crossfadeMs(): number {
    return Math.round(((this.tl.crossfadeFrames ?? 0) * 1000) / this.tl.outputRate);
  }

  private crossfadeFramesOf(ms: number): number {
    if (!(Number.isFinite(ms) && ms >= 0 && ms <= MAX_CROSSFADE_MS)) {
      throw new JasError('JAS_ERR_VALIDATION', { field: '/crossfadeMs', detail: `must be a number from 0 to ${MAX_CROSSFADE_MS}` }, { field: '/crossfadeMs' });
    }
    return Math.round((ms * this.options.outputRate) / 1000);
  }

  /**
   * Sets the crossfade between consecutive tracks (0: gapless). It changes where every track
   * starts on the timeline, so while playing, the revision in effect is re-based inside the
   * current track first: from that point the old and the new crossfade give the same position,
   * and nothing audible moves; the new overlap applies from the next track change on.
   */
  setCrossfade(ms: number): { rev: number; crossfadeMs: number } {
    const frames = this.crossfadeFramesOf(ms);
    const now = this.nowUs();
    let revisions = this.tl.revisions;
    const ri = revisionAt(this.tl, now);
    const r = this.tl.revisions[ri];
    const p = positionAt(this.tl, now);
    if (r !== undefined && r.playing && !p.ended && p.playing) {
      // The leader time the current track began (at most a µs early), but no earlier than a second
      // ago (every member has played that long by now) and later than the revision itself.
      const trackStartUs = now - usOfFrames(p.frame, this.tl.outputRate);
      const at = Math.max(trackStartUs + 1, now - 1_000_000, r.atUs + 1);
      if (at <= now && trackStartUs > r.atUs) {
        const q = positionAt(this.tl, at);
        if (!q.ended && q.index === p.index) {
          const rebased: TimelineRevision = { atUs: at, playing: true, index: q.index, frame: q.frame };
          revisions = [...revisions.slice(0, ri + 1), rebased, ...revisions.slice(ri + 1)];
        }
      }
    }
    const { crossfadeFrames: _old, ...rest } = this.tl;
    // (commit: repeat-one laps and stop-after are derived again from the new track ends.)
    this.commit({ ...rest, rev: this.tl.rev + 1, revisions, ...(frames > 0 ? { crossfadeFrames: frames } : {}) });
    return { rev: this.tl.rev, crossfadeMs: this.crossfadeMs };
  }

  /** Replaces the playlist (in m3u8 order; shuffled when shuffle is on). Playback stops (the new list's indices mean other tracks). */
  setTracks(tracks: ControllerTrack[]): Timeline {
    const now = this.nowUs();
    const last = this.tl.revisions[this.tl.revisions.length - 1];
    const atUs = Math.max(now, (last?.atUs ?? 0) + 1);
    const catalog: ControllerTrack[] = tracks.map((t) => ({
      id: t.id, frames: t.frames,
      ...(t.title !== undefined ? { title: t.title } : {}),
      ...(t.gainDb !== undefined && t.gainDb !== 0 ? { gainDb: t.gainDb } : {}),
    }));
    const identity = catalog.map((_t, i) => i);
    if (this.shuffle) this.seed = this.drawSeed();
    this.order = this.shuffle ? shuffleFrom(identity, 0, this.seed) : identity;
    this.auto.clear();
    this.stopAfter = false;
    this.commit({
      ...this.tl,
      rev: this.tl.rev + 1,
      tracks: this.order.map((i) => catalog[i] as ControllerTrack),
      revisions: [{ atUs, playing: false, index: 0, frame: 0 }],
      trackGainAtUs: atUs,
    });
    return this.tl;
  }

  /** The order state: play order (m3u8 positions), shuffle, seed, repeat, stop-after. */
  orderState(): OrderState {
    return { order: [...this.order], shuffle: this.shuffle, seed: this.seed, repeat: this.repeat, stopAfter: this.stopAfter };
  }

  private orderResult(atUs: number): OrderResult {
    return { rev: this.tl.rev, atUs, at: this.wallIsoOf(atUs), shuffle: this.shuffle, seed: this.seed, repeat: this.repeat, stopAfter: this.stopAfter };
  }

  private drawSeed(): number {
    return (this.options.drawSeed?.() ?? randomInt(0, 2 ** 32 - 1)) >>> 0;
  }

  /**
   * Repeat mode. `all` is the timeline's `loop` (members wrap gaplessly); `one` and stop-after are
   * revisions at the end of the playing track (withAuto). When `loop` flips, a revision at now
   * holding the position as it is keeps the past as it was: the new mode only changes what happens
   * at the next end of a track or of the playlist.
   */
  setRepeat(repeat: RepeatMode): OrderResult {
    const atUs = this.nowUs() + this.leadTimeUs();
    this.repeat = repeat;
    const loop = repeat === 'all';
    let tl = this.tl;
    if (loop !== tl.loop) tl = { ...holdPositionAt(tl, this.nowUs()), loop };
    this.commit({ ...tl, rev: tl.rev + 1 });
    return this.orderResult(atUs);
  }

  /** Stop at the end of the current track (the resume point is the next track's start), or cancel that. */
  setStopAfter(stopAfter: boolean): OrderResult {
    if (stopAfter) this.requireTracks();
    this.stopAfter = stopAfter;
    this.commit({ ...this.tl, rev: this.tl.rev + 1 });
    const stop = this.tl.revisions.find((r) => this.auto.has(r) && !r.playing);
    return this.orderResult(stop?.atUs ?? this.nowUs() + this.leadTimeUs());
  }

  /**
   * Shuffle on (a new seed, or `seed`) or off (the upcoming tracks back in m3u8 order). Only the
   * tracks after the one playing at the returned `atUs` (and after any track a revision names)
   * move, so nothing that plays until then changes; stopped at the start, the whole list moves.
   */
  setShuffle(shuffle: boolean, seed?: number): OrderResult {
    this.requireTracks();
    const now = this.nowUs();
    const atUs = now + this.leadTimeUs();
    let tl = this.tl;
    const fresh = !tl.revisions.some((r) => r.playing && r.atUs >= now) && positionFresh(tl, now) && positionFresh(tl, atUs);
    let from = 0;
    if (fresh) {
      // Nothing plays and the resume point is the start: the new order starts from its first track.
      tl = { ...tl, revisions: [{ atUs: Math.max(now, (tl.revisions[tl.revisions.length - 1]?.atUs ?? 0) + 1), playing: false, index: 0, frame: 0 }] };
      this.auto.clear();
    } else {
      // A stop-after's resume point is "the next track", whichever that becomes: it does not pin it.
      from = 1 + Math.max(currentIndex(tl, now), currentIndex(tl, atUs),
        ...tl.revisions.filter((r) => r.playing || !this.auto.has(r)).map((r) => r.index));
    }
    this.shuffle = shuffle;
    if (shuffle) this.seed = seed ?? this.drawSeed();
    const catalog: ControllerTrack[] = [];
    this.order.forEach((m3u, i) => { catalog[m3u] = tl.tracks[i] as ControllerTrack; });
    // From playlist order, so a seed always gives the same order of the same upcoming tracks.
    const upcomingInPlaylistOrder = unshuffleFrom(this.order, from);
    this.order = shuffle ? shuffleFrom(upcomingInPlaylistOrder, from, this.seed) : upcomingInPlaylistOrder;
    this.commit({ ...tl, rev: tl.rev + 1, tracks: this.order.map((i) => catalog[i] as ControllerTrack) });
    return this.orderResult(atUs);
  }

  /**
   * Takes the next revision number for a timeline sent by someone else (the acoustic calibration)
   * without sending anything: members take it as newer than this one; `republish` supersedes it.
   */
  reserveRev(): number {
    this.tl = { ...this.tl, rev: this.tl.rev + 1 };
    return this.tl.rev;
  }

  /** Sends the current timeline again under a new revision number (after a borrowed one). */
  republish(): void {
    this.commit({ ...this.tl, rev: this.tl.rev + 1 });
  }

  memberSettings(memberId: string): MemberSettings {
    return { ...(this.settings.get(memberId) ?? DEFAULT_MEMBER_SETTINGS) };
  }

  allMemberSettings(): Record<string, MemberSettings> {
    return Object.fromEntries([...this.settings].map(([k, v]) => [k, { ...v }]));
  }

  /** Updates a member's trims; returns the new settings and when they apply. */
  updateMemberSettings(memberId: string, patch: Partial<MemberSettings>): { settings: MemberSettings; atUs: number } {
    const merged: MemberSettings = { ...this.memberSettings(memberId) };
    if (patch.volume !== undefined) merged.volume = patch.volume;
    if (patch.outputDelayMs !== undefined) merged.outputDelayMs = patch.outputDelayMs;
    if (patch.channelMode !== undefined) merged.channelMode = patch.channelMode;
    this.settings.set(memberId, merged);
    const atUs = this.nowUs() + this.leadTimeUs();
    this.emit('settings', memberId, merged, atUs);
    this.emit('change');
    return { settings: merged, atUs };
  }

  /**
   * Leader times of the commands still ahead that were given as a time of day or an ISO time: they
   * were placed with the wall clock as it was, so setting the clock would move their meaning.
   */
  wallTimedAheadUs(): number[] {
    const now = this.nowUs();
    const out = this.tl.revisions.filter((r) => r.atUs > now && this.wallTimed.has(r)).map((r) => r.atUs);
    const v = this.tl.volume;
    if (v !== undefined && v.atUs > now && this.wallTimed.has(v)) out.push(v.atUs);
    return out.sort((a, b) => a - b);
  }

  /** Where the playlist is now (for status). */
  positionNow(): { index: number; frame: number; playing: boolean; ended: boolean; atUs: number } {
    const atUs = this.nowUs();
    const p = positionAt(this.tl, atUs);
    if (p.ended) return { index: 0, frame: 0, playing: false, ended: true, atUs };
    return { index: p.index, frame: p.frame, playing: p.playing, ended: false, atUs };
  }

  /** Milliseconds of a frame count at the output rate. */
  msOfFrames(frames: number): number {
    return usOfFrames(frames, this.tl.outputRate) / 1000;
  }

  snapshot(): ControllerSnapshot {
    return { timeline: this.tl, memberSettings: this.allMemberSettings(), order: this.orderState() };
  }

  /** Restores a persisted state unchanged (members that kept playing are not disturbed). */
  restore(snapshot: ControllerSnapshot): void {
    if (snapshot.timeline.outputRate !== this.options.outputRate) {
      throw new Error(`saved timeline is at ${snapshot.timeline.outputRate} Hz, the leader runs at ${this.options.outputRate} Hz`);
    }
    const tl = snapshot.timeline;
    this.tl = tl.revisions.length > 0 ? tl : { ...tl, revisions: [{ atUs: this.nowUs(), playing: false, index: 0, frame: 0 }] };
    if (!this.tl.volume) this.tl = { ...this.tl, volume: { gain: 1, atUs: this.tl.revisions[0]?.atUs ?? this.nowUs() } };
    this.settings.clear();
    for (const [id, s] of Object.entries(snapshot.memberSettings)) this.settings.set(id, { ...DEFAULT_MEMBER_SETTINGS, ...s });
    const o = snapshot.order;
    const n = this.tl.tracks.length;
    // A saved order that does not fit the saved tracks (edited by hand, older leader) is playlist order.
    const valid = o !== undefined && isPermutation(o.order, n) && ['off', 'one', 'all'].includes(o.repeat)
      && Number.isSafeInteger(o.seed) && typeof o.shuffle === 'boolean' && typeof o.stopAfter === 'boolean';
    this.order = valid ? [...o.order] : this.tl.tracks.map((_t, i) => i);
    this.shuffle = valid ? o.shuffle : false;
    this.seed = valid ? o.seed >>> 0 : 0;
    this.repeat = valid ? o.repeat : this.tl.loop ? 'all' : 'off';
    if (this.repeat === 'all' && !this.tl.loop) this.repeat = 'off';
    this.stopAfter = valid ? o.stopAfter : false;
    // Revisions added automatically are recognised again: one that is exactly what repeat one or
    // stop-after makes at the end of the track before it.
    this.auto.clear();
    const revs = this.tl.revisions;
    for (let i = 1; i < revs.length; i++) {
      const r = revs[i] as TimelineRevision;
      const base: Timeline = { ...this.tl, revisions: revs.slice(0, i) };
      const made = r.playing ? (this.repeat === 'one' ? repeatTrackAt(base, r.atUs - 1) : null)
        : (this.stopAfter ? stopAfterTrackAt(base, r.atUs - 1, STOP_FADE_US) : null);
      if (made !== null && made.atUs === r.atUs && made.index === r.index && made.frame === r.frame) this.auto.add(r);
    }
    this.tl = this.withAuto(this.tl);
    this.armAutoTimer();
  }
}

/** The timeline with a revision at `atUs` keeping the position (and playing or not) as it is then. */
function holdPositionAt(tl: Timeline, atUs: number): Timeline {
  const p = positionAt(tl, atUs);
  const hold: TimelineRevision = p.ended ? { atUs, playing: false, index: 0, frame: 0 } : { atUs, playing: p.playing, index: p.index, frame: p.frame };
  if (tl.revisions.some((r) => r.atUs === atUs)) return tl;
  const revisions = [...tl.revisions.filter((r) => r.atUs < atUs), hold, ...tl.revisions.filter((r) => r.atUs > atUs)];
  return { ...tl, revisions };
}

/** Stopped (or past the end) with the start of the playlist as the resume point. */
function positionFresh(tl: Timeline, atUs: number): boolean {
  const p = positionAt(tl, atUs);
  return p.ended || (!p.playing && p.index === 0 && p.frame === 0);
}

/** The track playing (or the resume point's track) at `atUs`; 0 after the end. */
function currentIndex(tl: Timeline, atUs: number): number {
  const p = positionAt(tl, atUs);
  return p.ended ? 0 : p.index;
}
