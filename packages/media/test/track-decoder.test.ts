// TrackDecoder end to end: every file of the example playlist decodes to exactly framesAtRate
// frames (what the leader measures), bad inputs are rejected with a reason while the process and
// the decoder stay usable, a crashed worker is replaced, and the caller's event loop keeps running.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { framesAtRate } from '../src/frames-at-rate.js';
import { TrackDecoder } from '../src/track-decoder.js';
import { TrackError } from '../src/track-error.js';
import { noiseInt16, wavFile } from './wav-fixture.js';

const MUSIC_DIR = fileURLToPath(new URL('../../../../Music/', import.meta.url));
const OUTPUT_RATE = 48000;
const T = { timeout: 120_000 };

let dir: string;
let decoder: TrackDecoder;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jas-media-'));
  decoder = new TrackDecoder();
});
after(async () => {
  await decoder.close();
  await rm(dir, { recursive: true, force: true });
});

async function musicFiles(): Promise<string[]> {
  const playlist = await readFile(path.join(MUSIC_DIR, 'Playlist.m3u8'), 'utf8');
  return playlist.split('\n').filter((l) => l.length > 0 && !l.startsWith('#')).map((l) => path.join(MUSIC_DIR, l));
}

test('the playlist lists 3-5 files in several formats and rates, all present', T, async () => {
  const files = await musicFiles();
  assert.ok(files.length >= 3 && files.length <= 5);
  const onDisk = new Set(await readdir(MUSIC_DIR));
  for (const f of files) assert.ok(onDisk.has(path.basename(f)), f);
  const exts = new Set(files.map((f) => path.extname(f)));
  for (const e of ['.wav', '.mp3', '.flac', '.ogg']) assert.ok(exts.has(e), e);
});

test('every Music/ file decodes to exactly framesAtRate frames, as the leader measures', T, async () => {
  const rates = new Set<number>();
  for (const file of await musicFiles()) {
    const progress: number[] = [];
    const track = await decoder.decode(file, { outputRate: OUTPUT_RATE }, { onProgress: (p) => progress.push(p.bytesRead) });
    const measured = await decoder.measure(file); // what the leader does for the timeline
    rates.add(track.sourceRate);
    assert.equal(track.frames, framesAtRate(track.sourceFrames, track.sourceRate, OUTPUT_RATE), file);
    assert.equal(track.frames, framesAtRate(measured.sourceFrames, measured.sourceRate, OUTPUT_RATE), file);
    assert.equal(track.pcm.length, track.frames * 2);
    assert.ok(track.pcm.buffer instanceof SharedArrayBuffer);
    assert.equal(track.sourceChannels, 2);
    assert.ok(progress.length >= 1 && progress.at(-1)! > 0);
    // Roughly the nominal length (20-60 s) and real, stereo-different content.
    assert.ok(track.frames >= 20 * OUTPUT_RATE && track.frames <= 60 * OUTPUT_RATE, `${file}: ${track.frames}`);
    let peak = 0;
    let sideEnergy = 0;
    for (let i = 0; i < track.pcm.length; i += 2) {
      const l = track.pcm[i]!;
      const r = track.pcm[i + 1]!;
      peak = Math.max(peak, Math.abs(l), Math.abs(r));
      sideEnergy += (l - r) * (l - r);
    }
    assert.ok(peak > 10000, `${file} peak ${peak}`);
    assert.ok(sideEnergy > 0, `${file}: left and right identical`);
  }
  assert.ok(rates.has(44100) && rates.has(48000));
});

test('a 16-bit WAV at the output rate comes out bit-exact', T, async () => {
  const samples = noiseInt16(2 * 4800, 7);
  const track = await decoder.decode(wavFile(samples, 2, 48000), { outputRate: 48000 });
  assert.equal(track.frames, 4800);
  assert.deepEqual(Array.from(track.pcm), Array.from(samples));
});

test('mono is duplicated to both channels; 5.1 is downmixed to stereo', T, async () => {
  const mono = noiseInt16(4800, 3);
  const m = await decoder.decode(wavFile(mono, 1, 48000), { outputRate: 48000 });
  assert.equal(m.sourceChannels, 1);
  for (let i = 0; i < 4800; i++) {
    assert.equal(m.pcm[2 * i], mono[i]);
    assert.equal(m.pcm[2 * i + 1], mono[i]);
  }
  // 5.1 (L R C LFE Ls Rs): only the left channel carries signal -> left only, scaled, right silent.
  const six = new Int16Array(6 * 4800);
  for (let i = 0; i < 4800; i++) six[6 * i] = 16000;
  const s = await decoder.decode(wavFile(six, 6, 44100), { outputRate: 44100 });
  assert.equal(s.sourceChannels, 6);
  const l = s.pcm[2 * 100]!;
  const r = s.pcm[2 * 100 + 1]!;
  assert.ok(l > 5000 && l < 16000, `left ${l}`);
  assert.equal(r, 0);
});

test('bad inputs are rejected with a reason; the process and the decoder stay usable', T, async () => {
  const mp3 = await readFile(path.join(MUSIC_DIR, '02-pluck-parade.mp3'));
  const wav = await readFile(path.join(MUSIC_DIR, '01-metronome-morning.wav'));
  const ogg = await readFile(path.join(MUSIC_DIR, '04-harbour-lights.ogg'));
  let seed = 12345;
  const random = Buffer.from(Array.from({ length: 50_000 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
  const cases: Array<[string, Buffer | string, string]> = [
    ['truncated.mp3', mp3.subarray(0, Math.floor(mp3.length / 2)), 'truncated'],
    ['truncated.wav', wav.subarray(0, 100_000), 'truncated'],
    ['truncated.ogg', ogg.subarray(0, 60_000), 'truncated'],
    ['random.mp3', random, 'not-audio'],
    ['notes.txt', Buffer.from('this is a text file, not music\n'.repeat(20)), 'not-audio'],
    ['empty.wav', Buffer.alloc(0), 'empty'],
    ['midi.mid', Buffer.from('MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x00', 'latin1'), 'unsupported'],
    ['garbage-after-header.wav', Buffer.concat([wav.subarray(0, 12), Buffer.from('junkjunkjunkjunk')]), 'corrupt'],
  ];
  for (const [name, bytes, kind] of cases) {
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    for (const input of [file, typeof bytes === 'string' ? Buffer.from(bytes) : bytes]) {
      await assert.rejects(decoder.decode(input), (err: unknown) => {
        assert.ok(err instanceof TrackError, `${name}: ${String(err)}`);
        assert.equal(err.code, 'JAS_ERR_TRACK');
        assert.equal(err.kind, kind, `${name}: ${err.reason}`);
        assert.ok(err.reason.length > 0);
        return true;
      });
    }
    await assert.rejects(decoder.measure(file), TrackError);
  }
  await assert.rejects(decoder.decode(path.join(dir, 'does-not-exist.mp3')), (e: unknown) => e instanceof TrackError && e.kind === 'io');
  await assert.rejects(decoder.decode(dir), (e: unknown) => e instanceof TrackError && e.kind === 'io');
  await assert.rejects(decoder.decode(path.join(MUSIC_DIR, '05-night-ferry.opus'), { outputRate: 0 }),
    (e: unknown) => e instanceof TrackError && e.kind === 'invalid-argument');
  // Still usable afterwards, with no crash having happened.
  const ok = await decoder.decode(path.join(MUSIC_DIR, '03-lattice-steps.flac'));
  assert.equal(ok.frames, 960000);
  assert.equal(decoder.crashes, 0);
});

test('a crashed worker rejects its job and is replaced', T, async (t) => {
  const crashy = new TrackDecoder({ workerUrl: new URL('./crashing-worker.js', import.meta.url) });
  t.after(() => crashy.close());
  await assert.rejects(crashy.decode('crash:exit'), (e: unknown) => e instanceof TrackError && e.kind === 'crashed');
  await assert.rejects(crashy.decode('crash:throw'), (e: unknown) => e instanceof TrackError && e.kind === 'crashed');
  assert.equal(crashy.crashes, 2);
  const flac = path.join(MUSIC_DIR, '03-lattice-steps.flac');
  const track = await crashy.decode(flac);
  assert.equal(track.frames, 960000);
});

test('jobs queue on one worker; close() rejects what is pending', T, async () => {
  const d = new TrackDecoder({ workers: 1 });
  const file = path.join(MUSIC_DIR, '05-night-ferry.opus');
  const a = d.decode(file);
  const b = d.measure(file);
  const c = d.decode(file).then(() => undefined, (e: unknown) => e); // handled now: close() rejects it
  assert.equal((await a).frames, 1152000);
  assert.equal((await b).sourceFrames, 1152000);
  await d.close();
  const cErr = await c;
  assert.ok(cErr instanceof TrackError && cErr.kind === 'closed', String(cErr));
  await assert.rejects(d.decode(file), (e: unknown) => e instanceof TrackError && e.kind === 'closed');
});

test('the caller\'s event loop keeps running during a decode', T, async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  try {
    await decoder.decode(path.join(MUSIC_DIR, '02-pluck-parade.mp3'));
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 5, `only ${ticks} timer ticks during the decode`);
});

test('an idle worker is stopped after idleMs and respawned on demand', T, async (t) => {
  const d = new TrackDecoder({ idleMs: 50 });
  t.after(() => d.close());
  const file = path.join(MUSIC_DIR, '05-night-ferry.opus');
  await d.measure(file);
  assert.equal(d.liveWorkers, 1);
  for (let i = 0; i < 100 && d.liveWorkers > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(d.liveWorkers, 0);
  assert.equal((await d.measure(file)).sourceFrames, 1152000);
});
