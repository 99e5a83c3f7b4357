// Property tests: decodeMessage never throws, whatever arrives, and every ok result re-validates
// and survives another encode/decode. Seeded (JAS_FC_SEED overrides) and bounded in runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, validateMessage, type DecodeResult } from '../src/codec.js';
import { isJasErrorCode } from '../src/errors.js';
import { MESSAGE_TYPES, type MessageInput } from '../src/messages.js';
import { PROTOCOL_VERSION } from '../src/version.js';
import { SAMPLES } from './sample-messages.js';

const SEED = Number(process.env['JAS_FC_SEED'] ?? 0x4a4153);
const RUNS = 2000;
const params = { seed: SEED, numRuns: RUNS };

function checkResult(result: DecodeResult): void {
  if (result.ok) {
    // Re-validate the decoded object and a fresh encoding of it.
    assert.ok(validateMessage(result.message).ok, 'ok result re-validates');
    const again = decodeMessage(encodeMessage(result.message as MessageInput));
    assert.ok(again.ok, again.ok ? '' : again.error.message);
  } else {
    assert.ok(isJasErrorCode(result.error.code), `registry code: ${result.error.code}`);
    assert.equal(typeof result.error.message, 'string');
    assert.notEqual(result.error.code, 'JAS_ERR_INTERNAL', `no internal errors: ${result.error.message}`);
  }
}

/** Replaces, deletes or adds one value somewhere in a (deep-copied) JSON value. */
function mutate(value: unknown, path: number[], replacement: unknown, op: 'set' | 'delete' | 'add'): unknown {
  const root = structuredClone(value);
  let node: unknown = root;
  for (let depth = 0; ; depth++) {
    if (node === null || typeof node !== 'object') return replacement;
    const keys = Object.keys(node);
    if (keys.length === 0) return root;
    const key = keys[(path[depth] ?? 0) % keys.length]!;
    const child = (node as Record<string, unknown>)[key];
    const last = depth >= path.length - 1 || child === null || typeof child !== 'object';
    if (last) {
      const obj = node as Record<string, unknown>;
      if (op === 'delete') delete obj[key];
      else if (op === 'add' && !Array.isArray(node)) obj[`extra${depth}`] = replacement;
      else obj[key] = replacement;
      return root;
    }
    node = child;
  }
}

const sampleArb = fc.constantFrom(...MESSAGE_TYPES).map((t) => ({ ...SAMPLES[t], v: PROTOCOL_VERSION }));
const interesting = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(0, -1, 0.5, 1.5, 2 ** 53, 2 ** 53 - 1, 2 ** 40 + 1, -0, 1e308, '', 'x'.repeat(300), null, true, [], {}),
  fc.integer(), fc.double(), fc.string(),
);

test('never throws on arbitrary strings', () => {
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
    checkResult(decodeMessage(s));
  }), params);
  // Any code point, lone surrogates included (fewer runs: V8's JSON errors are slow to build for them).
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => {
    checkResult(decodeMessage(s));
  }), { seed: SEED, numRuns: 300 });
});

test('never throws on arbitrary bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, asArrayBuffer) => {
    const raw = asArrayBuffer ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) : Buffer.from(bytes);
    checkResult(decodeMessage(raw));
  }), params);
});

test('never throws on arbitrary JSON values, with or without a known type and version', () => {
  const obj = fc.record({
    type: fc.oneof(fc.constantFrom(...MESSAGE_TYPES), fc.string(), fc.integer()),
    v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.constantFrom('1.1', '2.0', '0.9', '1'), fc.string()),
  }, { requiredKeys: [] });
  const value = fc.oneof(fc.jsonValue(), fc.tuple(obj, fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 })).map(([a, b]) => ({ ...b, ...a })));
  fc.assert(fc.property(value, (v) => {
    checkResult(decodeMessage(JSON.stringify(v)));
    checkResult(validateMessage(v));
  }), params);
});

test('never throws on mutated valid messages, and accepts only what re-validates', () => {
  let accepted = 0;
  fc.assert(fc.property(
    sampleArb,
    fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
    interesting,
    fc.constantFrom('set' as const, 'delete' as const, 'add' as const),
    (msg, path, replacement, op) => {
      const mutated = mutate(msg, path, replacement, op);
      const result = decodeMessage(JSON.stringify(mutated));
      if (result.ok) accepted++;
      checkResult(result);
    },
  ), params);
  // Sanity that the property exercised both outcomes (e.g. setting a number to another valid one).
  assert.ok(accepted > 0 && accepted < RUNS, `accepted ${accepted} of ${RUNS}`);
});

test('never throws on arbitrary non-JSON payload kinds', () => {
  fc.assert(fc.property(fc.anything(), (raw) => {
    const result = decodeMessage(raw);
    if (typeof raw !== 'string') assert.equal(result.ok, false);
    checkResult(result);
  }), { seed: SEED, numRuns: 500 });
});
