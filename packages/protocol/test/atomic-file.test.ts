import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../src/atomic-file.js';

test('writeFileAtomic / Sync: replace the file, create the directory, set the mode, leave no temp file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = join(dir, 'sub', 'state.json');
  await writeFileAtomic(a, '{"v":1}', { mode: 0o600 });
  assert.equal(readFileSync(a, 'utf8'), '{"v":1}');
  assert.equal(statSync(a).mode & 0o777, 0o600);
  await writeFileAtomic(a, Buffer.from('{"v":2}'));
  assert.equal(readFileSync(a, 'utf8'), '{"v":2}');
  const b = join(dir, 'other', 'x.txt');
  writeFileAtomicSync(b, 'é'.repeat(100_000));
  assert.equal(readFileSync(b, 'utf8'), 'é'.repeat(100_000));
  writeFileAtomicSync(b, 'short');
  assert.equal(readFileSync(b, 'utf8'), 'short');
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['state.json']);
  assert.deepEqual(readdirSync(join(dir, 'other')), ['x.txt']);
});

test('writeFileAtomic / Sync: a failed write keeps the old file and removes its temp file', { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-atomic-'));
  t.after(() => {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  });
  const f = join(dir, 'state.json');
  writeFileSync(f, 'old');
  chmodSync(dir, 0o500);
  await assert.rejects(writeFileAtomic(f, 'new'));
  assert.throws(() => writeFileAtomicSync(f, 'new'));
  assert.equal(readFileSync(f, 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir), ['state.json']);
});

test('writeFileAtomic: a path that is a directory is refused and left alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const target = join(dir, 'taken');
  writeFileAtomicSync(join(target, 'inside'), 'x');
  await assert.rejects(writeFileAtomic(target, 'new'));
  assert.throws(() => writeFileAtomicSync(target, 'new'));
  assert.deepEqual(readdirSync(dir), ['taken']);
  assert.equal(readFileSync(join(target, 'inside'), 'utf8'), 'x');
});
