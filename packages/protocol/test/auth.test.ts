// Tests of the shared-key pieces: key format and parsing errors, the mutual handshake proofs
// (fresh nonces defeat replay, every bound field matters), REST bearer tokens, production rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import fc from 'fast-check';
import {
  AuthChallenge, AuthKey, AuthProof, HELLO_AUTH_PROPERTIES, KEY_PREFIX, KeyFormatError, REST_TOKEN_PREFIX,
  WELCOME_AUTH_PROPERTIES, bearerTokenMatches, checkBearer, createNonce, formatKeygenOutput, generateKey,
  isNonce, leaderProof, memberProof, parseKey, proofsEqual, requireKeyInProduction, restToken,
  verifyLeaderProof, verifyMemberProof, type HandshakeContext,
} from '../src/auth.js';

const fixedBytes = (fill: number) => (n: number): Buffer => Buffer.alloc(n, fill);
const KEY_A = generateKey(fixedBytes(1));
const KEY_B = generateKey(fixedBytes(2));

function context(overrides: Partial<HandshakeContext> = {}): HandshakeContext {
  return { memberNonce: createNonce(), leaderNonce: createNonce(), memberId: 'member1', leaderId: 'leader', ...overrides };
}

test('generated keys have the documented format and round-trip through parseKey', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const text = generateKey();
    assert.match(text, /^jas1_[A-Za-z0-9_-]{43}$/);
    assert.equal(parseKey(text).reveal(), text);
    seen.add(text);
  }
  assert.equal(seen.size, 50, 'keys are random');
  assert.equal(KEY_A, KEY_PREFIX + Buffer.alloc(32, 1).toString('base64url'));
});

test('parseKey trims a pasted line and explains every kind of bad key', () => {
  assert.equal(parseKey(`  ${KEY_A}\n`).reveal(), KEY_A);
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /must be a string, got undefined/],
    [null, /must be a string, got null/],
    [42, /must be a string, got number/],
    ['', /empty.*keygen/],
    ['   ', /empty/],
    ['abc', /must start with "jas1_"/],
    [KEY_A.replace('jas1_', 'jas2_'), /must start with "jas1_"/],
    [KEY_A.slice(0, -3), /43 characters after "jas1_", got 40.*cut/],
    [KEY_A + 'A', /43 characters/],
    [KEY_A.slice(0, -1) + '+', /outside base64url/],
    [KEY_A.slice(0, 10) + ' ' + KEY_A.slice(11), /outside base64url/],
    ['jasr_' + 'A'.repeat(43), /REST token.*not the shared key/],
  ];
  for (const [input, re] of cases) {
    assert.throws(() => parseKey(input), (err: unknown) => err instanceof KeyFormatError && re.test(err.message), `input ${JSON.stringify(input)}`);
  }
  // 32 bytes leave 2 unused bits in the last character: 'B' instead of 'A' is a different spelling.
  const body = Buffer.alloc(32, 0).toString('base64url');
  assert.equal(body.at(-1), 'A');
  assert.throws(() => parseKey(KEY_PREFIX + body.slice(0, -1) + 'B'), /not valid base64url/);
});

test('a parsed key never prints its secret', () => {
  const key = parseKey(KEY_A);
  const printed = [String(key), inspect(key), JSON.stringify({ key }), inspect({ nested: { key } }), `${key}`];
  for (const p of printed) {
    assert.ok(!p.includes(KEY_A.slice(KEY_PREFIX.length, KEY_PREFIX.length + 20)), `leaked in ${p}`);
    assert.ok(p.includes(key.fingerprint), p);
  }
  assert.match(key.fingerprint, /^[0-9a-f]{12}$/);
  assert.notEqual(parseKey(KEY_B).fingerprint, key.fingerprint);
  assert.equal(parseKey(KEY_A).fingerprint, key.fingerprint, 'fingerprint is stable');
  assert.ok(key.equals(parseKey(KEY_A)));
  assert.ok(!key.equals(parseKey(KEY_B)));
});

test('nonces are fresh base64url 32-byte values', () => {
  const a = createNonce();
  const b = createNonce();
  assert.ok(isNonce(a) && isNonce(b));
  assert.notEqual(a, b);
  assert.equal(Buffer.from(a, 'base64url').length, 32);
  for (const bad of ['', 'x', a + 'A', a.slice(0, -1) + '|', 5, null]) assert.ok(!isNonce(bad));
});

test('handshake: both sides verify each other with the same key', () => {
  const key = parseKey(KEY_A);
  const ctx = context();
  const mProof = memberProof(key, ctx);
  const lProof = leaderProof(key, ctx);
  assert.match(mProof, /^[0-9a-f]{64}$/);
  assert.notEqual(mProof, lProof, 'member and leader proofs are domain-separated');
  assert.ok(verifyMemberProof(parseKey(KEY_A), ctx, mProof));
  assert.ok(verifyLeaderProof(parseKey(KEY_A), ctx, lProof));
});

test('handshake: a different key fails both ways', () => {
  const ctx = context();
  assert.ok(!verifyMemberProof(parseKey(KEY_B), ctx, memberProof(parseKey(KEY_A), ctx)));
  assert.ok(!verifyLeaderProof(parseKey(KEY_B), ctx, leaderProof(parseKey(KEY_A), ctx)));
});

test('handshake: a recorded proof does not verify on a new connection (fresh nonces)', () => {
  const key = parseKey(KEY_A);
  const recorded = context();
  const recordedLeaderProof = leaderProof(key, recorded);
  const recordedMemberProof = memberProof(key, recorded);
  // Replaying the old welcome to a member that chose a new nonce.
  assert.ok(!verifyLeaderProof(key, { ...recorded, memberNonce: createNonce() }, recordedLeaderProof));
  // Replaying the old hello to a leader that chose a new nonce.
  assert.ok(!verifyMemberProof(key, { ...recorded, leaderNonce: createNonce() }, recordedMemberProof));
});

test('handshake: every bound field changes the proof, and the roles cannot be swapped', () => {
  const key = parseKey(KEY_A);
  const ctx = context();
  const lProof = leaderProof(key, ctx);
  const mProof = memberProof(key, ctx);
  for (const change of [{ memberId: 'member2' }, { leaderId: 'leader2' }, { memberNonce: createNonce() }, { leaderNonce: createNonce() }]) {
    assert.ok(!verifyLeaderProof(key, { ...ctx, ...change }, lProof), JSON.stringify(change));
  }
  for (const change of [{ memberId: 'member2' }, { memberNonce: createNonce() }, { leaderNonce: createNonce() }]) {
    assert.ok(!verifyMemberProof(key, { ...ctx, ...change }, mProof), JSON.stringify(change));
  }
  // A member's proof is no leader proof even if an attacker chooses nonces so the strings align.
  const swapped = { ...ctx, memberNonce: ctx.leaderNonce, leaderNonce: ctx.memberNonce };
  assert.ok(!verifyLeaderProof(key, swapped, mProof));
  assert.ok(!verifyMemberProof(key, swapped, lProof));
});

test('handshake: malformed proofs and contexts are rejected without throwing', () => {
  const key = parseKey(KEY_A);
  const ctx = context();
  const good = leaderProof(key, ctx);
  for (const bad of [undefined, null, 7, '', good.slice(0, 63), good + '0', good.toUpperCase(), good.replace(/./, 'g'), { proof: good }]) {
    assert.ok(!verifyLeaderProof(key, ctx, bad), String(bad));
  }
  assert.ok(!verifyLeaderProof(key, { ...ctx, memberId: 'a|b' }, good));
  assert.ok(!verifyLeaderProof(key, { ...ctx, memberNonce: 'short' }, good));
  assert.throws(() => leaderProof(key, { ...ctx, leaderId: 'x|y' }), /leaderId/);
  assert.throws(() => memberProof(key, { ...ctx, leaderNonce: '' }), /leaderNonce/);
});

test('proofsEqual is exact on well-formed hex (property)', () => {
  const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
  fc.assert(fc.property(hex64, hex64, (a, b) => proofsEqual(a, b) === (a === b)), { numRuns: 200 });
});

test('proof values are deterministic HMAC-SHA256 (pinned vector)', () => {
  // Pins the exact strings other implementations must produce (docs/security.md).
  const key = parseKey(KEY_A);
  const ctx: HandshakeContext = { memberNonce: 'A'.repeat(43), leaderNonce: 'B'.repeat(43), memberId: 'm1', leaderId: 'L' };
  assert.equal(leaderProof(key, ctx), key.hmacHex(`jas-auth-v1|leader|${'A'.repeat(43)}|${'B'.repeat(43)}|m1|L`));
  assert.equal(memberProof(key, ctx), key.hmacHex(`jas-auth-v1|member|${'B'.repeat(43)}|${'A'.repeat(43)}|m1`));
  // Cross-check the HMAC itself against node:crypto with the raw key bytes.
  assert.equal(key.hmacHex('x'), createHmac('sha256', Buffer.alloc(32, 1)).update('x').digest('hex'));
});

test('wire schemas accept real values and refuse malformed ones', () => {
  const key = parseKey(KEY_A);
  const ctx = context();
  const challenge = TypeCompiler.Compile(AuthChallenge);
  const proof = TypeCompiler.Compile(AuthProof);
  assert.ok(challenge.Check({ nonce: ctx.memberNonce, memberId: 'member1' }));
  assert.ok(!challenge.Check({ nonce: 'short', memberId: 'member1' }));
  assert.ok(!challenge.Check({ nonce: ctx.memberNonce, memberId: 'bad id' }));
  assert.ok(!challenge.Check({ nonce: ctx.memberNonce, memberId: 'member1', extra: 1 }));
  assert.ok(proof.Check({ proof: leaderProof(key, ctx) }));
  assert.ok(!proof.Check({ proof: leaderProof(key, ctx).toUpperCase() }));
  assert.ok(!proof.Check({}));
  assert.deepEqual(Object.keys(HELLO_AUTH_PROPERTIES).sort(), ['challenge', 'proof']);
  assert.deepEqual(Object.keys(WELCOME_AUTH_PROPERTIES), ['proof']);
});

test('REST: the derived token is accepted, the raw key and anything else refused with a reason', () => {
  const key = parseKey(KEY_A);
  const token = restToken(key);
  assert.match(token, /^jasr_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(token.slice(5), KEY_A.slice(5));
  assert.notEqual(restToken(parseKey(KEY_B)), token);
  assert.ok(bearerTokenMatches(`Bearer ${token}`, key));
  assert.ok(bearerTokenMatches(`bearer   ${token}  `, key), 'scheme is case-insensitive, spaces tolerated');
  const refused: Array<[unknown, RegExp]> = [
    [undefined, /missing Authorization/],
    ['', /missing Authorization/],
    [['Bearer', token], /missing Authorization/],
    [token, /must be "Bearer/],
    [`Basic ${token}`, /must be "Bearer/],
    [`Bearer ${token} extra`, /must be "Bearer/],
    [`Bearer ${token.slice(0, -1)}`, /wrong REST token/],
    [`Bearer ${restToken(parseKey(KEY_B))}`, /wrong REST token/],
    [`Bearer ${KEY_A}`, /that is the shared key/],
  ];
  for (const [header, re] of refused) {
    const r = checkBearer(header, key);
    assert.ok(!r.ok && re.test(r.reason), `${String(header)} -> ${JSON.stringify(r)}`);
    assert.ok(!bearerTokenMatches(header, key));
    if (!r.ok) assert.ok(!r.reason.includes(token) && !r.reason.includes(KEY_A), 'reasons never echo secrets');
  }
});

test('requireKeyInProduction: key mandatory only in production, always valid when given', () => {
  assert.equal(requireKeyInProduction({ key: undefined, env: {} }), null);
  assert.equal(requireKeyInProduction({ key: '', env: { NODE_ENV: 'development' } }), null);
  assert.equal(requireKeyInProduction({ key: KEY_A, env: { NODE_ENV: 'production' } }), null);
  for (const key of [undefined, null, '', '  ']) {
    const msg = requireKeyInProduction({ key, env: { NODE_ENV: 'production' }, role: 'member' });
    assert.ok(msg !== null);
    assert.match(msg, /NODE_ENV=production/);
    assert.match(msg, /jaudiosync keygen/);
    assert.match(msg, /\/etc\/jaudiosync\/member\.json/);
    assert.match(msg, /JAS_KEY/);
  }
  assert.match(requireKeyInProduction({ key: 'jas1_short', env: {} }) ?? '', /^invalid key: .*43 characters/);
});

test('formatKeygenOutput prints a usable key, its token and instructions', () => {
  const text = formatKeygenOutput();
  const key = /^key:\s+(jas1_\S+)$/m.exec(text)?.[1];
  assert.ok(key, text);
  const parsed = parseKey(key);
  assert.ok(text.includes(`"key": "${key}"`));
  assert.ok(text.includes(restToken(parsed)));
  assert.ok(text.includes(parsed.fingerprint));
  assert.notEqual(/^key:\s+(\S+)$/m.exec(formatKeygenOutput())?.[1], key, 'a new key each time');
  assert.equal(formatKeygenOutput(KEY_A, 'key'), `${KEY_A}\n`);
  assert.equal(formatKeygenOutput(KEY_A, 'token'), `${restToken(parseKey(KEY_A))}\n`);
  assert.deepEqual(JSON.parse(formatKeygenOutput(KEY_A, 'json')), { key: KEY_A, fingerprint: parseKey(KEY_A).fingerprint, restToken: restToken(parseKey(KEY_A)) });
  assert.throws(() => formatKeygenOutput('nope'), KeyFormatError);
  assert.ok(text.startsWith('#') && REST_TOKEN_PREFIX === 'jasr_');
});

test('AuthKey.generate refuses a broken random source', () => {
  assert.throws(() => AuthKey.generate(() => Buffer.alloc(3)), /32 bytes/);
});
