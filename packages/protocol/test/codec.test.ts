// decodeMessage/encodeMessage: every valid sample round-trips; each class of malformed input is
// refused with the right registry code and field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage, validateMessage, DEFAULT_MAX_MESSAGE_BYTES, type DecodeResult } from '../src/codec.js';
import { MESSAGE_TYPES, MAX_TRACKS, MAX_US, MAX_FRAMES, LEADER_MESSAGE_TYPES, MEMBER_MESSAGE_TYPES } from '../src/messages.js';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR, PROTOCOL_VERSION } from '../src/version.js';
import { SAMPLES, sample } from './sample-messages.js';

function expectError(result: DecodeResult, code: string, field?: string): string {
  assert.equal(result.ok, false, `expected ${code} but decoded ok`);
  if (result.ok) return '';
  assert.equal(result.error.code, code, result.error.message);
  if (field !== undefined) assert.equal(result.error.field, field, result.error.message);
  assert.ok(result.error.message.length > 0 && result.error.message.length < 400, 'message present and short');
  return result.error.message;
}

/** Decodes a JSON text after swapping one value in a valid sample. */
function withValue(type: keyof typeof SAMPLES, mutate: (msg: Record<string, any>) => void): DecodeResult {
  const msg = sample(type) as Record<string, any>;
  msg['v'] = PROTOCOL_VERSION;
  mutate(msg);
  return decodeMessage(JSON.stringify(msg));
}

test('every sample round-trips through encode/decode unchanged', () => {
  for (const type of MESSAGE_TYPES) {
    const text = encodeMessage(SAMPLES[type]);
    const result = decodeMessage(text);
    assert.ok(result.ok, `${type}: ${result.ok ? '' : result.error.message}`);
    assert.deepEqual(result.message, { ...SAMPLES[type], v: PROTOCOL_VERSION });
    assert.ok(validateMessage(result.message).ok);
  }
});

test('encodeMessage stamps this side\'s version over any given v', () => {
  const parsed = JSON.parse(encodeMessage({ ...SAMPLES.ping, v: '9.9' }));
  assert.equal(parsed.v, PROTOCOL_VERSION);
  assert.equal(parsed.type, 'ping');
});

test('binary payloads: Buffer, ArrayBuffer, fragmented Buffer[]', () => {
  const text = encodeMessage(SAMPLES.timeline);
  const buf = Buffer.from(text, 'utf8');
  assert.ok(decodeMessage(buf).ok);
  assert.ok(decodeMessage(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)).ok);
  assert.ok(decodeMessage([buf.subarray(0, 10), buf.subarray(10, 11), buf.subarray(11)]).ok);
  expectError(decodeMessage(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 'JAS_ERR_BAD_JSON');
  expectError(decodeMessage([buf, 'not a buffer'] as unknown as Buffer[]), 'JAS_ERR_BAD_JSON');
});

test('direction: a member only accepts leader messages and vice versa; error goes both ways', () => {
  for (const type of MESSAGE_TYPES) {
    const text = encodeMessage(SAMPLES[type]);
    const fromLeader = (LEADER_MESSAGE_TYPES as readonly string[]).includes(type);
    const fromMember = (MEMBER_MESSAGE_TYPES as readonly string[]).includes(type);
    assert.ok(fromLeader || fromMember, `${type} has a sender`);
    const asMember = decodeMessage(text, { allowed: 'leader' });
    const asLeader = decodeMessage(text, { allowed: 'member' });
    assert.equal(asMember.ok, fromLeader, type);
    assert.equal(asLeader.ok, fromMember, type);
    if (!fromLeader) expectError(asMember, 'JAS_ERR_UNKNOWN_TYPE', '/type');
  }
});

test('not JSON, not an object, no type, unknown type', () => {
  expectError(decodeMessage('{"type":"ping",'), 'JAS_ERR_BAD_JSON');
  expectError(decodeMessage(''), 'JAS_ERR_BAD_JSON');
  expectError(decodeMessage('NaN'), 'JAS_ERR_BAD_JSON');
  expectError(decodeMessage('[1,2]'), 'JAS_ERR_VALIDATION', '');
  expectError(decodeMessage('null'), 'JAS_ERR_VALIDATION', '');
  expectError(decodeMessage('42'), 'JAS_ERR_VALIDATION', '');
  expectError(decodeMessage('{"v":"1.0"}'), 'JAS_ERR_VALIDATION', '/type');
  expectError(decodeMessage('{"type":7,"v":"1.0"}'), 'JAS_ERR_VALIDATION', '/type');
  const msg = expectError(decodeMessage('{"type":"dance","v":"1.0"}'), 'JAS_ERR_UNKNOWN_TYPE', '/type');
  assert.match(msg, /dance/);
  // Names that exist on Object.prototype are not message types.
  for (const t of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    expectError(decodeMessage(JSON.stringify({ type: t, v: '1.0' })), 'JAS_ERR_UNKNOWN_TYPE', '/type');
  }
});

test('non-JSON payload kinds are refused, never thrown', () => {
  for (const raw of [undefined, null, 42, {}, () => 1, Symbol('x'), 10n, new Date()]) {
    expectError(decodeMessage(raw), 'JAS_ERR_BAD_JSON');
  }
});

test('version: other major refused with JAS_ERR_VERSION, missing or malformed v is a validation error', () => {
  const other = `${PROTOCOL_MAJOR + 1}.0`;
  const msg = expectError(withValue('settings', (m) => { m['v'] = other; }), 'JAS_ERR_VERSION', '/v');
  assert.match(msg, new RegExp(`protocol ${PROTOCOL_MAJOR + 1}\\.x not supported, this peer speaks ${PROTOCOL_MAJOR}\\.x`));
  const asMember = decodeMessage(JSON.stringify({ ...SAMPLES.settings, v: other }), { allowed: 'leader' });
  assert.match(expectError(asMember, 'JAS_ERR_VERSION'), /this member speaks/);
  // Another major is reported as such even if its message type is unknown to us.
  expectError(decodeMessage(JSON.stringify({ type: 'hello2', v: other })), 'JAS_ERR_VERSION');
  expectError(withValue('ping', (m) => { delete m['v']; }), 'JAS_ERR_VALIDATION', '/v');
  for (const bad of [1, '1', '1.0.0', 'v1.0', '', '1.x', ' 1.0', '99999.0']) {
    expectError(withValue('ping', (m) => { m['v'] = bad; }), 'JAS_ERR_VALIDATION', '/v');
  }
});

test('minor versions: a newer minor may add fields (ignored), the same minor may not', () => {
  const newer = `${PROTOCOL_MAJOR}.${PROTOCOL_MINOR + 1}`;
  const ok = withValue('hello', (m) => { m['v'] = newer; m['futureField'] = { x: 1 }; });
  assert.ok(ok.ok);
  const nested = withValue('state', (m) => { m['v'] = newer; m['clock']['futureClock'] = 1; });
  assert.ok(nested.ok);
  expectError(withValue('hello', (m) => { m['futureField'] = 1; }), 'JAS_ERR_VALIDATION', '/futureField');
  expectError(withValue('state', (m) => { m['clock']['typo'] = 1; }), 'JAS_ERR_VALIDATION', '/clock/typo');
  // Newer minors still obey every bound of the fields we know.
  expectError(withValue('hello', (m) => { m['v'] = newer; m['channels'] = 0; }), 'JAS_ERR_VALIDATION', '/channels');
});

test('integers: floats, NaN-ish, Infinity (1e400), negative and absurd values are refused', () => {
  expectError(withValue('ping', (m) => { m['seq'] = 1.5; }), 'JAS_ERR_VALIDATION', '/seq');
  expectError(withValue('timeline', (m) => { m['revisions'][0]['atUs'] += 0.5; }), 'JAS_ERR_VALIDATION', '/revisions/0/atUs');
  expectError(withValue('timeline', (m) => { m['tracks'][1]['frames'] = 1.25; }), 'JAS_ERR_VALIDATION', '/tracks/1/frames');
  expectError(withValue('ping', (m) => { m['sentUs'] = -1; }), 'JAS_ERR_VALIDATION', '/sentUs');
  expectError(withValue('ping', (m) => { m['sentUs'] = MAX_US + 1; }), 'JAS_ERR_VALIDATION', '/sentUs');
  expectError(withValue('ping', (m) => { m['sentUs'] = '5'; }), 'JAS_ERR_VALIDATION', '/sentUs');
  expectError(withValue('ping', (m) => { m['sentUs'] = null; }), 'JAS_ERR_VALIDATION', '/sentUs');
  expectError(withValue('timeline', (m) => { m['revisions'][0]['frame'] = MAX_FRAMES + 1; }), 'JAS_ERR_VALIDATION', '/revisions/0/frame');
  expectError(withValue('settings', (m) => { m['outputDelayUs'] = 5_000_001; }), 'JAS_ERR_VALIDATION', '/outputDelayUs');
  expectError(withValue('settings', (m) => { m['outputDelayUs'] = 2.5; }), 'JAS_ERR_VALIDATION', '/outputDelayUs');
  // JSON.parse turns 1e400 into Infinity: it must not pass as a number or an integer.
  const inf = encodeMessage(SAMPLES.settings).replace('"volume":0.25', '"volume":1e400');
  assert.notEqual(inf, encodeMessage(SAMPLES.settings));
  expectError(decodeMessage(inf), 'JAS_ERR_VALIDATION', '/volume');
  const negInf = encodeMessage(SAMPLES.state).replace(/"offsetUs":[^,]+/, '"offsetUs":-1e400');
  expectError(decodeMessage(negInf), 'JAS_ERR_VALIDATION', '/clock/offsetUs');
  const infInt = encodeMessage(SAMPLES.ping).replace('"seq":7', '"seq":1e400');
  expectError(decodeMessage(infInt), 'JAS_ERR_VALIDATION', '/seq');
  // Fractions in [0,1] and signed offsets are fine where the schema says number.
  assert.ok(withValue('settings', (m) => { m['volume'] = 0; }).ok);
  expectError(withValue('settings', (m) => { m['volume'] = 1.0001; }), 'JAS_ERR_VALIDATION', '/volume');
  expectError(withValue('state', (m) => { m['decode'][1]['progress'] = -0.1; }), 'JAS_ERR_VALIDATION', '/decode/1/progress');
  expectError(withValue('state', (m) => { m['clock']['ratePpm'] = 1e6; }), 'JAS_ERR_VALIDATION', '/clock/ratePpm');
});

test('strings: patterns, enums and lengths', () => {
  expectError(withValue('hello', (m) => { m['memberId'] = 'kitchen pi'; }), 'JAS_ERR_VALIDATION', '/memberId');
  expectError(withValue('hello', (m) => { m['memberId'] = 'x'.repeat(65); }), 'JAS_ERR_VALIDATION', '/memberId');
  expectError(withValue('hello', (m) => { m['memberId'] = ''; }), 'JAS_ERR_VALIDATION', '/memberId');
  expectError(withValue('hello', (m) => { m['hostname'] = 'h'.repeat(257); }), 'JAS_ERR_VALIDATION', '/hostname');
  const sinkMsg = expectError(withValue('hello', (m) => { m['sink'] = 'alsa'; }), 'JAS_ERR_VALIDATION', '/sink');
  assert.match(sinkMsg, /"portaudio", "capture", "none"/);
  expectError(withValue('timeline', (m) => { m['tracks'][0]['id'] = 'A'.repeat(64); }), 'JAS_ERR_VALIDATION', '/tracks/0/id');
  expectError(withValue('track-error', (m) => { m['reason'] = 'r'.repeat(1025); }), 'JAS_ERR_VALIDATION', '/reason');
  expectError(withValue('error', (m) => { m['code'] = 'EBADF'; }), 'JAS_ERR_VALIDATION', '/code');
  expectError(withValue('welcome', (m) => { m['trackBaseUrl'] = 'ftp://leader/tracks'; }), 'JAS_ERR_VALIDATION', '/trackBaseUrl');
  expectError(withValue('welcome', (m) => { m['trackBaseUrl'] = 'http://[::1/tracks'; }), 'JAS_ERR_VALIDATION', '/trackBaseUrl');
  expectError(withValue('welcome', (m) => { m['ntpPort'] = 0; }), 'JAS_ERR_VALIDATION', '/ntpPort');
  expectError(withValue('hello', (m) => { delete m['clockMode']; }), 'JAS_ERR_VALIDATION', '/clockMode');
});

test('timeline cross-field rules: ascending revisions, index and frame within the playlist', () => {
  const back = expectError(withValue('timeline', (m) => { m['revisions'][2]['atUs'] = m['revisions'][1]['atUs']; }), 'JAS_ERR_VALIDATION', '/revisions/2/atUs');
  assert.match(back, /ascending/);
  expectError(withValue('timeline', (m) => { m['revisions'][1]['index'] = 2; }), 'JAS_ERR_VALIDATION', '/revisions/1/index');
  expectError(withValue('timeline', (m) => { m['revisions'][2]['frame'] = 96_000; }), 'JAS_ERR_VALIDATION', '/revisions/2/frame');
  assert.ok(withValue('timeline', (m) => { m['revisions'][2]['frame'] = 95_999; }).ok);
  expectError(withValue('timeline', (m) => { m['revisions'] = []; }), 'JAS_ERR_VALIDATION', '/revisions');
  // Empty playlist: one position, the start.
  assert.ok(withValue('timeline', (m) => { m['tracks'] = []; m['revisions'] = [{ atUs: 5, playing: false, index: 0, frame: 0 }]; }).ok);
  expectError(withValue('timeline', (m) => { m['tracks'] = []; m['revisions'] = [{ atUs: 5, playing: false, index: 3, frame: 0 }]; }), 'JAS_ERR_VALIDATION', '/revisions/0/index');
});

test('arrays are bounded: a 10000-track playlist passes, 10001 does not', () => {
  const tracks = Array.from({ length: MAX_TRACKS }, (_, i) => ({ id: i.toString(16).padStart(64, '0'), frames: 480_000 }));
  const big = { ...SAMPLES.timeline, tracks };
  const text = encodeMessage(big);
  assert.ok(Buffer.byteLength(text) < DEFAULT_MAX_MESSAGE_BYTES, 'fits the default size limit');
  assert.ok(decodeMessage(text).ok);
  const tooMany = { ...SAMPLES.timeline, tracks: [...tracks, { id: 'f'.repeat(64), frames: 1 }] };
  expectError(decodeMessage(encodeMessage(tooMany)), 'JAS_ERR_VALIDATION', '/tracks');
  // The largest sane messages fit the default limit: full playlist with long titles, a state
  // report listing every track as cached and decoding.
  const titled = tracks.map((tr, i) => ({ ...tr, title: `${i} `.padEnd(100, 'x') }));
  const titledText = encodeMessage({ ...SAMPLES.timeline, tracks: titled });
  assert.ok(decodeMessage(titledText).ok, 'titled 10000-track timeline');
  const ids = tracks.map((tr) => tr.id);
  const fullState = encodeMessage({
    ...SAMPLES.state,
    cache: { trackIds: ids, bytes: 1e12 },
    decode: ids.map((trackId) => ({ trackId, progress: 0.123456789, error: 'e'.repeat(20) })),
  });
  assert.ok(decodeMessage(fullState).ok, 'state of a 10000-track cache');
  const errors = Array.from({ length: 65 }, () => ({ code: 'JAS_ERR_INTERNAL', message: 'x' }));
  expectError(withValue('state', (m) => { m['errors'] = errors; }), 'JAS_ERR_VALIDATION', '/errors');
});

test('size limit is checked first, for strings and buffers, default 1 MiB or maxBytes', () => {
  const pad = ' '.repeat(DEFAULT_MAX_MESSAGE_BYTES);
  const msg = expectError(decodeMessage(`${encodeMessage(SAMPLES.ping)}${pad}`), 'JAS_ERR_TOO_LARGE');
  assert.match(msg, new RegExp(String(DEFAULT_MAX_MESSAGE_BYTES)));
  // Even garbage: size comes before parsing.
  expectError(decodeMessage(Buffer.alloc(DEFAULT_MAX_MESSAGE_BYTES + 1, 0xff)), 'JAS_ERR_TOO_LARGE');
  const text = encodeMessage(SAMPLES.ping);
  const bytes = Buffer.byteLength(text);
  assert.ok(decodeMessage(text, { maxBytes: bytes }).ok);
  expectError(decodeMessage(text, { maxBytes: bytes - 1 }), 'JAS_ERR_TOO_LARGE');
  expectError(decodeMessage(Buffer.from(text), { maxBytes: bytes - 1 }), 'JAS_ERR_TOO_LARGE');
  expectError(decodeMessage([Buffer.from(text), Buffer.from(' ')], { maxBytes: bytes }), 'JAS_ERR_TOO_LARGE');
  // Multi-byte characters count as their UTF-8 bytes, not UTF-16 units.
  const wide = encodeMessage({ ...SAMPLES['track-error'], reason: 'é'.repeat(100) });
  expectError(decodeMessage(wide, { maxBytes: wide.length + 50 }), 'JAS_ERR_TOO_LARGE');
});

test('prototype pollution keys and deep nesting are refused with their path', () => {
  const top = encodeMessage(SAMPLES.ping).replace('{', '{"__proto__":{"polluted":true},');
  expectError(decodeMessage(top), 'JAS_ERR_VALIDATION', '/__proto__');
  const nested = encodeMessage(SAMPLES.state).replace('"clock":{', '"clock":{"__proto__":{"polluted":true},');
  expectError(decodeMessage(nested), 'JAS_ERR_VALIDATION', '/clock/__proto__');
  expectError(decodeMessage('{"type":"ping","v":"1.0","constructor":{"prototype":{}}}'), 'JAS_ERR_VALIDATION', '/constructor');
  // Even from a newer minor, whose extra fields are otherwise tolerated.
  const newer = JSON.stringify({ ...SAMPLES.ping, v: `${PROTOCOL_MAJOR}.${PROTOCOL_MINOR + 1}` }).replace('{', '{"__proto__":1,');
  expectError(decodeMessage(newer), 'JAS_ERR_VALIDATION', '/__proto__');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  const deep = `{"type":"ping","v":"1.0","x":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
  assert.match(expectError(decodeMessage(deep), 'JAS_ERR_VALIDATION'), /nesting deeper/);
  const deepObj = `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`;
  expectError(decodeMessage(deepObj), 'JAS_ERR_VALIDATION');
});

test('validation error messages name the field and what was expected', () => {
  const r = withValue('timeline', (m) => { m['revisions'][0]['atUs'] = 1.5; });
  const msg = expectError(r, 'JAS_ERR_VALIDATION', '/revisions/0/atUs');
  assert.match(msg, /^\/revisions\/0\/atUs: /);
  assert.match(msg, /integer/);
  const missing = expectError(withValue('ping', (m) => { delete m['seq']; }), 'JAS_ERR_VALIDATION', '/seq');
  assert.match(missing, /required/);
  // Long strings are not echoed back whole.
  const long = expectError(decodeMessage(JSON.stringify({ type: 'x'.repeat(5000), v: '1.0' })), 'JAS_ERR_UNKNOWN_TYPE');
  assert.ok(long.length < 200);
});

test('docs/protocol.md has a table row for every message type', async () => {
  const { readFileSync } = await import('node:fs');
  const docs = readFileSync(new URL('../../../../docs/protocol.md', import.meta.url), 'utf8');
  for (const type of MESSAGE_TYPES) assert.match(docs, new RegExp(`^\\| \`${type}\` \\|`, 'm'), type);
});
