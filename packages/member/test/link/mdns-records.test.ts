// The member's own mDNS records and interface choice (pure parts of the responder), and the
// avahi service file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { networkInterfaces } from 'node:os';
import { answerQuestions, claimedNames, hostLabel, nextHostName, nextInstanceName, serviceRecords, type ServiceIdentity } from '../../src/link/mdns-records.js';
import { flagsAllowMdns, inSubnet, mdnsInterfaces } from '../../src/link/mdns-interfaces.js';
import { spawn } from 'node:child_process';
import { ensureAvahiService, instanceNameFor, renderAvahiService, sameNetworkNamespace } from '../../src/link/avahi-service-file.js';

const id: ServiceIdentity = { instance: 'jaudiosync-member1', host: 'member1', port: 7701, txt: { v: '1.3', id: 'member1' } };

test('SRV points at <host>.local, A carries only the given interface address', () => {
  const r = serviceRecords(id, '10.99.0.2');
  const srv = r.find((x) => x.type === 'SRV');
  assert.deepEqual(srv?.data, { priority: 0, weight: 0, port: 7701, target: 'member1.local' });
  assert.deepEqual(r.filter((x) => x.type === 'A').map((x) => [x.name, x.data]), [['member1.local', '10.99.0.2']]);
  assert.deepEqual(r.find((x) => x.type === 'TXT')?.data, ['v=1.3', 'id=member1']);
  assert.equal(serviceRecords(id, undefined).some((x) => x.type === 'A'), false, 'beside avahi: no address records');
  assert.ok(serviceRecords(id, '10.99.0.2', 0).every((x) => x.ttl === 0), 'goodbye');
});

test('answers: PTR browse brings SRV, TXT and A as additionals; names compare case-insensitively; others get nothing', () => {
  const records = serviceRecords(id, '10.99.0.2');
  const browse = answerQuestions([{ name: '_jaudiosync._tcp.local', type: 'PTR' }], records);
  assert.deepEqual(browse.answers.map((r) => r.type), ['PTR']);
  assert.deepEqual(browse.additionals.map((r) => r.type).sort(), ['A', 'SRV', 'TXT']);
  const resolve = answerQuestions([{ name: 'JAUDIOSYNC-member1._jaudiosync._tcp.local.', type: 'SRV' }], records);
  assert.deepEqual([resolve.answers.map((r) => r.type), resolve.additionals.map((r) => r.type)], [['SRV'], ['A']]);
  assert.deepEqual(answerQuestions([{ name: 'member1.local', type: 'A' }], records).answers.map((r) => r.data), ['10.99.0.2']);
  assert.equal(answerQuestions([{ name: 'member1.local', type: 'AAAA' }], records).answers.length, 0);
  assert.equal(answerQuestions([{ name: '_http._tcp.local', type: 'PTR' }], records).answers.length, 0);
  assert.deepEqual(answerQuestions([{ name: '_services._dns-sd._udp.local', type: 'PTR' }], records).answers.map((r) => r.data), ['_jaudiosync._tcp.local']);
});

test('conflicts: which of our names a packet claims; renames as avahi and macOS do', () => {
  assert.deepEqual(claimedNames(id, [{ name: 'jaudiosync-member1._jaudiosync._tcp.local' }]), { instance: true, host: false });
  assert.deepEqual(claimedNames(id, [{ name: 'MEMBER1.local' }, { name: 42 }]), { instance: false, host: true });
  assert.equal(nextInstanceName('jaudiosync-pi'), 'jaudiosync-pi (2)');
  assert.equal(nextInstanceName('jaudiosync-pi (2)'), 'jaudiosync-pi (3)');
  assert.equal(nextHostName('raspberrypi'), 'raspberrypi-2');
  assert.equal(nextHostName('raspberrypi-2'), 'raspberrypi-3');
  assert.equal(hostLabel('pi.example.org'), 'pi');
  assert.equal(hostLabel('my_pi'), 'my-pi');
  assert.equal(hostLabel('...'), 'jaudiosync-member');
});

const iface = (address: string, prefix: number): NonNullable<ReturnType<typeof networkInterfaces>[string]>[number] => ({
  address, netmask: '', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: `${address}/${prefix}`,
});

test('interfaces: avahi\'s rule (multicast, not loopback, not point-to-point), one per network', () => {
  assert.equal(flagsAllowMdns(0x1003), true); // UP BROADCAST MULTICAST (veth, eth0)
  assert.equal(flagsAllowMdns(0x0003), false); // no MULTICAST (wg0 as avahi sees it)
  assert.equal(flagsAllowMdns(0x1091), false); // POINTOPOINT (tailscale0, tun)
  assert.equal(flagsAllowMdns(0x1002), false); // down
  const flags: Record<string, number> = { eth0: 0x1003, wlan0: 0x1003, wg0: 0x0091, tailscale0: 0x1091, eth1: 0x1003 };
  const list = {
    wlan0: [iface('192.168.1.21', 24)], eth0: [iface('192.168.1.20', 24)], eth1: [iface('10.98.0.2', 24)],
    wg0: [iface('10.77.0.2', 32)], tailscale0: [iface('100.64.0.2', 32)],
  };
  assert.deepEqual(mdnsInterfaces((n) => flags[n], list).map((i) => `${i.name}=${i.address}/${i.prefix}`), ['eth0=192.168.1.20/24', 'eth1=10.98.0.2/24']);
  assert.ok(inSubnet({ name: 'eth0', address: '192.168.1.20', prefix: 24 }, '192.168.1.77'));
  assert.ok(!inSubnet({ name: 'eth0', address: '192.168.1.20', prefix: 24 }, '10.98.0.4'));
  assert.ok(!inSubnet({ name: 'eth0', address: '192.168.1.20', prefix: 24 }, 'not-an-ip'));
});

test('avahi service file: rendered from id and port, written only when it differs, no-avahi without the directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-avahi-file-'));
  try {
    const xml = renderAvahiService('member1', 7701);
    assert.match(xml, /<name>jaudiosync-member1<\/name>/);
    assert.match(xml, /<type>_jaudiosync._tcp<\/type>\s*<port>7701<\/port>\s*<txt-record>v=[\d.]+<\/txt-record>\s*<txt-record>id=member1<\/txt-record>/);
    // avahi rejects a file with "--" inside a comment (it is not XML)
    for (const c of xml.match(/<!--([\s\S]*?)-->/g) ?? []) assert.ok(!c.slice(4, -3).includes('--'), c);
    assert.equal(instanceNameFor('pi.kitchen'), 'jaudiosync-pi-kitchen');
    assert.throws(() => renderAvahiService('member1', 0));

    assert.equal(ensureAvahiService('member1', 7701, join(dir, 'absent', 'x.service')).status, 'no-avahi');
    const services = join(dir, 'services');
    mkdirSync(services);
    const file = join(services, 'jaudiosync-member.service');
    assert.equal(ensureAvahiService('member1', 7701, file).status, 'written');
    const mtime = statSync(file).mtimeMs;
    assert.equal(ensureAvahiService('member1', 7701, file).status, 'current');
    assert.equal(statSync(file).mtimeMs, mtime, 'unchanged: avahi is not made to reload');
    assert.equal(ensureAvahiService('member1', 7702, file).status, 'written', 'a changed port reaches the file');
    assert.match(readFileSync(file, 'utf8'), /<port>7702<\/port>/);
    writeFileSync(file, 'garbage');
    assert.equal(ensureAvahiService('member1', 7702, file).status, 'written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

test('an avahi-daemon of another network namespace (its socket seen from a container or simulated host) is not ours', { skip: isRoot ? false : 'needs root (unshare --net)', timeout: 10_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-avahi-ns-'));
  const other = spawn('unshare', ['--net', 'sleep', '10'], { stdio: 'ignore' });
  try {
    const pidFile = join(dir, 'pid');
    writeFileSync(pidFile, `${process.pid}\n`);
    assert.equal(sameNetworkNamespace(pidFile), true);
    await new Promise((r) => setTimeout(r, 300)); // unshare has exec'd sleep in its own namespace
    writeFileSync(pidFile, `${other.pid}\n`);
    assert.equal(sameNetworkNamespace(pidFile), false);
    assert.equal(sameNetworkNamespace(join(dir, 'absent')), true, 'cannot tell: trust the socket');
  } finally {
    other.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
