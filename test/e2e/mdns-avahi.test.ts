// Discovery as it works on Raspberry Pi OS (issue #15), on simulated hosts with their own network
// namespace, hostname, /run, D-Bus and avahi-daemon where a case calls for it. Each case asserts
// what standard clients see (`avahi-browse -rtp`, `getent hosts`) and what the leader finds
// (/api/members):
//   1. a member without avahi publishes itself resolvably: SRV target member1.local, its address;
//      a member with avahi registers through avahi (service file), and getent works on it;
//   2. a VPN-like interface (no multicast) is never published as the member's address, and
//      avahi on the same host reports no host name conflict;
//   3. a member with two interfaces whose multicast route is on the other one is found on both
//      networks (answers leave by the interface the query came in on);
//   4. members with one id: renamed visibly (own responder: log; avahi: its log), the leader refuses
//      all but one with JAS_ERR_CONFLICT in /api/members and in the refused member's log; two
//      hosts both called raspberrypi (default id): host name and service renamed, both resolvable;
//   5. the leader finds members published by avahi, by the member itself, and by avahi-publish;
// and without avahi anywhere: a member on the leader's own host is found, and an interface that
// comes up after the member started is answered on.
// JAS_E2E_KEEP=1 keeps the working dir (logs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netsim, netsimUnavailableReason } from '../netsim/netsim.js';
import { avahiUnavailableReason, browseUntil, getentHosts, privateHostDirs, startAvahi, type AvahiHost, type BrowsedService } from '../netsim/avahi-host.js';
import { LEADER_BIN, MEMBER_BIN } from '../helpers/cluster.js';

const HTTP_PORT = 7700;
const MEMBER_PORT = 7701;
const FOUND_TIMEOUT_MS = 20_000;
const TEST_TIMEOUT_MS = 90_000;
const VPN_NET = '10.77.0';

const skip = netsimUnavailableReason() ?? avahiUnavailableReason() ?? false;
const keep = process.env['JAS_E2E_KEEP'] === '1';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ApiMember {
  id: string;
  /** host:port the leader connects to */
  address: string;
  connected: boolean;
  health: string;
  problems?: string[];
}

/** Starts a daemon on a host with its output in dir/<name>.log; returns a reader of that log. */
function daemon(net: Netsim, dir: string, host: string, name: string, bin: string, args: string[], hostname?: string): () => string {
  const file = join(dir, `${name}.log`);
  // Another hostname than the simulated host's: set in the command's own UTS namespace.
  const child = hostname === undefined
    ? net.spawn(host, process.execPath, [bin, ...args], { env: { NODE_ENV: 'development' } })
    : net.spawn(host, 'sh', ['-c', `hostname ${hostname} && exec "$0" "$@"`, process.execPath, bin, ...args], { env: { NODE_ENV: 'development' } });
  const out = createWriteStream(file);
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return () => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
}

function startMember(net: Netsim, dir: string, host: string, name: string, extra: string[] = [], hostname?: string): () => string {
  return daemon(net, dir, host, name, MEMBER_BIN, [
    '--sink', 'none', '--port', String(MEMBER_PORT), '--state-dir', join(dir, `${name}-state`), '--cache-dir', join(dir, `${name}-cache`), ...extra,
  ], hostname);
}

function startLeader(net: Netsim, dir: string, host: string, name: string, extra: string[] = []): () => string {
  return daemon(net, dir, host, name, LEADER_BIN, ['--http-port', String(HTTP_PORT), '--state-dir', join(dir, `${name}-state`), ...extra]);
}

async function apiMembers(net: Netsim, host: string): Promise<ApiMember[]> {
  try {
    const { stdout } = await net.exec(host, 'curl', ['-sf', '--max-time', '3', `http://127.0.0.1:${HTTP_PORT}/api/members`], 10_000);
    const body = JSON.parse(stdout) as unknown;
    const list = Array.isArray(body) ? body : (body as { members?: unknown }).members;
    return Array.isArray(list) ? (list as ApiMember[]) : [];
  } catch {
    return [];
  }
}

async function membersUntil(net: Netsim, host: string, pred: (m: ApiMember[]) => boolean, what: string, timeoutMs = FOUND_TIMEOUT_MS): Promise<ApiMember[]> {
  const deadline = Date.now() + timeoutMs;
  let last: ApiMember[] = [];
  while (Date.now() < deadline) {
    last = await apiMembers(net, host);
    if (pred(last)) return last;
    await sleep(500);
  }
  throw new Error(`leader on ${host}: ${what} not seen in /api/members within ${timeoutMs} ms: ${JSON.stringify(last.map((m) => [m.id, m.address, m.health, m.problems]))}`);
}

async function logUntil(read: () => string, re: RegExp, what: string, timeoutMs = FOUND_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(read());
    if (m) return m[0];
    if (Date.now() > deadline) throw new Error(`${what} not logged within ${timeoutMs} ms; log:\n${read().slice(-3000)}`);
    await sleep(200);
  }
}

/** A VPN-like interface: up and running with an address, but no multicast (as wg0): avahi ignores it. */
async function addVpnInterface(net: Netsim, host: string, octet: number): Promise<void> {
  await net.exec(host, 'sh', ['-c', `ip link add wg0 type veth peer name wg0p && ip addr add ${VPN_NET}.${octet}/32 dev wg0 && ip link set wg0 multicast off && ip link set wg0 up && ip link set wg0p up`]);
}

const v4 = (services: BrowsedService[], name: string): BrowsedService[] => services.filter((s) => s.protocol === 'IPv4' && s.name === name);

describe('mDNS with avahi, two interfaces and a VPN interface (issue #15)', { skip }, () => {
  let net: Netsim | undefined;
  let dir = '';
  const avahi = new Map<string, AvahiHost>();
  const logs = new Map<string, () => string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jas-e2e-mdns-avahi-'));
    net = await Netsim.up({ members: 3 });
    const hostDirs = new Map<string, Awaited<ReturnType<typeof privateHostDirs>>>();
    for (const h of net.hosts) hostDirs.set(h, await privateHostDirs(net, h, dir));
    // member1: no avahi, a VPN interface, and a second network (eth1, 10.98.0.0/24) to member3,
    // with its multicast route there: answers by route would never reach the leader's network.
    await addVpnInterface(net, 'member1', 2);
    await net.wire({ host: 'member1', iface: 'eth1', cidr: '10.98.0.2/24' }, { host: 'member3', iface: 'eth1', cidr: '10.98.0.4/24' });
    await net.exec('member1', 'ip', ['route', 'replace', '224.0.0.0/4', 'dev', 'eth1']);
    // member2: avahi (as on Pi OS) and a VPN interface.
    await addVpnInterface(net, 'member2', 3);
    // member3: only on the second network, with avahi and a leader of its own.
    await net.link('member3', 'down');
    await net.exec('member3', 'ip', ['route', 'replace', '224.0.0.0/4', 'dev', 'eth1']);
    for (const h of ['leader', 'member2', 'member3']) avahi.set(h, await startAvahi(net, h, hostDirs.get(h)!));
    logs.set('leader', startLeader(net, dir, 'leader', 'leader'));
    logs.set('leader-b', startLeader(net, dir, 'member3', 'leader-b'));
    logs.set('member1', startMember(net, dir, 'member1', 'member1'));
    logs.set('member2', startMember(net, dir, 'member2', 'member2'));
  });
  after(async () => {
    await net?.down();
    if (dir && !keep) rmSync(dir, { recursive: true, force: true });
  });

  test('1+2. without avahi: avahi-browse on another host resolves member1 to member1.local, its LAN address, port and TXT; no VPN address', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net);
    await logUntil(logs.get('member1')!, /"msg":"mDNS: advertising"/, 'member1 advertising');
    assert.match(logs.get('member1')!(), /"interfaces":\["eth0=10\.99\.0\.2","eth1=10\.98\.0\.2"\]/, 'answers on eth0 and eth1, not wg0');
    const seen = await browseUntil(net, 'leader', (s) => v4(s, 'jaudiosync-member1').length > 0);
    const m1 = v4(seen, 'jaudiosync-member1');
    assert.deepEqual(m1.map((s) => [s.host, s.address, s.port]), [['member1.local', '10.99.0.2', MEMBER_PORT]]);
    assert.ok(m1[0]!.txt.includes('id=member1') && m1[0]!.txt.some((t) => /^v=\d+\.\d+$/.test(t)), JSON.stringify(m1[0]!.txt));
    // getent on a host with avahi: the member's address, never the VPN one.
    assert.deepEqual(await getentHosts(net, 'leader', 'member1.local'), ['10.99.0.2']);
  });

  test('1+2. with avahi: the member registers through avahi; avahi-browse resolves it, getent works on it and elsewhere, no host name conflict', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net);
    await logUntil(logs.get('member2')!, /registered through avahi-daemon/, 'member2 registered through avahi');
    const seen = await browseUntil(net, 'leader', (s) => v4(s, 'jaudiosync-member2').length > 0);
    const m2 = v4(seen, 'jaudiosync-member2');
    assert.deepEqual(m2.map((s) => [s.host, s.address, s.port]), [['member2.local', '10.99.0.3', MEMBER_PORT]]);
    assert.ok(m2[0]!.txt.includes('id=member2'), JSON.stringify(m2[0]!.txt));
    assert.deepEqual(await getentHosts(net, 'member2', 'member2.local'), ['10.99.0.3']);
    assert.deepEqual(await getentHosts(net, 'leader', 'member2.local'), ['10.99.0.3']);
    const log = avahi.get('member2')!.log();
    assert.match(log, /Service "jaudiosync-member2" \(\/services\/jaudiosync-member\.service\) successfully established/);
    assert.doesNotMatch(log, /conflict/i);
    assert.doesNotMatch(log, new RegExp(`Registering new address record for ${VPN_NET.replace(/\./g, '\\.')}`), 'avahi ignores the VPN interface');
  });

  test('2. avahi runs but its service file cannot be written: the member publishes the service beside avahi, host records stay avahi\'s', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net);
    const m7 = startMember(net, dir, 'member2', 'member7', ['--id', 'member7', '--port', '7707', '--avahi-service-file', '/nonexistent/jaudiosync-member.service']);
    await logUntil(m7, /publishing the service ourselves beside avahi, without address records/, 'the fallback warning');
    await logUntil(m7, /"msg":"mDNS: advertising"/, 'member7 advertising');
    const seen = await browseUntil(net, 'leader', (x) => v4(x, 'jaudiosync-member7').length > 0);
    assert.deepEqual(v4(seen, 'jaudiosync-member7').map((x) => [x.host, x.address, x.port]), [['member2.local', '10.99.0.3', 7707]]);
    assert.doesNotMatch(avahi.get('member2')!.log(), /conflict/i);
  });

  test('3. two interfaces: a leader and avahi on either network find member1 at its address there', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net);
    const b = await browseUntil(net, 'member3', (s) => v4(s, 'jaudiosync-member1').length > 0);
    assert.deepEqual(v4(b, 'jaudiosync-member1').map((s) => [s.host, s.address, s.port]), [['member1.local', '10.98.0.2', MEMBER_PORT]]);
    assert.deepEqual(await getentHosts(net, 'member3', 'member1.local'), ['10.98.0.2']);
    const onA = await membersUntil(net, 'leader', (m) => m.some((x) => x.id === 'member1' && x.connected), 'member1 connected');
    assert.equal(onA.find((x) => x.id === 'member1')?.address, `10.99.0.2:${MEMBER_PORT}`);
    const onB = await membersUntil(net, 'member3', (m) => m.some((x) => x.id === 'member1' && x.connected), 'member1 connected (network B)');
    assert.equal(onB.find((x) => x.id === 'member1')?.address, `10.98.0.2:${MEMBER_PORT}`);
    assert.ok(!onB.some((x) => x.id === 'member2'), 'member2 is not on network B');
  });

  test('5. the leader finds members published by avahi, by themselves and by avahi-publish (IPv6 answers beside)', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net);
    // avahi on member2 also announces IPv6 (link-local) addresses: the leader still uses IPv4.
    const seen = await browseUntil(net, 'leader', (s) => s.some((x) => x.protocol === 'IPv6' && x.name === 'jaudiosync-member2'));
    assert.ok(seen.some((x) => x.protocol === 'IPv6' && x.address.startsWith('fe80:')));
    const published = net.spawn('member2', 'avahi-publish', ['-s', 'jaudiosync-member9', '_jaudiosync._tcp', '7709', 'v=1.3', 'id=member9'], { stdio: 'ignore' });
    const m = await membersUntil(net, 'leader', (list) => list.some((x) => x.id === 'member9'), 'the avahi-published member9');
    published.kill('SIGTERM');
    assert.equal(m.find((x) => x.id === 'member9')?.address, '10.99.0.3:7709');
    const both = await membersUntil(net, 'leader', (list) => ['member1', 'member2'].every((id) => list.some((x) => x.id === id && x.connected)), 'member1 and member2 connected');
    assert.equal(both.find((x) => x.id === 'member2')?.address, `10.99.0.3:${MEMBER_PORT}`);
    assert.ok(!both.some((x) => x.address.startsWith(VPN_NET)), 'no VPN address');
  });
});

describe('mDNS with one member id on several hosts (issue #15, case 4)', { skip }, () => {
  let net: Netsim | undefined;
  let dir = '';
  let avahi3: AvahiHost | undefined;
  let leaderLog: () => string = () => '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jas-e2e-mdns-dup-'));
    net = await Netsim.up({ members: 3 });
    const dirs = new Map<string, Awaited<ReturnType<typeof privateHostDirs>>>();
    for (const h of net.hosts) dirs.set(h, await privateHostDirs(net, h, dir));
    await startAvahi(net, 'leader', dirs.get('leader')!);
    avahi3 = await startAvahi(net, 'member3', dirs.get('member3')!);
    leaderLog = startLeader(net, dir, 'leader', 'leader', ['--member-pattern', '^(dup|raspberrypi)$']);
  });
  after(async () => {
    await net?.down();
    if (dir && !keep) rmSync(dir, { recursive: true, force: true });
  });

  test('the second and third are renamed visibly and refused by the leader with a clear error; none is silently missing', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net && avahi3);
    const m1 = startMember(net, dir, 'member1', 'member1', ['--id', 'dup']);
    await logUntil(m1, /"msg":"mDNS: advertising"/, 'member1 advertising');
    const m2 = startMember(net, dir, 'member2', 'member2', ['--id', 'dup']);
    await logUntil(m2, /service name \\"jaudiosync-dup\\" is taken[^\n]*advertising as \\"jaudiosync-dup \(2\)\\"/, 'member2 renamed');
    const m3 = startMember(net, dir, 'member3', 'member3', ['--id', 'dup']);
    await logUntil(m3, /registered through avahi-daemon/, 'member3 registered through avahi');
    await logUntil(() => avahi3!.log(), /Service name conflict for "jaudiosync-dup"[^\n]*retrying with "jaudiosync-dup #2"/, "avahi's rename on member3");

    // What a standard client sees: three instances, each resolved to its own host.
    const seen = await browseUntil(net, 'leader', (s) => ['jaudiosync-dup', 'jaudiosync-dup (2)', 'jaudiosync-dup #2'].every((n) => v4(s, n).length > 0));
    assert.deepEqual(
      ['jaudiosync-dup', 'jaudiosync-dup (2)', 'jaudiosync-dup #2'].map((n) => v4(seen, n).map((s) => s.address)),
      [['10.99.0.2'], ['10.99.0.3'], ['10.99.0.4']],
    );
    // The leader: one connected, the other two listed as refused duplicates with the reason.
    const refusal = /member id "dup" is already used by the member at 10\.99\.0\.\d:7701: give each member its own id/;
    const isRefused = (x: ApiMember): boolean => !x.connected && (x.problems ?? []).some((p) => refusal.test(p));
    const list = await membersUntil(net, 'leader', (m) => m.filter((x) => x.id === 'dup').length === 3 && m.filter(isRefused).length === 2, 'three "dup" entries, two refused');
    assert.equal(list.filter((x) => x.connected).length, 1);
    const refused = new Set(list.filter(isRefused).map((d) => d.address));
    for (const [host, read] of [['10.99.0.2', m1], ['10.99.0.3', m2], ['10.99.0.4', m3]] as const) {
      if (refused.has(`${host}:${MEMBER_PORT}`)) await logUntil(read, /leader refused this member: 4008 JAS_ERR_CONFLICT/, `refusal in the log of the member at ${host}`);
    }
    assert.match(leaderLog(), /two members use one id/);
  });

  test('two Pis left as raspberrypi (one hostname, default id): host and service renamed visibly, the second refused', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net);
    // Beside the "dup" members, on port 7702, with the hostname "raspberrypi" (and so the default id).
    const port = ['--port', '7702'];
    const a = startMember(net, dir, 'member1', 'pi-a', port, 'raspberrypi');
    await logUntil(a, /"msg":"mDNS: advertising"/, 'the first raspberrypi advertising');
    const b = startMember(net, dir, 'member2', 'pi-b', port, 'raspberrypi');
    await logUntil(b, /host name raspberrypi\.local is taken by another host: answering as raspberrypi-2\.local/, 'host name renamed');
    await logUntil(b, /service name \\"jaudiosync-raspberrypi\\" is taken[^\n]*advertising as \\"jaudiosync-raspberrypi \(2\)\\"/, 'service renamed');
    const seen = await browseUntil(net, 'leader', (s) => v4(s, 'jaudiosync-raspberrypi').length > 0 && v4(s, 'jaudiosync-raspberrypi (2)').length > 0);
    assert.deepEqual(v4(seen, 'jaudiosync-raspberrypi').map((x) => [x.host, x.address, x.port]), [['raspberrypi.local', '10.99.0.2', 7702]]);
    assert.deepEqual(v4(seen, 'jaudiosync-raspberrypi (2)').map((x) => [x.host, x.address, x.port]), [['raspberrypi-2.local', '10.99.0.3', 7702]]);
    assert.deepEqual(await getentHosts(net, 'leader', 'raspberrypi.local'), ['10.99.0.2']);
    assert.deepEqual(await getentHosts(net, 'leader', 'raspberrypi-2.local'), ['10.99.0.3']);
    const list = await membersUntil(net, 'leader', (m) => m.filter((x) => x.id === 'raspberrypi').length === 2 && m.some((x) => x.id === 'raspberrypi' && x.connected), 'both raspberrypi entries');
    const pis = list.filter((x) => x.id === 'raspberrypi');
    assert.equal(pis.filter((x) => x.connected).length, 1);
    assert.ok(pis.some((x) => !x.connected && (x.problems ?? []).some((p) => /member id "raspberrypi" is already used by the member at 10\.99\.0\.[23]:7702/.test(p))), JSON.stringify(pis));
  });
});

describe('mDNS without avahi anywhere: a leader beside a member, an interface that comes up later', { skip }, () => {
  let net: Netsim | undefined;
  let dir = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jas-e2e-mdns-own-'));
    net = await Netsim.up({ members: 2 });
    for (const h of net.hosts) await privateHostDirs(net, h, dir); // no avahi of the machine's own in sight
    await net.link('member2', 'down'); // member2 is on the second network only (wired below)
  });
  after(async () => {
    await net?.down();
    if (dir && !keep) rmSync(dir, { recursive: true, force: true });
  });

  test('the leader finds the member on its own host; a network that appears later is answered on within the rescan', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(net);
    startLeader(net, dir, 'leader', 'leader');
    const local = startMember(net, dir, 'leader', 'member5', ['--id', 'member5']);
    const m1 = startMember(net, dir, 'member1', 'member1');
    await logUntil(local, /"msg":"mDNS: advertising"/, 'member5 advertising');
    await logUntil(m1, /"interfaces":\["eth0=10\.99\.0\.2"\][^\n]*"msg":"mDNS: advertising"/, 'member1 advertising on eth0');
    const list = await membersUntil(net, 'leader', (m) => ['member1', 'member5'].every((id) => m.some((x) => x.id === id && x.connected)), 'member1 and member5 (same host) connected');
    assert.equal(list.find((x) => x.id === 'member5')?.address, `10.99.0.1:${MEMBER_PORT}`);

    // eth1 comes up on member1 after it started (wlan0 after boot): a leader there finds it.
    await net.wire({ host: 'member1', iface: 'eth1', cidr: '10.98.0.2/24' }, { host: 'member2', iface: 'eth1', cidr: '10.98.0.3/24' });
    await net.exec('member2', 'ip', ['route', 'replace', '224.0.0.0/4', 'dev', 'eth1']);
    startLeader(net, dir, 'member2', 'leader-b');
    // The member looks at its interfaces every 10 s and announces itself on new ones.
    const onB = await membersUntil(net, 'member2', (m) => m.some((x) => x.id === 'member1' && x.connected), 'member1 on the new network', 30_000);
    assert.equal(onB.find((x) => x.id === 'member1')?.address, `10.98.0.2:${MEMBER_PORT}`);
    assert.match(m1(), /"interfaces":\["eth0=10\.99\.0\.2","eth1=10\.98\.0\.2"\]/, 'announced on the new interface');
  });
});
