// Discovery decisions: which mDNS services are members, which address to use; explicit endpoints;
// re-browsing, announcements of restarted members, goodbyes (fake bonjour-service browsers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Bonjour, Service } from 'bonjour-service';
import { acceptService, Discovery, parseEndpoint, type DiscoveredMember } from '../../src/members/discovery.js';

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

test('acceptService: keyed by instance name, so two members with one id (one renamed) stay two endpoints', () => {
  const re = /^member\d+$/;
  const first = acceptService(svc({}), re) as DiscoveredMember;
  const renamed = acceptService(svc({ name: 'jaudiosync-member1 (2)', host: 'member1-2.local', addresses: ['10.99.0.3'] }), re) as DiscoveredMember;
  const byAvahi = acceptService(svc({ name: 'jaudiosync-member1 #2', addresses: ['10.99.0.4'] }), re) as DiscoveredMember;
  assert.deepEqual([first.key, renamed.key, byAvahi.key], ['mdns:member1', 'mdns:member1 (2)', 'mdns:member1 #2']);
  assert.deepEqual([renamed.id, renamed.host, renamed.hostname], ['member1', '10.99.0.3', 'member1-2']);
});

test('acceptService: an answer with only IPv6 addresses still yields the IPv4 address it came from', () => {
  const re = /^member\d+$/;
  const v6only = acceptService(svc({ addresses: ['fe80::2cf0:b4ff:feee:2302'], referer: { address: '10.99.0.2', family: 'IPv4', port: 5353, size: 0 } }), re) as DiscoveredMember;
  assert.equal(v6only.host, '10.99.0.2');
  const mixed = acceptService(svc({ addresses: ['fe80::1', 'fd00::2', '10.99.0.5'] }), re) as DiscoveredMember;
  assert.equal(mixed.host, '10.99.0.5');
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

// ---- the browser's life cycle, with a fake bonjour-service (events as bonjour-service emits them)

class FakeBrowser extends EventEmitter {
  stopped = false;
  stop(): void {
    this.stopped = true;
  }
  update(): void {}
}

class FakeBonjour {
  readonly browsers: FakeBrowser[] = [];
  find(): FakeBrowser {
    const b = new FakeBrowser();
    this.browsers.push(b);
    return b;
  }
  destroy(): void {}
  get current(): FakeBrowser {
    const b = this.browsers[this.browsers.length - 1];
    assert.ok(b, 'a browser was started');
    return b;
  }
}

const at = (address: string): Partial<Service> & Record<string, unknown> => ({ referer: { address, family: 'IPv4', port: 5353, size: 0 } });

function harness(opts: Partial<ConstructorParameters<typeof Discovery>[0]> = {}) {
  const bonjour = new FakeBonjour();
  let nowMs = 1000;
  const d = new Discovery({ createBonjour: () => bonjour as unknown as Bonjour, monoNowMs: () => nowMs, rebrowseIntervalMs: 3_600_000, ...opts });
  const events: string[] = [];
  d.on('up', (m) => events.push(`up ${m.key} ${m.host}:${m.port}`));
  d.on('down', (k) => events.push(`down ${k}`));
  d.on('ignored', (name) => events.push(`ignored ${name}`));
  return { d, bonjour, events, advance: (ms: number) => { nowMs += ms; } };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('Discovery: a matching service is up once; another host is ignored; a new port or address is up again', async (t) => {
  const { d, bonjour, events, advance } = harness({ minRefreshGapMs: 50 });
  t.after(() => d.stop());
  d.start();
  const b = bonjour.current;
  b.emit('up', svc(at('10.99.0.2')));
  b.emit('up', svc({ ...at('10.99.0.9'), name: 'jaudiosync-kitchen', host: 'kitchen.local', txt: { v: '1.0', id: 'kitchen' } }));
  // bonjour-service reports a known name with another port as `srv-update`, not `up`
  b.emit('srv-update', svc({ ...at('10.99.0.2'), port: 7702 }));
  assert.deepEqual(events, ['up mdns:member1 10.99.0.2:7701', 'ignored jaudiosync-kitchen', 'up mdns:member1 10.99.0.2:7702']);
  d.refresh();
  d.refresh();
  assert.equal(bonjour.browsers.length, 1, 'refresh() right after a browser started waits for the gap');
  await sleep(150);
  assert.equal(bonjour.browsers.length, 2, 'then re-browses once');
  // a fresh browser hears it at a new address (a long-lived one never reports address changes)
  advance(5000);
  d.refresh();
  bonjour.current.emit('up', svc(at('10.99.0.7')));
  assert.deepEqual(events.slice(3), ['up mdns:member1 10.99.0.7:7701']);
});

test('Discovery: a lost member re-browses; answers to the query are quiet; a later announcement (member restarted) is up again', (t) => {
  const { d, bonjour, events, advance } = harness({ queryAnswerWindowMs: 2000 });
  t.after(() => d.stop());
  const found: DiscoveredMember[] = [];
  d.on('up', (m) => found.push(m));
  d.start();
  bonjour.current.emit('up', svc(at('10.99.0.2')));
  bonjour.current.emit('up', svc({ ...at('10.99.0.3'), name: 'jaudiosync-member2', host: 'member2.local', txt: { v: '1.0', id: 'member2' } }));
  advance(5000);
  found[1]!.lost?.(); // the registry lost member2's connection: re-browse
  assert.equal(bonjour.browsers.length, 2);
  assert.ok(bonjour.browsers[0]!.stopped, 'the old browser is stopped');
  // member1 answers the new query at once; member2 is dead (no answer)
  advance(100);
  bonjour.current.emit('up', svc(at('10.99.0.2')));
  assert.equal(events.length, 2, 'an answer to our query from a known member is not news');
  // member2 restarts and announces itself: the fresh browser reports it
  advance(4000);
  bonjour.current.emit('up', svc({ ...at('10.99.0.3'), name: 'jaudiosync-member2', host: 'member2.local', txt: { v: '1.0', id: 'member2' } }));
  assert.deepEqual(events.slice(2), ['up mdns:member2 10.99.0.3:7701']);
  // the old browser's late events are ignored
  bonjour.browsers[0]!.emit('up', svc({ ...at('10.99.0.4') }));
  assert.equal(events.length, 3);
});

test('Discovery: a goodbye is not forgotten at once; a returning member is up again; a member gone for long is down', async (t) => {
  const { d, bonjour, events } = harness({ goodbyeForgetMs: 60 });
  t.after(() => d.stop());
  d.start();
  const b = bonjour.current;
  b.emit('up', svc(at('10.99.0.2')));
  b.emit('down', svc(at('10.99.0.2')));
  assert.deepEqual(events, ['up mdns:member1 10.99.0.2:7701'], 'no down on the goodbye itself');
  b.emit('up', svc(at('10.99.0.2'))); // it came back (restart)
  assert.deepEqual(events.slice(1), ['up mdns:member1 10.99.0.2:7701']);
  await sleep(120);
  assert.equal(events.length, 2, 'the return cancelled the forget timer');
  b.emit('down', svc(at('10.99.0.2')));
  await sleep(120);
  assert.deepEqual(events.slice(2), ['down mdns:member1']);
  assert.equal(d.members.length, 0);
});

test('Discovery: re-browses periodically with a fresh browser; stop() ends it', async () => {
  const real = harness({ rebrowseIntervalMs: 30 });
  real.d.start();
  await sleep(200);
  const n = real.bonjour.browsers.length;
  real.d.stop();
  assert.ok(n >= 2, `only ${n} browsers in 200 ms`);
  assert.ok(real.bonjour.browsers.slice(0, -1).every((b) => b.stopped), 'replaced browsers are stopped');
  assert.ok(real.bonjour.current.stopped, 'stop() stops the last one');
  await sleep(100);
  assert.equal(real.bonjour.browsers.length, n, 'no browser after stop()');
});
