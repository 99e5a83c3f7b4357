// The timeline's two shapes in one place: the `Timeline` every host computes with (timeline.ts) and
// the `timeline` message on the wire (messages.ts). The leader converts with toTimelineMessage, the
// member with fromTimelineMessage (no cast), and the compile-time checks below keep the two shapes
// the same, so a field added to one cannot be forgotten in the other.
import type { MessageInputOf, MessageOf, WireRevision, WireTrack, WireVolume } from './messages.js';
import type { Timeline, TimelineRevision, TimelineTrack, TimelineVolume } from './timeline.js';

/** Longest track title sent (the schema's bound). */
export const MAX_WIRE_TITLE_CHARS = 200;

/** A timeline track as the leader knows it: the title travels along for the members' logs and pages. */
export type TitledTrack = TimelineTrack & { title?: string };

/** The wire message for a timeline. A timeline without a volume ramp sends gain 1 from its first revision. */
export function toTimelineMessage(tl: Timeline): MessageInputOf<'timeline'> {
  const first = tl.revisions[0];
  return {
    type: 'timeline',
    rev: tl.rev,
    outputRate: tl.outputRate,
    loop: tl.loop,
    tracks: tl.tracks.map((t: TitledTrack) => ({
      id: t.id, frames: t.frames,
      ...(t.title !== undefined ? { title: t.title.slice(0, MAX_WIRE_TITLE_CHARS) } : {}),
      ...(t.gainDb !== undefined ? { gainDb: t.gainDb } : {}),
    })),
    revisions: tl.revisions.map((r) => ({ atUs: r.atUs, playing: r.playing, index: r.index, frame: r.frame })),
    volume: tl.volume ?? { gain: 1, atUs: first?.atUs ?? 0 },
    ...(tl.trackGainAtUs !== undefined ? { trackGainAtUs: tl.trackGainAtUs } : {}),
    ...(tl.crossfadeFrames !== undefined && tl.crossfadeFrames > 0 ? { crossfadeFrames: tl.crossfadeFrames } : {}),
  };
}

/** The timeline a decoded (so already validated, codec.ts) message carries. */
export function fromTimelineMessage(msg: MessageOf<'timeline'>): Timeline {
  return {
    rev: msg.rev,
    outputRate: msg.outputRate,
    loop: msg.loop,
    tracks: msg.tracks.map((t): TitledTrack => ({
      id: t.id, frames: t.frames,
      ...(t.title !== undefined ? { title: t.title } : {}),
      ...(t.gainDb !== undefined ? { gainDb: t.gainDb } : {}),
    })),
    revisions: msg.revisions.map((r) => ({ atUs: r.atUs, playing: r.playing, index: r.index, frame: r.frame })),
    volume: { gain: msg.volume.gain, atUs: msg.volume.atUs },
    ...(msg.trackGainAtUs !== undefined ? { trackGainAtUs: msg.trackGainAtUs } : {}),
    ...(msg.crossfadeFrames !== undefined && msg.crossfadeFrames > 0 ? { crossfadeFrames: msg.crossfadeFrames } : {}),
  };
}

// Compile-time: the maths' shapes and the wire's are the same (both directions of assignability).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const shapesAgree: [Same<TimelineRevision, WireRevision>, Same<TimelineVolume, WireVolume>, Same<TitledTrack, WireTrack>] = [true, true, true];
void shapesAgree;
