// A light-member-host config is validated before any member starts: the reason names the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_LIGHT_MEMBERS_PER_PROCESS, parseLightHostConfig } from './light-host-config.js';

const member = { id: 'light1', port: 7701, clockOffsetUs: -2e6, clockRatePpm: 12.5 };

test('a good config comes back as given, sampleEveryS defaulting to 0', () => {
  assert.deepEqual(parseLightHostConfig({ dir: '/tmp/x', members: [member] }), { dir: '/tmp/x', sampleEveryS: 0, members: [member] });
});

test('bad configs are refused with the field that is wrong', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /object/],
    [{ members: [member] }, /dir/],
    [{ dir: '/x', members: [] }, /members/],
    [{ dir: '/x', members: Array.from({ length: MAX_LIGHT_MEMBERS_PER_PROCESS + 1 }, () => member) }, /members/],
    [{ dir: '/x', sampleEveryS: -1, members: [member] }, /sampleEveryS/],
    [{ dir: '/x', members: [{ ...member, id: 'no spaces' }] }, /members\[0\]\.id/],
    [{ dir: '/x', members: [{ ...member, port: 70000 }] }, /members\[0\]\.port/],
    [{ dir: '/x', members: [{ ...member, clockRatePpm: 'fast' }] }, /members\[0\]\.clockRatePpm/],
    [{ dir: '/x', members: [null] }, /members\[0\]\.id/],
  ];
  for (const [cfg, re] of cases) assert.throws(() => parseLightHostConfig(cfg), re, JSON.stringify(cfg)?.slice(0, 80));
});
