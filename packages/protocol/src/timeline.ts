// Pure timeline maths shared by the leader and every member: which frame of which track is at the
// DAC at a given leader time, and the helpers the leader uses to build new revisions (stop, resume,
// seek, next, previous). Integer frame arithmetic only, so every host computes the same frames.

/** One playlist entry: content id (sha256 hex) and its exact length in frames at `outputRate`. */
export interface TimelineTrack {
  id: string;
  frames: number;
  /** Loudness-normalization gain of this track in dB (absent: 0), applied from its first frame. */
  gainDb?: number;
}

/**
 * From leader-time `atUs` on, the playlist is `playing` (or stopped) and at `atUs` the frame at the
 * DAC is frame `frame` of track `index`. While stopped, (`index`, `frame`) is the resume point.
 */
export interface TimelineRevision {
  atUs: number;
  playing: boolean;
  index: number;
  frame: number;
}

/** Group volume 0..1 (perceptual: volume-curve.ts maps it to a gain); members ramp to it starting at leader-time `atUs`. */
export interface TimelineVolume {
  gain: number;
  atUs: number;
}

export interface Timeline {
  /** Increases with every change the leader makes (members ignore older ones). */
  rev: number;
  outputRate: number;
  loop: boolean;
  tracks: TimelineTrack[];
  /** Sorted by `atUs`, strictly increasing. */
  revisions: TimelineRevision[];
  volume?: TimelineVolume;
  /**
   * Leader time from which the tracks' `gainDb` apply (a normalization setting changed): before it
   * the gains of the previous timeline hold, across it members ramp, so all change on the same frames.
   */
  trackGainAtUs?: number;
  /**
   * Crossfade between consecutive tracks, in frames (absent or 0: gapless). Track k+1 starts
   * `overlapFrames(k)` before track k ends; both play, by an equal-power curve, over the overlap.
   */
  crossfadeFrames?: number;
}

export interface TimelinePosition {
  ended: false;
  index: number;
  frame: number;
  playing: boolean;
  /** Index into `revisions` of the revision in effect (-1: none yet, stopped at the start). */
  revision: number;
}

export interface TimelineEnded {
  ended: true;
  /** Index into `revisions` of the playing revision that ran off the end (-1: empty playlist). */
  revision: number;
}

/** Limits checked by `validateTimeline` (inputs arrive over the network). */
export const TIMELINE_MAX_TRACKS = 100_000;
export const TIMELINE_MAX_REVISIONS = 1_000;
/** Frames of a track: 2^40 frames is 265 days at 48 kHz; keeps sums far below 2^53. */
export const TIMELINE_MAX_TRACK_FRAMES = 2 ** 40;
export const TIMELINE_MIN_OUTPUT_RATE = 8_000;
export const TIMELINE_MAX_OUTPUT_RATE = 768_000;
/** Longest crossfade: 12 s at the output rate. */
export const TIMELINE_MAX_CROSSFADE_S = 12;
/** Bounds of a track's normalization gain (dB). */
export const TIMELINE_MIN_GAIN_DB = -60;
export const TIMELINE_MAX_GAIN_DB = 24;
/** `previousAt` restarts the current track instead when more than this has played (common player UX). */
export const PREVIOUS_RESTART_THRESHOLD_US = 3_000_000;

const US_PER_S = 1_000_000;

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

/** Describes what is wrong with an (untrusted) timeline, or returns null when it is usable. */
export function validateTimeline(tl: unknown): string | null {
  if (typeof tl !== 'object' || tl === null) return 'timeline: not an object';
  const t = tl as Record<string, unknown>;
  if (!isInt(t['rev']) || (t['rev'] as number) < 0) return 'timeline.rev: non-negative integer expected';
  const rate = t['outputRate'];
  if (!isInt(rate) || rate < TIMELINE_MIN_OUTPUT_RATE || rate > TIMELINE_MAX_OUTPUT_RATE) {
    return `timeline.outputRate: integer in [${TIMELINE_MIN_OUTPUT_RATE}, ${TIMELINE_MAX_OUTPUT_RATE}] expected`;
  }
  if (typeof t['loop'] !== 'boolean') return 'timeline.loop: boolean expected';
  const tracks = t['tracks'];
  if (!Array.isArray(tracks) || tracks.length > TIMELINE_MAX_TRACKS) return 'timeline.tracks: array expected';
  for (let i = 0; i < tracks.length; i++) {
    const tr = tracks[i] as Record<string, unknown> | null;
    if (typeof tr !== 'object' || tr === null) return `timeline.tracks[${i}]: object expected`;
    if (typeof tr['id'] !== 'string' || tr['id'].length === 0 || tr['id'].length > 128) {
      return `timeline.tracks[${i}].id: non-empty string expected`;
    }
    const f = tr['frames'];
    if (!isInt(f) || f < 0 || f > TIMELINE_MAX_TRACK_FRAMES) return `timeline.tracks[${i}].frames: non-negative integer expected`;
    const g = tr['gainDb'];
    if (g !== undefined && !(typeof g === 'number' && g >= TIMELINE_MIN_GAIN_DB && g <= TIMELINE_MAX_GAIN_DB)) {
      return `timeline.tracks[${i}].gainDb: number in [${TIMELINE_MIN_GAIN_DB}, ${TIMELINE_MAX_GAIN_DB}] expected`;
    }
  }
  const revs = t['revisions'];
  if (!Array.isArray(revs) || revs.length > TIMELINE_MAX_REVISIONS) return 'timeline.revisions: array expected';
  let prevAt = -Infinity;
  for (let i = 0; i < revs.length; i++) {
    const r = revs[i] as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null) return `timeline.revisions[${i}]: object expected`;
    if (!isInt(r['atUs'])) return `timeline.revisions[${i}].atUs: integer expected`;
    if ((r['atUs'] as number) <= prevAt) return `timeline.revisions[${i}].atUs: must increase`;
    prevAt = r['atUs'] as number;
    if (typeof r['playing'] !== 'boolean') return `timeline.revisions[${i}].playing: boolean expected`;
    const idx = r['index'];
    const fr = r['frame'];
    if (!isInt(idx) || idx < 0 || (idx >= tracks.length && !(idx === 0 && tracks.length === 0))) {
      return `timeline.revisions[${i}].index: track index expected`;
    }
    const len = tracks.length === 0 ? 0 : ((tracks[idx] as { frames: number }).frames);
    if (!isInt(fr) || fr < 0 || (fr >= len && fr !== 0)) return `timeline.revisions[${i}].frame: frame within the track expected`;
  }
  const vol = t['volume'];
  if (vol !== undefined) {
    const v = vol as Record<string, unknown> | null;
    if (typeof v !== 'object' || v === null) return 'timeline.volume: object expected';
    const g = v['gain'];
    if (typeof g !== 'number' || !(g >= 0 && g <= 1)) return 'timeline.volume.gain: number in [0, 1] expected';
    if (!isInt(v['atUs'])) return 'timeline.volume.atUs: integer expected';
  }
  if (t['trackGainAtUs'] !== undefined && !isInt(t['trackGainAtUs'])) return 'timeline.trackGainAtUs: integer expected';
  const xf = t['crossfadeFrames'];
  if (xf !== undefined && !(isInt(xf) && xf >= 0 && xf <= TIMELINE_MAX_CROSSFADE_S * rate)) {
    return `timeline.crossfadeFrames: integer in [0, ${TIMELINE_MAX_CROSSFADE_S} s of frames] expected`;
  }
  return null;
}

/**
 * Frames elapsed after `elapsedUs` of leader time: floor(elapsedUs * outputRate / 1e6), exact for
 * any safe integer `elapsedUs >= 0` (whole seconds and the remainder are multiplied separately so no
 * intermediate product leaves the exact double range).
 */
export function framesInUs(elapsedUs: number, outputRate: number): number {
  const s = Math.floor(elapsedUs / US_PER_S);
  const remUs = elapsedUs - s * US_PER_S;
  return s * outputRate + Math.floor((remUs * outputRate) / US_PER_S);
}

/** Smallest integer µs `d` with framesInUs(d) >= frames: the leader time a frame reaches the DAC. */
export function usOfFrames(frames: number, outputRate: number): number {
  const s = Math.floor(frames / outputRate);
  const rem = frames - s * outputRate;
  return s * US_PER_S + Math.ceil((rem * US_PER_S) / outputRate);
}

/** Index of the revision in effect at `leaderUs` (latest with atUs <= leaderUs), or -1. */
export function revisionAt(tl: Timeline, leaderUs: number): number {
  const revs = tl.revisions;
  let lo = 0;
  let hi = revs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((revs[mid] as TimelineRevision).atUs <= leaderUs) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * Frames by which track k and its successor overlap under a crossfade of `crossfadeFrames`: at most
 * half of either track, so no more than two tracks ever sound at once; 0 for the last track unless
 * `loop` (then it overlaps track 0), and 0 for an empty neighbour.
 */
export function overlapFrames(tracks: readonly TimelineTrack[], k: number, loop: boolean, crossfadeFrames = 0): number {
  if (!(crossfadeFrames > 0)) return 0;
  const next = k + 1 < tracks.length ? k + 1 : loop ? 0 : -1;
  if (next < 0) return 0;
  const a = (tracks[k] as TimelineTrack).frames;
  const b = (tracks[next] as TimelineTrack).frames;
  return Math.min(crossfadeFrames, Math.floor(a / 2), Math.floor(b / 2));
}

/**
 * Frames of the playlist's timeline track k takes before its successor starts: its length less the
 * overlap with the successor (its length when gapless). Track k+1 starts where track k's span ends.
 */
export function spanFrames(tracks: readonly TimelineTrack[], k: number, loop: boolean, crossfadeFrames = 0): number {
  return (tracks[k] as TimelineTrack).frames - overlapFrames(tracks, k, loop, crossfadeFrames);
}

/** Total frames of the playlist on the timeline (one lap when looping): the sum of the spans. */
export function playlistFrames(tracks: readonly TimelineTrack[], loop = false, crossfadeFrames = 0): number {
  let sum = 0;
  for (let k = 0; k < tracks.length; k++) sum += spanFrames(tracks, k, loop, crossfadeFrames);
  return sum;
}

/**
 * Advances (index, frame) by `frames` along the playlist: track k+1 frame 0 follows the end of
 * track k's span (its last frame when gapless; `overlapFrames` earlier with a crossfade, and from
 * then on the position is in track k+1); empty tracks are skipped. Returns null past the end
 * (unless `loop`, which wraps).
 */
export function advance(
  tracks: readonly TimelineTrack[],
  index: number,
  frame: number,
  frames: number,
  loop: boolean,
  crossfadeFrames = 0,
): { index: number; frame: number } | null {
  if (tracks.length === 0) return null;
  let i = index;
  let f = frame + frames;
  if (loop) {
    const total = playlistFrames(tracks, loop, crossfadeFrames);
    if (total === 0) return null;
    // Skip whole laps arithmetically (position relative to the start of track `i`).
    if (f >= total) f %= total;
  }
  for (let steps = 0; steps <= 2 * tracks.length + 1; steps++) {
    const len = spanFrames(tracks, i, loop, crossfadeFrames);
    if (f < len) return { index: i, frame: f };
    f -= len;
    i++;
    if (i >= tracks.length) {
      if (!loop) return null;
      i = 0;
    }
  }
  return null;
}

/** Where the playlist is at `leaderUs` (integer µs), or that it ran off the end. */
export function positionAt(tl: Timeline, leaderUs: number): TimelinePosition | TimelineEnded {
  const ri = revisionAt(tl, leaderUs);
  if (tl.tracks.length === 0) return { ended: true, revision: ri };
  if (ri < 0) return { ended: false, index: 0, frame: 0, playing: false, revision: -1 };
  const r = tl.revisions[ri] as TimelineRevision;
  if (!r.playing) return { ended: false, index: r.index, frame: r.frame, playing: false, revision: ri };
  const elapsed = framesInUs(Math.floor(leaderUs) - r.atUs, tl.outputRate);
  const p = advance(tl.tracks, r.index, r.frame, elapsed, tl.loop, tl.crossfadeFrames ?? 0);
  if (p === null) return { ended: true, revision: ri };
  return { ended: false, index: p.index, frame: p.frame, playing: true, revision: ri };
}

/**
 * Leader time (integer µs) at which frame `frame` of track `index` reaches the DAC under the playing
 * revision `rev` (the first pass of it, not a later loop lap); null if `rev` is stopped or the
 * position lies before the revision's own position.
 */
export function leaderUsOfPosition(
  rev: TimelineRevision,
  index: number,
  frame: number,
  tracks: readonly TimelineTrack[],
  outputRate: number,
  loop = false,
  crossfadeFrames = 0,
): number | null {
  if (!rev.playing) return null;
  if (index < 0 || index >= tracks.length) return null;
  let frames: number;
  if (index === rev.index) {
    frames = frame - rev.frame;
    if (frames < 0) return null;
  } else if (index > rev.index) {
    frames = spanFrames(tracks, rev.index, loop, crossfadeFrames) - rev.frame;
    for (let k = rev.index + 1; k < index; k++) frames += spanFrames(tracks, k, loop, crossfadeFrames);
    frames += frame;
  } else return null;
  return rev.atUs + usOfFrames(frames, outputRate);
}

function resumePointAt(tl: Timeline, atUs: number): { index: number; frame: number; playing: boolean } {
  const p = positionAt(tl, atUs);
  // Ran off the end: the resume point is the start of the playlist.
  if (p.ended) return { index: 0, frame: 0, playing: false };
  return { index: p.index, frame: p.frame, playing: p.playing };
}

function checkAt(tl: Timeline, atUs: number): void {
  if (!Number.isSafeInteger(atUs)) throw new RangeError(`timeline: atUs must be an integer, got ${String(atUs)}`);
  const last = tl.revisions[tl.revisions.length - 1];
  if (last !== undefined && atUs <= last.atUs) {
    throw new RangeError(`timeline: atUs ${atUs} must be after the last revision (${last.atUs})`);
  }
}

/** Revision stopping at `atUs`; the resume point is the frame at the DAC then. */
export function stopAt(tl: Timeline, atUs: number): TimelineRevision {
  checkAt(tl, atUs);
  const p = resumePointAt(tl, atUs);
  return { atUs, playing: false, index: p.index, frame: p.frame };
}

/** Revision playing from the position at `atUs` (the stored resume point when stopped). */
export function resumeAt(tl: Timeline, atUs: number): TimelineRevision {
  checkAt(tl, atUs);
  const p = resumePointAt(tl, atUs);
  return { atUs, playing: true, index: p.index, frame: p.frame };
}

/** Revision putting frame `frame` of track `index` at the DAC at `atUs`; keeps playing/stopped unless `playing` is given. */
export function seekAt(tl: Timeline, atUs: number, index: number, frame: number, playing?: boolean): TimelineRevision {
  checkAt(tl, atUs);
  const track = tl.tracks[index];
  if (!Number.isSafeInteger(index) || track === undefined) throw new RangeError(`timeline: no track ${String(index)}`);
  if (!Number.isSafeInteger(frame) || frame < 0 || (frame >= track.frames && frame !== 0)) {
    throw new RangeError(`timeline: frame ${String(frame)} outside track ${index} (${track.frames} frames)`);
  }
  const now = resumePointAt(tl, atUs);
  return { atUs, playing: playing ?? now.playing, index, frame };
}

/** Start of the next track at `atUs`; after the last track: wraps when `loop`, else stops at the start. */
export function nextAt(tl: Timeline, atUs: number): TimelineRevision {
  checkAt(tl, atUs);
  if (tl.tracks.length === 0) return { atUs, playing: false, index: 0, frame: 0 };
  const now = resumePointAt(tl, atUs);
  const next = now.index + 1;
  if (next < tl.tracks.length) return { atUs, playing: now.playing, index: next, frame: 0 };
  if (tl.loop) return { atUs, playing: now.playing, index: 0, frame: 0 };
  return { atUs, playing: false, index: 0, frame: 0 };
}

/**
 * Previous track at `atUs`, or the start of the current one when more than `restartThresholdUs`
 * of it has played (or it is the first track and not looping).
 */
export function previousAt(
  tl: Timeline,
  atUs: number,
  restartThresholdUs: number = PREVIOUS_RESTART_THRESHOLD_US,
): TimelineRevision {
  checkAt(tl, atUs);
  if (tl.tracks.length === 0) return { atUs, playing: false, index: 0, frame: 0 };
  const now = resumePointAt(tl, atUs);
  const playedUs = usOfFrames(now.frame, tl.outputRate);
  if (playedUs > restartThresholdUs) return { atUs, playing: now.playing, index: now.index, frame: 0 };
  if (now.index > 0) return { atUs, playing: now.playing, index: now.index - 1, frame: 0 };
  if (tl.loop) return { atUs, playing: now.playing, index: tl.tracks.length - 1, frame: 0 };
  return { atUs, playing: now.playing, index: 0, frame: 0 };
}

/**
 * New timeline with `rev` appended (revisions at or after its `atUs` are replaced) and `rev`
 * incremented.
 */
export function withRevision(tl: Timeline, revision: TimelineRevision): Timeline {
  const kept = tl.revisions.filter((r) => r.atUs < revision.atUs);
  return { ...tl, rev: tl.rev + 1, revisions: [...kept, { ...revision }] };
}

/** Revisions are kept this long after their successor took effect: members fade across them. */
export const PRUNE_GRACE_US = 1_000_000;

/**
 * Drops revisions that can no longer matter at `nowUs`: everything before the one in effect at
 * `nowUs - graceUs`. (The one in effect stays: it defines the position until its successor takes
 * effect; the grace keeps the predecessor a member needs to fade out across a stop.)
 */
export function pruneRevisions(tl: Timeline, nowUs: number, graceUs: number = PRUNE_GRACE_US): Timeline {
  const ri = revisionAt(tl, nowUs - graceUs);
  if (ri <= 0) return tl;
  return { ...tl, revisions: tl.revisions.slice(ri) };
}

/**
 * Leader time (integer µs) at which the track playing at `atUs` has played its last frame (its
 * successor's frame 0, or silence, is at the DAC then), under the revisions as they stand; null
 * when nothing plays at `atUs`. Used for repeat one and stop-after: both act at this instant.
 */
export function trackEndUs(tl: Timeline, atUs: number): { endUs: number; index: number } | null {
  const p = positionAt(tl, atUs);
  if (p.ended || !p.playing || p.revision < 0) return null;
  const r = tl.revisions[p.revision] as TimelineRevision;
  const len = (tl.tracks[p.index] as TimelineTrack).frames;
  // Frames from the revision's position to the end of the current track, counted along the play
  // path (laps included), so the instant is the one every member computes.
  const distance = framesInUs(Math.floor(atUs) - r.atUs, tl.outputRate) + (len - p.frame);
  return { endUs: r.atUs + usOfFrames(distance, tl.outputRate), index: p.index };
}

/** Repeat one: the revision that starts the track playing at `atUs` again at its end (null: not playing). */
export function repeatTrackAt(tl: Timeline, atUs: number): TimelineRevision | null {
  const end = trackEndUs(tl, atUs);
  if (end === null) return null;
  return { atUs: end.endUs, playing: true, index: end.index, frame: 0 };
}

/**
 * Stop after the current track: the revision stopping at the end of the track playing at `atUs`,
 * with the next track's start as the resume point (null: not playing). Members fade a stop out
 * over a few ms after its `atUs`; `fadeUs` earlier puts that fade on the track's last frames
 * instead of the next track's first ones.
 */
export function stopAfterTrackAt(tl: Timeline, atUs: number, fadeUs = 0): TimelineRevision | null {
  const end = trackEndUs(tl, atUs);
  if (end === null) return null;
  const next = end.index + 1 < tl.tracks.length ? end.index + 1 : 0;
  return { atUs: end.endUs - Math.max(0, Math.round(fadeUs)), playing: false, index: next, frame: 0 };
}
