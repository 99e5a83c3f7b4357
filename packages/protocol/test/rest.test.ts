// REST schemas: plain JSON Schema only (fastify's ajv must read them as they are) and the bounds the
// leader relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Kind, type TSchema } from '@sinclair/typebox';
import * as rest from '../src/rest.js';

/** TypeBox kinds that emit standard JSON Schema keywords. */
const PLAIN_KINDS = new Set(['Object', 'String', 'Number', 'Integer', 'Boolean', 'Array', 'Literal', 'Union', 'Null']);

function walk(schema: unknown, visit: (s: TSchema, path: string) => void, path = ''): void {
  if (Array.isArray(schema)) { schema.forEach((s, i) => walk(s, visit, `${path}/${i}`)); return; }
  if (schema === null || typeof schema !== 'object') return;
  if (Kind in schema) visit(schema as TSchema, path);
  for (const [key, child] of Object.entries(schema)) walk(child, visit, `${path}/${key}`);
}

test('every REST schema uses plain JSON Schema kinds only and survives a JSON round trip', () => {
  for (const [name, schema] of Object.entries(rest.REST_SCHEMAS)) {
    walk(schema, (s, path) => assert.ok(PLAIN_KINDS.has(String(s[Kind])), `${name}${path}: kind ${String(s[Kind])}`));
    const json = JSON.stringify(schema);
    assert.doesNotMatch(json, /"\$id"|"\$ref"|"instanceOf"|"typeOf"/, name);
  }
});

/** Valid and invalid examples per body schema; the same verdict is expected from every validator. */
const CASES: Array<[keyof typeof rest.REST_SCHEMAS, unknown, boolean]> = [
  ['PlayBody', {}, true],
  ['PlayBody', { index: 2, positionMs: 1500.5, at: '18:55' }, true],
  ['PlayBody', { delayMs: 250 }, true],
  ['PlayBody', { index: 1.5 }, false],
  ['PlayBody', { index: -1 }, false],
  ['PlayBody', { positionMs: -1 }, false],
  ['PlayBody', { at: '' }, false],
  ['PlayBody', { at: 'x'.repeat(65) }, false],
  ['PlayBody', { delayMs: 1.5 }, false],
  ['PlayBody', { delayMs: 86_400_001 }, false],
  ['PlayBody', { extra: 1 }, false],
  ['StopBody', { at: '+5s' }, true],
  ['StopBody', { index: 1 }, false],
  ['SeekBody', { positionMs: 0 }, true],
  ['SeekBody', {}, false],
  ['NextBody', { delayMs: 0 }, true],
  ['PreviousBody', { at: '2025-06-21T18:55:00+02:00' }, true],
  ['ResumeBody', {}, true],
  ['VolumeBody', { volume: 0.5 }, true],
  ['VolumeBody', { volume: 1.01 }, false],
  ['VolumeBody', {}, false],
  ['MemberSettingsBody', { outputDelayMs: -12.5 }, true],
  ['MemberSettingsBody', { channelMode: 'left', volume: 0 }, true],
  ['MemberSettingsBody', {}, false],
  ['MemberSettingsBody', { outputDelayMs: 5001 }, false],
  ['MemberSettingsBody', { channelMode: 'surround' }, false],
  ['PlaylistBody', {}, true],
  ['PlaylistBody', { path: '/music/party.m3u8' }, true],
  ['PlaylistBody', { path: '' }, false],
  ['MemberParams', { id: 'kitchen' }, true],
  ['MemberParams', { id: '../etc' }, false],
  ['TrackParams', { id: 'a'.repeat(64) }, true],
  ['TrackParams', { id: 'a'.repeat(63) }, false],
  ['ErrorReply', { error: 'JAS_ERR_NOT_FOUND', message: 'x not found' }, true],
  ['CommandReply', { rev: 3, atUs: 1, at: '2025-01-01T00:00:00.000Z' }, true],
];

test('body and param schemas accept and refuse the expected examples (TypeBox compiler)', () => {
  for (const [name, value, valid] of CASES) {
    const check = TypeCompiler.Compile(rest.REST_SCHEMAS[name] as TSchema);
    assert.equal(check.Check(value), valid, `${name} ${JSON.stringify(value)}`);
  }
});

test('fastify\'s ajv compiles every schema and agrees on the examples', async (t) => {
  let Ajv: new (opts: object) => { compile(s: object): (v: unknown) => boolean };
  try {
    // ajv comes with fastify (leader); the protocol package itself does not depend on it.
    const require = createRequire(import.meta.url);
    const mod = require('ajv') as { default?: typeof Ajv } & typeof Ajv;
    Ajv = mod.default ?? mod;
  } catch {
    t.skip('ajv not installed');
    return;
  }
  const ajv = new Ajv({ strict: true, allErrors: false });
  const compiled = new Map<string, (v: unknown) => boolean>();
  for (const [name, schema] of Object.entries(rest.REST_SCHEMAS)) {
    compiled.set(name, ajv.compile(JSON.parse(JSON.stringify(schema)) as object));
  }
  for (const [name, value, valid] of CASES) {
    assert.equal(compiled.get(name)!(structuredClone(value)), valid, `ajv ${name} ${JSON.stringify(value)}`);
  }
});
