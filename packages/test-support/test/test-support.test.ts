import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussian, mulberry32, SeededRandom, waitFor, wavBytes } from '../src/index.js';

test('mulberry32: the same seed gives the same sequence in [0, 1); SeededRandom agrees', () => {
  const a = mulberry32(42);
  const b = new SeededRandom(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b.next()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, mulberry32(43)));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  const r = mulberry32(7);
  const g = Array.from({ length: 4000 }, () => gaussian(r));
  const gm = g.reduce((s, x) => s + x, 0) / g.length;
  const sd = Math.sqrt(g.reduce((s, x) => s + (x - gm) ** 2, 0) / g.length);
  assert.ok(Math.abs(gm) < 0.06 && Math.abs(sd - 1) < 0.06, `gaussian mean ${gm} sd ${sd}`);
});

test('waitFor: resolves when the condition holds, rejects naming what it waited for', async () => {
  let n = 0;
  const waited = await waitFor('n to reach 3', () => ++n >= 3, 1000, 1);
  assert.ok(waited >= 0 && n === 3);
  await assert.rejects(waitFor('never', () => false, 30, 5), /timed out after 30 ms waiting for never/);
  await assert.rejects(waitFor(() => `state ${n}`, () => false, 20, 5), /waiting for state 3/);
});

test('wavBytes: a canonical 44-byte header and the samples', () => {
  const pcm = Int16Array.from([1, -1, 32767, -32768]);
  const b = wavBytes(pcm, 2, 48_000);
  assert.equal(b.length, 44 + 8);
  assert.equal(b.toString('ascii', 0, 4), 'RIFF');
  assert.equal(b.readUInt32LE(4), 36 + 8);
  assert.equal(b.toString('ascii', 8, 16), 'WAVEfmt ');
  assert.equal(b.readUInt16LE(22), 2);
  assert.equal(b.readUInt32LE(24), 48_000);
  assert.equal(b.readUInt32LE(28), 48_000 * 4);
  assert.equal(b.toString('ascii', 36, 40), 'data');
  assert.equal(b.readInt16LE(48), 32767);
  assert.equal(b.readInt16LE(50), -32768);
});
