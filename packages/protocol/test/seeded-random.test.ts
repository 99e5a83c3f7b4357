// The one seeded generator: its sequence is part of what a persisted shuffle seed means, so it is
// pinned here (a changed generator would reorder every saved shuffle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../src/seeded-random.js';

test('mulberry32: a seed gives its pinned sequence in [0, 1)', () => {
  const draw = mulberry32(20261206);
  assert.deepEqual([draw(), draw(), draw()], [0.73096988722682, 0.01818949542939663, 0.7020411028061062]);
  const other = mulberry32(2 ** 32 + 20261206); // seeds are taken modulo 2^32
  assert.equal(other(), 0.73096988722682);
});
