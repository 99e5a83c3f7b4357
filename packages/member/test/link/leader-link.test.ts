// LeaderLink, the member side of the shared-key handshake (docs/security.md), against fake leaders
// (ws clients on loopback that use the protocol's auth functions): success, a missing challenge,
// a wrong key, a missing proof, a recorded welcome replayed, an impostor while the real leader is
// connected (the real one stays), a genuine newer leader replacing the old one, keyless
// development mode, and the bounded wait for a welcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  AuthKey, CHALLENGE_HEADER, PROTOCOL_VERSION, createNonce, encodeMessage, leaderProof, verifyMemberProof,
  type MessageInput, type WireError,
} from '@jaudiosync/protocol';
import { LeaderLink } from '../../src/link/leader-link.js';
import { waitFor } from '@jaudiosync/test-support';

const MEMBER_ID = 'member1';

function helloMsg(): MessageInput {
  return { type: 'hello', memberId: MEMBER_ID, hostname: 'm1', version: '0.1.0', outputRate: 48000, channels: 2, sink: 'none', clockMode: 'system' } as MessageInput;
}

async function startLink(t: { after(fn: () => Promise<void> | void): void }, key: AuthKey | undefined, welcomeTimeoutMs?: number) {
  const link = new LeaderLink({ host: '127.0.0.1', port: 0, hello: helloMsg, key, ...(welcomeTimeoutMs !== undefined ? { welcomeTimeoutMs } : {}) });
  const port = await link.listen();
  const events = { connected: 0, disconnected: [] as string[], messages: [] as string[], invalid: [] as WireError[], unauthorized: [] as WireError[] };
  link.on('connected', () => events.connected++);
  link.on('disconnected', (r) => events.disconnected.push(r));
  link.on('message', (m) => events.messages.push(m.type === 'ping' ? `ping${m.seq}` : m.type));
  link.on('invalid', (e) => events.invalid.push(e));
  link.on('unauthorized', (e) => events.unauthorized.push(e));
  t.after(() => link.close());
  return { link, port, events };
}

interface FakeLeader {
  ws: WebSocket;
  leaderNonce: string | undefined;
  hello: Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | null;
  /** Member proof verified under `verifyWith` (when given). */
  helloVerified: Promise<boolean>;
  send(msg: Record<string, unknown>): void;
}

/** A WebSocket client acting as a leader; `nonce: null` sends no challenge header. */
function fakeLeader(port: number, opts: { nonce?: string | null; verifyWith?: AuthKey } = {}): FakeLeader {
  const leaderNonce = opts.nonce === null ? undefined : opts.nonce ?? createNonce();
  const headers = leaderNonce !== undefined ? { [CHALLENGE_HEADER]: leaderNonce } : undefined;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, headers ? { headers } : {});
  ws.on('error', () => undefined);
  const fake: FakeLeader = {
    ws, leaderNonce, closeInfo: null,
    hello: new Promise((resolve) => ws.once('message', (raw) => resolve(JSON.parse(raw.toString()) as Record<string, unknown>))),
    closed: new Promise((resolve) => ws.once('close', (code, reason) => {
      fake.closeInfo = { code, reason: reason.toString() };
      resolve(fake.closeInfo);
    })),
    helloVerified: Promise.resolve(false),
    send: (msg) => ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...msg })),
  };
  fake.helloVerified = fake.hello.then((h) => opts.verifyWith !== undefined && leaderNonce !== undefined
    && verifyMemberProof(opts.verifyWith, { leaderNonce, memberNonce: String(h['challenge']), memberId: String(h['memberId']) }, h['proof']));
  return fake;
}

function welcomeFor(key: AuthKey | undefined, leaderNonce: string | undefined, hello: Record<string, unknown>, leaderId = 'leader'): Record<string, unknown> {
  const base = { type: 'welcome', leaderId, ntpPort: 11123, trackBaseUrl: 'http://127.0.0.1:7700/tracks', serverTimeUs: 1_700_000_000_000_000 };
  if (!key || leaderNonce === undefined) return base;
  return { ...base, proof: leaderProof(key, { memberNonce: String(hello['challenge']), leaderNonce, memberId: MEMBER_ID, leaderId }) };
}

/** A genuine leader: connects, checks the hello, answers with a proven welcome. */
async function genuineLeader(port: number, key: AuthKey | undefined): Promise<FakeLeader> {
  const fake = fakeLeader(port, key ? { verifyWith: key } : { nonce: null });
  const hello = await fake.hello;
  if (key) assert.equal(await fake.helloVerified, true, 'the member proves the key in hello');
  fake.send(welcomeFor(key, fake.leaderNonce, hello));
  return fake;
}

function stop(...fakes: FakeLeader[]): void {
  for (const f of fakes) f.ws.terminate();
}

test('same key: hello proves the key, a proven welcome makes the leader current', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const { link, port, events } = await startLink(t, key);
  const leader = await genuineLeader(port, key);
  t.after(() => stop(leader));
  await waitFor('welcome delivered', () => events.messages.includes('welcome'));
  assert.equal(events.connected, 1);
  assert.equal(link.connected, true);
  const hello = await leader.hello;
  assert.match(String(hello['challenge']), /^[A-Za-z0-9_-]{43}$/);
  assert.match(String(hello['proof']), /^[0-9a-f]{64}$/);
  leader.send({ type: 'ping', seq: 1, sentUs: 5 });
  await waitFor('ping delivered', () => events.messages.includes('ping1'));
  assert.ok(link.send({ type: 'pong', seq: 1, echoUs: 5 } as MessageInput));
});

test('no challenge header: closed with 4006 at once, no hello sent; warned once per peer', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const { link, port, events } = await startLink(t, key);
  const received: string[] = [];
  for (let i = 0; i < 2; i++) {
    const fake = fakeLeader(port, { nonce: null });
    fake.ws.on('message', (raw) => received.push(raw.toString()));
    const closed = await fake.closed;
    assert.equal(closed.code, 4006);
    assert.match(closed.reason, /^JAS_ERR_UNAUTHORIZED: leader sent no x-jas-challenge: give it the same key \(fingerprint [0-9a-f]{12}\)$/);
  }
  assert.deepEqual(received, [], 'nothing, not even hello, goes to an unproven leader');
  assert.equal(events.unauthorized.length, 2);
  assert.equal(events.invalid.length, 1, 'the daemon logs it once per peer');
  assert.equal(link.connected, false);
  assert.equal(events.connected, 0);
});

test('wrong key or no proof in welcome: closed with 4006, never current', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const { link, port, events } = await startLink(t, key);
  const wrong = fakeLeader(port);
  wrong.send(welcomeFor(AuthKey.generate(), wrong.leaderNonce, await wrong.hello));
  const c1 = await wrong.closed;
  assert.equal(c1.code, 4006);
  assert.match(c1.reason, /leader's proof does not match \(key fingerprint [0-9a-f]{12}\)/);
  assert.ok(!c1.reason.includes(key.reveal()));
  const noProof = fakeLeader(port);
  noProof.send(welcomeFor(undefined, undefined, await noProof.hello));
  const c2 = await noProof.closed;
  assert.equal(c2.code, 4006);
  assert.match(c2.reason, /leader sent no proof/);
  assert.equal(events.connected, 0);
  assert.deepEqual(events.messages, []);
  assert.equal(link.connected, false);
});

test('a recorded handshake replayed (same leader nonce, same welcome) is refused', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const { port, events } = await startLink(t, key);
  // A genuine handshake, recorded by an eavesdropper.
  const real = await genuineLeader(port, key);
  t.after(() => stop(real));
  await waitFor('real leader welcomed', () => events.connected === 1);
  const recordedNonce = real.leaderNonce;
  const recordedWelcome = welcomeFor(key, recordedNonce, await real.hello);
  // The replay: same upgrade header, same welcome bytes. The member drew a new nonce for this
  // connection, so the recorded proof answers nothing.
  const replay = fakeLeader(port, { nonce: recordedNonce ?? null });
  const replayHello = await replay.hello;
  assert.notEqual(replayHello['challenge'], (await real.hello)['challenge'], 'fresh member nonce per connection');
  replay.send(recordedWelcome);
  const closed = await replay.closed;
  assert.equal(closed.code, 4006);
  assert.equal(events.connected, 1, 'the replay never became the leader');
  assert.equal(real.ws.readyState, WebSocket.OPEN, 'and the real leader was not disturbed');
});

test('an impostor connecting while the real leader plays does not replace it', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const { link, port, events } = await startLink(t, key);
  const real = await genuineLeader(port, key);
  await waitFor('real leader welcomed', () => events.connected === 1);
  // Impostors: wrong key, no key at all, and one that connects and says nothing.
  const wrongKey = fakeLeader(port);
  const noKey = fakeLeader(port, { nonce: null });
  const silent = fakeLeader(port);
  t.after(() => stop(real, wrongKey, noKey, silent));
  wrongKey.send(welcomeFor(AuthKey.generate(), wrongKey.leaderNonce, await wrongKey.hello));
  wrongKey.send({ type: 'timeline', rev: 99, outputRate: 48000, loop: false, tracks: [], revisions: [{ atUs: 1, playing: false, index: 0, frame: 0 }], volume: { gain: 1, atUs: 1 } });
  assert.equal((await wrongKey.closed).code, 4006);
  assert.equal((await noKey.closed).code, 4006);
  await silent.hello;
  // The real leader is still the leader: its messages arrive, nothing else's did.
  real.send({ type: 'ping', seq: 7, sentUs: 5 });
  await waitFor('real ping delivered', () => events.messages.includes('ping7'));
  assert.deepEqual(events.messages, ['welcome', 'ping7']);
  assert.equal(real.ws.readyState, WebSocket.OPEN);
  assert.equal(real.closeInfo, null);
  assert.equal(events.connected, 1);
  assert.deepEqual(events.disconnected, []);
  assert.equal(link.connected, true);
});

test('a genuine newer leader (restart) replaces the old connection (4008)', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const { link, port, events } = await startLink(t, key);
  const first = await genuineLeader(port, key);
  await waitFor('first welcomed', () => events.connected === 1);
  const second = await genuineLeader(port, key);
  t.after(() => stop(first, second));
  assert.equal((await first.closed).code, 4008);
  await waitFor('second welcomed', () => events.connected === 2);
  second.send({ type: 'ping', seq: 2, sentUs: 5 });
  await waitFor('ping from the new leader', () => events.messages.includes('ping2'));
  assert.equal(link.connected, true);
});

test('no key (development): any leader is accepted, hello carries no auth fields', { timeout: 10_000 }, async (t) => {
  const { link, port, events } = await startLink(t, undefined);
  const leader = await genuineLeader(port, undefined);
  t.after(() => stop(leader));
  await waitFor('welcomed', () => events.connected === 1);
  const hello = await leader.hello;
  assert.equal(hello['challenge'], undefined);
  assert.equal(hello['proof'], undefined);
  assert.equal(link.connected, true);
});

test('a connection that sends no welcome is closed after the timeout', { timeout: 10_000 }, async (t) => {
  const { port } = await startLink(t, AuthKey.generate(), 200);
  const silent = fakeLeader(port);
  t.after(() => stop(silent));
  await silent.hello;
  const closed = await silent.closed;
  assert.equal(closed.code, 4007);
  assert.match(closed.reason, /JAS_ERR_HANDSHAKE/);
});

test('a leader refusing us before its welcome (id taken: 4008) is reported; our own timeout close is not', { timeout: 10_000 }, async (t) => {
  const { link, port } = await startLink(t, undefined, 300);
  const refused: string[] = [];
  link.on('refused', (reason) => refused.push(reason));
  const leader = fakeLeader(port, { nonce: null });
  t.after(() => stop(leader));
  await leader.hello;
  leader.ws.close(4008, 'JAS_ERR_CONFLICT: member id "member1" is already used by the member at 10.99.0.2:7701');
  await leader.closed;
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(refused, ['4008 JAS_ERR_CONFLICT: member id "member1" is already used by the member at 10.99.0.2:7701']);
  const silent = fakeLeader(port, { nonce: null });
  t.after(() => stop(silent));
  await silent.hello;
  assert.equal((await silent.closed).code, 4007); // we closed it (no welcome in time)
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(refused.length, 1, 'a close of our own is not a refusal');
});

// A keyed leader answering a hello reaches the member only through the exported encoder; sanity:
test('welcome with a proof encodes under the current protocol version', () => {
  const text = encodeMessage({ type: 'welcome', leaderId: 'l', ntpPort: 1, trackBaseUrl: 'http://h/tracks', serverTimeUs: 0, proof: 'a'.repeat(64) } as MessageInput);
  assert.equal((JSON.parse(text) as { v: string }).v, PROTOCOL_VERSION);
});

test('a flood of connections is refused beyond the limit; the link keeps serving', { timeout: 10_000 }, async (t) => {
  const { port } = await startLink(t, undefined);
  const fakes = Array.from({ length: 14 }, () => fakeLeader(port));
  t.after(() => { for (const f of fakes) f.ws.terminate(); });
  const refused = await Promise.all(fakes.map((f) => Promise.race([f.closed, new Promise<null>((r) => setTimeout(() => r(null), 2000))])));
  const codes = refused.filter((c): c is { code: number; reason: string } => c !== null).map((c) => c.code);
  assert.ok(codes.filter((c) => c === 1013).length >= 4, `connections beyond the limit closed with 1013, got ${JSON.stringify(codes)}`);
  for (const f of fakes) f.ws.terminate();
  await new Promise((r) => setTimeout(r, 200));
  const late = fakeLeader(port);
  t.after(() => late.ws.terminate());
  const hello = await late.hello;
  assert.equal(hello['type'], 'hello', 'a new leader is served once the flood is gone');
});
