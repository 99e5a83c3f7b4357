// Shared key on the leader's command line side: `jaudiosync keygen` output parses and matches
// the protocol's derivations, `ctl` sends the REST token (--token, JAS_TOKEN, or from JAS_KEY) to a
// keyed leader, the leader's key options (file, env, flag, key file), and the production rule
// (jaudiosync-leader exits 2 with how to make a key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthKey, parseKey, restToken } from '@jaudiosync/protocol/auth';
import { runCtl } from '../src/cli/ctl.js';
import { runKeygen, type KeygenIo } from '../src/cli/keygen.js';
import { createHttpServer } from '../src/http/http-server.js';
import { ConfigError, helpText, parseLeaderArgs } from '../src/leader-config.js';

const KEY = 'jas1_CzYDYLpC55BsWSTNtcuvD_oLnH2c6W71xlP2mztLUr0';
const BIN_DIR = fileURLToPath(new URL('../src/bin/', import.meta.url));

function keygenIo(stdin = '', files: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const io: KeygenIo = {
    out: (s) => { out += s; },
    err: (s) => { err += s; },
    readStdin: async () => stdin,
    readFile: async (p) => {
      const text = files[p];
      if (text === undefined) throw new Error(`ENOENT ${p}`);
      return text;
    },
  };
  return { io, get out() { return out; }, get err() { return err; } };
}

test('jaudiosync keygen: a new key that parses, with its fingerprint and REST token', async () => {
  const f = keygenIo();
  assert.equal(await runKeygen([], f.io), 0);
  const key = /^key:\s+(jas1_\S+)$/m.exec(f.out)?.[1];
  assert.ok(key, f.out);
  const parsed = parseKey(key);
  assert.match(f.out, new RegExp(`^fingerprint: ${parsed.fingerprint}\\b`, 'm'));
  assert.match(f.out, new RegExp(`^REST token:  ${restToken(parsed)}$`, 'm'));
  const j = keygenIo();
  assert.equal(await runKeygen(['--json'], j.io), 0);
  const json = JSON.parse(j.out) as { key: string; fingerprint: string; restToken: string };
  assert.equal(parseKey(json.key).fingerprint, json.fingerprint);
  assert.equal(restToken(parseKey(json.key)), json.restToken);
  assert.notEqual(json.key, key, 'a new key each time');
});

test('jaudiosync keygen --show/--check/--config and errors', async () => {
  const token = restToken(parseKey(KEY));
  const stdin = keygenIo(`${KEY}\n`);
  assert.equal(await runKeygen(['--show', '-', '--token-only'], stdin.io), 0);
  assert.equal(stdin.out, `${token}\n`);
  const only = keygenIo();
  assert.equal(await runKeygen(['--key-only', '--show', KEY], only.io), 0);
  assert.equal(only.out, `${KEY}\n`);
  const check = keygenIo();
  assert.equal(await runKeygen(['--check', KEY], check.io), 0);
  assert.equal(check.out, `key ok, fingerprint ${parseKey(KEY).fingerprint}\n`);
  const bad = keygenIo();
  assert.equal(await runKeygen(['--check', KEY.slice(0, -1)], bad.io), 1);
  assert.match(bad.err, /was it cut/);
  const conf = keygenIo('', { '/etc/jaudiosync/leader.json': JSON.stringify({ key: KEY, loop: true }) });
  assert.equal(await runKeygen(['--config', '/etc/jaudiosync/leader.json', '--token-only'], conf.io), 0);
  assert.equal(conf.out, `${token}\n`);
  const usage = keygenIo();
  assert.equal(await runKeygen(['--frob'], usage.io), 2);
  const help = keygenIo();
  assert.equal(await runKeygen(['--help'], help.io), 0);
  assert.match(help.out, /--token-only/);
});

test('the installed command: `jaudiosync keygen --json` prints a key that parses', () => {
  const r = spawnSync(process.execPath, [path.join(BIN_DIR, 'jaudiosync.js'), 'keygen', '--json'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { key: string; restToken: string };
  assert.equal(restToken(parseKey(json.key)), json.restToken);
});

test('ctl sends the REST token to a keyed leader: --token, JAS_TOKEN, or derived from JAS_KEY', async (t) => {
  const key = AuthKey.generate();
  const app = createHttpServer({ key });
  app.get('/api/status', async () => ({ playing: false, volume: 1, position: null, playlist: [], members: [] }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  const leader = `http://127.0.0.1:${address.port}`;
  const run = async (argv: string[], env: Record<string, string>) => {
    let out = '';
    let err = '';
    const code = await runCtl(['ctl', 'status', '--leader', leader, ...argv], { env, fetch: globalThis.fetch, out: (s) => { out += s; }, err: (s) => { err += s; } });
    return { code, out, err };
  };
  const none = await run([], {});
  assert.equal(none.code, 1);
  assert.match(none.err, /JAS_ERR_UNAUTHORIZED/);
  assert.match(none.err, /JAS_TOKEN/);
  assert.equal((await run(['--token', restToken(key)], {})).code, 0);
  assert.equal((await run([], { JAS_TOKEN: restToken(key) })).code, 0);
  assert.equal((await run([], { JAS_KEY: key.reveal() })).code, 0);
  assert.equal((await run([], { JAS_TOKEN: restToken(AuthKey.generate()) })).code, 1);
  const keyAsToken = await run(['--token', key.reveal()], {});
  assert.equal(keyAsToken.code, 2);
  assert.match(keyAsToken.err, /that is the shared key/);
  assert.ok(!keyAsToken.err.includes(key.reveal()));
  const badKey = await run([], { JAS_KEY: 'jas1_short' });
  assert.equal(badKey.code, 2);
  assert.match(badKey.err, /JAS_KEY: .*was it cut/);
});

test('leader key options: config file, JAS_KEY, --key, key file; production needs one', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'jas-leader-key-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'leader.json');
  await writeFile(file, JSON.stringify({ key: KEY, loop: true }));
  const fromFile = parseLeaderArgs(['--config', file], {}).config.key;
  assert.equal(fromFile?.reveal(), KEY);
  assert.ok(!JSON.stringify(parseLeaderArgs(['--config', file], {}).config).includes(KEY), 'a logged config shows the fingerprint only');
  assert.equal(parseLeaderArgs([], { JAS_KEY: KEY }).config.key?.reveal(), KEY);
  assert.equal(parseLeaderArgs(['--key', KEY], {}).config.key?.reveal(), KEY);
  const keyFile = path.join(dir, 'key');
  await writeFile(keyFile, `${KEY}\n`);
  assert.equal(parseLeaderArgs(['--key-file', keyFile], {}).config.key?.reveal(), KEY);
  assert.equal(parseLeaderArgs([], { JAS_KEY_FILE: keyFile }).config.key?.reveal(), KEY);
  assert.equal(parseLeaderArgs([], {}).config.key, undefined, 'development: no key needed');
  assert.throws(() => parseLeaderArgs(['--key', KEY.slice(0, 20)], {}), (e: unknown) => e instanceof ConfigError && /^--key: .*was it cut/.test(e.message));
  assert.throws(() => parseLeaderArgs([], { JAS_KEY: restToken(parseKey(KEY)) }), /JAS_KEY: this is a REST token/);
  await writeFile(file, JSON.stringify({ key: 7 }));
  assert.throws(() => parseLeaderArgs(['--config', file], {}), /"key": key must be a string/);
  assert.throws(() => parseLeaderArgs(['--key-file', keyFile, '--key', KEY], {}), /give either key/);
  assert.throws(
    () => parseLeaderArgs([], { NODE_ENV: 'production' }),
    (e: unknown) => e instanceof ConfigError && /no shared key configured/.test(e.message) && /jaudiosync keygen/.test(e.message) && /leader\.json/.test(e.message),
  );
  assert.equal(parseLeaderArgs([], { NODE_ENV: 'production', JAS_KEY: KEY }).config.key?.reveal(), KEY);
  assert.equal(parseLeaderArgs(['--help'], { NODE_ENV: 'production' }).help, true, '--help works without a key');
  assert.match(helpText(), /--key KEY/);
  assert.match(helpText(), /--key-file/);
});

test('jaudiosync-leader exits 2 in production without a key, printing how to make one', () => {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', NODE_ENV: 'production' };
  const r = spawnSync(process.execPath, [path.join(BIN_DIR, 'jaudiosync-leader.js'), '--no-mdns', '--http-port', '0'], { env, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^jaudiosync-leader: no shared key configured/);
  assert.match(r.stderr, /jaudiosync keygen/);
});
