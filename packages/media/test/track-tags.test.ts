// readTrackTags: title, artist, album and the cover of a tagged MP3; the cover checked (signature,
// cap) and named by hash; readArtwork gives the bytes back only while the hash still matches.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TINY_PNG, withId3 } from '@jaudiosync/test-support';
import { MAX_ARTWORK_BYTES, artworkOf, readArtwork, sniffImage } from '../src/track-tags.js';
import { readFileTags, readTrackTags } from '../src/file-tags.js';
import { measureTrack } from '../src/decode-to-pcm.js';

const MP3 = fileURLToPath(new URL('../../../../Music/02-pluck-parade.mp3', import.meta.url));
let dir: string;
let mp3: Buffer;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jas-tags-'));
  mp3 = await readFile(MP3);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('tags and the front cover of a tagged MP3; the cover is named by its sha256', async () => {
  const file = path.join(dir, 'tagged.mp3');
  await writeFile(file, withId3(mp3, { title: 'Pluck\u0007 Parade', artist: 'JAudioSync Test Ensemble', album: 'Examples', picture: { mime: 'image/png', data: TINY_PNG } }));
  const tags = await readTrackTags(file);
  assert.equal(tags.title, 'Pluck  Parade', 'control characters become spaces');
  assert.equal(tags.artist, 'JAudioSync Test Ensemble');
  assert.equal(tags.album, 'Examples');
  assert.deepEqual(tags.artwork, { sha256: createHash('sha256').update(TINY_PNG).digest('hex'), mime: 'image/png', bytes: TINY_PNG.length });
  const image = await readArtwork(file, tags.artwork!.sha256);
  assert.ok(image);
  assert.deepEqual(Buffer.from(image.data), TINY_PNG);
  assert.equal(image.mime, 'image/png');
  assert.equal(await readArtwork(file, '0'.repeat(64)), undefined);
});

test('a picture that is not an image, or over the cap, is left out and the reason kept', async () => {
  const notImage = path.join(dir, 'not-image.mp3');
  await writeFile(notImage, withId3(mp3, { title: 'x', picture: { mime: 'image/jpeg', data: Buffer.from('<svg onload=alert(1)>') } }));
  let tags = await readTrackTags(notImage);
  assert.equal(tags.artwork, undefined);
  assert.match(tags.artworkSkipped ?? '', /not a JPEG, PNG, GIF or WebP/);
  // A GIF over the served cap (JPEG and PNG are scaled when served, up to MAX_SCALED_ARTWORK_BYTES).
  const big = Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(MAX_ARTWORK_BYTES)]);
  const huge = path.join(dir, 'huge.mp3');
  await writeFile(huge, withId3(mp3, { picture: { mime: 'image/gif', data: big } }));
  tags = await readTrackTags(huge);
  assert.equal(tags.artwork, undefined);
  assert.match(tags.artworkSkipped ?? '', /over the 524288 byte cap for image\/gif/);
  // Untagged and unreadable files have no tags (and no error: the track still plays).
  assert.deepEqual(await readTrackTags(path.join(dir, 'missing.mp3')), {});
});

test('image signatures', () => {
  assert.equal(sniffImage(TINY_PNG), 'image/png');
  assert.equal(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xdb])), 'image/jpeg');
  assert.equal(sniffImage(Buffer.from('GIF89a....')), 'image/gif');
  assert.equal(sniffImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'image/webp');
  assert.equal(sniffImage(Buffer.from('<?xml')), undefined);
  assert.equal(sniffImage(new Uint8Array(0)), undefined);
  assert.ok('skipped' in artworkOf(Buffer.from('RIFF\0\0\0\0WAVE')));
});

test('one parse gives both tag sets; the leader\'s measuring pass brings the same ones', async () => {
  const file = path.join(dir, 'both.mp3');
  await writeFile(file, withId3(mp3, { title: 'Both', artist: 'Ensemble', album: 'Examples', picture: { mime: 'image/png', data: TINY_PNG } }));
  const tags = await readFileTags(file);
  assert.deepEqual(tags.track, await readTrackTags(file));
  assert.equal(tags.track.title, 'Both');
  assert.equal(tags.track.artwork?.mime, 'image/png');
  assert.deepEqual(tags.gain, { album: 'Examples' });
  const m = await measureTrack(file);
  assert.deepEqual({ track: m.trackTags, gain: m.tags }, tags);
});
