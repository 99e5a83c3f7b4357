// probeTrack: format facts and tags of every Music/ file; clear errors for what is not audio.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeTrack } from '../src/probe-track.js';
import { TrackError } from '../src/track-error.js';

const MUSIC_DIR = fileURLToPath(new URL('../../../../Music/', import.meta.url));
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jas-probe-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const EXPECTED: Array<[string, string, number, number]> = [
  ['01-metronome-morning.wav', 'wav', 44100, 20],
  ['02-pluck-parade.mp3', 'mp3', 44100, 32],
  ['03-lattice-steps.flac', 'flac', 48000, 20],
  ['04-harbour-lights.ogg', 'oga', 48000, 30],
  ['05-night-ferry.opus', 'opus', 48000, 24],
];

test('probes every Music/ file: format, rate, channels, duration, title, artist', async () => {
  for (const [file, format, rate, seconds] of EXPECTED) {
    for (const input of [path.join(MUSIC_DIR, file), await readFile(path.join(MUSIC_DIR, file))]) {
      const p = await probeTrack(input);
      assert.equal(p.format, format, file);
      assert.equal(p.sampleRate, rate, file);
      assert.equal(p.channels, 2, file);
      assert.ok(p.durationS !== undefined && Math.abs(p.durationS - seconds) < 0.1, `${file}: ${p.durationS}`);
      assert.ok(p.title !== undefined && p.title.length > 0, file);
      assert.equal(p.artist, 'JAudioSync Test Ensemble');
      assert.ok(p.codec !== undefined);
    }
  }
});

test('rejects non-audio with a clear reason', async () => {
  const cases: Array<[string, Buffer, string]> = [
    ['notes.txt', Buffer.from('hello, not audio\n'), 'not-audio'],
    ['empty.mp3', Buffer.alloc(0), 'empty'],
    ['x.mid', Buffer.from('MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60', 'latin1'), 'unsupported'],
  ];
  for (const [name, bytes, kind] of cases) {
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    await assert.rejects(probeTrack(file), (e: unknown) => e instanceof TrackError && e.kind === kind && e.code === 'JAS_ERR_TRACK');
  }
  await assert.rejects(probeTrack(path.join(dir, 'missing.flac')), (e: unknown) => e instanceof TrackError && e.kind === 'io');
});
