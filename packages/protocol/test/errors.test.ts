// Pins the error registry: names, statuses, close codes, templates, and one docs/errors.md row each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ERRORS, ERROR_CODES, JasError, MAX_CLOSE_REASON_BYTES, closeReason, errorCodeFromCloseCode,
  formatErrorMessage, isJasError, isJasErrorCode, type ErrorSpec,
} from '../src/errors.js';

const DOCS = fileURLToPath(new URL('../../../../docs/errors.md', import.meta.url));

/** Statuses the rest of the code relies on; changing one is a breaking API change. */
const PINNED: Record<string, number> = {
  JAS_ERR_BAD_JSON: 400, JAS_ERR_VALIDATION: 400, JAS_ERR_UNKNOWN_TYPE: 400, JAS_ERR_VERSION: 426,
  JAS_ERR_TOO_LARGE: 413, JAS_ERR_UNSUPPORTED_MEDIA: 415, JAS_ERR_NOT_FOUND: 404, JAS_ERR_TIME_IN_PAST: 422,
  JAS_ERR_TIME_TOO_FAR: 422, JAS_ERR_BAD_TIME: 400, JAS_ERR_UNAUTHORIZED: 401, JAS_ERR_CONFLICT: 409,
  JAS_ERR_NO_PLAYLIST: 409, JAS_ERR_PLAYLIST: 400, JAS_ERR_TRACK: 422, JAS_ERR_INTERNAL: 500,
};

test('registry: names, HTTP statuses, unique close codes in 4000-4999, templates and how-to-solve', () => {
  const closeCodes = new Set<number>();
  for (const code of ERROR_CODES) {
    const spec: ErrorSpec = ERRORS[code];
    assert.match(code, /^JAS_ERR_[A-Z0-9_]{1,48}$/);
    assert.ok(Number.isInteger(spec.statusCode) && spec.statusCode >= 400 && spec.statusCode <= 599, `${code} status`);
    if (spec.closeCode !== undefined) {
      assert.ok(Number.isInteger(spec.closeCode) && spec.closeCode >= 4000 && spec.closeCode <= 4999, `${code} close code`);
      assert.ok(!closeCodes.has(spec.closeCode), `${code} close code unique`);
      closeCodes.add(spec.closeCode);
      assert.equal(errorCodeFromCloseCode(spec.closeCode), code);
    }
    assert.ok(spec.message.length > 0 && spec.solve.length > 10, `${code} text`);
  }
  for (const [code, status] of Object.entries(PINNED)) {
    assert.ok(isJasErrorCode(code), `${code} exists`);
    assert.equal(ERRORS[code as keyof typeof ERRORS].statusCode, status, code);
  }
  // Errors that end connections have close codes.
  for (const code of ['JAS_ERR_VERSION', 'JAS_ERR_TOO_LARGE', 'JAS_ERR_UNAUTHORIZED', 'JAS_ERR_INTERNAL'] as const) {
    assert.ok((ERRORS[code] as ErrorSpec).closeCode !== undefined, code);
  }
  assert.equal(errorCodeFromCloseCode(1000), undefined);
  assert.equal(isJasErrorCode('toString'), false);
  assert.equal(isJasErrorCode('__proto__'), false);
});

test('docs/errors.md has one row per code, with the registry\'s status and close code', () => {
  const text = readFileSync(DOCS, 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\|\s*`(JAS_ERR_[A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[1]!), `${m[1]} documented once`);
    rows.set(m[1]!, m[2]!.split('|').map((c) => c.trim()));
  }
  assert.deepEqual([...rows.keys()].sort(), [...ERROR_CODES].sort());
  for (const code of ERROR_CODES) {
    const spec: ErrorSpec = ERRORS[code];
    const [status, close, , solve] = rows.get(code)!;
    assert.equal(status, String(spec.statusCode), `${code} status in docs`);
    assert.equal(close, spec.closeCode === undefined ? '-' : String(spec.closeCode), `${code} close code in docs`);
    assert.ok(solve && solve.length > 10, `${code} how to solve`);
  }
});

test('formatErrorMessage fills placeholders; missing ones show as ?', () => {
  assert.equal(
    formatErrorMessage('JAS_ERR_VERSION', { peer: 2, role: 'member', ours: 1 }),
    'protocol 2.x not supported, this member speaks 1.x',
  );
  assert.equal(formatErrorMessage('JAS_ERR_NOT_FOUND', {}), '? not found');
  assert.equal(formatErrorMessage('JAS_ERR_NO_PLAYLIST'), 'no playlist loaded');
  // Placeholders are looked up as own properties only.
  assert.equal(formatErrorMessage('JAS_ERR_NOT_FOUND', Object.create({ what: 'inherited' }) as Record<string, string>), '? not found');
});

test('JasError carries code, status, close code and field; converts to wire, reply and close reason', () => {
  const err = new JasError('JAS_ERR_VALIDATION', { field: '/volume', detail: 'too loud' }, { field: '/volume' });
  assert.ok(err instanceof Error);
  assert.ok(isJasError(err));
  assert.equal(err.name, 'JasError');
  assert.equal(err.code, 'JAS_ERR_VALIDATION');
  assert.equal(err.statusCode, 400);
  assert.equal(err.closeCode, 4002);
  assert.equal(err.field, '/volume');
  assert.equal(err.message, '/volume: too loud');
  assert.deepEqual(err.toWire(), { code: 'JAS_ERR_VALIDATION', message: '/volume: too loud', field: '/volume' });
  assert.deepEqual(err.toReply(), { error: 'JAS_ERR_VALIDATION', message: '/volume: too loud', field: '/volume' });
  assert.deepEqual(new JasError('JAS_ERR_NO_PLAYLIST').toReply(), { error: 'JAS_ERR_NO_PLAYLIST', message: 'no playlist loaded' });
  assert.equal(new JasError('JAS_ERR_NOT_FOUND', 'member x not found').message, 'member x not found');
  assert.equal(new JasError('JAS_ERR_NOT_FOUND').closeCode, undefined);

  const wrapped = JasError.from(new TypeError('boom'));
  assert.equal(wrapped.code, 'JAS_ERR_INTERNAL');
  assert.equal(wrapped.statusCode, 500);
  assert.match(wrapped.message, /boom/);
  assert.ok(wrapped.cause instanceof TypeError);
  assert.equal(JasError.from(err), err);
  assert.equal(JasError.fromWire({ code: 'JAS_ERR_TRACK', message: 'm', field: '/f' }).field, '/f');

  const long = new JasError('JAS_ERR_INTERNAL', { detail: 'é'.repeat(200) });
  const reason = long.closeReason();
  assert.ok(Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES);
  assert.ok(reason.startsWith('JAS_ERR_INTERNAL: internal error: é'));
  assert.ok(!reason.includes('\ufffd'), 'cut on a character boundary');
  assert.equal(closeReason('JAS_ERR_VERSION', 'short'), 'JAS_ERR_VERSION: short');
});
