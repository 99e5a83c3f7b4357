// PcmFeeder + TrackWindow against a real file: an engine-like reader (in a worker thread, racing
// the feeder for real) hears every frame of the track, in order, without a gap once it started,
// and never another frame's samples; a jump is served after a short silence, one announced ahead
// (a seek) without any; a file that is still growing (decoding) is streamed as it grows; the head
// is loaded first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { TrackWindow } from '../../src/audio/track-window.js';
import { PcmFeeder } from '../../src/tracks/pcm-feeder.js';

const expected = (f: number, c: number): number => ((f * 7 + c * 3) % 30000) + 1;

function pcmBytes(from: number, frames: number): Buffer {
  const s = new Int16Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    s[2 * i] = expected(from + i, 0);
    s[2 * i + 1] = expected(from + i, 1);
  }
  return Buffer.from(s.buffer);
}

function tempDir(t: { after: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'jas-feeder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const OPTS = { tickMs: 10, behindFrames: 1000, readFrames: 3000 };

/** A complete decoded file of `frames` frames and a started feeder for it (closed after the test). */
function feedWholeFile(t: { after: (fn: () => unknown) => void }, frames: number): { w: TrackWindow; feeder: PcmFeeder } {
  const path = join(tempDir(t), 'track.pcm');
  writeFileSync(path, pcmBytes(0, frames));
  const w = TrackWindow.create(12_000, 4000);
  const feeder = new PcmFeeder(path, frames, w, OPTS);
  feeder.start();
  t.after(() => feeder.close());
  return { w, feeder };
}

test('a reader racing the feeder in another thread hears every frame in order, never garbage', async (t) => {
  const FRAMES = 400_000;
  const { w, feeder } = feedWholeFile(t, FRAMES);
  await new Promise((r) => setTimeout(r, 100)); // primed, as the track manager registers ahead of time
  // 400 frames per 2 ms: 200 kHz, 4x a 48 kHz engine's pace, across ~33 ring wraps.
  const worker = new Worker(new URL('./window-reader-worker.js', import.meta.url), {
    workerData: { buffer: w.buffer, frames: FRAMES, chunk: 400, chunkIntervalMs: 2 },
  });
  const result = await new Promise<{ garbage: number; silent: number; firstSound: number; silentAfterSound: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(result.garbage, 0, 'no frame ever carried another frame\'s samples');
  assert.equal(result.firstSound, 0, 'the head was there from the first read');
  assert.equal(result.silentAfterSound, 0, `no gap: ${JSON.stringify(result)} ${JSON.stringify(feeder.stats())}`);
  assert.equal(feeder.stats().errors, 0);
});

test('a jump is served after a short silence; the ring restarts there', async (t) => {
  const { w, feeder } = feedWholeFile(t, 200_000);
  const out = new Float32Array(2 * 500);
  const readAt = (f: number): number => w.read(f, 500, out, 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(readAt(5000), 500, 'just after the head: prefilled');
  const resetsBefore = feeder.stats().resets;
  let silentReads = 0;
  let pos = 150_000;
  for (let i = 0; i < 200; i++, pos += 500) {
    if (readAt(pos) === 500) break;
    silentReads++;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(silentReads >= 1 && silentReads < 20, `silent for ${silentReads} reads of 5 ms`);
  await new Promise((r) => setTimeout(r, 50)); // the first read landed; let the ring fill on
  for (let i = 0; i < 10; i++, pos += 500) assert.equal(readAt(pos), 500);
  assert.ok(Math.round(out[0]! * 32768) === expected(pos - 500, 0));
  assert.ok(feeder.stats().resets > resetsBefore);
});

test('playing the head again (a loop) refills the ring from the head\'s end: no silence after the head', async (t) => {
  const { w, feeder } = feedWholeFile(t, 100_000);
  const out = new Float32Array(2 * 500);
  const readAt = (f: number): number => w.read(f, 500, out, 0);
  // The engine plays the track's end: the ring follows it there.
  let pos = 90_000;
  for (let i = 0; i < 20; i++, pos += 500) {
    readAt(pos);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(w.ringStart(0) > 4000 + 1000 || w.ringStart(1) > 4000 + 1000, 'the ring holds the end');
  // Loop: the engine is back in the head (frames < 4000) and reads on past it at its pace.
  pos = 0;
  let silent = 0;
  for (let i = 0; i < 40; i++, pos += 250) {
    await new Promise((r) => setTimeout(r, 5));
    if (w.read(pos, 250, out, 0) !== 250) silent++;
    else assert.equal(Math.round(out[0]! * 32768), expected(pos, 0));
  }
  assert.ok(pos > 4000 + 4000, 'read well past the head');
  assert.equal(silent, 0, `frames after the head were missing in ${silent} reads: ${JSON.stringify(feeder.stats())}`);
});

test('at a loop seam the track\'s end stays readable while the engine is just past the top', async (t) => {
  const { w } = feedWholeFile(t, 100_000);
  const out = new Float32Array(2 * 250);
  let pos = 95_000;
  for (; pos < 100_000; pos += 250) {
    w.read(pos, 250, out, 0);
    await new Promise((r) => setTimeout(r, 2));
  }
  // The seam: the engine reads the top of the track, feeder passes run, then a chunk still looks
  // back at the end (a chunk straddling the seam, the resampler's history).
  w.read(0, 250, out, 0);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(w.read(99_750, 250, out, 0), 250, 'the end is still there');
  assert.equal(Math.round(out[0]! * 32768), expected(99_750, 0));
});

test('a seek announced ahead (a landing) is filled into the other ring: no silence when the engine jumps there', async (t) => {
  const { w, feeder } = feedWholeFile(t, 300_000);
  const out = new Float32Array(2 * 500);
  const readAt = (f: number): number => w.read(f, 500, out, 0);
  let pos = 20_000;
  for (let i = 0; i < 10; i++, pos += 500) { // the engine plays around 20 000
    readAt(pos);
    await new Promise((r) => setTimeout(r, 5));
  }
  feeder.setLandings([250_000]);
  await new Promise((r) => setTimeout(r, 60));
  for (let i = 0; i < 5; i++, pos += 500) assert.equal(readAt(pos), 500, 'the current position still plays');
  // The seek takes effect: every read from the landing on is complete, and stays so as it plays on.
  pos = 250_000;
  for (let i = 0; i < 60; i++, pos += 500) {
    assert.equal(readAt(pos), 500, `frame ${pos}`);
    assert.equal(Math.round(out[0]! * 32768), expected(pos, 0));
    await new Promise((r) => setTimeout(r, 3));
  }
  assert.equal(feeder.stats().errors, 0);
});

test('a file still being written is streamed as it grows; before any read it fills around the hint', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'track.pcm');
  const FRAMES = 100_000;
  writeFileSync(path, pcmBytes(0, 1000));
  const w = TrackWindow.create(12_000, 4000);
  const feeder = new PcmFeeder(path, FRAMES, w, OPTS);
  feeder.setHint(50_000);
  feeder.start();
  t.after(() => feeder.close());
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(w.headValid, 1000, 'the head holds what was decoded');
  appendFileSync(path, pcmBytes(1000, 59_000)); // the decoder got to 60 000
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(w.headValid, 4000);
  assert.equal(w.ringStart(0), 49_000, 'ring from behindFrames before the hint');
  assert.equal(w.ringEnd(0), 60_000, 'up to what is decoded');
  appendFileSync(path, pcmBytes(60_000, 40_000));
  feeder.decodeFinished();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(feeder.stats().availableFrames, FRAMES);
  assert.equal(w.ringEnd(0), 60_000, 'with 10 000 frames ahead, no small read for the last 1000 of the ring');
  const out = new Float32Array(2 * 100);
  assert.equal(w.read(53_000, 100, out, 0), 100);
  assert.equal(Math.round(out[0]! * 32768), expected(53_000, 0));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(w.ringStart(0) <= 52_000, `keeps behindFrames behind the reader (start ${w.ringStart(0)})`);
  assert.ok(w.ringEnd(0) >= 53_000 + 6_000, `and more than half a ring ahead (end ${w.ringEnd(0)})`);
  assert.equal(w.ringEnd(0) - w.ringStart(0), 12_000, 'a full ring');
});

test('a missing file is an error reported once, not a crash; close() stops it', async (t) => {
  const dir = tempDir(t);
  const w = TrackWindow.create(12_000, 4000);
  const errors: string[] = [];
  const feeder = new PcmFeeder(join(dir, 'gone.pcm'), 10_000, w, { ...OPTS, onError: (m) => errors.push(m) });
  feeder.start();
  await new Promise((r) => setTimeout(r, 80));
  await feeder.close();
  assert.equal(errors.length, 1, errors.join('; '));
  assert.match(errors[0]!, /ENOENT/);
  assert.ok(feeder.stats().errors >= 2, 'tried again on later ticks');
});

test('a window holding idleLeadFrames ahead is checked every idleTickMs; a landing is still filled at once, a short window checked fast', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'track.pcm');
  const FRAMES = 300_000;
  writeFileSync(path, pcmBytes(0, FRAMES));
  const w = TrackWindow.create(12_000, 4000);
  const feeder = new PcmFeeder(path, FRAMES, w, { ...OPTS, idleTickMs: 200, idleLeadFrames: 5000 });
  feeder.decodeFinished();
  feeder.start();
  t.after(() => feeder.close());
  await new Promise((r) => setTimeout(r, 100)); // head and the ring around the hint (0) filled
  const out = new Float32Array(2 * 500);
  let before = feeder.stats().passes;
  await new Promise((r) => setTimeout(r, 500));
  let passes = feeder.stats().passes - before;
  assert.ok(passes >= 1 && passes <= 4, `not read, 16 000 frames ahead of the hint: ${passes} passes in 500 ms (10 ms ticks would be 50)`);

  // The engine plays on through the ring at 4x real time: the lead stays above 5000, idle checks keep up.
  let pos = 0;
  before = feeder.stats().passes;
  for (let i = 0; i < 50; i++, pos += 400) {
    assert.equal(w.read(pos, 400, out, 0), 400, `frame ${pos} was there`);
    await new Promise((r) => setTimeout(r, 10));
  }
  passes = feeder.stats().passes - before;
  assert.ok(passes <= 12, `playing with the ring ahead: ${passes} passes in ~0.5-0.6 s`);

  // An announced seek runs a pass now, not at the next idle check.
  feeder.setLandings([200_000]);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(w.read(200_000, 500, out, 0), 500, 'the landing was filled within 40 ms');
  assert.equal(Math.round(out[0]! * 32768), expected(200_000, 0));

  // A jump nobody announced (outside both rings) is served within about one idle tick; from then on
  // the ring lacks its lead only until the fast checks refill it.
  pos = 100_000;
  let silentMs = 0;
  for (; silentMs < 1000 && w.read(pos, 100, out, 0) < 100; silentMs += 5) await new Promise((r) => setTimeout(r, 5));
  assert.ok(silentMs <= 300, `an unannounced jump waited ${silentMs} ms`);
  assert.equal(feeder.stats().errors, 0);
});
