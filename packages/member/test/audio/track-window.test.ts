// TrackWindow: the head is served once loaded; the ring serves exactly [start, end); an append
// voids the frames it overwrites before writing them; a reset voids everything; a reader that
// raced a writer gets silence, never another frame's samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackWindow } from '../../src/audio/track-window.js';

const HEAD = 2048;
const CAP = 4096;

/** Sample value of track frame f, channel c (distinct per frame, never 0). */
function sample(f: number, c: number): number {
  return ((f * 7 + c * 3) % 30000) + 1;
}

function writeFrames(bytes: Uint8Array, byteOffset: number, firstFrame: number, frames: number): void {
  const s = new Int16Array(bytes.buffer, bytes.byteOffset + byteOffset, frames * 2);
  for (let i = 0; i < frames; i++) {
    s[2 * i] = sample(firstFrame + i, 0);
    s[2 * i + 1] = sample(firstFrame + i, 1);
  }
}

function append(w: TrackWindow, newEnd: number, ring = 0): void {
  for (const r of w.beginAppend(ring, newEnd)) writeFrames(w.ringBytes[ring]!, r.byteOffset, r.frame, r.byteLength / 4);
  w.commitAppend(ring, newEnd);
}

/** Reads [f, f+n) and returns per frame: the track frame its samples belong to, 0 for silence, -1 for garbage. */
function readBack(w: TrackWindow, f: number, n: number): { got: number; frames: number[] } {
  const out = new Float32Array(2 * n);
  const got = w.read(f, n, out, 0);
  const frames: number[] = [];
  for (let i = 0; i < n; i++) {
    const l = Math.round(out[2 * i]! * 32768);
    const r = Math.round(out[2 * i + 1]! * 32768);
    if (l === 0 && r === 0) frames.push(0);
    else frames.push(l === sample(f + i, 0) && r === sample(f + i, 1) ? f + i : -1);
  }
  return { got, frames };
}

test('the head serves the frames loaded so far; the rest of a read is silence', () => {
  const w = TrackWindow.create(CAP, HEAD);
  writeFrames(w.headBytes, 0, 0, 1000);
  w.commitHead(1000);
  const { got, frames } = readBack(w, 900, 200);
  assert.equal(got, 100);
  assert.deepEqual(frames.slice(0, 100), Array.from({ length: 100 }, (_, i) => 900 + i));
  assert.ok(frames.slice(100).every((v) => v === 0));
  assert.equal(w.want, 900, 'the reader says where it reads');
});

test('a read across the head and the ring is seamless; the ring wraps', () => {
  const w = TrackWindow.create(CAP, HEAD);
  writeFrames(w.headBytes, 0, 0, HEAD);
  w.commitHead(HEAD);
  w.reset(0, HEAD);
  append(w, HEAD + 3000);
  let r = readBack(w, HEAD - 500, 1000);
  assert.equal(r.got, 1000);
  assert.ok(r.frames.every((v, i) => v === HEAD - 500 + i));
  // Past the ring's end of storage: slots wrap to the beginning.
  append(w, HEAD + 3000 + 3000);
  assert.equal(w.ringStart(0), HEAD + 6000 - CAP, 'the frames overwritten are no longer valid');
  r = readBack(w, HEAD + 5000, 1000);
  assert.equal(r.got, 1000);
  assert.ok(r.frames.every((v, i) => v === HEAD + 5000 + i));
  r = readBack(w, HEAD + 500, 1000); // overwritten: silence, not the newer frames
  assert.ok(r.frames.every((v) => v === 0), 'no garbage');
  assert.equal(r.got, 0);
});

test('frames overwritten while a reader copies read as silence, never as other frames', () => {
  const w = TrackWindow.create(CAP, 0);
  w.reset(0, 0);
  append(w, CAP);
  // The writer has announced an append (start raised) and written it when the reader copies the
  // frames it overwrote: those read as silence. (The threaded race: pcm-feeder.test.ts.)
  const out = new Float32Array(2 * 100);
  const ranges = w.beginAppend(0, CAP + 50);
  for (const rg of ranges) writeFrames(w.ringBytes[0]!, rg.byteOffset, rg.frame, rg.byteLength / 4);
  const got = w.read(0, 100, out, 0);
  assert.equal(got, 50, 'frames 0..49 were given up by the append');
  for (let i = 0; i < 50; i++) assert.equal(out[2 * i], 0);
  for (let i = 50; i < 100; i++) assert.equal(Math.round(out[2 * i]! * 32768), sample(i, 0));
});

test('a reset empties the ring at the new position; appends continue from there', () => {
  const w = TrackWindow.create(CAP, HEAD);
  w.reset(0, HEAD);
  append(w, HEAD + 1000);
  w.reset(0, 50_000);
  assert.equal(readBack(w, HEAD, 100).got, 0);
  append(w, 51_000);
  const r = readBack(w, 50_500, 600);
  assert.equal(r.got, 500);
  assert.ok(r.frames.slice(0, 500).every((v, i) => v === 50_500 + i));
  assert.ok(r.frames.slice(500).every((v) => v === 0));
  w.reset(0, 10); // below the head: the ring never holds head frames
  assert.equal(w.ringStart(0), HEAD);
});

test('attach accepts only a window buffer and sees the same state', () => {
  const w = TrackWindow.create(CAP, HEAD);
  w.reset(0, HEAD);
  append(w, HEAD + 100);
  const a = TrackWindow.attach(w.buffer);
  assert.ok(a instanceof TrackWindow);
  assert.equal(a.ringEnd(0), HEAD + 100);
  assert.equal(readBack(a, HEAD, 100).got, 100);
  assert.equal(typeof TrackWindow.attach(new SharedArrayBuffer(64)), 'string');
  assert.equal(typeof TrackWindow.attach(new ArrayBuffer(1 << 16)), 'string');
  assert.equal(typeof TrackWindow.attach(w.buffer.slice(0, 100)), 'string');
  assert.throws(() => TrackWindow.create(10, 0), RangeError);
  assert.throws(() => w.beginAppend(0, w.ringEnd(0) + CAP + 1), RangeError);
});

test('two rings: the engine reads from whichever holds the frame (a landing filled ahead of a seek)', () => {
  const w = TrackWindow.create(CAP, HEAD);
  w.reset(0, HEAD);
  append(w, HEAD + 3000, 0); // where the engine plays now
  w.reset(1, 100_000);
  append(w, 103_000, 1); // where a seek will land
  let r = readBack(w, HEAD + 1000, 500);
  assert.equal(r.got, 500);
  assert.ok(r.frames.every((v, i) => v === HEAD + 1000 + i));
  r = readBack(w, 101_000, 500);
  assert.equal(r.got, 500);
  assert.ok(r.frames.every((v, i) => v === 101_000 + i));
  r = readBack(w, 102_800, 500); // past the landing ring's end: the rest is silence
  assert.equal(r.got, 200);
  assert.ok(r.frames.slice(200).every((v) => v === 0));
  // Both rings holding the same frames (the same file): counted once.
  w.reset(1, HEAD + 500);
  append(w, HEAD + 2000, 1);
  assert.equal(readBack(w, HEAD, 2500).got, 2500);
});
