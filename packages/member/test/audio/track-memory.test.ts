// A dropped track's PCM must become collectable at once: the engine worker removes it from the
// store, the reader lets go of its view, and one full collection frees it (collect-garbage.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { PlaylistReader, TrackStore } from '../../src/audio/track-store.js';
import { collectGarbage } from '../../src/audio/collect-garbage.js';

const FRAMES = 4800;

function addTrack(store: TrackStore, id: string): WeakRef<SharedArrayBuffer> {
  const pcm = new SharedArrayBuffer(FRAMES * 4);
  new Int16Array(pcm).fill(1000);
  assert.equal(store.add(id, pcm, FRAMES), null);
  return new WeakRef(pcm);
}

test('collectGarbage runs a full collection on demand', async () => {
  let obj: object | undefined = { big: new Array(1000).fill(0) };
  const ref = new WeakRef(obj);
  obj = undefined;
  await tick(); // a WeakRef keeps its target alive until the current job ends
  assert.equal(collectGarbage(), true);
  assert.equal(ref.deref(), undefined);
});

test('a removed track is collectable once the reader has synced; a held one stays', async () => {
  const store = new TrackStore();
  const reader = new PlaylistReader(store);
  const a = addTrack(store, 'a');
  const b = addTrack(store, 'b');
  reader.setPlaylist([{ id: 'a', frames: FRAMES }, { id: 'b', frames: FRAMES }], false);
  const out = new Float32Array(2 * 2 * FRAMES);
  reader.read(0, 2 * FRAMES, out);
  assert.ok(Math.abs(out[0]! - 1000 / 32768) < 1e-9);

  assert.equal(store.remove('a'), true);
  await tick();
  collectGarbage();
  assert.notEqual(a.deref(), undefined, 'the reader still holds the view it resolved (this is what sync() is for)');

  reader.sync();
  await tick();
  collectGarbage();
  assert.equal(a.deref(), undefined, 'removed track still referenced after sync + collection');
  assert.notEqual(b.deref(), undefined, 'a held track was collected');
  reader.read(0, 2 * FRAMES, out);
  assert.equal(out[0], 0, 'the removed track reads as silence');
  assert.ok(Math.abs(out[2 * FRAMES]! - 1000 / 32768) < 1e-9);
});
