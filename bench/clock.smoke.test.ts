// Smoke test of bench:clock: ~10 s, 1 member on the lan profile; checks the report's shape and
// that the numbers are sane (generous bounds: this is not a performance assertion).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = fileURLToPath(new URL('./clock.js', import.meta.url));
const REPLAY = fileURLToPath(new URL('./clock-replay.js', import.meta.url));
const PROBES = ['packages/leader/dist/src/bin/clock-leader-probe.js', 'packages/member/dist/src/bin/clock-member-probe.js'];
const RUN_TIMEOUT_MS = 60_000; // 10 s run + netsim setup + node start on a loaded machine

function skipReason(): string | false {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'bench:clock needs root (network namespaces)';
  const missing = PROBES.filter((p) => !existsSync(path.join(REPO_DIR, p)));
  return missing.length > 0 ? `clock probes not built: ${missing.join(', ')}` : false;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-clock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('bench:clock writes a sane JSON report, an SVG plot and sample logs that bench/clock-replay replays', { skip: skipReason(), timeout: RUN_TIMEOUT_MS + 5_000 }, async () => {
  const out = path.join(dir, 'clock.json');
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
    execFile(process.execPath, [BENCH, '--members', '1', '--seconds', '10', '--profile', 'lan', '--seed', '42', '--out', out, '--sample-log', path.join(dir, 'samples')], { cwd: REPO_DIR, timeout: RUN_TIMEOUT_MS }, (err, so, se) =>
      err ? reject(new Error(`${err.message}\n${se}`)) : resolve({ stdout: so }),
    );
  });
  assert.match(stdout, /"profile":"lan"/);
  const r = JSON.parse(readFileSync(out, 'utf8')) as Record<string, any>;
  assert.equal(r.profile, 'lan');
  assert.equal(r.members, 1);
  assert.equal(r.seconds, 10);
  assert.equal(r.failure, null);
  assert.equal(r.params.seed, 42);
  assert.equal(r.per_member.length, 1);
  const m = r.per_member[0];
  assert.ok(Math.abs(m.offset_us) <= 5e6 && Math.abs(m.rate_ppm) <= 100);
  assert.ok(m.samples >= 40, `only ${m.samples} samples in 10 s at 100 ms`);
  for (const k of ['p50', 'p99', 'max']) {
    assert.equal(typeof r.error_us[k], 'number', `error_us.${k}`);
    assert.ok(r.error_us[k] >= 0 && r.error_us[k] < 2000, `error_us.${k} = ${r.error_us[k]} µs (the member's clock starts up to 5 s off)`);
  }
  assert.ok(r.error_us.p50 <= r.error_us.p99 && r.error_us.p99 <= r.error_us.max);
  assert.ok(r.converge_s === null || (r.converge_s >= 0 && r.converge_s <= 10));
  assert.equal(typeof r.host.cpus, 'number');
  assert.ok(!Number.isNaN(Date.parse(r.date)));
  const svg = readFileSync(out.replace(/\.json$/, '.svg'), 'utf8');
  assert.match(svg, /^<svg /);
  assert.match(svg, /member1/);
  // Every accepted exchange was logged, and the replay through the filter sees what the run saw.
  assert.equal(r.params.sample_log_dir, path.join(dir, 'samples'));
  const lines = readFileSync(path.join(dir, 'samples', 'member1.samples'), 'utf8').trim().split('\n');
  assert.ok(lines.length >= 40, `${lines.length} logged exchanges`);
  const replay = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [REPLAY, '--report', out, '--from-s', '5'], { cwd: REPO_DIR, timeout: 30_000 }, (err, so, se) => (err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so)));
  });
  const rep = JSON.parse(replay.trim().split('\n')[0] as string) as Record<string, any>;
  assert.equal(rep.host, 'member1');
  assert.equal(rep.bad_lines, 0);
  assert.equal(rep.exchanges, lines.length);
  assert.ok(rep.lowest_up_us[0] > 0 && rep.lowest_down_us[0] > 0, `one-way delays ${rep.lowest_up_us} / ${rep.lowest_down_us}`);
  assert.ok(rep.error_us.p99 !== null && rep.error_us.p99 < 2000, `replayed p99 ${rep.error_us.p99}`);
});
