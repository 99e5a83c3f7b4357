// Decoding must not compete with the audio path: the decode worker's thread runs at a low priority
// (per-thread nice, checked in /proc), decodes straight into a caller's buffer or file that may
// already be playing (frames valid front to back), and can be aborted (a seek) without hurting
// later jobs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrackDecoder } from '../src/track-decoder.js';
import { TrackError } from '../src/track-error.js';
import { currentThreadId, lowerThreadPriority } from '../src/thread-priority.js';
import { decodeToPcm, GC_HINT_EVERY_S, READ_CHUNK_BYTES } from '../src/decode-to-pcm.js';
import { noiseInt16, wavFile } from './wav-fixture.js';

const MUSIC_DIR = fileURLToPath(new URL('../../../../Music/', import.meta.url));
const T = { timeout: 120_000 };
const decoders: TrackDecoder[] = [];
after(async () => {
  await Promise.all(decoders.map((d) => d.close()));
});

/** Field 19 (nice) of /proc/<pid>/task/<tid>/stat; the comm field may hold spaces, so cut after ')'. */
function threadNice(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** Index of the first differing sample, or -1 (no huge diffs in assertion messages). */
function firstDifference(a: Int16Array, b: Int16Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

test('decode workers run at nice 19 (that thread only); the caller keeps its priority', T, async () => {
  const d = new TrackDecoder();
  decoders.push(d);
  const track = await d.decode(path.join(MUSIC_DIR, '05-night-ferry.opus'));
  assert.equal(track.frames, 1152000);
  const threads = d.threads();
  assert.equal(threads.length, 1);
  const w = threads[0]!;
  assert.equal(w.error, undefined);
  assert.equal(w.nice, 19);
  assert.ok(w.tid > 0 && w.tid !== process.pid);
  assert.equal(threadNice(w.tid), 19, 'kernel view of the worker thread');
  assert.equal(threadNice(process.pid), 0, 'main thread unchanged');
  const mine = currentThreadId();
  assert.equal(mine, process.pid);
});

test('nice 0 leaves workers alone; out-of-range values are refused', T, async () => {
  const d = new TrackDecoder({ nice: 0 });
  decoders.push(d);
  await d.measure(path.join(MUSIC_DIR, '05-night-ferry.opus'));
  assert.deepEqual(d.threads(), []);
  assert.throws(() => new TrackDecoder({ nice: 20 }), RangeError);
  assert.throws(() => new TrackDecoder({ nice: -1 }), RangeError);
  assert.ok(lowerThreadPriority(25).error !== undefined);
});

test('decoding into a target buffer gives the same PCM, front to back, in that buffer', T, async () => {
  const d = new TrackDecoder();
  decoders.push(d);
  const file = path.join(MUSIC_DIR, '01-metronome-morning.wav'); // 44.1 kHz: resampled
  const plain = await d.decode(file);
  const target = new SharedArrayBuffer(plain.frames * 4);
  const view = new Int16Array(target);
  const written: number[] = [];
  let frontValid = true;
  const track = await d.decode(file, { target }, {
    onProgress: (p) => {
      written.push(p.framesWritten);
      // everything reported as written is already final in the shared buffer
      const n = Math.min(p.framesWritten, plain.frames) * 2;
      for (let i = Math.max(0, n - 2000); i < n; i++) if (view[i] !== plain.pcm[i]) frontValid = false;
    },
  });
  assert.equal(track.frames, plain.frames);
  assert.equal(firstDifference(view, plain.pcm), -1);
  // the result is a view of the caller's memory (a new wrapper after postMessage, same bytes)
  track.pcm[0] = 12345;
  assert.equal(view[0], 12345);
  assert.ok(written.length >= 3, `${written.length} progress reports`);
  for (let i = 1; i < written.length; i++) assert.ok(written[i]! >= written[i - 1]!);
  assert.ok(written.at(-2)! > 0 && written.at(-2)! < plain.frames);
  assert.ok(frontValid, 'a reported frame differed from the final PCM');
});

test('decoding into a file (in the worker) gives the same PCM, front to back, at most the frames asked for', T, async (t) => {
  const d = new TrackDecoder();
  decoders.push(d);
  const dir = mkdtempSync(path.join(tmpdir(), 'jas-decode-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(MUSIC_DIR, '02-pluck-parade.mp3'); // 44.1 kHz MP3: resampled
  const plain = await d.decode(file);
  const out = path.join(dir, 'track.pcm');
  const fd = openSync(out, 'w');
  let frontValid = true;
  let reports = 0;
  const track = await d.decode(file, { targetFile: { fd, frames: plain.frames } }, {
    onProgress: (p) => {
      reports++;
      // everything reported as written is already in the file
      const n = Math.min(p.framesWritten, plain.frames) * 2;
      const bytes = readFileSync(out);
      const got = new Int16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 2));
      if (got.length < n) frontValid = false;
      for (let i = Math.max(0, n - 2000); i < n; i++) if (got[i] !== plain.pcm[i]) frontValid = false;
    },
  });
  closeSync(fd);
  assert.equal(track.frames, plain.frames);
  assert.equal(track.pcm.length, 0, 'nothing held in memory');
  const bytes = readFileSync(out);
  assert.equal(firstDifference(new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2), plain.pcm), -1);
  assert.ok(reports >= 2 && frontValid, `${reports} progress reports, front valid: ${frontValid}`);
  // a shorter file than the track: what fits, nothing more
  const fd2 = openSync(path.join(dir, 'short.pcm'), 'w');
  await d.decode(file, { targetFile: { fd: fd2, frames: 1000 } });
  closeSync(fd2);
  assert.equal(readFileSync(path.join(dir, 'short.pcm')).length, 4000);
  await assert.rejects(decodeToPcm(file, { targetFile: { fd: -1, frames: 10 } }), (e: unknown) => e instanceof TrackError && e.kind === 'invalid-argument');
  await assert.rejects(decodeToPcm(file, { targetFile: { fd: 1, frames: 10 }, target: new SharedArrayBuffer(40) }), (e: unknown) => e instanceof TrackError && e.kind === 'invalid-argument');
});

test('a short target keeps what fits; a long one leaves its tail untouched; bad targets are refused', T, async () => {
  const samples = noiseInt16(2 * 4800, 11);
  const wav = wavFile(samples, 2, 48000);
  const short = new SharedArrayBuffer(4000 * 4);
  const a = await decodeToPcm(wav, { target: short });
  assert.equal(a.frames, 4800);
  assert.equal(a.pcm.length, 8000);
  assert.deepEqual(Array.from(new Int16Array(short)), Array.from(samples.subarray(0, 8000)));
  const long = new SharedArrayBuffer(6000 * 4);
  new Int16Array(long).fill(7);
  const b = await decodeToPcm(wav, { target: long });
  assert.equal(b.frames, 4800);
  assert.deepEqual(Array.from(b.pcm), Array.from(samples));
  assert.ok(new Int16Array(long).subarray(9600).every((v) => v === 7));
  for (const target of [new SharedArrayBuffer(6), new SharedArrayBuffer(0), new ArrayBuffer(16) as unknown as SharedArrayBuffer]) {
    await assert.rejects(decodeToPcm(wav, { target }), (e: unknown) => e instanceof TrackError && e.kind === 'invalid-argument');
  }
});

test('aborting a running or queued decode rejects it (aborted); the next job runs', T, async () => {
  const d = new TrackDecoder();
  decoders.push(d);
  const file = path.join(MUSIC_DIR, '02-pluck-parade.mp3');
  const running = new AbortController();
  const queued = new AbortController();
  let progressed = false;
  const a = d.decode(file, {}, { signal: running.signal, onProgress: () => { progressed = true; } });
  const b = d.decode(file, {}, { signal: queued.signal });
  queued.abort();
  await assert.rejects(b, (e: unknown) => e instanceof TrackError && e.kind === 'aborted');
  for (let i = 0; i < 500 && !progressed; i++) await new Promise((r) => setTimeout(r, 10));
  running.abort();
  await assert.rejects(a, (e: unknown) => e instanceof TrackError && e.kind === 'aborted');
  await assert.rejects(d.decode(file, {}, { signal: AbortSignal.abort() }), (e: unknown) => e instanceof TrackError && e.kind === 'aborted');
  const ok = await d.measure(path.join(MUSIC_DIR, '05-night-ferry.opus'));
  assert.equal(ok.sourceFrames, 1152000);
  assert.equal(d.crashes, 0);
});

test('a decode asks for a young collection after every chunk and a full one every GC_HINT_EVERY_S of audio', T, async () => {
  const rate = 48000;
  const seconds = 25;
  const wav = wavFile(noiseInt16(rate * seconds * 2, 7), 2, rate);
  let full = 0;
  let young = 0;
  const track = await decodeToPcm(wav, { outputRate: rate }, { gcHint: () => { full++; }, chunkGcHint: () => { young++; } });
  assert.equal(track.frames, rate * seconds);
  // One hint per decoded chunk, a full one at 0, 10 and 20 s and a young one for every other chunk.
  assert.equal(full, Math.ceil(seconds / GC_HINT_EVERY_S));
  const chunks = full + young;
  assert.ok(Math.abs(chunks - wav.length / READ_CHUNK_BYTES) <= 2, `${chunks} hints for ${(wav.length / READ_CHUNK_BYTES).toFixed(1)} chunks of input`);
});
