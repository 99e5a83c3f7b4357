// WebSocket message codec: `decodeMessage` turns untrusted bytes into a validated `Message` or a
// registry error naming the failing field, and never throws; `encodeMessage` stamps `v` and serializes.
// Order of checks: size, UTF-8, JSON, nesting/forbidden keys, object with string type, version,
// known type, direction, schema, cross-field rules.
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { formatErrorMessage, type JasErrorCode, type WireError } from './errors.js';
import {
  LEADER_MESSAGE_TYPES, MEMBER_MESSAGE_TYPES, MESSAGE_SCHEMAS,
  type Message, type MessageInput, type MessageType, type Role, type TimelineMessage,
} from './messages.js';
import { validateTimeline } from './timeline.js';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR, PROTOCOL_VERSION } from './version.js';

/** Default WebSocket message limit: fits the largest sane message (10000-track timeline with titles ~1.5 MB, state with 10000 cached and decoding tracks ~1.8 MB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Our deepest message nests 4 levels; 32 leaves room for newer minors and stops stack-eating input. */
export const MAX_JSON_DEPTH = 32;
/** Keys that could reach an object's prototype if some consumer ever merges a message into an object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Longest value excerpt quoted back in an error message (errors must stay small). */
const MAX_QUOTED_CHARS = 40;

export interface DecodeOptions {
  /** Size limit in bytes (UTF-8), checked before anything else. Default 1 MiB. */
  maxBytes?: number;
  /**
   * Accept only messages sent by this role: a member decodes with `allowed: 'leader'`, the leader
   * with `allowed: 'member'`. Default: any direction.
   */
  allowed?: Role;
}

export type DecodeResult =
  | { ok: true; message: Message }
  | { ok: false; error: WireError };

export type RawMessage = string | Buffer | ArrayBuffer | Uint8Array | readonly Uint8Array[];

interface Validators {
  strict: TypeCheck<TSchema>;
  /** For peers of a newer minor: unknown (added) fields are tolerated. */
  lenient: TypeCheck<TSchema>;
}

const VALIDATORS = new Map<string, Validators>();
for (const type of Object.keys(MESSAGE_SCHEMAS) as MessageType[]) {
  const schema: TSchema = MESSAGE_SCHEMAS[type];
  VALIDATORS.set(type, {
    strict: TypeCompiler.Compile(schema),
    lenient: TypeCompiler.Compile(openObjects(schema)),
  });
}

const SENT_BY: Record<Role, ReadonlySet<string>> = {
  leader: new Set<string>(LEADER_MESSAGE_TYPES),
  member: new Set<string>(MEMBER_MESSAGE_TYPES),
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and validates one WebSocket message. Never throws. */
export function decodeMessage(raw: unknown, opts: DecodeOptions = {}): DecodeResult {
  try {
    return decodeUnsafe(raw, opts);
  } catch (err) {
    // Defensive: every path above returns; a throw here is a bug, reported not propagated.
    return fail('JAS_ERR_INTERNAL', formatErrorMessage('JAS_ERR_INTERNAL', { detail: safeText(err) }));
  }
}

/** Validates an already-parsed value as if it had arrived on the wire (e.g. before sending). */
export function validateMessage(value: unknown, opts: Pick<DecodeOptions, 'allowed'> = {}): DecodeResult {
  try {
    return validateValue(value, opts);
  } catch (err) {
    return fail('JAS_ERR_INTERNAL', formatErrorMessage('JAS_ERR_INTERNAL', { detail: safeText(err) }));
  }
}

/** Serializes a message, stamping this side's protocol version as `v`. */
export function encodeMessage(msg: MessageInput): string {
  const { type, ...rest } = msg;
  return JSON.stringify({ type, ...rest, v: PROTOCOL_VERSION });
}

// ---- internals ---------------------------------------------------------------------------------

function decodeUnsafe(raw: unknown, opts: DecodeOptions): DecodeResult {
  const maxBytes = typeof opts.maxBytes === 'number' && opts.maxBytes > 0 ? opts.maxBytes : DEFAULT_MAX_MESSAGE_BYTES;
  const text = rawToText(raw, maxBytes);
  if (typeof text !== 'string') return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail('JAS_ERR_BAD_JSON', formatErrorMessage('JAS_ERR_BAD_JSON', { detail: safeText(err) }));
  }
  return validateValue(value, opts);
}

function validateValue(value: unknown, opts: Pick<DecodeOptions, 'allowed'>): DecodeResult {
  const structural = checkStructure(value);
  if (structural) return { ok: false, error: structural };
  if (!isPlainObject(value)) return validation('', 'a message must be a JSON object');
  const type = value['type'];
  if (typeof type !== 'string') return validation('/type', 'required string property');
  // The major version is checked before the type: another major may rename or drop types, and
  // "wrong version" is the answer that tells its operator what to do.
  const v = value['v'];
  const version = typeof v === 'string' ? /^([0-9]{1,4})\.([0-9]{1,4})$/.exec(v) : null;
  if (!version) return validation('/v', 'required protocol version "major.minor"');
  const major = Number(version[1]);
  const minor = Number(version[2]);
  if (major !== PROTOCOL_MAJOR) {
    const role = opts.allowed === 'leader' ? 'member' : opts.allowed === 'member' ? 'leader' : 'peer';
    return fail('JAS_ERR_VERSION', formatErrorMessage('JAS_ERR_VERSION', { peer: major, role, ours: PROTOCOL_MAJOR }), '/v');
  }
  const validators = VALIDATORS.get(type);
  if (!validators) {
    return fail('JAS_ERR_UNKNOWN_TYPE', formatErrorMessage('JAS_ERR_UNKNOWN_TYPE', { type: quote(type) }), '/type');
  }
  if (opts.allowed && !SENT_BY[opts.allowed].has(type)) {
    return fail('JAS_ERR_UNKNOWN_TYPE', `message type ${quote(type)} is not sent by a ${opts.allowed}`, '/type');
  }
  const check = minor > PROTOCOL_MINOR ? validators.lenient : validators.strict;
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    if (!first) return validation('', 'invalid message');
    return validation(first.path, describeSchemaError(first.message, first.schema, first.value));
  }
  const message = value as unknown as Message;
  const crossError = crossCheck(message);
  if (crossError) return { ok: false, error: crossError };
  return { ok: true, message };
}

function rawToText(raw: unknown, maxBytes: number): string | { ok: false; error: WireError } {
  if (typeof raw === 'string') {
    // UTF-16 length <= UTF-8 length, so the cheap check settles most oversized strings.
    if (raw.length > maxBytes) return tooLarge(raw.length, maxBytes, 'at least ');
    const bytes = Buffer.byteLength(raw, 'utf8');
    if (bytes > maxBytes) return tooLarge(bytes, maxBytes);
    return raw;
  }
  let bytes: Uint8Array;
  if (raw instanceof Uint8Array) {
    bytes = raw;
  } else if (raw instanceof ArrayBuffer) {
    bytes = new Uint8Array(raw);
  } else if (Array.isArray(raw)) {
    // ws hands fragmented messages over as Buffer[].
    let total = 0;
    for (const part of raw as unknown[]) {
      if (!(part instanceof Uint8Array)) return fail('JAS_ERR_BAD_JSON', 'payload fragments must be binary buffers');
      total += part.byteLength;
    }
    if (total > maxBytes) return tooLarge(total, maxBytes);
    bytes = Buffer.concat(raw as Uint8Array[], total);
  } else {
    return fail('JAS_ERR_BAD_JSON', formatErrorMessage('JAS_ERR_BAD_JSON', { detail: `unsupported payload of type ${typeof raw}` }));
  }
  if (bytes.byteLength > maxBytes) return tooLarge(bytes.byteLength, maxBytes);
  try {
    return utf8.decode(bytes);
  } catch {
    return fail('JAS_ERR_BAD_JSON', formatErrorMessage('JAS_ERR_BAD_JSON', { detail: 'invalid UTF-8' }));
  }
}

/** Iterative walk (JSON.parse happily builds million-deep values): depth limit and forbidden keys. */
function checkStructure(root: unknown): WireError | undefined {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      return { code: 'JAS_ERR_VALIDATION', message: formatErrorMessage('JAS_ERR_VALIDATION', { field: path || '/', detail: `nesting deeper than ${MAX_JSON_DEPTH} levels` }), field: path };
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push({ value: value[i], path: `${path}/${i}`, depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(value)) {
      const keyPath = `${path}/${escapePointer(key)}`;
      if (FORBIDDEN_KEYS.has(key)) {
        return { code: 'JAS_ERR_VALIDATION', message: formatErrorMessage('JAS_ERR_VALIDATION', { field: keyPath, detail: 'forbidden property name' }), field: keyPath };
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: keyPath, depth: depth + 1 });
    }
  }
  return undefined;
}

/** Rules one schema cannot express. */
function crossCheck(message: Message): WireError | undefined {
  switch (message.type) {
    case 'timeline':
      return checkTimeline(message);
    case 'welcome': {
      let url: URL;
      try {
        url = new URL(message.trackBaseUrl);
      } catch {
        return validationError('/trackBaseUrl', 'not a valid URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return validationError('/trackBaseUrl', 'must be http(s)');
      return undefined;
    }
    default:
      return undefined;
  }
}

function checkTimeline(msg: TimelineMessage): WireError | undefined {
  let previousAtUs = -1;
  for (let i = 0; i < msg.revisions.length; i++) {
    const rev = msg.revisions[i]!;
    if (rev.atUs <= previousAtUs) {
      return validationError(`/revisions/${i}/atUs`, `revisions must be in strictly ascending atUs (${rev.atUs} after ${previousAtUs})`);
    }
    previousAtUs = rev.atUs;
    if (msg.tracks.length === 0) {
      // An empty playlist has one position: the start.
      if (rev.index !== 0) return validationError(`/revisions/${i}/index`, 'must be 0 while the playlist is empty');
      if (rev.frame !== 0) return validationError(`/revisions/${i}/frame`, 'must be 0 while the playlist is empty');
      continue;
    }
    const track = msg.tracks[rev.index];
    if (!track) {
      return validationError(`/revisions/${i}/index`, `index ${rev.index} outside the playlist of ${msg.tracks.length} tracks`);
    }
    if (rev.frame >= track.frames && rev.frame !== 0) {
      return validationError(`/revisions/${i}/frame`, `frame ${rev.frame} beyond the track's ${track.frames} frames`);
    }
  }
  // timeline.ts is what every member plays from: whatever it refuses, the codec refuses too.
  const problem = validateTimeline(msg);
  if (problem !== null) return validationError('', problem);
  return undefined;
}

/** Turns TypeBox's terse messages into ones that say what was expected. */
function describeSchemaError(message: string, schema: TSchema, value: unknown): string {
  const options = literalOptions(schema);
  if (value === undefined) return 'required property is missing';
  const got = `got ${describeValue(value)}`;
  if (options) return `expected one of ${options.map((o) => JSON.stringify(o)).join(', ')}, ${got}`;
  return `${message.charAt(0).toLowerCase()}${message.slice(1)} (${got})`;
}

function literalOptions(schema: TSchema): unknown[] | undefined {
  const anyOf = (schema as { anyOf?: unknown }).anyOf;
  if (!Array.isArray(anyOf) || anyOf.length === 0) return undefined;
  const out: unknown[] = [];
  for (const s of anyOf) {
    if (!s || typeof s !== 'object' || !Object.hasOwn(s, 'const')) return undefined;
    out.push((s as { const: unknown }).const);
  }
  return out;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array of ${value.length}`;
  if (typeof value === 'object') return 'object';
  if (typeof value === 'string') return `string ${quote(value)}`;
  if (typeof value === 'number') return Number.isFinite(value) ? `number ${value}` : String(value);
  return typeof value;
}

function quote(text: string): string {
  const cut = text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}...` : text;
  return JSON.stringify(cut);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function safeText(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}

function validationError(field: string, detail: string): WireError {
  return { code: 'JAS_ERR_VALIDATION', message: formatErrorMessage('JAS_ERR_VALIDATION', { field: field || '/', detail }), field };
}

function validation(field: string, detail: string): DecodeResult {
  return { ok: false, error: validationError(field, detail) };
}

function fail(code: JasErrorCode, message: string, field?: string): { ok: false; error: WireError } {
  return { ok: false, error: field === undefined ? { code, message } : { code, message, field } };
}

function tooLarge(bytes: number, limit: number, prefix = ''): { ok: false; error: WireError } {
  return fail('JAS_ERR_TOO_LARGE', formatErrorMessage('JAS_ERR_TOO_LARGE', { bytes: `${prefix}${bytes}`, limit }));
}

/** Deep copy of a schema with every `additionalProperties: false` dropped (symbol keys kept). */
function openObjects<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((s: unknown) => openObjects(s)) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(schema)) {
    if (key === 'additionalProperties' && (schema as Record<string, unknown>)[key] === false) continue;
    out[key] = openObjects((schema as Record<PropertyKey, unknown>)[key]);
  }
  return out as T;
}
