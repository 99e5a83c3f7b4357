// Which tracks a member needs, in what order, for a timeline at a leader time: the tracks to keep
// decoded (what plays now and next for every revision not yet superseded, most urgent first) and
// the rest of the playlist in playing order for the disk cache. Pure, so the daemon and the
// benchmarks' light member (test/helpers/light-member.ts) plan exactly alike.
import { positionAt, type Timeline } from '@jaudiosync/protocol';
import { framesInUs, overlapFrames, playlistFrames, spanFrames } from '@jaudiosync/protocol/timeline';

/** A track this close to its end gets its successor decoded (decode takes ~1-3 s on a Pi). */
export const PRELOAD_NEXT_US = 30_000_000;

export interface TrackPlan {
  /** Playlist indices to keep decoded, most urgent first, with the frame each starts at. */
  indices: number[];
  startFrames: number[];
  /** Track ids to fetch into the cache, in playing order from the most urgent track. */
  prefetchOrder: string[];
}

export function planTracks(tl: Timeline, nowUs: number): TrackPlan {
  // Each track with the leader time it is first needed; most urgent first. A jump that takes
  // effect in 1.5 s comes before the current track's successor due in 20 s (in revision order it
  // came after it, and past the two tracks held it was not decoded until the jump took effect).
  const needs: Array<{ index: number; frame: number; atUs: number }> = [];
  const xf = tl.crossfadeFrames ?? 0;
  const starts = xf > 0 ? axisStarts(tl) : [];
  for (const rev of tl.revisions) {
    const at = Math.max(nowUs, rev.atUs);
    const pos = positionAt(tl, at);
    if (pos.ended) continue;
    needs.push({ index: pos.index, frame: pos.frame, atUs: at });
    // Inside a crossfade the previous track's tail still plays (where the stream ran into this
    // track from it, as the engine's reader decides): keep it until the overlap ends.
    const prev = pos.index > 0 ? pos.index - 1 : tl.loop ? tl.tracks.length - 1 : -1;
    const fade = prev >= 0 ? overlapFrames(tl.tracks, prev, tl.loop, xf) : 0;
    if (pos.playing && pos.frame < fade && framesInUs(at - streamStartUs(tl, starts, pos.revision), tl.outputRate) > pos.frame) {
      needs.push({ index: prev, frame: tl.tracks[prev]!.frames - fade + pos.frame, atUs: at });
    }
    const track = tl.tracks[pos.index];
    const remainingUs = track ? ((spanFrames(tl.tracks, pos.index, tl.loop, xf) - pos.frame) / tl.outputRate) * 1e6 : 0;
    if (pos.playing && remainingUs < PRELOAD_NEXT_US) needs.push({ index: tl.loop ? (pos.index + 1) % tl.tracks.length : pos.index + 1, frame: 0, atUs: at + remainingUs });
  }
  needs.sort((a, b) => a.atUs - b.atUs);
  const indices: number[] = [];
  const startFrames: number[] = [];
  for (const { index, frame } of needs) {
    if (index < 0 || index >= tl.tracks.length) continue;
    // The same track again at another frame later is a seek within it (a landing point).
    if (indices.some((i, k) => i === index && Math.abs(startFrames[k]! - frame) < tl.outputRate)) continue;
    indices.push(index);
    startFrames.push(frame);
  }
  const from = indices[0] ?? 0;
  const prefetchOrder: string[] = [];
  for (let k = 0; k < tl.tracks.length; k++) {
    const i = from + k;
    if (i >= tl.tracks.length && !tl.loop) break;
    const t = tl.tracks[i % tl.tracks.length];
    if (t) prefetchOrder.push(t.id);
  }
  return { indices, startFrames, prefetchOrder };
}

/** The leader's time in its last welcome, and the member's local time when it arrived. */
export interface WelcomeTime {
  leaderUs: number;
  localUs: number;
}

/**
 * The leader time to plan at: the synced clock's, else the welcome's carried forward on the local
 * clock (good to a round trip and the crystals' drift: plenty to know which track plays). Before the
 * clock is synced (3+ s after a restart) that gets the decode going, so a restarted member rejoins
 * sooner. Null before either exists.
 */
export function planningNowUs(syncedNowUs: number | null, welcome: WelcomeTime | null, localNowUs: number): number | null {
  if (syncedNowUs !== null) return syncedNowUs;
  return welcome === null ? null : welcome.leaderUs + (localNowUs - welcome.localUs);
}

/** Where each track starts on the playlist's frame axis (spans: protocol/timeline.ts). */
function axisStarts(tl: Timeline): number[] {
  const starts = [0];
  for (let k = 0; k < tl.tracks.length; k++) starts.push(starts[k]! + spanFrames(tl.tracks, k, tl.loop, tl.crossfadeFrames ?? 0));
  return starts;
}

/**
 * Leader time the stream playing under revision `ri` started: walking back while a revision
 * continues its predecessor's position (within a frame), as the member's scheduler does.
 */
function streamStartUs(tl: Timeline, starts: readonly number[], ri: number): number {
  const total = tl.loop ? playlistFrames(tl.tracks, true, tl.crossfadeFrames ?? 0) : 0;
  let s = ri;
  for (; s > 0; s--) {
    const r = tl.revisions[s]!;
    const p = tl.revisions[s - 1]!;
    if (!r.playing || !p.playing) break;
    let expected = starts[p.index]! + p.frame + framesInUs(r.atUs - p.atUs, tl.outputRate);
    if (total > 0) expected %= total;
    if (Math.abs(expected - (starts[r.index]! + r.frame)) > 1) break;
  }
  return tl.revisions[Math.max(0, s)]?.atUs ?? 0;
}
