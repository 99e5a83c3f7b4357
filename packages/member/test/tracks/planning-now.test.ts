import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planningNowUs } from '../../src/tracks/track-plan.js';

test('planningNowUs: the synced clock first, else the welcome carried forward, else nothing', () => {
  const welcome = { leaderUs: 5_000_000, localUs: 100 };
  assert.equal(planningNowUs(7_000_000, welcome, 900), 7_000_000);
  assert.equal(planningNowUs(null, welcome, 2_100), 5_002_000);
  assert.equal(planningNowUs(null, null, 2_100), null);
});
