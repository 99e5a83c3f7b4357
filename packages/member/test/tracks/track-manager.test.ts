// TrackManager with a stub cache and decoder: a track is playable (registered with the engine) as
// soon as its decode starts, in a buffer of the timeline's length that the decoder fills; the
// decoder gets the cached file's path, not bytes; at most current + next are held; a track the
// timeline no longer wants is unregistered and its decode aborted; a failed decode is unregistered.
// Streamed (a stream directory): the decoder writes a file, the engine gets a window of it, and a
// dropped track's complete file is kept (within a byte budget) and played again without decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrackWindow } from '../../src/audio/track-window.js';
import type { TrackCache, TrackInput } from '../../src/tracks/track-cache.js';
import type { TrackSource } from '../../src/audio/track-store.js';
import { LOAD_RETRY_MS, MAX_DECODED_TRACKS, TrackManager, type DecodedPcm, type PcmDecoder, type TrackStreamOptions } from '../../src/tracks/track-manager.js';

const RATE = 48000;
const tracks = [
  { id: 'a'.repeat(64), frames: 4800 },
  { id: 'b'.repeat(64), frames: 9600 },
  { id: 'c'.repeat(64), frames: 1000 },
];
const timeline = { loop: false, tracks, outputRate: RATE };
const pcmFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.pcm'));

interface Call {
  input: TrackInput;
  target: SharedArrayBuffer | undefined;
  signal: AbortSignal | undefined;
  resolve: (d: DecodedPcm) => void;
  reject: (e: Error) => void;
}

function setup(writable = true, stream?: TrackStreamOptions): {
  mgr: TrackManager; calls: Call[]; registered: Map<string, { pcm: SharedArrayBuffer; frames: number }>; maxHeld: () => number; errors: string[];
} {
  const cache = {
    maxBytes: 1e9,
    writable,
    knownSize: () => undefined,
    input: async (id: string): Promise<TrackInput> => `/cache/${id}`,
  } as unknown as TrackCache;
  const calls: Call[] = [];
  const decoder: PcmDecoder = {
    decode: (input, opts, cb) => new Promise<DecodedPcm>((resolve, reject) => {
      calls.push({ input, target: opts.target, signal: cb?.signal, resolve, reject });
      cb?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
    }),
  };
  const registered = new Map<string, { pcm: SharedArrayBuffer; frames: number }>();
  let held = 0;
  const consumer = {
    addTrack: (id: string, source: TrackSource, frames: number) => {
      assert.equal(source.kind, 'pcm', 'no stream option: tracks are held in memory');
      registered.set(id, { pcm: source.buffer, frames });
      held = Math.max(held, registered.size);
    },
    removeTrack: (id: string) => void registered.delete(id),
  };
  const errors: string[] = [];
  const mgr = new TrackManager(cache, decoder, consumer, RATE, (id, reason) => errors.push(`${id.slice(0, 1)}: ${reason}`), stream);
  mgr.setBaseUrl('http://leader/tracks/');
  return { mgr, calls, registered, maxHeld: () => held, errors };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

test('a track is registered when its decode starts, in the buffer the decoder fills, from the cached path', async () => {
  const { mgr, calls, registered } = setup();
  mgr.want(timeline, [0, 1]);
  await settle();
  assert.equal(calls.length, 1, 'one decode at a time');
  const c = calls[0]!;
  assert.equal(c.input, `/cache/${tracks[0]!.id}`);
  assert.ok(c.target instanceof SharedArrayBuffer);
  assert.equal(c.target.byteLength, 4800 * 4);
  const reg = registered.get(tracks[0]!.id);
  assert.ok(reg, 'registered before the decode finished');
  assert.equal(reg.pcm, c.target);
  assert.equal(reg.frames, 4800);
  assert.ok(mgr.statuses().find((s) => s.trackId === tracks[0]!.id)!.progress < 1);
  c.resolve({ pcm: new Int16Array(c.target), frames: 4800 });
  await settle();
  assert.equal(mgr.statuses().find((s) => s.trackId === tracks[0]!.id)!.progress, 1);
  assert.equal(calls.length, 2, 'next track decoded after the first');
  assert.equal(registered.size, 2);
});

test('at most current + next are held; an unwanted decode is aborted and unregistered', async () => {
  const { mgr, calls, registered, maxHeld, errors } = setup();
  mgr.want(timeline, [0, 1, 2]);
  await settle();
  calls[0]!.resolve({ pcm: new Int16Array(calls[0]!.target!), frames: 4800 });
  await settle();
  assert.equal(calls.length, 2);
  assert.equal(registered.size, MAX_DECODED_TRACKS);
  // a seek to track 2 while track 1 decodes
  mgr.want(timeline, [2]);
  await settle();
  assert.equal(calls[1]!.signal?.aborted, true);
  assert.ok(!registered.has(tracks[0]!.id) && !registered.has(tracks[1]!.id));
  assert.equal(calls.length, 3);
  assert.equal(calls[2]!.input, `/cache/${tracks[2]!.id}`);
  assert.deepEqual([...registered.keys()], [tracks[2]!.id]);
  assert.ok(maxHeld() <= MAX_DECODED_TRACKS, `held ${maxHeld()}`);
  assert.deepEqual(errors, [], 'an abort is not a track error');
});

test('a failed decode is unregistered and reported; the slot stays silent', async () => {
  const { mgr, calls, registered, errors } = setup();
  mgr.want(timeline, [0]);
  await settle();
  assert.ok(registered.has(tracks[0]!.id));
  calls[0]!.reject(new Error('corrupt data'));
  await settle();
  assert.ok(!registered.has(tracks[0]!.id));
  assert.deepEqual(errors, ['a: corrupt data']);
  assert.equal(mgr.statuses()[0]!.error, 'corrupt data');
  mgr.want(timeline, [0]);
  await settle();
  assert.equal(calls.length, 1, 'not retried in a loop');
});

test('a failed load is tried again after LOAD_RETRY_MS while still wanted; the same reason is reported once', async (t) => {
  const { mgr, calls, registered, errors } = setup();
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  };
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  mgr.want(timeline, [0]);
  await flush();
  calls[0]!.reject(new Error('fetch timed out'));
  await flush();
  assert.deepEqual(errors, ['a: fetch timed out']);
  t.mock.timers.tick(LOAD_RETRY_MS - 1000);
  mgr.want(timeline, [0]);
  await flush();
  assert.equal(calls.length, 1, 'not before LOAD_RETRY_MS');
  t.mock.timers.tick(1100);
  await flush();
  assert.equal(calls.length, 2, 'tried again');
  calls[1]!.reject(new Error('fetch timed out'));
  await flush();
  assert.deepEqual(errors, ['a: fetch timed out'], 'the same reason is not reported again');
  t.mock.timers.tick(LOAD_RETRY_MS + 100);
  await flush();
  assert.equal(calls.length, 3);
  calls[2]!.resolve({ pcm: new Int16Array(new SharedArrayBuffer(4 * 9600)), frames: 4800 });
  await flush();
  assert.ok(registered.has(tracks[0]!.id), 'loaded at the third try');
  assert.equal(mgr.statuses()[0]!.error, undefined);
  await mgr.close();
});

test('prefetch does nothing when the cache cannot be written', async () => {
  const { mgr, calls } = setup(false);
  mgr.prefetch(tracks.map((t) => t.id));
  await settle();
  assert.equal(calls.length, 0);
});

test('a more urgent track preempts the decode of a later one, which is loaded again after it', async () => {
  const { mgr, calls, registered } = setup();
  const [a, b] = [tracks[0]!.id, tracks[1]!.id];
  mgr.want(timeline, [1]); // b (say the current track's successor) is decoding
  await settle();
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.input, `/cache/${b}`);
  // A jump to a takes effect before b is needed: a first.
  mgr.want(timeline, [0, 1]);
  await settle();
  assert.equal(calls[0]!.signal?.aborted, true, "b's decode was aborted");
  assert.equal(calls.length, 2, 'a started at once');
  assert.equal(calls[1]!.input, `/cache/${a}`);
  assert.ok(registered.has(a) && !registered.has(b), 'a registered, the half-decoded b not');
  assert.ok(!mgr.statuses().some((s) => s.trackId === b), 'b is not reported decoded');
  calls[1]!.resolve({ pcm: new Int16Array(calls[1]!.target!), frames: tracks[0]!.frames });
  await settle();
  assert.equal(calls.length, 3, 'b again after a');
  assert.equal(calls[2]!.input, `/cache/${b}`);
  assert.deepEqual(mgr.statuses().find((s) => s.trackId === a), { trackId: a, progress: 1 });
});

test('streamed: the decoder writes a file, the engine gets a window fed from it; a dropped track\'s file is played again without decoding', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'jas-stream-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'decoded');
  mkdirSync(dir);
  writeFileSync(join(dir, 'stale.pcm'), 'left by an earlier run');
  const cache = { maxBytes: 1e9, writable: true, knownSize: () => undefined, input: async (id: string): Promise<TrackInput> => `/cache/${id}` } as unknown as TrackCache;
  const files: Array<{ fd: number; frames: number; finish: () => void }> = [];
  const decoder: PcmDecoder = {
    decode: (_input, opts, cb) => new Promise<DecodedPcm>((resolve, reject) => {
      assert.equal(opts.target, undefined);
      const f = opts.targetFile!;
      files.push({ ...f, finish: () => resolve({ pcm: new Int16Array(0), frames: f.frames }) });
      cb?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
    }),
  };
  const registered = new Map<string, { source: TrackSource; frames: number }>();
  const mgr = new TrackManager(cache, decoder, {
    addTrack: (id, source, frames) => void registered.set(id, { source, frames }),
    removeTrack: (id) => void registered.delete(id),
  }, RATE, () => {}, { dir, tickMs: 10, windowSeconds: 0.1, headSeconds: 0.05 });
  t.after(() => mgr.close());
  mgr.setBaseUrl('http://leader/tracks/');
  const a = tracks[0]!.id;
  mgr.want(timeline, [0], [0]);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(readdirSync(dir).includes('stale.pcm'), false, 'files no index lists are cleared');
  assert.equal(files.length, 1);
  const reg = registered.get(a)!;
  assert.equal(reg.source.kind, 'window');
  assert.equal(reg.frames, 4800);
  const w = TrackWindow.attach(reg.source.buffer);
  assert.ok(w instanceof TrackWindow);
  assert.equal(w.headFrames, 2400);
  // The "decoder" writes the track: frame f holds (f, -f).
  const pcm = new Int16Array(4800 * 2);
  for (let f = 0; f < 4800; f++) {
    pcm[2 * f] = f;
    pcm[2 * f + 1] = -f;
  }
  writeSync(files[0]!.fd, new Uint8Array(pcm.buffer));
  files[0]!.finish();
  await new Promise((r) => setTimeout(r, 60));
  const out = new Float32Array(2 * 4800);
  assert.equal(w.read(0, 4800, out, 0), 4800, 'head and ring hold the whole (short) track');
  assert.equal(Math.round(out[2 * 3000]! * 32768), 3000);
  assert.equal(Math.round(out[2 * 3000 + 1]! * 32768), -3000);
  assert.equal(mgr.statuses().find((s) => s.trackId === a)!.progress, 1);
  const names = pcmFiles(dir);
  assert.equal(names.length, 1, `one decoded file: ${names.join(', ')}`);
  assert.ok(names[0]!.startsWith(a));
  mgr.want(timeline, [2], [0]); // a is no longer needed: dropped, its complete file kept
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!registered.has(a));
  assert.equal(existsSync(join(dir, names[0]!)), true, 'kept for reuse');
  // c (1000 frames) decodes, then a plays again (a loop): from the kept file, no second decode.
  assert.equal(files.length, 2);
  const pcmC = new Int16Array(1000 * 2).fill(5);
  writeSync(files[1]!.fd, new Uint8Array(pcmC.buffer));
  files[1]!.finish();
  await new Promise((r) => setTimeout(r, 30));
  mgr.want(timeline, [0], [0]);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(files.length, 2, 'a was not decoded again');
  const again = registered.get(a)!;
  assert.equal(again.source.kind, 'window');
  const w2 = TrackWindow.attach(again.source.buffer) as TrackWindow;
  assert.equal(w2.read(0, 4800, out.fill(0), 0), 4800);
  assert.equal(Math.round(out[2 * 4000]! * 32768), 4000);
  assert.equal(mgr.statuses().find((s) => s.trackId === a)!.progress, 1);
  assert.equal(pcmFiles(dir).length, 2, "a's file in use and c's kept");
});

test('kept decoded files stay within their byte budget, least recently used deleted first', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'jas-stream-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'decoded');
  const cache = { maxBytes: 1e9, writable: true, knownSize: () => undefined, input: async (id: string): Promise<TrackInput> => `/cache/${id}` } as unknown as TrackCache;
  let decodes = 0;
  const decoder: PcmDecoder = {
    decode: async (_input, opts) => {
      decodes++;
      const f = opts.targetFile!;
      writeSync(f.fd, new Uint8Array(f.frames * 4).fill(1));
      return { pcm: new Int16Array(0), frames: f.frames };
    },
  };
  const mgr = new TrackManager(cache, decoder, { addTrack: () => {}, removeTrack: () => {} }, RATE, () => {},
    { dir, tickMs: 10, windowSeconds: 0.1, headSeconds: 0.05, keepBytes: 4800 * 4 + 1000 * 4 });
  t.after(() => mgr.close());
  mgr.setBaseUrl('http://leader/tracks/');
  const step = async (i: number): Promise<void> => {
    mgr.want(timeline, [i]);
    await new Promise((r) => setTimeout(r, 40));
  };
  await step(0); // a: 19 200 bytes
  await step(2); // c: 4000 bytes; a kept
  await step(1); // b: 38 400 bytes; c kept (a + c fit the budget)
  await step(0); // a reused; b kept: over budget, so the least recently used (c) goes, then b itself
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(decodes, 3, 'a decoded once');
  const files = pcmFiles(dir);
  assert.equal(files.length, 1, `only a's file: ${files.join(', ')}`);
  assert.ok(files[0]!.startsWith(tracks[0]!.id));
});

test('a restarted manager plays the complete files its index lists without decoding; a decode cut short and another tag are not used', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'jas-stream-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'decoded');
  const cache = { maxBytes: 1e9, writable: true, knownSize: () => undefined, input: async (id: string): Promise<TrackInput> => `/cache/${id}` } as unknown as TrackCache;
  /** A manager life; the decoder fills frame f with f (and never finishes track b: a crash mid-decode). */
  const life = (tag: string) => {
    const decoded: string[] = [];
    const registered = new Map<string, { source: TrackSource; frames: number }>();
    const decoder: PcmDecoder = {
      decode: (input, opts, cb) => new Promise<DecodedPcm>((resolve, reject) => {
        decoded.push(String(input));
        const f = opts.targetFile!;
        const pcm = new Int16Array(f.frames * 2);
        for (let i = 0; i < f.frames; i++) pcm[2 * i] = pcm[2 * i + 1] = i % 30000;
        writeSync(f.fd, new Uint8Array(pcm.buffer, 0, String(input).endsWith(tracks[1]!.id) ? 400 : pcm.byteLength));
        if (!String(input).endsWith(tracks[1]!.id)) resolve({ pcm: new Int16Array(0), frames: f.frames });
        cb?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      }),
    };
    const mgr = new TrackManager(cache, decoder, {
      addTrack: (id, source, frames) => void registered.set(id, { source, frames }),
      removeTrack: (id) => void registered.delete(id),
    }, RATE, () => {}, { dir, tag, tickMs: 10, windowSeconds: 0.1, headSeconds: 0.05 });
    mgr.setBaseUrl('http://leader/tracks/');
    return { mgr, decoded, registered };
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const first = life('v1/48000');
  t.after(() => first.mgr.close());
  first.mgr.want(timeline, [0, 2]); // a (playing) and c (next): both decoded to the end
  await pause(80);
  first.mgr.want(timeline, [1]); // a jump to b, whose decode the crash cuts short
  await pause(80);
  assert.equal(first.decoded.length, 3);
  // SIGKILL: no close(). What the index lists is all the next run knows.
  const second = life('v1/48000');
  t.after(() => second.mgr.close());
  second.mgr.want(timeline, [0, 2], [3000, 0]);
  await pause(80);
  assert.deepEqual(second.decoded, [], 'a and c played from disk, not decoded again');
  const w = TrackWindow.attach(second.registered.get(tracks[0]!.id)!.source.buffer) as TrackWindow;
  const out = new Float32Array(2 * 100);
  assert.equal(w.read(3000, 100, out, 0), 100, 'the playing position is in memory at once');
  assert.equal(Math.round(out[0]! * 32768), 3000);
  assert.ok(!pcmFiles(dir).some((n) => n.startsWith(tracks[1]!.id)), "b's partial file was deleted");
  await second.mgr.close();
  // Another decoder or output rate: nothing is reused, the old files go.
  const third = life('v2/48000');
  t.after(() => third.mgr.close());
  third.mgr.want(timeline, [0]);
  await pause(80);
  assert.deepEqual(third.decoded, [`/cache/${tracks[0]!.id}`]);
  assert.equal(pcmFiles(dir).length, 1, pcmFiles(dir).join(', '));
});

test('with a stream option but a cache that cannot be written, tracks are held in memory', async () => {
  const { mgr, calls, registered } = setup(false, { dir: '/nonexistent/decoded' });
  mgr.want(timeline, [0]);
  await settle();
  assert.ok(calls[0]!.target instanceof SharedArrayBuffer);
  assert.ok(registered.has(tracks[0]!.id));
});
