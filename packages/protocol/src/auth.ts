// The pre-shared key that ties a leader and its members together: key format, generation and
// parsing, the mutual challenge-response of the WebSocket handshake, the REST bearer token, and
// the production rule "no key, no start". Wiring into the daemons: docs/security.md.
import { createHash, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN } from './messages.js';
import { AuthKey, base64urlLength, KEY_BYTES, KEY_PREFIX, REST_TOKEN_PREFIX } from './auth-key.js';

export { AuthKey, KEY_BYTES, KEY_PREFIX, KeyFormatError, REST_TOKEN_PREFIX, generateKey, parseKey, requireKeyInProduction, type KeyRequirement } from './auth-key.js';

/** Fresh per connection; 256 bits never repeat by chance, so a recorded proof never fits again. */
export const NONCE_BYTES = 32;
/** Domain separation of every MAC we compute, so one MAC can never stand in for another. */
export const AUTH_LABEL = 'jas-auth-v1';
export const REST_LABEL = 'jas-rest-v1';
/** HTTP header of the WebSocket upgrade request (leader -> member) carrying the leader's nonce. */
export const CHALLENGE_HEADER = 'x-jas-challenge';

const KEY_BODY_CHARS = base64urlLength(KEY_BYTES);
const NONCE_CHARS = base64urlLength(NONCE_BYTES);

export const NONCE_PATTERN = `^[A-Za-z0-9_-]{${NONCE_CHARS}}$`;
export const PROOF_PATTERN = '^[0-9a-f]{64}$';
export const KEY_PATTERN = `^${KEY_PREFIX}[A-Za-z0-9_-]{${KEY_BODY_CHARS}}$`;

// ---- wire schemas (for messages.ts to add as optional fields; see docs/security.md) -----------
/** A fresh random nonce: base64url (no padding) of 32 bytes. */
export const AuthNonce = Type.String({ pattern: NONCE_PATTERN, minLength: NONCE_CHARS, maxLength: NONCE_CHARS });
/** HMAC-SHA256 as 64 lower-case hex digits. */
export const AuthProofHex = Type.String({ pattern: PROOF_PATTERN, minLength: 64, maxLength: 64 });
/** What a member offers the leader to prove itself against: its nonce, bound to its id. */
export const AuthChallenge = Type.Object({ nonce: AuthNonce, memberId: Type.String({ pattern: ID_PATTERN, maxLength: 64 }) }, { additionalProperties: false });
export type AuthChallenge = Static<typeof AuthChallenge>;
/** An answer to a challenge. */
export const AuthProof = Type.Object({ proof: AuthProofHex }, { additionalProperties: false });
export type AuthProof = Static<typeof AuthProof>;
/** Optional fields `hello` gains: spread into the hello schema's properties. */
export const HELLO_AUTH_PROPERTIES = { challenge: Type.Optional(AuthNonce), proof: Type.Optional(AuthProofHex) };
/** Optional field `welcome` gains. */
export const WELCOME_AUTH_PROPERTIES = { proof: Type.Optional(AuthProofHex) };

// ---- handshake ---------------------------------------------------------------------------------
/** A fresh nonce for one connection attempt (never reuse one). */
export function createNonce(random: (n: number) => Buffer = cryptoRandomBytes): string {
  return random(NONCE_BYTES).toString('base64url');
}

const NONCE_RE = new RegExp(NONCE_PATTERN);
const ID_RE = new RegExp(ID_PATTERN);
const PROOF_RE = new RegExp(PROOF_PATTERN);

export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && NONCE_RE.test(value);
}

/** Everything both proofs are bound to. All four parts are '|'-free by their patterns. */
export interface HandshakeContext {
  /** The member's nonce, sent in `hello.challenge`. */
  memberNonce: string;
  /** The leader's nonce, sent in the upgrade request header `x-jas-challenge`. */
  leaderNonce: string;
  memberId: string;
  leaderId: string;
}

function checkContext(ctx: Partial<HandshakeContext>, needLeaderId: boolean): void {
  if (!isNonce(ctx.memberNonce)) throw new TypeError('memberNonce must be a base64url nonce of 32 bytes');
  if (!isNonce(ctx.leaderNonce)) throw new TypeError('leaderNonce must be a base64url nonce of 32 bytes');
  if (typeof ctx.memberId !== 'string' || !ID_RE.test(ctx.memberId)) throw new TypeError('memberId must match ' + ID_PATTERN);
  if (needLeaderId && (typeof ctx.leaderId !== 'string' || !ID_RE.test(ctx.leaderId))) throw new TypeError('leaderId must match ' + ID_PATTERN);
}

/**
 * The member's proof, sent in `hello.proof`: it answers the leader's nonce and is bound to the
 * member's own nonce and id. (The member does not know the leader's id yet.)
 */
export function memberProof(key: AuthKey, ctx: Omit<HandshakeContext, 'leaderId'>): string {
  checkContext(ctx, false);
  return key.hmacHex(`${AUTH_LABEL}|member|${ctx.leaderNonce}|${ctx.memberNonce}|${ctx.memberId}`);
}

/** The leader's proof, sent in `welcome.proof`: it answers the member's nonce for this member and leader. */
export function leaderProof(key: AuthKey, ctx: HandshakeContext): string {
  checkContext(ctx, true);
  return key.hmacHex(`${AUTH_LABEL}|leader|${ctx.memberNonce}|${ctx.leaderNonce}|${ctx.memberId}|${ctx.leaderId}`);
}

/** Constant-time comparison of two hex proofs; anything malformed is simply unequal. */
export function proofsEqual(expectedHex: string, receivedHex: unknown): boolean {
  if (typeof receivedHex !== 'string' || !PROOF_RE.test(receivedHex) || !PROOF_RE.test(expectedHex)) return false;
  return timingSafeEqual(Buffer.from(expectedHex, 'hex'), Buffer.from(receivedHex, 'hex'));
}

/** On the leader: does `hello.proof` answer our nonce? Never throws (bad input is `false`). */
export function verifyMemberProof(key: AuthKey, ctx: Omit<HandshakeContext, 'leaderId'>, proof: unknown): boolean {
  try {
    return proofsEqual(memberProof(key, ctx), proof);
  } catch {
    return false;
  }
}

/** On the member: does `welcome.proof` answer our nonce? Never throws (bad input is `false`). */
export function verifyLeaderProof(key: AuthKey, ctx: HandshakeContext, proof: unknown): boolean {
  try {
    return proofsEqual(leaderProof(key, ctx), proof);
  } catch {
    return false;
  }
}

// ---- REST --------------------------------------------------------------------------------------
/**
 * The bearer token for the leader's REST API (and members' track downloads): derived from the
 * key, so someone who sniffs HTTP gets API access at most, never the key that members trust.
 */
export function restToken(key: AuthKey): string {
  return REST_TOKEN_PREFIX + key.hmacBase64url(REST_LABEL);
}

/** Constant-time string equality that does not leak the length either (compares digests). */
function secretEquals(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

export type BearerCheck = { ok: true } | { ok: false; reason: string };

/** Checks an `Authorization` header value; `reason` is safe to send back in a 401 (`JAS_ERR_UNAUTHORIZED`). */
export function checkBearer(headerValue: unknown, key: AuthKey): BearerCheck {
  if (typeof headerValue !== 'string' || headerValue.trim() === '') {
    return { ok: false, reason: 'missing Authorization header (send "Authorization: Bearer <REST token>", see `jaudiosync keygen`)' };
  }
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(headerValue);
  if (!match) return { ok: false, reason: 'Authorization must be "Bearer <REST token>"' };
  const token = match[1] as string;
  if (secretEquals(token, restToken(key))) return { ok: true };
  if (secretEquals(token, key.reveal())) {
    return { ok: false, reason: `that is the shared key; send the REST token (${REST_TOKEN_PREFIX}...) printed by \`jaudiosync keygen\` instead` };
  }
  return { ok: false, reason: 'wrong REST token' };
}

/** `true` when the header carries this key's REST token (constant time). */
export function bearerTokenMatches(headerValue: unknown, key: AuthKey): boolean {
  return checkBearer(headerValue, key).ok;
}

// ---- keygen output -----------------------------------------------------------------------------
export type KeygenFormat = 'text' | 'json' | 'key' | 'token';

/** What `jaudiosync keygen` prints. `keyText` defaults to a new key; `format` picks the output. */
export function formatKeygenOutput(keyText?: string, format: KeygenFormat = 'text'): string {
  const key = keyText === undefined ? AuthKey.generate() : AuthKey.parse(keyText);
  const text = key.reveal();
  const token = restToken(key);
  switch (format) {
    case 'key':
      return `${text}\n`;
    case 'token':
      return `${token}\n`;
    case 'json':
      return `${JSON.stringify({ key: text, fingerprint: key.fingerprint, restToken: token })}\n`;
    case 'text':
      return [
        '# JAudioSync shared key: keep it secret, use the SAME key on the leader and every member.',
        `key:         ${text}`,
        `fingerprint: ${key.fingerprint}   (logs and status show this, never the key)`,
        `REST token:  ${token}`,
        '',
        'Put the key into /etc/jaudiosync/leader.json and every /etc/jaudiosync/member.json:',
        `  "key": "${text}"`,
        'then: sudo systemctl restart jaudiosync-leader   (members: jaudiosync-member)',
        'REST calls send the token, not the key:',
        `  curl -H 'Authorization: Bearer ${token}' http://leader.local:7700/api/status`,
        '',
      ].join('\n');
  }
}
