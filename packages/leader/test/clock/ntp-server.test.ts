// NTP server tests: real Debian clients (chrony, ntpdate, sntp) accept it and agree with the leader
// timescale; garbage is ignored; a wall clock step under libfaketime leaves the timescale continuous.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { LeaderTimescale } from '../../src/clock/leader-timescale.js';
import { NtpServer } from '../../src/clock/ntp-server.js';
import { NTP_MODE, decodeNtpPacket, encodeNtpPacket, ntpToUnixUs, NTP_ZERO } from '@jaudiosync/protocol/ntp-packet';
import { netstampUnavailableReason } from '@jaudiosync/netstamp';

const PROBE = fileURLToPath(new URL('../../src/bin/clock-leader-probe.js', import.meta.url));
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const isRoot = process.getuid?.() === 0;

async function startServer(t: { after: (fn: () => Promise<void>) => void }) {
  const timescale = new LeaderTimescale();
  const server = new NtpServer({ port: 0, host: '127.0.0.1', timescale });
  await server.start();
  t.after(() => server.stop());
  return { timescale, server };
}

function request(port: number, buf: Buffer, timeoutMs = 1000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(buf, port, '127.0.0.1');
  });
}

function clientPacket(version = 4, mode: number = NTP_MODE.client): Buffer {
  return encodeNtpPacket({
    leap: 0, version, mode, stratum: 0, poll: 3, precision: -20, rootDelayS: 0, rootDispersionS: 0, refId: 0,
    reference: NTP_ZERO, originate: NTP_ZERO, receive: NTP_ZERO, transmit: { sec: 0x12345678, frac: 0x9abcdef0 },
  });
}

test('LeaderTimescale: anchored near wall time, advances with the injected monotonic clock', () => {
  const real = new LeaderTimescale();
  assert.ok(Math.abs(real.nowUs() - Date.now() * 1000) < 5000);
  let mono = 1_000_000_000n;
  const ts = new LeaderTimescale({ anchorWallUs: 1.7e15, monoNs: () => mono });
  assert.equal(ts.anchorMonoNs, 1_000_000_000n);
  mono += 1_500n;
  assert.equal(ts.nowUs(), 1.7e15 + 1.5);
  assert.equal(ts.fromHostMonoNs(2_000_000_000n), 1.7e15 + 1e6);
  assert.equal(ts.fromHostMonoNsExact(1_000_000_001n), 1_700_000_000_000_000_001n);
});

test('answers a client: echoes transmit as originate, timestamps of the timescale, sub-µs fraction', async (t) => {
  const { timescale, server } = await startServer(t);
  const before = timescale.nowUs();
  const reply = await request(server.port, clientPacket(3));
  const after = timescale.nowUs();
  assert.ok(reply);
  const r = decodeNtpPacket(reply);
  assert.ok(r.ok);
  const p = r.packet;
  assert.equal(p.mode, NTP_MODE.server);
  assert.equal(p.version, 3);
  assert.equal(p.leap, 0);
  assert.equal(p.stratum, 10);
  assert.deepEqual(p.originate, { sec: 0x12345678, frac: 0x9abcdef0 });
  const t2 = ntpToUnixUs(p.receive);
  const t3 = ntpToUnixUs(p.transmit);
  assert.ok(t2 >= before - 1 && t3 <= after + 1 && t3 >= t2, `${before} ${t2} ${t3} ${after}`);
  assert.notEqual(p.receive.frac & 0xfff, 0); // not rounded to µs or ms
  const st = server.stats();
  if (netstampUnavailableReason() === undefined) {
    // The receive time is the kernel's, the transmit time taken right before the syscall.
    assert.equal(st.kernelTimestamps, true);
    assert.deepEqual([st.kernelRxStamps, st.userRxStamps], [1, 0]);
  } else {
    assert.deepEqual([st.kernelTimestamps, st.kernelRxStamps, st.userRxStamps], [false, 0, 1]);
  }
});

test('ignores short, garbage, non-client, bad-version and huge packets and keeps answering', async (t) => {
  const { server } = await startServer(t);
  const bad: Buffer[] = [
    Buffer.alloc(0), Buffer.alloc(47, 0x23), Buffer.from('GET / HTTP/1.1\r\n\r\n'), clientPacket(4, NTP_MODE.server),
    clientPacket(4, NTP_MODE.symmetricActive), clientPacket(4, NTP_MODE.control), clientPacket(0), clientPacket(7),
    Buffer.alloc(4000, 0x23), Buffer.alloc(48, 0xff),
  ];
  for (const b of bad) assert.equal(await request(server.port, b, 150), null);
  const ok = await request(server.port, clientPacket());
  assert.ok(ok && decodeNtpPacket(ok).ok);
  await new Promise((r) => setTimeout(r, 100)); // the send callback counts after the reply left
  const st = server.stats();
  assert.equal(st.answered, 1, JSON.stringify(st));
  assert.equal(st.ignored.short, 3);
  assert.equal(st.ignored.oversize, 1);
  assert.equal(st.ignored.notClient, 3);
  assert.equal(st.ignored.badVersion, 3);
});

test('chronyd -Q accepts the server and agrees with the leader timescale within 1 ms', { skip: !has('chronyd') }, async (t) => {
  const { server } = await startServer(t);
  const dir = mkdtempSync(join(tmpdir(), 'jas-chrony-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'chrony.conf');
  writeFileSync(conf, `server 127.0.0.1 port ${server.port} iburst minpoll -2 maxpoll -2\ncmdport 0\npidfile ${dir}/pid\ndriftfile ${dir}/drift\n`);
  const r = spawnSync('chronyd', ['-Q', '-f', conf, ...(isRoot ? ['-u', 'root'] : [])], { encoding: 'utf8', timeout: 40_000 });
  const out = `${r.stdout}${r.stderr}`;
  const m = /System clock wrong by (-?[0-9.]+) seconds/.exec(out);
  assert.ok(m, out);
  assert.ok(Math.abs(Number(m[1])) < 0.001, out);
  assert.ok(server.stats().answered >= 1);
});

test('ntpdate -q and sntp (port 123, private network namespace) agree within 1 ms', { skip: !isRoot || !has('unshare') || (!has('ntpdate') && !has('sntp')) }, () => {
  const script = `ip link set lo up || exit 90
node ${PROBE} --port 123 --host 127.0.0.1 < /dev/null > /dev/null & P=$!
for i in $(seq 1 50); do ss -uln 2>/dev/null | grep -q ':123 ' && break; sleep 0.1; done
command -v ntpdate >/dev/null && ntpdate -q 127.0.0.1
command -v sntp >/dev/null && sntp 127.0.0.1
kill $P; wait $P 2>/dev/null; true`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8', timeout: 40_000 });
  const offsets = [...`${r.stdout}`.matchAll(/\(\+0000\) ([+-][0-9.]+) \+\/- /g)].map((m) => Number(m[1]));
  assert.ok(offsets.length >= 1, `${r.stdout}${r.stderr}`);
  for (const o of offsets) assert.ok(Math.abs(o) < 0.001, `${r.stdout}`);
});

test('under libfaketime, a one-hour wall clock step leaves the leader timescale continuous', { skip: !existsSync(FAKETIME_LIB) }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-faketime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tsFile = join(dir, 'faketime');
  writeFileSync(tsFile, '+0\n');
  const child = spawn(process.execPath, [PROBE, '--port', '0', '--host', '127.0.0.1'], {
    env: { ...process.env, LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: tsFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => void child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse(String((await lines.next()).value)) as Record<string, number>;
  const anchor = await next();
  assert.ok(typeof anchor.anchorWallUs === 'number');
  const ask = async () => {
    const before = Number(process.hrtime.bigint()) / 1000;
    child.stdin!.write('\n');
    const r = await next();
    return { leaderUs: r.leaderUs as number, monoUs: before };
  };
  const a = await ask();
  writeFileSync(tsFile, '+1h\n');
  await new Promise((r) => setTimeout(r, 300));
  const b = await ask();
  // The leader's wall clock now reads one hour later; its timescale advanced with the monotonic clock.
  const drift = (b.leaderUs - a.leaderUs) - (b.monoUs - a.monoUs);
  assert.ok(Math.abs(drift) < 50_000, `timescale moved ${drift} µs beyond monotonic`);
  child.stdin!.end();
});
