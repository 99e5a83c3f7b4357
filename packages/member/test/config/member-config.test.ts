import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadMemberConfig, memberHelp, MEMBER_OPTIONS, ConfigError } from '../../src/config/member-config.js';

test('defaults, then file, then env, then flags', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'member.json');
  writeFileSync(file, JSON.stringify({ port: 7801, sink: 'capture', capturePpm: 12.5 }));
  const a = loadMemberConfig(['--config', file], {});
  assert.equal(a.config.port, 7801);
  assert.equal(a.config.sink, 'capture');
  assert.equal(a.config.capturePpm, 12.5);
  assert.equal(a.config.outputRate, 48000);
  const b = loadMemberConfig(['--config', file, '--port=7901'], { JAS_PORT: '7851', JAS_SINK: 'none' });
  assert.equal(b.config.port, 7901);
  assert.equal(b.config.sink, 'none');
  const c = loadMemberConfig(['--no-mdns', '--id', 'member3'], {});
  assert.equal(c.config.mdns, false);
  assert.equal(c.config.id, 'member3');
});

test('bad values are refused with the key named', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--port', '70000'], {}, /port.*within 1\.\.65535/],
    [['--port', '12.5'], {}, /port.*integer/],
    [['--sink', 'speaker'], {}, /sink.*one of portaudio, capture, none/],
    [['--bogus'], {}, /--bogus.*unknown option/],
    [['--port'], {}, /--port.*missing value/],
    [[], { JAS_OUTPUT_RATE: 'fast' }, /outputRate \(JAS_OUTPUT_RATE\).*number/],
    [['--id', 'bad id!'], {}, /id.*A-Z/],
  ];
  for (const [argv, env, re] of cases) {
    assert.throws(() => loadMemberConfig(argv, env), (err: unknown) => err instanceof ConfigError && re.test(err.message), argv.join(' '));
  }
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"port": "x"}');
  assert.throws(() => loadMemberConfig(['--config', bad], {}), /port.*must be a number/);
  writeFileSync(bad, '{"prot": 1}');
  assert.throws(() => loadMemberConfig(['--config', bad], {}), /prot.*unknown key/);
  writeFileSync(bad, '[1,');
  assert.throws(() => loadMemberConfig(['--config', bad], {}), /cannot read/);
});

test('--help documents every option with its environment variable', () => {
  const help = memberHelp();
  for (const o of MEMBER_OPTIONS) {
    assert.ok(help.includes(o.flag), o.flag);
    assert.ok(help.includes(o.env), o.env);
  }
  assert.match(help, /--list-devices/);
});

const KEY = 'jas1_CzYDYLpC55BsWSTNtcuvD_oLnH2c6W71xlP2mztLUr0';

test('shared key from file, env, flag or key file; parsed, printed as its fingerprint only', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'member.json');
  writeFileSync(file, JSON.stringify({ key: KEY }));
  const fromFile = loadMemberConfig(['--config', file], {}).config.key;
  assert.ok(fromFile);
  assert.equal(fromFile.reveal(), KEY);
  assert.equal(loadMemberConfig([], { JAS_KEY: KEY }).config.key?.reveal(), KEY);
  assert.equal(loadMemberConfig(['--key', KEY], {}).config.key?.reveal(), KEY);
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, `${KEY}\n`);
  assert.equal(loadMemberConfig(['--key-file', keyFile], {}).config.key?.reveal(), KEY);
  assert.equal(loadMemberConfig([], { JAS_KEY_FILE: keyFile }).config.key?.reveal(), KEY);
  // Logging the whole config never shows the key.
  const printed = JSON.stringify(loadMemberConfig(['--config', file], {}).config);
  assert.ok(!printed.includes(KEY));
  assert.ok(printed.includes(fromFile.fingerprint));
  // No key in development: fine (tests, demo).
  assert.equal(loadMemberConfig([], {}).config.key, undefined);
});

test('bad keys are refused naming the key and the reason, never echoing it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cut = KEY.slice(0, -3);
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--key', cut], {}, /^config key \(--key\): .*was it cut/],
    [[], { JAS_KEY: 'jasr_' + 'a'.repeat(43) }, /^config key \(JAS_KEY\): .*REST token/],
    [[], { JAS_KEY: 'hello' }, /key \(JAS_KEY\): key must start with "jas1_"/],
    [['--key-file', join(dir, 'missing')], {}, /^config keyFile: cannot read/],
  ];
  for (const [argv, env, re] of cases) {
    assert.throws(() => loadMemberConfig(argv, env), (err: unknown) => err instanceof ConfigError && re.test(err.message) && !err.message.includes(cut), argv.join(' ') + JSON.stringify(env));
  }
  const file = join(dir, 'member.json');
  writeFileSync(file, JSON.stringify({ key: 42 }));
  assert.throws(() => loadMemberConfig(['--config', file], {}), /key .*must be a string, got number/);
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, KEY);
  assert.throws(() => loadMemberConfig(['--key-file', keyFile], { JAS_KEY: KEY }), /keyFile: give either key/);
});

test('NODE_ENV=production without a key: refused with how to make one', () => {
  assert.throws(
    () => loadMemberConfig([], { NODE_ENV: 'production' }),
    (err: unknown) => err instanceof ConfigError && /^config key: no shared key configured/.test(err.message)
      && err.message.includes('jaudiosync keygen') && err.message.includes('/etc/jaudiosync/member.json') && err.message.includes('JAS_KEY'),
  );
  assert.equal(loadMemberConfig([], { NODE_ENV: 'production', JAS_KEY: KEY }).config.key?.reveal(), KEY);
});

test('jaudiosync-member exits 2 in production without a key, printing how to make one', () => {
  const bin = fileURLToPath(new URL('../../src/bin/jaudiosync-member.js', import.meta.url));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', NODE_ENV: 'production' };
  const r = spawnSync(process.execPath, [bin, '--sink', 'none', '--no-mdns'], { env, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /no shared key configured/);
  assert.match(r.stderr, /jaudiosync keygen/);
});
