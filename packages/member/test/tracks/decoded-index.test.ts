// The decoded-track index: entries come back only under the same tag, and a tampered or corrupt
// index can name nothing outside its directory nor anything not decoded for its track.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DECODED_INDEX_FILE, loadDecodedIndex, parseDecodedIndex, saveDecodedIndex } from '../../src/tracks/decoded-index.js';

const id = 'a'.repeat(64);
const good = { id, file: `${id}.0f0f0f.1.pcm`, bytes: 19200 };

test('saved entries load back in order under the same tag only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-decoded-index-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(await loadDecodedIndex(dir, 'v1/48000'), [], 'no index: nothing');
  const other = { id: 'b'.repeat(64), file: `${'b'.repeat(64)}.0f0f0f.2.pcm`, bytes: 4000 };
  await saveDecodedIndex(dir, 'v1/48000', [good, other]);
  assert.deepEqual(await loadDecodedIndex(dir, 'v1/48000'), [good, other]);
  assert.deepEqual(await loadDecodedIndex(dir, 'v1/44100'), [], 'another output rate');
  assert.deepEqual(await loadDecodedIndex(dir, 'v2/48000'), [], 'another decoder');
  writeFileSync(join(dir, DECODED_INDEX_FILE), '{"version":1,"tag":"v1/48000","files":[');
  assert.deepEqual(await loadDecodedIndex(dir, 'v1/48000'), [], 'a torn file');
});

test('entries naming paths elsewhere, other tracks\' files or impossible sizes are dropped', () => {
  const index = (files: unknown[]) => JSON.stringify({ version: 1, tag: 't', files });
  const bad = [
    { ...good, file: `../${good.file}` },
    { ...good, file: `/etc/${good.file}` },
    { ...good, file: `sub/${good.file}` },
    { ...good, file: `${'c'.repeat(64)}.1.pcm` },
    { ...good, file: `${id}.1.json` },
    { ...good, bytes: -4 },
    { ...good, bytes: 10 },
    { ...good, bytes: 1.5 },
    { ...good, bytes: '19200' },
    { ...good, id: 42 },
    null,
    'x',
  ];
  for (const b of bad) assert.deepEqual(parseDecodedIndex(index([b]), 't'), [], JSON.stringify(b));
  assert.deepEqual(parseDecodedIndex(index([good, { ...good, file: `${id}.x.pcm` }]), 't'), [good], 'one file per track');
  assert.deepEqual(parseDecodedIndex(index([...bad, good]), 't'), [good], 'bad entries do not spoil good ones');
  for (const text of ['', 'null', '[]', JSON.stringify({ version: 2, tag: 't', files: [good] }), JSON.stringify({ version: 1, tag: 't', files: {} })]) {
    assert.deepEqual(parseDecodedIndex(text, 't'), [], text);
  }
  assert.deepEqual(parseDecodedIndex(index([good]) + ' '.repeat(1024 * 1024), 't'), [], 'oversized');
});
