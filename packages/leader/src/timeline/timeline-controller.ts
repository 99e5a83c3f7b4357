// Owns what plays when: the tracks, the Timeline and its revisions, the group volume and each
// member's settings. Every command becomes one new revision at a leader time far enough ahead for
// every member (or the user's start time), computed with the same pure maths members use
// (protocol/timeline.ts). Sending and persisting are the owner's job: it listens to `timeline`,
// `settings` and `change`.
import { EventEmitter } from 'node:events';
import { JasError } from '@jaudiosync/protocol/errors';
import { MAX_REVISIONS, type ChannelMode } from '@jaudiosync/protocol/messages';
import {
  nextAt, positionAt, previousAt, pruneRevisions, resumeAt, seekAt, stopAt, usOfFrames, withRevision,
  type Timeline, type TimelineRevision,
} from '@jaudiosync/protocol/timeline';
import { MAX_START_AHEAD_US, parseStartTime } from './start-time.js';

/** Default minimum lead time: covers a WiFi hop, JSON handling and the member's own scheduling. */
export const DEFAULT_MIN_LEAD_MS = 250;
/** Added to 2 x RTT p90 per member: processing on both ends plus a burst of jitter. */
export const LEAD_MARGIN_US = 50_000;

export interface Timescale {
  /** Leader timescale now (µs). */
  nowUs(): number;
}

export interface ControllerTrack {
  id: string;
  frames: number;
  title?: string;
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
  /** RTT p90 (µs) of each connected member. */
  memberRttP90Us?(): number[];
  /** Whether every connected member has this track decoded; a jump to one that is not waits for it. */
  trackReady?(trackId: string): boolean;
  loop?: boolean;
}

/**
 * Lead time of an "as soon as possible" jump to a track some member has not decoded: fetching from
 * the cache and decoding its start takes ~0.3-0.8 s on a member (more on a Pi).
 */
const UNDECODED_LEAD_US = 1_500_000;

export class TimelineController extends EventEmitter<TimelineControllerEvents> {
  private tl: Timeline;
  private readonly settings = new Map<string, MemberSettings>();
  private readonly wallNowMs: () => number;
  private readonly minLeadUs: number;

  constructor(private readonly options: TimelineControllerOptions) {
    super();
    this.wallNowMs = options.wallNowMs ?? Date.now;
    this.minLeadUs = Math.round((options.minLeadMs ?? DEFAULT_MIN_LEAD_MS) * 1000);
    const now = this.nowUs();
    this.tl = {
      rev: 0, outputRate: options.outputRate, loop: options.loop ?? false, tracks: [],
      revisions: [{ atUs: now, playing: false, index: 0, frame: 0 }],
      volume: { gain: 1, atUs: now },
    };
  }

  get timeline(): Timeline {
    return this.tl;
  }

  private nowUs(): number {
    return Math.round(this.options.timescale.nowUs());
  }

  /** How far ahead a command must be scheduled so every connected member gets it in time. */
  leadTimeUs(): number {
    let lead = this.minLeadUs;
    for (const p90 of this.options.memberRttP90Us?.() ?? []) lead = Math.max(lead, Math.round(2 * p90 + LEAD_MARGIN_US));
    return lead;
  }

  /** Resolves the user's start time into a leader time; refuses the past and > 24 h ahead. */
  resolveAt(when: When = {}): { atUs: number; leadUs: number; explicit: boolean } {
    const nowUs = this.nowUs();
    const leadUs = this.leadTimeUs();
    const start = parseStartTime(when.at, when.delayMs, this.wallNowMs());
    if (start === undefined) return { atUs: nowUs + leadUs, leadUs, explicit: false };
    // Wall -> leader time: the leader timescale runs at the wall clock's rate from its anchor, so
    // the offset between a wall time and now carries over to leader time.
    const aheadUs = start.kind === 'delay' ? start.delayUs : start.wallUs - this.wallNowMs() * 1000;
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
    return { atUs: nowUs + aheadUs, leadUs, explicit: true };
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
  private apply(when: { atUs: number; leadUs: number; explicit?: boolean }, make: (base: Timeline, atUs: number) => TimelineRevision): CommandResult {
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
    this.tl = next;
    this.emit('timeline', this.tl);
    this.emit('change');
    return { rev: this.tl.rev, atUs, at: this.wallIsoOf(atUs), leadUs, revision };
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
    const { atUs, leadUs } = this.resolveAt(cmd);
    this.tl = { ...this.tl, rev: this.tl.rev + 1, volume: { gain: cmd.volume, atUs } };
    this.emit('timeline', this.tl);
    this.emit('change');
    return { rev: this.tl.rev, atUs, at: this.wallIsoOf(atUs), leadUs, volume: cmd.volume };
  }

  /** Replaces the playlist. Playback stops (the new list's indices mean other tracks). */
  setTracks(tracks: ControllerTrack[]): Timeline {
    const now = this.nowUs();
    const last = this.tl.revisions[this.tl.revisions.length - 1];
    const atUs = Math.max(now, (last?.atUs ?? 0) + 1);
    this.tl = {
      ...this.tl,
      rev: this.tl.rev + 1,
      tracks: tracks.map((t) => (t.title !== undefined ? { id: t.id, frames: t.frames, title: t.title } : { id: t.id, frames: t.frames })),
      revisions: [{ atUs, playing: false, index: 0, frame: 0 }],
    };
    this.emit('timeline', this.tl);
    this.emit('change');
    return this.tl;
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
    this.tl = { ...this.tl, rev: this.tl.rev + 1 };
    this.emit('timeline', this.tl);
    this.emit('change');
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
    return { timeline: this.tl, memberSettings: this.allMemberSettings() };
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
  }
}

/** The track playing (or the resume point's track) at `atUs`; 0 after the end. */
function currentIndex(tl: Timeline, atUs: number): number {
  const p = positionAt(tl, atUs);
  return p.ended ? 0 : p.index;
}
