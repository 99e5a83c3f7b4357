// Playlist parsing: encodings, line endings, titles, path forms, bad entries reported, bounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { JasError } from '@jaudiosync/protocol/errors';
import { parsePlaylistBytes, parsePlaylistFile, parseExtinf, MAX_PLAYLIST_BYTES } from '../../src/playlist/m3u8-parser.js';

let dir: string;
const WAV_HEAD = Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1');

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jas-m3u-'));
  await mkdir(path.join(dir, 'music', 'sub dir'), { recursive: true });
  await mkdir(path.join(dir, 'outside'), { recursive: true });
  await writeFile(path.join(dir, 'music', 'a.mp3'), 'ID3xxxx');
  await writeFile(path.join(dir, 'music', 'b.flac'), 'fLaCxxxx');
  await writeFile(path.join(dir, 'music', 'sub dir', 'c d.wav'), WAV_HEAD);
  await writeFile(path.join(dir, 'music', 'Café.mp3'), 'ID3xxxx');
  await writeFile(path.join(dir, 'music', 'notes.txt'), 'hello world');
  await writeFile(path.join(dir, 'music', 'noext'), WAV_HEAD);
  await writeFile(path.join(dir, 'outside', 'e.ogg'), 'OggSxxxx');
  await writeFile(path.join(dir, 'music', 'empty.mp3'), '');
  // A file an old Latin-1 .m3u (e.g. written on Windows) refers to; the name on disk is UTF-8.
  await writeFile(path.join(dir, 'music', 'Léa.mp3'), 'ID3xxxx');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base = (): { baseDir: string } => ({ baseDir: path.join(dir, 'music') });

test('BOM, CRLF, #EXTM3U and #EXTINF titles', async () => {
  const text = '\ufeff#EXTM3U\r\n#EXTINF:123,Artist - Song A\r\na.mp3\r\n\r\n# a comment\r\nb.flac\r\n';
  const parsed = await parsePlaylistBytes(Buffer.from(text, 'utf8'), base());
  assert.deepEqual(parsed.problems, []);
  assert.equal(parsed.entries.length, 2);
  assert.equal(parsed.entries[0]?.title, 'Artist - Song A');
  assert.equal(parsed.entries[0]?.extinfDurationS, 123);
  assert.equal(parsed.entries[0]?.line, 3);
  assert.equal(parsed.entries[0]?.path, path.join(dir, 'music', 'a.mp3'));
  assert.equal(parsed.entries[1]?.title, undefined, 'an EXTINF title applies to the next entry only');
  assert.equal(parsed.entries[1]?.line, 6);
});

test('old Mac CR-only line endings', async () => {
  const parsed = await parsePlaylistBytes('a.mp3\rb.flac\r', base());
  assert.deepEqual(parsed.entries.map((e) => e.line), [1, 2]);
});

test('relative, absolute, URL-encoded, file:// and .. entries', async () => {
  const abs = path.join(dir, 'music', 'b.flac');
  const lines = [
    'sub dir/c d.wav',
    abs,
    'sub%20dir/c%20d.wav',
    pathToFileURL(path.join(dir, 'music', 'sub dir', 'c d.wav')).href,
    '../outside/e.ogg',
    'Caf%C3%A9.mp3',
    'Café.mp3',
  ];
  const parsed = await parsePlaylistBytes(lines.join('\n'), base());
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.entries.map((e) => e.path), [
    path.join(dir, 'music', 'sub dir', 'c d.wav'),
    abs,
    path.join(dir, 'music', 'sub dir', 'c d.wav'),
    path.join(dir, 'music', 'sub dir', 'c d.wav'),
    path.join(dir, 'outside', 'e.ogg'),
    path.join(dir, 'music', 'Café.mp3'),
    path.join(dir, 'music', 'Café.mp3'),
  ]);
});

test('missing, directory, non-audio, empty and remote entries are reported and skipped', async () => {
  const text = ['a.mp3', 'missing.mp3', 'sub dir', 'notes.txt', 'empty.mp3', 'http://example.invalid/x.mp3', 'noext', 'file://%zz'].join('\n');
  const parsed = await parsePlaylistBytes(text, base());
  assert.deepEqual(parsed.entries.map((e) => e.entry), ['a.mp3', 'noext']);
  const byEntry = new Map(parsed.problems.map((p) => [p.entry, p]));
  assert.match(byEntry.get('missing.mp3')?.reason ?? '', /not found/);
  assert.equal(byEntry.get('missing.mp3')?.line, 2);
  assert.match(byEntry.get('sub dir')?.reason ?? '', /directory/);
  assert.match(byEntry.get('notes.txt')?.reason ?? '', /not an audio file/);
  assert.match(byEntry.get('empty.mp3')?.reason ?? '', /empty/);
  assert.match(byEntry.get('http://example.invalid/x.mp3')?.reason ?? '', /remote/);
  assert.ok(byEntry.has('file://%zz'));
  assert.equal(parsed.problems.length, 6);
});

test('unreadable file is reported', { skip: process.getuid?.() === 0 ? 'root reads everything' : false }, async () => {
  const p = path.join(dir, 'music', 'locked.mp3');
  await writeFile(p, 'ID3');
  await chmod(p, 0o000);
  const parsed = await parsePlaylistBytes('locked.mp3', base());
  assert.match(parsed.problems[0]?.reason ?? '', /not readable/);
});

test('empty playlist and comment-only playlist give no entries and no problems', async () => {
  for (const text of ['', '#EXTM3U\n', '\ufeff', '\n\n\r\n']) {
    const parsed = await parsePlaylistBytes(text, base());
    assert.deepEqual(parsed, { entries: [], problems: [] });
  }
});

test('non-UTF-8 bytes: a Latin-1 entry finds its UTF-8 named file; undecodable missing entry reported', async () => {
  const bytes = Buffer.concat([Buffer.from('L\xe9a.mp3\n', 'latin1'), Buffer.from('X\xff\xfe.mp3\n', 'latin1'), Buffer.from('a.mp3\n')]);
  const parsed = await parsePlaylistBytes(bytes, base());
  assert.equal(parsed.entries.length, 2);
  assert.equal(parsed.entries[0]?.line, 1);
  assert.equal(parsed.entries[1]?.entry, 'a.mp3');
  assert.equal(parsed.problems.length, 1);
  assert.equal(parsed.problems[0]?.line, 2);
  assert.match(parsed.problems[0]?.reason ?? '', /UTF-8/);
});

test('10 000 entries are accepted; the 10 001st is reported and parsing stops', async () => {
  const lines = Array.from({ length: 10_001 }, (_, i) => (i % 2 === 0 ? 'a.mp3' : 'b.flac'));
  const parsed = await parsePlaylistBytes(lines.join('\n'), base());
  assert.equal(parsed.entries.length, 10_000);
  assert.equal(parsed.problems.length, 1);
  assert.equal(parsed.problems[0]?.line, 10_001);
  assert.match(parsed.problems[0]?.reason ?? '', /more than 10000/);
});

test('oversize playlist and missing playlist file are errors of the file, with codes', async () => {
  await assert.rejects(parsePlaylistBytes(Buffer.alloc(MAX_PLAYLIST_BYTES + 1, 0x61), base()), (err: unknown) => err instanceof JasError && err.code === 'JAS_ERR_TOO_LARGE');
  await assert.rejects(parsePlaylistFile(path.join(dir, 'nope.m3u8')), (err: unknown) => err instanceof JasError && err.code === 'JAS_ERR_NOT_FOUND');
  await assert.rejects(parsePlaylistFile(path.join(dir, 'music')), (err: unknown) => err instanceof JasError && err.code === 'JAS_ERR_PLAYLIST');
});

test('parsePlaylistFile resolves relative to the playlist directory', async () => {
  const file = path.join(dir, 'music', 'list.m3u8');
  await writeFile(file, '#EXTM3U\n#EXTINF:-1,Live\nb.flac\n');
  const parsed = await parsePlaylistFile(file);
  assert.equal(parsed.entries[0]?.path, path.join(dir, 'music', 'b.flac'));
  assert.equal(parsed.entries[0]?.title, 'Live');
  assert.equal(parsed.entries[0]?.extinfDurationS, undefined, 'negative duration (unknown) is dropped');
});

test('parseExtinf handles attributes with commas in quotes', () => {
  assert.deepEqual(parseExtinf('#EXTINF:10 tvg-name="a,b",The Title'), { title: 'The Title', durationS: 10 });
  assert.deepEqual(parseExtinf('#EXTINF:abc'), {});
});
