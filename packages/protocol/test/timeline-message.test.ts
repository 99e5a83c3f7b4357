import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage } from '../src/codec.js';
import { fromTimelineMessage, MAX_WIRE_TITLE_CHARS, toTimelineMessage } from '../src/timeline-message.js';
import type { Timeline } from '../src/timeline.js';

const ID = 'a'.repeat(64);

test('timeline <-> message: a round trip through the codec gives the same timeline back', () => {
  const tl: Timeline = {
    rev: 7, outputRate: 48_000, loop: true,
    tracks: [{ id: ID, frames: 480_000, title: 'Morning' } as Timeline['tracks'][number], { id: 'b'.repeat(64), frames: 96_000 }],
    revisions: [{ atUs: 1_000_000, playing: true, index: 0, frame: 0 }, { atUs: 2_000_000, playing: false, index: 1, frame: 5 }],
    volume: { gain: 0.5, atUs: 1_500_000 },
  };
  const decoded = decodeMessage(encodeMessage(toTimelineMessage(tl)), { allowed: 'leader' });
  assert.ok(decoded.ok, JSON.stringify(decoded));
  assert.deepEqual(fromTimelineMessage(decoded.message as never), tl);
});

test('toTimelineMessage: no volume ramp sends gain 1 from the first revision; a long title is cut to the schema bound', () => {
  const tl: Timeline = {
    rev: 1, outputRate: 48_000, loop: false,
    tracks: [{ id: ID, frames: 10, title: 'x'.repeat(600) } as Timeline['tracks'][number]],
    revisions: [{ atUs: 42, playing: true, index: 0, frame: 0 }],
  };
  const msg = toTimelineMessage(tl);
  assert.deepEqual(msg.volume, { gain: 1, atUs: 42 });
  assert.equal(msg.tracks[0]?.title?.length, MAX_WIRE_TITLE_CHARS);
  // The leader used to cut titles at 512 characters, beyond the schema's 200: such a message was invalid.
  assert.ok(decodeMessage(encodeMessage(msg), { allowed: 'leader' }).ok);
});
