// MemberConnection against an in-process fake member (a ws server speaking hello/state/pong on
// loopback): welcome + timeline + settings on connect, RTT from pongs, death after silence and
// reconnect, backoff while the member is down, refusal of another protocol major.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeMessage } from '@jaudiosync/protocol/codec';
import { PROTOCOL_VERSION } from '@jaudiosync/protocol/version';
import type { AddressInfo } from 'node:net';
import { MemberConnection } from '../../src/members/member-connection.js';
import { MemberRegistry } from '../../src/members/member-registry.js';
import { Backoff } from '../../src/members/backoff.js';
import { waitFor } from '@jaudiosync/test-support';

interface FakeMember {
  wss: WebSocketServer;
  port: number;
  received: { type: string; [k: string]: unknown }[];
  connections: number;
  mute: boolean;
  /** Queue pongs instead of answering (a stalled link); flush() sends them all at once. */
  hold: boolean;
  held: string[];
  /** Answer each ping this much later (a congested path). */
  pongDelayMs: number;
  flush(): void;
  version: string;
  sockets: WebSocket[];
  close(): Promise<void>;
}

function hello(memberId: string, v: string): string {
  const msg = { type: 'hello', memberId, hostname: memberId, version: '0.1.0', outputRate: 48000, channels: 2, sink: 'none', clockMode: 'system' };
  return v === PROTOCOL_VERSION ? encodeMessage(msg as Parameters<typeof encodeMessage>[0]) : JSON.stringify({ ...msg, v });
}

async function startFakeMember(port = 0, memberId = 'member1', version = PROTOCOL_VERSION): Promise<FakeMember> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  const fake: FakeMember = {
    wss, port: (wss.address() as AddressInfo).port, received: [], connections: 0, mute: false, hold: false, held: [], pongDelayMs: 0, version, sockets: [],
    flush: () => {
      const ws = fake.sockets[fake.sockets.length - 1];
      for (const m of fake.held.splice(0)) ws?.send(m);
    },
    close: async () => {
      for (const s of wss.clients) s.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws) => {
    fake.connections++;
    fake.sockets.push(ws);
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { type: string; seq?: number; sentUs?: number };
      fake.received.push(msg);
      if (msg.type === 'ping' && !fake.mute) {
        const pong = encodeMessage({ type: 'pong', seq: msg.seq ?? 0, echoUs: msg.sentUs ?? 0 });
        if (fake.hold) fake.held.push(pong);
        else if (fake.pongDelayMs > 0) setTimeout(() => ws.send(pong), fake.pongDelayMs);
        else ws.send(pong);
      }
    });
    ws.send(hello(memberId, fake.version));
  });
  return fake;
}

function connect(port: number, opts: Partial<ConstructorParameters<typeof MemberConnection>[0]> = {}): MemberConnection {
  return new MemberConnection({
    host: '127.0.0.1', port,
    leaderNowUs: () => 1_700_000_000_000_000,
    welcome: (localAddress) => ({ leaderId: 'leader', ntpPort: 11123, trackBaseUrl: `http://${localAddress}:7700/tracks`, serverTimeUs: 1_700_000_000_000_000 }),
    onboard: (h) => [
      { type: 'timeline', rev: 3, outputRate: 48000, loop: false, tracks: [{ id: 'a'.repeat(64), frames: 48000 }], revisions: [{ atUs: 1, playing: true, index: 0, frame: 0 }], volume: { gain: 1, atUs: 1 } },
      { type: 'settings', volume: h.memberId === 'member1' ? 0.5 : 1, atUs: 1, outputDelayUs: 0, channelMode: 'stereo' },
    ],
    pingIntervalMs: 50, deadAfterMs: 300, handshakeTimeoutMs: 1000,
    backoff: { initialMs: 50, maxMs: 200, jitter: 0 },
    ...opts,
  });
}

test('welcome, then timeline and settings on connect; pings get pongs -> RTT', async (t) => {
  const fake = await startFakeMember();
  const conn = connect(fake.port);
  t.after(async () => { conn.stop(); await fake.close(); });
  conn.start();
  await waitFor('connected', () => conn.connected);
  await waitFor('settings', () => fake.received.some((m) => m.type === 'settings'));
  const types = fake.received.map((m) => m.type).filter((x) => x !== 'ping');
  assert.deepEqual(types.slice(0, 3), ['welcome', 'timeline', 'settings']);
  const welcome = fake.received[0]!;
  assert.equal(welcome['v'], PROTOCOL_VERSION);
  assert.equal(welcome['trackBaseUrl'], 'http://127.0.0.1:7700/tracks');
  assert.equal(conn.hello?.memberId, 'member1');
  await waitFor('rtt samples', () => conn.rtt.count >= 3);
  assert.ok((conn.rtt.percentileUs(90) ?? -1) >= 0);
});

test('silence -> dead -> reconnect, and the timeline is sent again', async (t) => {
  const fake = await startFakeMember();
  const conn = connect(fake.port);
  t.after(async () => { conn.stop(); await fake.close(); });
  const statuses: string[] = [];
  conn.on('status', (s) => statuses.push(s));
  conn.start();
  await waitFor('connected', () => conn.connected);
  fake.mute = true; // the member stops answering (crashed process, dead WiFi)
  await waitFor('disconnect', () => statuses.includes('backoff'), 3000);
  fake.mute = false;
  await waitFor('reconnected', () => fake.connections >= 2 && conn.connected, 3000);
  // The reconnect re-sends the whole timeline (arrival at the fake member is asynchronous).
  await waitFor('second timeline', () => fake.received.filter((m) => m.type === 'timeline').length === 2, 3000);
  assert.equal(conn.error, null);
});

test('member down: exponential backoff, then connects when it comes back', async (t) => {
  const fake = await startFakeMember();
  const port = fake.port;
  await fake.close();
  const conn = connect(port);
  let again: FakeMember | undefined;
  t.after(async () => { conn.stop(); await again?.close(); });
  conn.start();
  await waitFor('several attempts', () => conn.reconnectAttempts >= 3, 3000);
  assert.equal(conn.connected, false);
  again = await startFakeMember(port);
  await waitFor('connected after restart', () => conn.connected, 3000);
  assert.equal(conn.reconnectAttempts, 0, 'backoff reset after a good connection');
});

test('a member lost after a connection is retried every lostRetryMs (not the backoff) while the window lasts', async (t) => {
  const fake = await startFakeMember();
  const port = fake.port;
  // A slow backoff (1-2 s) that a restarted member would otherwise wait for.
  const conn = connect(port, { backoff: { initialMs: 1000, maxMs: 2000, jitter: 0 }, lostRetryMs: 40, lostRetryWindowMs: 5000 });
  let again: FakeMember | undefined;
  t.after(async () => { conn.stop(); await again?.close(); });
  conn.start();
  await waitFor('connected', () => conn.connected);
  await fake.close(); // the member's process dies
  await waitFor('lost', () => !conn.connected, 3000);
  await new Promise((r) => setTimeout(r, 300)); // several refused attempts
  again = await startFakeMember(port);
  const back = Date.now();
  await waitFor('reconnected', () => conn.connected, 3000);
  assert.ok(Date.now() - back < 500, `reconnected ${Date.now() - back} ms after the member listened again`);
});

test('Backoff grows, is capped, jitters down only, resets', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.nextDelayMs()), [100, 200, 400, 800, 1000, 1000]);
  b.reset();
  assert.equal(b.nextDelayMs(), 100);
  const j = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => 1 });
  assert.equal(j.nextDelayMs(), 500);
});

test('another protocol major is refused with a clear error', async (t) => {
  const fake = await startFakeMember(0, 'member9', '2.0');
  const conn = connect(fake.port);
  t.after(async () => { conn.stop(); await fake.close(); });
  let refused: { code: string; message: string } | undefined;
  conn.on('refused', (e) => { refused = e; });
  conn.start();
  await waitFor('refused', () => refused !== undefined);
  assert.equal(refused?.code, 'JAS_ERR_VERSION');
  assert.match(refused?.message ?? '', /protocol 2\.x not supported/);
  assert.equal(conn.status, 'refused');
  assert.equal(conn.connected, false);
  await waitFor('error message to member', () => fake.received.some((m) => m.type === 'error'));
  assert.ok(!fake.received.some((m) => m.type === 'welcome'), 'no welcome to a refused member');
});

test('registry: broadcast to connected members, duplicate endpoints of one member retired', async (t) => {
  const a = await startFakeMember(0, 'member1');
  const b = await startFakeMember(0, 'member2');
  const registry = new MemberRegistry({ createConnection: (d) => connect(d.port) });
  t.after(async () => { registry.close(); await a.close(); await b.close(); });
  registry.add({ key: 'config:a', host: '127.0.0.1', port: a.port, source: 'config' });
  registry.add({ key: 'config:b', host: '127.0.0.1', port: b.port, source: 'config' });
  await waitFor('both connected', () => registry.connectedCount === 2);
  const sent = registry.broadcast({ type: 'settings', volume: 0.1, atUs: 5, outputDelayUs: 0, channelMode: 'mono' });
  assert.equal(sent, 2);
  await waitFor('received', () => [a, b].every((f) => f.received.some((m) => m.type === 'settings' && m['volume'] === 0.1)));
  // The same member found again under another key (e.g. mDNS and --member): the newcomer retires.
  registry.add({ key: 'mdns:member1', host: '127.0.0.1', port: a.port, source: 'mdns' });
  await waitFor('duplicate retired', () => registry.list().some((m) => m.status === 'duplicate'));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(registry.list().filter((m) => m.id === 'member1' && m.connected).length, 1);
  assert.equal(registry.connectedRtts().length, 2);
});

test('pongs queued behind a stalled link count as one RTT sample, not one per ping', async (t) => {
  const fake = await startFakeMember();
  // Pings every 100 ms; silence is fatal only after 5 s, so the stall below does not kill the link.
  const conn = connect(fake.port, { pingIntervalMs: 100, deadAfterMs: 5000 });
  t.after(async () => { conn.stop(); await fake.close(); });
  conn.start();
  await waitFor('rtt samples', () => conn.rtt.count >= 5);
  const before = conn.rtt.count;
  const normalP90 = conn.rtt.percentileUs(90) ?? Infinity;
  fake.hold = true;
  await new Promise((r) => setTimeout(r, 1000));
  const queued = fake.held.length;
  assert.ok(queued >= 7, `pings queued during the stall: ${queued}`);
  fake.hold = false;
  fake.flush();
  await waitFor('burst received', () => conn.rtt.count > before);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(conn.rtt.count, before + 1, `one sample for ${queued} queued pongs`);
  // The burst's sample is its newest ping's (< 200 ms), not the oldest's (~1 s).
  assert.ok((conn.rtt.lastUs ?? Infinity) < 200_000, `burst sample ${conn.rtt.lastUs} µs`);
  assert.ok((conn.rtt.percentileUs(90) ?? Infinity) < Math.max(200_000, normalP90 * 2), 'p90 (the lead time) not inflated by the stall');
});

test('registry: the lead\'s RTTs are the recent ones: a passed congestion stops counting after the window', async (t) => {
  const slow = await startFakeMember(0, 'member1');
  const calm = await startFakeMember(0, 'member2');
  // Pings every 50 ms, a 1 s window: the leader's 1 s / 10 s, twenty times faster.
  const registry = new MemberRegistry({ createConnection: (d) => connect(d.port, { rttWindowMs: 1000, deadAfterMs: 2000 }) });
  t.after(async () => { registry.close(); await slow.close(); await calm.close(); });
  slow.pongDelayMs = 300;
  registry.add({ key: 'config:a', host: '127.0.0.1', port: slow.port, source: 'config' });
  registry.add({ key: 'config:b', host: '127.0.0.1', port: calm.port, source: 'config' });
  const p90s = (): number[] => registry.connectedRtts().map((r) => r.p90Us);
  await waitFor('congested RTTs counted', () => Math.max(0, ...p90s()) >= 300_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(Math.max(...p90s()) >= 300_000, 'steady congestion still counts');
  slow.pongDelayMs = 0;
  const calmFrom = Date.now();
  await waitFor('congestion forgotten', () => Math.max(...p90s()) < 100_000);
  const tookMs = Date.now() - calmFrom;
  // The delayed pongs still in flight land during the first 300 ms; the window then needs to pass.
  assert.ok(tookMs < 2500, `forgotten after ${tookMs} ms`);
  const slowView = registry.list().find((m) => m.id === 'member1');
  assert.ok((slowView?.rttUs.p90 ?? 0) >= 300_000, 'the member list still shows the minute\'s p90');
});
