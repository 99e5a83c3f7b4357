// Smoke test of bench:fanout: 4 members on 2 simulated hosts receive play/seek/volume; checks that
// every command reached every member, arrival times were measured and the report is complete.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = fileURLToPath(new URL('./fanout.js', import.meta.url));
const BINS = ['packages/leader/dist/src/bin/jaudiosync-leader.js', 'packages/member/dist/src/bin/jaudiosync-member.js'];
const RUN_TIMEOUT_MS = 55_000;

function skipReason(): string | false {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'bench:fanout needs root (network namespaces, packet sockets)';
  const missing = BINS.filter((p) => !existsSync(path.join(REPO_DIR, p)));
  return missing.length > 0 ? `daemons not built: ${missing.join(', ')}` : false;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-fanout-smoke-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('bench:fanout delivers play, seek and volume to every member and reports arrivals', { skip: skipReason(), timeout: RUN_TIMEOUT_MS + 5_000 }, async () => {
  const out = path.join(dir, 'fanout.json');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [BENCH, '--members', '4', '--hosts', '2', '--seed', '5', '--lead-ms', '500', '--step-s', '2', '--settle-s', '0', '--out', out], { cwd: REPO_DIR, timeout: RUN_TIMEOUT_MS }, (err, _so, se) =>
      err ? reject(new Error(`${err.message}\n${se}`)) : resolve(),
    );
  });
  const r = JSON.parse(readFileSync(out, 'utf8')) as Record<string, any>;
  assert.equal(r.failure, null);
  assert.equal(r.members, 4);
  assert.deepEqual(r.commands.map((c: any) => c.command), ['play', 'seek', 'volume']);
  for (const c of r.commands) {
    assert.equal(c.members_reached, 4, `${c.command} reached ${c.members_reached} members`);
    assert.ok(c.arrival_spread_ms >= 0 && c.arrival_spread_ms < 1000, `${c.command} spread ${c.arrival_spread_ms} ms`);
    assert.ok(c.margin_before_at_ms > 0, `${c.command} arrived after it took effect`);
  }
  for (const c of r.commands.slice(0, 2)) assert.equal(c.audio.members_measured, 4, `${c.command}: captures analysed`);
  assert.equal(typeof r.leader.cpuPctAvg, 'number');
});
