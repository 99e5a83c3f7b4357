// Smoke test of bench:sync: ~15 s of the example playlist on 2 members on the lan profile; checks the
// report's fields and loose sanity bounds (this is not a performance assertion: CI machines are loaded).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = fileURLToPath(new URL('./sync.js', import.meta.url));
const BINS = ['packages/leader/dist/src/bin/jaudiosync-leader.js', 'packages/member/dist/src/bin/jaudiosync-member.js'];
const RUN_TIMEOUT_MS = 55_000; // 15 s of play + netsim, node starts, clock sync, decode, analysis

function skipReason(): string | false {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'bench:sync needs root (network namespaces)';
  const missing = BINS.filter((p) => !existsSync(path.join(REPO_DIR, p)));
  return missing.length > 0 ? `daemons not built: ${missing.join(', ')}` : false;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-sync-smoke-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('bench:sync plays in sync on lan and writes a complete report', { skip: skipReason(), timeout: RUN_TIMEOUT_MS + 5_000 }, async () => {
  const out = path.join(dir, 'sync.json');
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
    execFile(process.execPath, [BENCH, '--members', '2', '--seconds', '15', '--profile', 'lan', '--late-join-s', '0', '--seed', '7', '--out', out], { cwd: REPO_DIR, timeout: RUN_TIMEOUT_MS }, (err, so, se) =>
      err ? reject(new Error(`${err.message}\n${se}`)) : resolve({ stdout: so }),
    );
  });
  assert.match(stdout, /"profile":"lan"/);
  const r = JSON.parse(readFileSync(out, 'utf8')) as Record<string, any>;
  assert.equal(r.failure, null);
  for (const k of ['profile', 'members', 'seconds', 'offset_us', 'underruns', 'rss_mb_max', 'cpu_pct', 'pairs', 'per_member', 'params', 'host']) assert.ok(k in r, `missing ${k}`);
  assert.equal(r.profile, 'lan');
  assert.equal(r.members, 2);
  assert.equal(r.params.seed, 7);
  assert.equal(r.pairs.length, 1);
  assert.ok(r.pairs[0].offset_us.n >= 50, `only ${r.pairs[0].offset_us.n} measured windows`);
  for (const k of ['p50', 'p99', 'max']) assert.equal(typeof r.offset_us[k], 'number', `offset_us.${k}`);
  assert.ok(r.offset_us.p50 <= r.offset_us.p99 && r.offset_us.p99 <= r.offset_us.max);
  assert.ok(r.offset_us.p99 < 1000, `member offset p99 ${r.offset_us.p99} µs`);
  assert.equal(r.underruns, 0, 'no underruns after play started');
  assert.equal(r.per_member.length, 2);
  for (const m of r.per_member) {
    assert.equal(typeof m.schedule_offset_us.p99, 'number');
    assert.ok(m.schedule_offset_us.p99 < 1000, `${m.label} vs schedule p99 ${m.schedule_offset_us.p99} µs`);
    assert.ok(m.rss_mb_max > 10 && m.cpu_pct >= 0);
  }
  const svg = readFileSync(out.replace(/\.json$/, '.svg'), 'utf8');
  assert.match(svg, /^<svg /);
  assert.match(svg, /member2 - member1/);
});
