// Protocol 1.1 handshake fields: hello.challenge/proof and welcome.proof carry a real handshake
// through the codec, malformed values are refused naming the field, and the schemas in
// messages.ts stay identical to auth.ts's (they are duplicated to avoid an import cycle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
// auth.js first on purpose: loading it before messages.js must work (no import cycle).
import {
  AuthKey, AuthNonce, AuthProofHex, HELLO_AUTH_PROPERTIES, WELCOME_AUTH_PROPERTIES, createNonce, leaderProof, memberProof,
  verifyLeaderProof, verifyMemberProof,
} from '../src/auth.js';
import { HandshakeNonce, HandshakeProof, HelloMessage, WelcomeMessage } from '../src/messages.js';
import { decodeMessage, encodeMessage } from '../src/codec.js';
import { PROTOCOL_MINOR, PROTOCOL_VERSION } from '../src/version.js';
import * as index from '../src/index.js';
import { SAMPLES } from './sample-messages.js';

test('protocol 1.x (auth since 1.1) and the auth API is exported from the package index', () => {
  assert.match(PROTOCOL_VERSION, /^1\.\d+$/);
  assert.ok(PROTOCOL_MINOR >= 4);
  assert.equal(typeof index.parseKey, 'function');
  assert.equal(typeof index.verifyMemberProof, 'function');
  assert.equal(index.CHALLENGE_HEADER, 'x-jas-challenge');
});

test('message schemas use exactly the auth schemas', () => {
  assert.deepEqual(HandshakeNonce, AuthNonce);
  assert.deepEqual(HandshakeProof, AuthProofHex);
  assert.deepEqual(HelloMessage.properties.challenge, HELLO_AUTH_PROPERTIES.challenge);
  assert.deepEqual(HelloMessage.properties.proof, HELLO_AUTH_PROPERTIES.proof);
  assert.deepEqual(WelcomeMessage.properties.proof, WELCOME_AUTH_PROPERTIES.proof);
  assert.ok(!((HelloMessage.required ?? []) as string[]).includes('proof'), 'auth fields are optional (keyless development)');
});

test('a real handshake passes through encode/decode and verifies on both sides', () => {
  const key = AuthKey.generate();
  const leaderNonce = createNonce();
  const memberNonce = createNonce();
  const memberId = 'member1';
  const hello = { ...SAMPLES.hello, memberId, challenge: memberNonce, proof: memberProof(key, { leaderNonce, memberNonce, memberId }) };
  const h = decodeMessage(encodeMessage(hello), { allowed: 'member' });
  assert.ok(h.ok, JSON.stringify(h));
  assert.ok(h.message.type === 'hello');
  assert.ok(verifyMemberProof(key, { leaderNonce, memberNonce: h.message.challenge as string, memberId }, h.message.proof));
  const welcome = { ...SAMPLES.welcome, proof: leaderProof(key, { memberNonce, leaderNonce, memberId, leaderId: SAMPLES.welcome.leaderId }) };
  const w = decodeMessage(encodeMessage(welcome), { allowed: 'leader' });
  assert.ok(w.ok && w.message.type === 'welcome');
  assert.ok(verifyLeaderProof(key, { memberNonce, leaderNonce, memberId, leaderId: w.message.leaderId }, w.message.proof));
});

test('malformed auth fields are refused with the field named', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['hello', { ...SAMPLES.hello, challenge: 'short' }, '/challenge'],
    ['hello', { ...SAMPLES.hello, challenge: 'x'.repeat(42) + '=' }, '/challenge'],
    ['hello', { ...SAMPLES.hello, proof: 'A'.repeat(64) }, '/proof'],
    ['hello', { ...SAMPLES.hello, proof: 7 }, '/proof'],
    ['welcome', { ...SAMPLES.welcome, proof: 'f'.repeat(63) }, '/proof'],
  ];
  for (const [, msg, field] of cases) {
    const r = decodeMessage(encodeMessage(msg as never));
    assert.ok(!r.ok, `${field} should fail`);
    assert.equal(r.error.code, 'JAS_ERR_VALIDATION');
    assert.equal(r.error.field, field);
  }
  // Keyless development: no auth fields at all is still a valid hello/welcome.
  const { challenge: _c, proof: _p, ...plainHello } = SAMPLES.hello;
  assert.ok(decodeMessage(encodeMessage(plainHello)).ok);
});

test('1.3 state.audio.syncErrorUs: a number passes, anything else is refused naming the field', () => {
  const state = SAMPLES.state as { audio: Record<string, unknown> };
  const ok = decodeMessage(encodeMessage({ ...SAMPLES.state, audio: { ...state.audio, syncErrorUs: -12.5 } } as never), { allowed: 'member' });
  assert.ok(ok.ok, JSON.stringify(ok));
  const bad = decodeMessage(JSON.stringify({ ...SAMPLES.state, v: PROTOCOL_VERSION, audio: { ...state.audio, syncErrorUs: 'late' } }), { allowed: 'member' });
  assert.equal(bad.ok, false);
  assert.match(JSON.stringify(bad), /syncErrorUs/);
});

test('1.4 state.audio.output: lost/reason/restarts/lastGapMs pass, a bad field is refused naming it', () => {
  const state = SAMPLES.state as { audio: Record<string, unknown> };
  const output = { lost: true, reason: 'no audio buffer for 512 ms', restarts: 2, lastGapMs: 2140 };
  const ok = decodeMessage(encodeMessage({ ...SAMPLES.state, audio: { ...state.audio, output } } as never), { allowed: 'member' });
  assert.ok(ok.ok, JSON.stringify(ok));
  for (const [field, value] of [['lost', 'yes'], ['restarts', -1], ['lastGapMs', -5], ['extra', 1]] as const) {
    const bad = decodeMessage(JSON.stringify({ ...SAMPLES.state, v: PROTOCOL_VERSION, audio: { ...state.audio, output: { ...output, [field]: value } } }), { allowed: 'member' });
    assert.equal(bad.ok, false, field);
    assert.match(JSON.stringify(bad), new RegExp(`output/${field}`), field);
  }
});
