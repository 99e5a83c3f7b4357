// The leader side of the shared-key handshake (docs/security.md) against an in-process fake
// member that plays the member side with the protocol's auth functions: success with the same
// key, refusal (4006) of a wrong key, of a member without a key and by a keyed member of a
// keyless leader, a fresh nonce per attempt, and a recorded hello replayed on a later connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  AuthKey, CHALLENGE_HEADER, createNonce, isNonce, memberProof, verifyLeaderProof,
} from '@jaudiosync/protocol/auth';
import { encodeMessage } from '@jaudiosync/protocol/codec';
import { MemberConnection, type ConnectionLog } from '../../src/members/member-connection.js';
import { waitFor } from '@jaudiosync/test-support';

const MEMBER_ID = 'member1';
const LEADER_ID = 'leader';

interface FakeMember {
  port: number;
  /** Leader nonces seen in upgrade requests, one per connection. */
  challenges: Array<string | undefined>;
  /** Every hello sent, as JSON objects. */
  hellos: Array<Record<string, unknown>>;
  /** Welcomes received, and whether their proof verified under the fake's key. */
  welcomes: Array<{ msg: Record<string, unknown>; verified: boolean }>;
  /** Close codes of every connection as seen by the member (leader's or its own). */
  closeCodes: number[];
  /** When set, this exact hello is sent instead of a fresh one (replay). */
  replay: Record<string, unknown> | null;
  close(): Promise<void>;
}

/** A member speaking protocol 1.1 with `key` (or without any key). */
async function startFakeMember(key: AuthKey | undefined): Promise<FakeMember> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  const fake: FakeMember = {
    port: (wss.address() as AddressInfo).port, challenges: [], hellos: [], welcomes: [], closeCodes: [], replay: null,
    close: async () => {
      for (const s of wss.clients) s.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const header = req.headers[CHALLENGE_HEADER];
    fake.challenges.push(typeof header === 'string' ? header : undefined);
    ws.on('close', (code) => fake.closeCodes.push(code));
    const base = { type: 'hello', memberId: MEMBER_ID, hostname: 'm1', version: '0.1.0', outputRate: 48000, channels: 2, sink: 'none', clockMode: 'system' };
    let memberNonce: string | undefined;
    let hello: Record<string, unknown> = base;
    if (key) {
      if (!isNonce(header)) {
        ws.close(4006, 'JAS_ERR_UNAUTHORIZED: leader sent no x-jas-challenge: give it the same key');
        return;
      }
      memberNonce = createNonce();
      hello = { ...base, challenge: memberNonce, proof: memberProof(key, { leaderNonce: header, memberNonce, memberId: MEMBER_ID }) };
    }
    if (fake.replay) hello = fake.replay;
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as Record<string, unknown>;
      if (msg['type'] !== 'welcome') return;
      const verified = key !== undefined && isNonce(header) && memberNonce !== undefined
        && verifyLeaderProof(key, { memberNonce, leaderNonce: header, memberId: MEMBER_ID, leaderId: String(msg['leaderId']) }, msg['proof']);
      fake.welcomes.push({ msg, verified });
    });
    fake.hellos.push(hello);
    ws.send(encodeMessage(hello as Parameters<typeof encodeMessage>[0]));
  });
  return fake;
}

function recordingLog(): ConnectionLog & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info: () => undefined, warn: (_obj, msg) => warnings.push(msg) };
}

function connect(port: number, key: AuthKey | undefined, log?: ConnectionLog): MemberConnection {
  return new MemberConnection({
    host: '127.0.0.1', port, key,
    leaderNowUs: () => 1_700_000_000_000_000,
    welcome: (localAddress) => ({ leaderId: LEADER_ID, ntpPort: 11123, trackBaseUrl: `http://${localAddress}:7700/tracks`, serverTimeUs: 1_700_000_000_000_000 }),
    onboard: () => [],
    pingIntervalMs: 50, deadAfterMs: 2000, handshakeTimeoutMs: 1000,
    backoff: { initialMs: 30, maxMs: 60, jitter: 0 },
    ...(log ? { log } : {}),
  });
}

test('same key: the member proves itself, the welcome carries a proof that verifies', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const fake = await startFakeMember(key);
  const conn = connect(fake.port, key);
  t.after(async () => { conn.stop(); await fake.close(); });
  const hellos: string[] = [];
  conn.on('hello', (h) => hellos.push(h.memberId));
  conn.start();
  await waitFor('connected', () => conn.connected);
  await waitFor('welcome', () => fake.welcomes.length === 1);
  assert.equal(fake.welcomes[0]?.verified, true, 'welcome.proof verifies under the member key');
  assert.ok(isNonce(fake.challenges[0]), 'the upgrade request carries a nonce');
  assert.deepEqual(hellos, [MEMBER_ID]);
  assert.equal(conn.error, null);
});

test('wrong member key: refused with 4006 before anything learns of the hello; warned once over retries', { timeout: 10_000 }, async (t) => {
  const fake = await startFakeMember(AuthKey.generate());
  const leaderKey = AuthKey.generate();
  const log = recordingLog();
  const conn = connect(fake.port, leaderKey, log);
  t.after(async () => { conn.stop(); await fake.close(); });
  let hellos = 0;
  conn.on('hello', () => hellos++);
  conn.start();
  await waitFor('three refused attempts', () => fake.closeCodes.length >= 3);
  assert.ok(fake.closeCodes.every((c) => c === 4006), `close codes ${fake.closeCodes.join(',')}`);
  assert.equal(fake.welcomes.length, 0, 'no welcome (nor timeline) for an unproven member');
  assert.equal(hellos, 0, 'the registry never sees the impostor hello');
  assert.equal(conn.connected, false);
  assert.equal(conn.error?.code, 'JAS_ERR_UNAUTHORIZED');
  assert.match(conn.error?.message ?? '', /proof does not match \(key fingerprint [0-9a-f]{12}\)/);
  assert.ok(!(conn.error?.message ?? '').includes(leaderKey.reveal()));
  assert.equal(log.warnings.filter((w) => /not authorized/.test(w)).length, 1, log.warnings.join('; '));
  // Fresh nonce per attempt.
  assert.equal(new Set(fake.challenges).size, fake.challenges.length);
});

test('member without a key: refused, told to give it the same key', { timeout: 10_000 }, async (t) => {
  const fake = await startFakeMember(undefined);
  const conn = connect(fake.port, AuthKey.generate());
  t.after(async () => { conn.stop(); await fake.close(); });
  conn.start();
  await waitFor('refused', () => fake.closeCodes.length >= 1);
  assert.equal(fake.closeCodes[0], 4006);
  assert.match(conn.error?.message ?? '', /member sent no proof: give it the same key/);
});

test('keyless leader, keyed member: the member refuses and the leader reports why', { timeout: 10_000 }, async (t) => {
  const fake = await startFakeMember(AuthKey.generate());
  const log = recordingLog();
  const conn = connect(fake.port, undefined, log);
  t.after(async () => { conn.stop(); await fake.close(); });
  conn.start();
  await waitFor('refusal seen', () => conn.error?.code === 'JAS_ERR_UNAUTHORIZED');
  assert.equal(fake.challenges[0], undefined, 'no key, no challenge header');
  assert.match(conn.error?.message ?? '', /refused us: leader sent no x-jas-challenge/);
  await waitFor('a retry', () => fake.closeCodes.length >= 3);
  assert.equal(log.warnings.filter((w) => /not authorized/.test(w)).length, 1);
});

test('a recorded hello replayed on a later connection is refused (fresh leader nonce)', { timeout: 10_000 }, async (t) => {
  const key = AuthKey.generate();
  const fake = await startFakeMember(key);
  const conn = connect(fake.port, key);
  t.after(async () => { conn.stop(); await fake.close(); });
  conn.start();
  await waitFor('first handshake', () => conn.connected);
  const recorded = fake.hellos[0];
  assert.ok(recorded && typeof recorded['proof'] === 'string');
  // The "attacker" now answers every connection with the recorded, once-valid hello.
  fake.replay = recorded;
  const closesBefore = fake.closeCodes.length;
  conn.stop();
  const again = connect(fake.port, key);
  t.after(() => again.stop());
  again.start();
  await waitFor('replay refused', () => again.error?.code === 'JAS_ERR_UNAUTHORIZED');
  assert.equal(again.connected, false);
  assert.match(again.error?.message ?? '', /proof does not match/);
  await waitFor('close seen by the member', () => fake.closeCodes.slice(closesBefore).includes(4006));
  assert.equal(fake.welcomes.length, 1, 'only the genuine first handshake got a welcome');
});
