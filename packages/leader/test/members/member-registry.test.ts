// MemberRegistry reconnection against in-process fake members on loopback: a killed member is
// retried forever at the capped backoff and is back soon after it returns; the member announcing
// itself again (discovery `up` with the same endpoint) reconnects at once; a retired duplicate
// takes over when the endpoint it duplicated is removed; two members advertising one id are two
// members, and the second is refused with JAS_ERR_CONFLICT (its close code and reason).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { encodeMessage } from '@jaudiosync/protocol/codec';
import { Backoff, DEFAULT_BACKOFF_MAX_MS } from '../../src/members/backoff.js';
import type { DiscoveredMember } from '../../src/members/discovery.js';
import { MemberConnection } from '../../src/members/member-connection.js';
import { MemberRegistry } from '../../src/members/member-registry.js';
import type { BackoffOptions } from '../../src/members/backoff.js';
import { waitFor } from '@jaudiosync/test-support';

interface Fake {
  port: number;
  timelines: number;
  close(): Promise<void>;
}

async function fakeMember(port = 0, memberId = 'member1'): Promise<Fake> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  const fake: Fake = {
    port: (wss.address() as AddressInfo).port,
    timelines: 0,
    close: async () => {
      for (const s of wss.clients) s.terminate(); // like a SIGKILLed process: the kernel closes the socket
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { type: string; seq?: number; sentUs?: number };
      if (msg.type === 'timeline') fake.timelines++;
      if (msg.type === 'ping') ws.send(encodeMessage({ type: 'pong', seq: msg.seq ?? 0, echoUs: msg.sentUs ?? 0 }));
    });
    ws.send(encodeMessage({ type: 'hello', memberId, hostname: memberId, version: '0.1.0', outputRate: 48000, channels: 2, sink: 'none', clockMode: 'system' }));
  });
  return fake;
}

function registry(backoff: BackoffOptions, lostRetryWindowMs?: number): MemberRegistry {
  return new MemberRegistry({
    createConnection: (d) => new MemberConnection({
      host: d.host, port: d.port,
      leaderNowUs: () => 1_700_000_000_000_000,
      welcome: () => ({ leaderId: 'leader', ntpPort: 11123, trackBaseUrl: 'http://127.0.0.1:7700/tracks', serverTimeUs: 1_700_000_000_000_000 }),
      onboard: () => [{ type: 'timeline', rev: 1, outputRate: 48000, loop: false, tracks: [{ id: 'a'.repeat(64), frames: 48000 }], revisions: [{ atUs: 1, playing: true, index: 0, frame: 0 }], volume: { gain: 1, atUs: 1 } }],
      pingIntervalMs: 50, deadAfterMs: 400, handshakeTimeoutMs: 1000,
      backoff,
      ...(lostRetryWindowMs !== undefined ? { lostRetryWindowMs } : {}),
    }),
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mdns = (port: number): DiscoveredMember => ({ key: 'mdns:member1', host: '127.0.0.1', port, source: 'mdns', id: 'member1', hostname: 'member1' });

test('default backoff: 0.5 s doubling, capped at 2 s (a returning member is back within ~2 s)', () => {
  assert.ok(DEFAULT_BACKOFF_MAX_MS <= 2000);
  const b = new Backoff({ jitter: 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.nextDelayMs()), [500, 1000, 2000, 2000, 2000, 2000]);
});

test('a killed member is retried forever at the capped backoff and reconnected soon after it returns', async (t) => {
  let fake = await fakeMember();
  const port = fake.port;
  const reg = registry({ initialMs: 20, maxMs: 100, jitter: 0 });
  t.after(async () => { reg.close(); await fake.close(); });
  let lost = 0;
  reg.add({ ...mdns(port), lost: () => lost++ });
  await waitFor('connected', () => reg.connectedCount === 1, 3000);
  await fake.close();
  await waitFor('offline', () => reg.connectedCount === 0, 3000);
  assert.equal(lost, 1, 'discovery is told the member was lost (it re-browses)');
  await sleep(800); // ~8 refused attempts: the delay stays at the cap
  assert.equal(reg.list()[0]?.status, 'backoff', 'still trying');
  fake = await fakeMember(port);
  const ms = await waitFor('reconnected', () => reg.connectedCount === 1, 2000);
  assert.ok(ms < 1000, `reconnected ${ms} ms after the member came back (cap 100 ms)`);
  await waitFor('timeline re-sent on the new connection', () => fake.timelines === 1, 2000);
});

test('the member announcing itself again (same endpoint) reconnects at once, not at the next retry', async (t) => {
  let fake = await fakeMember();
  const port = fake.port;
  // Next retry only after 20 s: without the quick retries of a lost member (member-connection.ts),
  // so that only the announcement can bring it back sooner.
  const reg = registry({ initialMs: 20_000, maxMs: 20_000, jitter: 0 }, 0);
  t.after(async () => { reg.close(); await fake.close(); });
  reg.add(mdns(port));
  await waitFor('connected', () => reg.connectedCount === 1, 3000);
  await fake.close();
  await waitFor('offline', () => reg.list()[0]?.status === 'backoff', 3000);
  fake = await fakeMember(port);
  await sleep(300);
  assert.equal(reg.connectedCount, 0, 'the backoff alone would wait 20 s');
  reg.add(mdns(port)); // discovery: the restarted member announced itself
  await waitFor('reconnected after the announcement', () => reg.connectedCount === 1, 2000);
  reg.add(mdns(port)); // again while connected: nothing happens
  await sleep(100);
  assert.equal(reg.connectedCount, 1);
  assert.equal(fake.timelines, 1, 'one connection, one onboarding');
});

test('removing an endpoint hands the member over to its retired duplicate', async (t) => {
  const fake = await fakeMember();
  const reg = registry({ initialMs: 20, maxMs: 100, jitter: 0 });
  t.after(async () => { reg.close(); await fake.close(); });
  reg.add({ key: `config:127.0.0.1:${fake.port}`, host: '127.0.0.1', port: fake.port, source: 'config' });
  await waitFor('connected', () => reg.connectedCount === 1, 3000);
  reg.add(mdns(fake.port));
  await waitFor('duplicate retired', () => reg.list().some((m) => m.status === 'duplicate'), 3000);
  reg.remove(`config:127.0.0.1:${fake.port}`);
  await waitFor('the mDNS endpoint took over', () => reg.connectedCount === 1 && reg.list()[0]?.source === 'mdns', 3000);
  assert.equal(reg.list().length, 1);
});

test('two members advertising one id over mDNS: the second is refused with JAS_ERR_CONFLICT, listed, and told why', async (t) => {
  const closes: Array<{ code: number; reason: string }> = [];
  const a = await fakeMember(0, 'dup');
  const b = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => b.once('listening', resolve));
  b.on('connection', (ws) => {
    ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
    ws.send(encodeMessage({ type: 'hello', memberId: 'dup', hostname: 'other', version: '0.1.0', outputRate: 48000, channels: 2, sink: 'none', clockMode: 'system' }));
  });
  const bPort = (b.address() as AddressInfo).port;
  const reg = registry({ initialMs: 20, maxMs: 100, jitter: 0 });
  t.after(async () => { reg.close(); await a.close(); await new Promise<void>((resolve) => b.close(() => resolve())); });
  const conflicts: string[][] = [];
  reg.on('conflict', (id, endpoint, other) => conflicts.push([id, endpoint, other]));
  reg.add({ key: 'mdns:dup', host: '127.0.0.1', port: a.port, source: 'mdns', id: 'dup' });
  await waitFor('first connected', () => reg.connectedCount === 1, 3000);
  reg.add({ key: 'mdns:dup (2)', host: '127.0.0.1', port: bPort, source: 'mdns', id: 'dup' });
  await waitFor('second refused', () => closes.length === 1, 3000);
  assert.equal(closes[0]?.code, 4008);
  assert.match(closes[0]?.reason ?? '', /^JAS_ERR_CONFLICT: .*member id "dup" is already used by the member at 127\.0\.0\.1:\d+/);
  const second = reg.list().find((m) => m.endpoint === `127.0.0.1:${bPort}`);
  assert.equal(second?.status, 'duplicate');
  assert.equal(second?.error?.code, 'JAS_ERR_CONFLICT');
  assert.deepEqual(conflicts, [['dup', `127.0.0.1:${bPort}`, `127.0.0.1:${a.port}`]]);
  assert.equal(reg.connectedCount, 1, 'the first member keeps playing');
});
