// Discovery decisions: which mDNS services are members, which address to use; explicit endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'bonjour-service';
import { acceptService, Discovery, parseEndpoint, type DiscoveredMember } from '../src/members/discovery.js';

const svc = (over: Partial<Service> & Record<string, unknown>): Service => ({
  name: 'jaudiosync-member1', host: 'member1.local', port: 7701, type: 'jaudiosync', protocol: 'tcp',
  addresses: ['fe80::1', '10.99.0.2'], txt: { v: '1.0', id: 'member1' }, ...over,
} as unknown as Service);

test('acceptService: pattern on host name or TXT id; referer address preferred; IPv4 fallback', () => {
  const re = /^member\d+$/;
  const a = acceptService(svc({ referer: { address: '10.99.0.7', family: 'IPv4', port: 5353, size: 0 } }), re) as DiscoveredMember;
  assert.deepEqual([a.key, a.host, a.port, a.id, a.hostname], ['mdns:member1', '10.99.0.7', 7701, 'member1', 'member1']);
  const b = acceptService(svc({}), re) as DiscoveredMember;
  assert.equal(b.host, '10.99.0.2');
  assert.ok('reason' in acceptService(svc({ host: 'kitchen.local', txt: { v: '1.0', id: 'kitchen' } }), re));
  assert.ok(!('reason' in acceptService(svc({ host: 'kitchen.local', txt: { v: '1.0', id: 'member7' } }), re)));
  assert.ok('reason' in acceptService(svc({ addresses: [] }), re));
});

test('parseEndpoint', () => {
  assert.deepEqual(parseEndpoint('member1'), { host: 'member1', port: 7701 });
  assert.deepEqual(parseEndpoint('10.0.0.5:7702'), { host: '10.0.0.5', port: 7702 });
  assert.deepEqual(parseEndpoint('[fe80::1]:7703'), { host: 'fe80::1', port: 7703 });
  assert.throws(() => parseEndpoint('host:0'));
  assert.throws(() => parseEndpoint('a b'));
});

test('explicit members are announced without mDNS', () => {
  const d = new Discovery({ explicit: ['127.0.0.1:7801', 'member2'], mdns: false });
  const up: string[] = [];
  d.on('up', (m) => up.push(m.key));
  d.start();
  d.stop();
  assert.deepEqual(up, ['config:127.0.0.1:7801', 'config:member2:7701']);
});
