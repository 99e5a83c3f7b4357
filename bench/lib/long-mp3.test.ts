// The long MP3 for bench:decode-cpu: the example MP3's audio frames repeated to the wanted length,
// without its Xing/Info frame and tags, decodable to about that length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureTrack } from '@jaudiosync/media';
import { mp3Frames, writeLongMp3 } from './long-mp3.js';

const SOURCE = fileURLToPath(new URL('../../../Music/02-pluck-parade.mp3', import.meta.url));

test('writeLongMp3 repeats the source frames to the wanted length and the result decodes to it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-long-mp3-'));
  try {
    const file = path.join(dir, 'long.mp3');
    assert.equal(writeLongMp3(SOURCE, file, 70), 44100);
    const source = mp3Frames(readFileSync(SOURCE));
    const long = mp3Frames(readFileSync(file));
    assert.ok(long.frames.length > 2 * source.frames.length, 'the 32 s source is repeated');
    assert.equal(long.frames.length, Math.ceil((70 * 44100) / 1152));
    const measured = await measureTrack(file);
    assert.equal(measured.format, 'mp3');
    assert.ok(Math.abs(measured.sourceFrames / 44100 - 70) < 0.2, `decodes to ${measured.sourceFrames / 44100} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mp3Frames refuses bytes without MPEG-1 Layer III frames', () => {
  assert.throws(() => mp3Frames(Buffer.from('RIFF....WAVEfmt not an mp3 at all')), /no MPEG-1 Layer III frames/);
});
