// Both daemons say whether the NTP exchange is timed by the kernel (packages/netstamp), so an
// install whose addon did not build is visible in the logs, with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netstampUnavailableReason } from '@jaudiosync/netstamp';
import { Cluster } from '../helpers/cluster.js';

const USER_SPACE = 'NTP exchanges timed in user space';

async function syncedCluster(t: { after: (fn: () => Promise<void>) => void }, env: NodeJS.ProcessEnv): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'jas-ntp-stamps-'));
  const cluster = await Cluster.start({ dir, members: [{ id: 'member1' }], env });
  t.after(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await cluster.waitFor((s) => s.members.every((m) => m.clock?.synced === true), 30_000, 'member synced');
  return cluster;
}

test('with the addon: the member logs kernel-timed exchanges, neither daemon warns', { skip: netstampUnavailableReason() }, async (t) => {
  const cluster = await syncedCluster(t, {});
  assert.ok(cluster.readLog('member1').some((l) => l.includes('NTP exchanges timed by the kernel')));
  for (const name of ['leader', 'member1']) assert.ok(!cluster.readLog(name).some((l) => l.includes(USER_SPACE)), name);
});

test('without it (JAS_NETSTAMP_DISABLE=1): both daemons still sync and warn with the reason', async (t) => {
  const cluster = await syncedCluster(t, { JAS_NETSTAMP_DISABLE: '1' });
  for (const name of ['leader', 'member1']) {
    const line = cluster.readLog(name).find((l) => l.includes(USER_SPACE));
    assert.ok(line, `${name} did not warn`);
    assert.match(line, /JAS_NETSTAMP_DISABLE=1/);
    assert.equal((JSON.parse(line) as { level: number }).level, 40);
  }
});
