// Kernel timestamps on real loopback sockets: the receive age is the kernel's (it includes time
// this process spent busy before reading), belongs to the datagram being handled, and stamped
// sends carry a time from right before the syscall. Bad arguments throw; the fallback is null.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { unixNsToNtp } from '@jaudiosync/protocol/ntp-packet';
import { SocketStamps, netstampUnavailableReason, NETSTAMP_DISABLE_ENV } from '../src/index.js';

const available = netstampUnavailableReason() === undefined;
const skip = available ? false : `netstamp addon not built: ${netstampUnavailableReason()}`;

function busyMs(ms: number): void {
  const end = process.hrtime.bigint() + BigInt(ms * 1e6);
  while (process.hrtime.bigint() < end);
}

/**
 * The first socket on a host to ask for receive timestamps switches them on through a deferred
 * kernel work item: datagrams received before it ran carry no stamp (the kernel then reports the
 * read time). Tests that need a stamp wait for it after attach().
 */
async function stampsSwitchedOn(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
}

async function pair(type: 'udp4' | 'udp6' = 'udp4'): Promise<{ rx: dgram.Socket; tx: dgram.Socket; close(): void }> {
  const host = type === 'udp4' ? '127.0.0.1' : '::1';
  const rx = dgram.createSocket(type);
  const tx = dgram.createSocket(type);
  rx.bind(0, host);
  await once(rx, 'listening');
  tx.bind(0, host);
  await once(tx, 'listening');
  tx.connect(rx.address().port, host);
  await once(tx, 'connect');
  return { rx, tx, close: () => { rx.close(); tx.close(); } };
}

test('the receive time is the kernel\'s: a reader busy for 40 ms sees a time >= 40 ms old', { skip }, async () => {
  const { rx, tx, close } = await pair();
  try {
    const stamps = SocketStamps.attach(rx);
    assert.ok(stamps);
    await stampsSwitchedOn();
    const got = once(rx, 'message');
    tx.send(Buffer.from('late'));
    busyMs(40); // the datagram waits in the kernel while this thread cannot read
    await got;
    // 'once' resolves a microtask after the handler: the stamp read now is the same datagram's.
    const rxNs = stamps.rxMonoNs();
    const ageNs = Number(process.hrtime.bigint()) - (rxNs ?? NaN);
    assert.ok(ageNs >= 39e6 && ageNs < 1e9, `age ${ageNs} ns`);
  } finally {
    close();
  }
});

test('each handler call sees its own datagram\'s stamp (two datagrams 30 ms apart, read together)', { skip }, async () => {
  const { rx, tx, close } = await pair();
  try {
    const stamps = SocketStamps.attach(rx)!;
    await stampsSwitchedOn();
    const rxAt: number[] = [];
    const readAt: bigint[] = [];
    rx.on('message', () => {
      rxAt.push(stamps.rxMonoNs() ?? NaN);
      readAt.push(process.hrtime.bigint());
    });
    tx.send(Buffer.from('a'));
    busyMs(30);
    tx.send(Buffer.from('b'));
    busyMs(10);
    for (let i = 0; i < 100 && rxAt.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(rxAt.length, 2);
    // The kernel's receive times are ~30 ms apart although both datagrams were read together.
    const gapMs = (rxAt[1]! - rxAt[0]!) / 1e6;
    assert.ok(gapMs > 28 && gapMs < 60, `receive gap ${gapMs} ms`);
    assert.ok(Number(readAt[1]! - readAt[0]!) / 1e6 < 5, 'both were read in one go');
  } finally {
    close();
  }
});

test('sendConnected: sent now, stamped with CLOCK_MONOTONIC right before the syscall', { skip }, async () => {
  const { rx, tx, close } = await pair();
  try {
    const txStamps = SocketStamps.attach(tx)!;
    const rxStamps = SocketStamps.attach(rx)!;
    await stampsSwitchedOn();
    const got = once(rx, 'message');
    const before = process.hrtime.bigint();
    const sentNs = txStamps.sendConnected(Buffer.from('hello'));
    const after = process.hrtime.bigint();
    assert.ok(sentNs !== null);
    assert.ok(sentNs >= Number(before) - 1000 && sentNs <= Number(after) + 1000, `${before} <= ${sentNs} <= ${after}`);
    const [msg] = (await got) as [Buffer];
    const kernelRxNs = rxStamps.rxMonoNs()!;
    assert.equal(msg.toString(), 'hello');
    // Loopback delivers inside the sender's syscall: the kernel's receive time follows the stamp
    // closely (slack: the wall clock's slew against the monotonic one over the age, and rounding).
    assert.ok(kernelRxNs - sentNs > -2_000 && kernelRxNs - sentNs < 5e6, `rx - tx = ${kernelRxNs - sentNs} ns`);
  } finally {
    close();
  }
});

for (const type of ['udp4', 'udp6'] as const) {
  test(`sendNtpStamped (${type}): writes the NTP time of monotonic + anchor at the offset, then sends`, { skip }, async (t) => {
    let p: Awaited<ReturnType<typeof pair>>;
    try {
      p = await pair(type);
    } catch (e) {
      return void t.skip(`no ${type} loopback: ${(e as Error).message}`);
    }
    try {
      const stamps = SocketStamps.attach(p.tx)!;
      const anchorNs = 1_780_000_000_000_000_000n - process.hrtime.bigint();
      const buf = Buffer.alloc(48, 0xab);
      const got = once(p.rx, 'message');
      const before = process.hrtime.bigint();
      const host = type === 'udp4' ? '127.0.0.1' : '::1';
      assert.equal(stamps.sendNtpStamped(buf, 40, anchorNs, host, p.rx.address().port), true);
      const after = process.hrtime.bigint();
      const [msg] = (await got) as [Buffer];
      assert.deepEqual(msg.subarray(0, 40), Buffer.alloc(40, 0xab), 'bytes before the stamp are untouched');
      const sec = msg.readUInt32BE(40);
      const frac = msg.readUInt32BE(44);
      const lo = unixNsToNtp(before + anchorNs);
      const hi = unixNsToNtp(after + anchorNs);
      const asNum = (x: { sec: number; frac: number }) => x.sec * 2 ** 32 + x.frac;
      assert.ok(asNum({ sec, frac }) >= asNum(lo) && asNum({ sec, frac }) <= asNum(hi), `${sec}.${frac} within [${lo.sec}.${lo.frac}, ${hi.sec}.${hi.frac}]`);
    } finally {
      p.close();
    }
  });
}

test('bad arguments throw a TypeError; an address it cannot parse is left to the caller', { skip }, async () => {
  const { rx, tx, close } = await pair();
  try {
    const stamps = SocketStamps.attach(tx)!;
    const buf = Buffer.alloc(48);
    assert.throws(() => stamps.sendNtpStamped(buf, 44, 0n, '127.0.0.1', rx.address().port), TypeError, 'stamp past the end');
    assert.throws(() => stamps.sendNtpStamped(buf, 40, 0n, '127.0.0.1', 0), TypeError, 'port 0');
    assert.throws(() => stamps.sendNtpStamped(buf, 40, 0n, '127.0.0.1', 70000), TypeError, 'port too big');
    assert.throws(() => stamps.sendConnected(Buffer.alloc(0)), TypeError, 'empty datagram');
    assert.throws(() => stamps.sendConnected('text' as unknown as Buffer), TypeError, 'not a Buffer');
    assert.equal(stamps.sendNtpStamped(buf, 40, 0n, 'localhost', rx.address().port), false, 'a name');
    assert.equal(stamps.sendNtpStamped(buf, 40, 0n, 'fe80::1%lo', rx.address().port), false, 'a scoped address');
  } finally {
    close();
  }
});

test('no kernel stamp yet: rxMonoNs is null; a closed socket cannot be attached', { skip }, async () => {
  const { rx, tx, close } = await pair();
  const stamps = SocketStamps.attach(rx)!;
  assert.equal(stamps.rxMonoNs(), null);
  close();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(SocketStamps.attach(tx), null);
});

test(`${NETSTAMP_DISABLE_ENV}=1: attach() gives null and says why`, () => {
  const script = `
    import dgram from 'node:dgram';
    import { SocketStamps, netstampUnavailableReason } from ${JSON.stringify(fileURLToPath(new URL('../src/index.js', import.meta.url)))};
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => { console.log(JSON.stringify({ stamps: SocketStamps.attach(s), reason: netstampUnavailableReason() })); s.close(); });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, [NETSTAMP_DISABLE_ENV]: '1' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { stamps: unknown; reason: string };
  assert.equal(out.stamps, null);
  assert.match(out.reason, /JAS_NETSTAMP_DISABLE=1/);
});
