// Behaviour of the netsim harness: hostnames, reachability, impairment, outages, mDNS across
// namespaces, and complete cleanup. Needs root; skipped with a message otherwise.
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChildLines, tryParseJson } from './child-lines.js';
import { Netsim, netsimUnavailableReason } from './netsim.js';

const skip = netsimUnavailableReason();
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const UDP_PORT = 47001;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function namespacesWithPrefix(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

describe('netsim', { skip: skip ?? false }, () => {
  let net: Netsim;
  before(async () => {
    net = await Netsim.up({ members: 3 });
  });
  after(async () => {
    await net?.down();
  });

  test('hosts have their own hostnames, addresses and /etc/hosts', async () => {
    for (const h of ['leader', 'member1', 'member3']) {
      const { stdout } = await net.exec(h, 'hostname', []);
      assert.equal(stdout.trim(), h);
    }
    assert.equal(net.ip('leader'), '10.99.0.1');
    assert.equal(net.ip('member2'), '10.99.0.3');
    const { stdout } = await net.exec('leader', 'getent', ['hosts', 'member2']);
    assert.match(stdout, /^10\.99\.0\.3\s+member2/);
    const addr = await net.exec('member2', 'ip', ['-4', '-br', 'addr', 'show', 'eth0']);
    assert.match(addr.stdout, /10\.99\.0\.3\/24/);
    assert.throws(() => net.ip('member4'), /no host/);
  });

  test('ping and UDP work between hosts', async () => {
    const p = await net.ping('leader', 'member2', 10);
    assert.ok(p.received >= 9, `ping received ${p.received}/10`);
    const server = net.spawn('member2', process.execPath, [fixture('udp-echo.js'), 'server', String(UDP_PORT)]);
    const lines = new ChildLines(server.stdout);
    await lines.waitFor((l) => (l === 'ready' ? true : undefined), 10_000);
    const { stdout } = await net.exec('member1', process.execPath, [fixture('udp-echo.js'), 'client', 'member2', String(UDP_PORT), '20']);
    const r = JSON.parse(stdout) as { received: number; rttMs: number[] };
    assert.ok(r.received >= 18, `udp received ${r.received}/20`);
    server.kill('SIGTERM');
  });

  test('impairment shows in RTT and loss; clean hosts are unaffected', async () => {
    await net.impair('member1', 'wifi'); // 5 ms +- 3 ms each way, 1 % loss each way
    try {
      const imp = await net.ping('leader', 'member1', 60);
      const clean = await net.ping('leader', 'member2', 30);
      // expected ~59 of 60 back; P(fewer than 48) is negligible
      assert.ok(imp.received >= 48 && imp.received <= 60, `impaired received ${imp.received}/60`);
      const m = median(imp.rttMs);
      assert.ok(m >= 6 && m <= 25, `impaired median RTT ${m} ms (expected ~10)`);
      const spread = Math.max(...imp.rttMs) - Math.min(...imp.rttMs);
      assert.ok(spread >= 3, `impaired RTT spread ${spread} ms shows no jitter`);
      assert.ok(median(clean.rttMs) < 4, `clean median RTT ${median(clean.rttMs)} ms`);
    } finally {
      await net.impair('member1', 'clean');
    }
    const after = await net.ping('leader', 'member1', 20);
    assert.ok(median(after.rttMs) < 4, `median RTT after clearing ${median(after.rttMs)} ms`);
  });

  test('a rate limit serialises frames at that rate; 0 lifts it', async () => {
    // 1428-byte echo frames through a 200 kbit/s port: 57 ms each way, so the RTT is >= 114 ms.
    const minRttMs = async (): Promise<number> => {
      const { stdout } = await net.exec('leader', 'ping', ['-q', '-c', '4', '-i', '0.3', '-s', '1400', net.ip('member1')]);
      const m = /= ([0-9.]+)\//.exec(stdout);
      assert.ok(m, stdout);
      return Number(m[1]);
    };
    await net.limitRate('member1', 200);
    try {
      const slow = await minRttMs();
      assert.ok(slow >= 100 && slow < 400, `min RTT ${slow} ms at 200 kbit/s (expected ~115)`);
    } finally {
      await net.limitRate('member1', 0);
    }
    const fast = await minRttMs();
    assert.ok(fast < 10, `min RTT ${fast} ms unlimited`);
  });

  test('per-flow order: two flows of one host pass each other under jitter, each stays in order', async () => {
    // member2 sends 2 x 60 UDP datagrams from two sockets, interleaved 1 ms apart, through a port
    // with 15 ms of jitter; leader prints the arrival order.
    const recv = `import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',${UDP_PORT + 1}));s.settimeout(1.5);out=[]
try:
    while len(out)<120: out.append(s.recv(64).decode())
except socket.timeout: pass
print(' '.join(out))`;
    const send = `import socket,time
a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for i in range(60):
    a.sendto(f'a{i}'.encode(),('${net.ip('leader')}',${UDP_PORT + 1}));time.sleep(0.001)
    b.sendto(f'b{i}'.encode(),('${net.ip('leader')}',${UDP_PORT + 1}));time.sleep(0.001)`;
    const run = async (): Promise<string[]> => {
      const r = net.exec('leader', 'python3', ['-c', recv], 20_000);
      await new Promise((res) => setTimeout(res, 500));
      await net.exec('member2', 'python3', ['-c', send], 20_000);
      return (await r).stdout.trim().split(/\s+/).filter((x) => x !== '');
    };
    const inversions = (order: string[], pick?: string): number => {
      const seq = order.filter((x) => pick === undefined || x.startsWith(pick)).map((x) => Number(x.slice(1)) * 2 + (x.startsWith('b') ? 1 : 0));
      let n = 0;
      for (let i = 1; i < seq.length; i++) if (seq[i]! < seq[i - 1]!) n++;
      return n;
    };
    await net.impair('member2', { delayMs: 20, jitterMs: 15, lossPct: 0 });
    try {
      const perHost = await run();
      assert.ok(perHost.length >= 100, `received ${perHost.length}/120`);
      assert.equal(inversions(perHost), 0, `per host: nothing passes anything (${perHost.length} received)`);
      await net.perFlowOrder('member2', true);
      const perFlow = await run();
      assert.ok(perFlow.length >= 100, `received ${perFlow.length}/120`);
      assert.equal(inversions(perFlow, 'a'), 0, 'flow a in order');
      assert.equal(inversions(perFlow, 'b'), 0, 'flow b in order');
      assert.ok(inversions(perFlow) > 0, 'the flows pass each other');
    } finally {
      await net.perFlowOrder('member2', false);
      await net.impair('member2', 'clean');
    }
  });

  test('blackhole drops everything and recovers', async () => {
    await net.blackhole('member1', true);
    try {
      const p = await net.ping('leader', 'member1', 10);
      assert.equal(p.received, 0);
    } finally {
      await net.blackhole('member1', false);
    }
    const p = await net.ping('leader', 'member1', 10);
    assert.ok(p.received >= 8, `after blackhole: ${p.received}/10`);
  });

  test('link down drops everything and link up recovers', async () => {
    await net.link('member3', 'down');
    const p = await net.ping('leader', 'member3', 5);
    assert.equal(p.received, 0);
    await net.link('member3', 'up');
    const q = await net.ping('leader', 'member3', 10);
    assert.ok(q.received >= 8, `after link up: ${q.received}/10`);
  });

  test('a service published over mDNS on member1 is found from leader', async () => {
    const browser = net.spawn('leader', process.execPath, [fixture('mdns-browse.js')]);
    const blines = new ChildLines(browser.stdout);
    await blines.waitFor((l) => (l === 'browsing' ? true : undefined), 10_000);
    const pub = net.spawn('member1', process.execPath, [fixture('mdns-publish.js'), 'jas-netsim-test', '7799']);
    const found = await blines.waitFor((l) => {
      const j = tryParseJson(l) as { name?: string; port?: number; referer?: string; addresses?: string[] } | undefined;
      return j?.name === 'jas-netsim-test' ? j : undefined;
    }, 15_000);
    assert.equal(found.port, 7799);
    assert.ok(found.referer === '10.99.0.2' || (found.addresses ?? []).includes('10.99.0.2'), JSON.stringify(found));
    pub.kill('SIGTERM');
    browser.kill('SIGTERM');
  });

  test('down() kills spawned processes, removes namespaces, and is idempotent', async () => {
    const sim = await Netsim.up({ members: 1, prefix: `jas${process.pid}t-` });
    let exited = false;
    try {
      assert.equal(namespacesWithPrefix(sim.prefix).length, 3); // hub, leader, member1
      const child = sim.spawn('member1', 'sleep', ['60']);
      child.once('exit', () => {
        exited = true;
      });
      const { stdout } = await sim.exec('member1', 'hostname', []);
      assert.equal(stdout.trim(), 'member1');
    } finally {
      await sim.down();
    }
    assert.ok(exited, 'spawned child still running after down()');
    assert.deepEqual(namespacesWithPrefix(sim.prefix), []);
    await sim.down(); // second call is a no-op
    assert.throws(() => sim.spawn('member1', 'true', []), /is down/);
    // the long-lived simulation beside it is untouched
    const p = await net.ping('leader', 'member2', 3);
    assert.ok(p.received >= 2);
  });

  test('gc() removes simulations whose owner process died, and only those', async () => {
    const prefix = await new Promise<string>((resolve) => {
      execFile(process.execPath, [fixture('leak-netsim.js')], { timeout: 30_000 }, (_err, stdout) => resolve(stdout.trim()));
    });
    assert.match(prefix, /^jas[0-9]+-$/);
    assert.equal(namespacesWithPrefix(prefix).length, 3, 'leaked simulation should exist before gc');
    await Netsim.gc();
    assert.deepEqual(namespacesWithPrefix(prefix), []);
    assert.equal(namespacesWithPrefix(net.prefix).length, 5, 'our own live simulation must survive gc');
  });
});
