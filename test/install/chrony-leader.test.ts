// docs/raspberry-pi.md tells members to run chrony with `server leader.local port 123`: check that
// a real chronyd accepts the leader's NTP server as a time source (loopback, high port, no clock
// changes: `chronyd -Q` only measures).
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** Far from 123 and from the tests' 11123. */
const NTP_PORT = 11987;
/** chronyd -Q exits after a few iburst samples; this bounds it if the server never answers. */
const CHRONY_TIMEOUT_S = 20;

function chronydPath(): string | null {
  for (const p of ['/usr/sbin/chronyd', '/sbin/chronyd']) if (spawnSync(p, ['--version']).status === 0) return p;
  return null;
}

test('chronyd accepts the leader as an NTP server and measures a small offset', { skip: chronydPath() === null ? 'chronyd not installed (scripts/setup installs it)' : false }, async (t) => {
  const { LeaderTimescale } = await import('@jaudiosync/leader/leader-timescale');
  const { NtpServer } = await import('@jaudiosync/leader/ntp-server');
  const server = new NtpServer({ port: NTP_PORT, host: '127.0.0.1', timescale: new LeaderTimescale() });
  await server.start();
  t.after(() => server.stop());
  // -Q: query only, never touch the clock; -f /dev/null: no system config; cmdport 0: no socket.
  const r = await runChronyQuery(chronydPath() as string, ['-Q', '-f', '/dev/null', '-u', 'root',
    `server 127.0.0.1 port ${NTP_PORT} iburst maxsamples 4`, 'cmdport 0', `pidfile /tmp/jas-chrony-q-${process.pid}.pid`]);
  assert.equal(r.status, 0, r.out);
  const m = /System clock wrong by (-?\d+\.\d+) seconds/.exec(r.out);
  assert.ok(m, `chronyd did not accept the server:\n${r.out}`);
  // The leader timescale is anchored to this host's wall clock: the offset is the NTP path error.
  assert.ok(Math.abs(Number(m[1])) < 0.01, `offset ${m[1]} s`);
});

/** Runs `chronyd -Q` without blocking this thread, killed after CHRONY_TIMEOUT_S. */
function runChronyQuery(cmd: string, args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHRONY_TIMEOUT_S * 1000);
    child.on('error', (err) => { clearTimeout(timer); resolve({ status: null, out: String(err) }); });
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, out }); });
  });
}
