// The pre-shared key itself: its format, generation and parsing, and the production rule "no key,
// no start". Split from auth.ts (which re-exports all of it) so that reading a config file does not
// load the wire schemas (TypeBox and every message schema: ~100 ms of a member's start, issue #18).
import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

/** Versioned prefix: a key is recognisable in a config file and a future format can coexist. */
export const KEY_PREFIX = 'jas1_';
/** 256 bits: far beyond brute force, and HMAC-SHA256's natural key size. */
export const KEY_BYTES = 32;
/** Prefix of the REST token derived from the key (the key itself never goes over HTTP). */
export const REST_TOKEN_PREFIX = 'jasr_';
const FINGERPRINT_LABEL = 'jas-key-fingerprint-v1';
/** Hex characters of a key fingerprint shown in logs: enough to tell keys apart, useless to attack. */
const FINGERPRINT_HEX_CHARS = 12;

/** base64url without padding of `n` bytes has this many characters. */
export function base64urlLength(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}
const KEY_BODY_CHARS = base64urlLength(KEY_BYTES);

// ---- the key -----------------------------------------------------------------------------------
export class KeyFormatError extends Error {
  override readonly name = 'KeyFormatError';
}

/**
 * A parsed key. The secret bytes are private and the object prints as its fingerprint only, so
 * logging a config object (pino, console.log, JSON) never leaks the key.
 */
export class AuthKey {
  readonly #bytes: Buffer;
  readonly #text: string;
  /** Short public id of the key: logs and status show it so hosts can be compared. */
  readonly fingerprint: string;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
    this.#text = KEY_PREFIX + bytes.toString('base64url');
    this.fingerprint = createHmac('sha256', bytes).update(FINGERPRINT_LABEL).digest('hex').slice(0, FINGERPRINT_HEX_CHARS);
  }

  /** `random` is injectable for tests; production uses node:crypto's CSPRNG. */
  static generate(random: (n: number) => Buffer = cryptoRandomBytes): AuthKey {
    const bytes = random(KEY_BYTES);
    if (!Buffer.isBuffer(bytes) || bytes.length !== KEY_BYTES) throw new Error(`random source returned no ${KEY_BYTES} bytes`);
    return new AuthKey(Buffer.from(bytes));
  }

  /** Parses `jas1_<43 base64url chars>`; surrounding whitespace (a pasted line) is ignored. */
  static parse(input: unknown): AuthKey {
    if (typeof input !== 'string') throw new KeyFormatError(`key must be a string, got ${input === null ? 'null' : typeof input}`);
    const text = input.trim();
    if (text === '') throw new KeyFormatError('key is empty (make one with `jaudiosync keygen`)');
    if (text.startsWith(REST_TOKEN_PREFIX)) {
      throw new KeyFormatError(`this is a REST token (${REST_TOKEN_PREFIX}...), not the shared key (${KEY_PREFIX}...): the daemons need the key`);
    }
    if (!text.startsWith(KEY_PREFIX)) throw new KeyFormatError(`key must start with "${KEY_PREFIX}" (make one with \`jaudiosync keygen\`)`);
    const body = text.slice(KEY_PREFIX.length);
    if (!/^[A-Za-z0-9_-]*$/.test(body)) throw new KeyFormatError('key has characters outside base64url (A-Z a-z 0-9 - _): was it cut or mangled when copied?');
    if (body.length !== KEY_BODY_CHARS) {
      throw new KeyFormatError(`key must have ${KEY_BODY_CHARS} characters after "${KEY_PREFIX}", got ${body.length}: was it cut when copied?`);
    }
    const bytes = Buffer.from(body, 'base64url');
    // The last character carries 2 unused bits; a non-canonical spelling is a typo, not a key.
    if (bytes.length !== KEY_BYTES || bytes.toString('base64url') !== body) throw new KeyFormatError('key is not valid base64url (last character mistyped?)');
    return new AuthKey(bytes);
  }

  /** The key as written in config files (`jas1_...`). Secret. */
  reveal(): string {
    return this.#text;
  }

  /** HMAC-SHA256 of `message` under this key, as lower-case hex. */
  hmacHex(message: string): string {
    return createHmac('sha256', this.#bytes).update(message, 'utf8').digest('hex');
  }

  /** Same as `hmacHex`, as base64url. */
  hmacBase64url(message: string): string {
    return createHmac('sha256', this.#bytes).update(message, 'utf8').digest('base64url');
  }

  /** Constant-time equality of two keys. */
  equals(other: AuthKey): boolean {
    return timingSafeEqual(this.#bytes, other.#bytes);
  }

  toString(): string {
    return `AuthKey(${this.fingerprint})`;
  }

  toJSON(): { fingerprint: string } {
    return { fingerprint: this.fingerprint };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** A new random key in its text form (`jas1_...`). */
export function generateKey(random?: (n: number) => Buffer): string {
  return AuthKey.generate(random).reveal();
}

/** Parses a key; throws `KeyFormatError` whose message says what is wrong and how to fix it. */
export function parseKey(input: unknown): AuthKey {
  return AuthKey.parse(input);
}

// ---- production rule ---------------------------------------------------------------------------
export interface KeyRequirement {
  /** The configured key text, if any. */
  key: string | undefined | null;
  /** The process environment (only NODE_ENV is read). */
  env: Readonly<Record<string, string | undefined>>;
  /** Names the config file in the message. */
  role?: 'leader' | 'member';
}

/**
 * `null` when the daemon may start; otherwise the message to print before exiting. A configured
 * key must always parse; with NODE_ENV=production a key is mandatory.
 */
export function requireKeyInProduction(req: KeyRequirement): string | null {
  const configFile = req.role ? `/etc/jaudiosync/${req.role}.json` : '/etc/jaudiosync/leader.json and member.json';
  if (req.key !== undefined && req.key !== null && req.key.trim() !== '') {
    try {
      AuthKey.parse(req.key);
      return null;
    } catch (err) {
      return `invalid key: ${(err as Error).message}`;
    }
  }
  if (req.env['NODE_ENV'] !== 'production') return null;
  return [
    'no shared key configured, and NODE_ENV=production requires one (without it anyone on the network could control the speakers).',
    'Make a key with `jaudiosync keygen` (or /opt/jaudiosync/scripts/keygen) and put the SAME key on the leader and every member:',
    `  "key": "jas1_..." in ${configFile} (or the environment variable JAS_KEY), then restart the service.`,
  ].join('\n');
}
