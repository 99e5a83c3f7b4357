// Runs the curl lines of the README verbatim (the block between the readme-curl markers) against a
// running leader with two members, and checks that each call succeeded and took effect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, EXAMPLE_PLAYLIST, REPO_ROOT } from '../helpers/cluster.js';

const execFileAsync = promisify(execFile);

function readmeCurlLines(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /<!-- readme-curl:start -->\s*```sh\n([\s\S]*?)```\s*<!-- readme-curl:end -->/.exec(readme);
  assert.ok(block?.[1], 'README has a readme-curl block');
  return block[1].split('\n').filter((l) => l.trim() !== '');
}

test('the README curl lines work verbatim against a running leader', { timeout: 120_000 }, async (t) => {
  const lines = readmeCurlLines();
  assert.ok(lines.filter((l) => l.startsWith('curl ')).length >= 8, 'the README shows the commands');
  const dir = mkdtempSync(join(tmpdir(), 'jas-readme-'));
  const cluster = await Cluster.start({ dir, playlist: EXAMPLE_PLAYLIST, members: [{ id: 'member1' }, { id: 'member2' }] });
  t.after(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await cluster.waitFor((s) => s.playlist.length > 0 && s.members.every((m) => m.clock?.synced), 30_000, 'members synced');
  const env = { ...process.env, LEADER: cluster.leaderUrl.replace(/^http:\/\//, '') };
  // Variable assignments are kept for the lines after them; each curl line runs on its own.
  const prelude: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('curl ')) {
      prelude.push(line);
      continue;
    }
    const script = `set -euo pipefail\n${prelude.join('\n')}\n${line}\n`;
    const { stdout } = await execFileAsync('bash', ['-c', script], { env, timeout: 15_000 }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`README line failed: ${line}\n${err.stderr ?? ''}${err.stdout ?? ''}${err.message}`);
    });
    assert.doesNotThrow(() => JSON.parse(stdout), `JSON reply to: ${line}\n${stdout}`);
  }
  const s = await cluster.waitFor((st) => st.playing && st.position?.index === 1, 15_000, 'the last play (track 2) in effect');
  const m1 = s.members.find((m) => m.id === 'member1');
  assert.equal(m1?.['volume'], 0.8);
  assert.equal(m1?.['outputDelayMs'], 12);
  assert.equal(m1?.['channelMode'], 'left');
  assert.equal((s as unknown as { volume: number }).volume, 0.5);
  assert.deepEqual((s as unknown as { loudness: unknown }).loudness, { normalize: 'track', targetLufs: -16 });
  assert.equal((s as unknown as { crossfadeMs: number }).crossfadeMs, 4000);
});
