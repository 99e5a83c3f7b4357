import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
