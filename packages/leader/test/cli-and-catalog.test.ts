// The ctl CLI (requests built, exit codes, messages), leader option parsing, and the track
// catalog on the repository's example music (real decoding in the worker, cache by hash).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { framesAtRate } from '@jaudiosync/media';
import { runCtl } from '../src/cli/ctl.js';
import { ConfigError, helpText, parseLeaderArgs } from '../src/leader-config.js';
import { parsePlaylistFile } from '../src/playlist/m3u8-parser.js';
import { TrackCatalog } from '../src/playlist/track-catalog.js';
import { WorkerTrackAnalyzer, type TrackAnalysis } from '../src/playlist/track-analyzer.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

function fakeIo(status: number, reply: unknown) {
  const calls: { url: string; init: RequestInit }[] = [];
  let out = '';
  let err = '';
  const io = {
    env: { JAS_LEADER: 'http://leader:7700/' },
    fetch: (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify(reply), { status });
    }) as unknown as typeof fetch,
    out: (s: string) => { out += s; },
    err: (s: string) => { err += s; },
  };
  return { io, calls, get out() { return out; }, get err() { return err; } };
}

test('ctl builds the right requests', async () => {
  const cases: [string[], string, string, unknown][] = [
    [['ctl', 'play', '--at', '18:55:00', '--index', '2'], 'POST', 'http://leader:7700/api/play', { at: '18:55:00', index: 2 }],
    [['ctl', 'stop'], 'POST', 'http://leader:7700/api/stop', {}],
    [['ctl', 'seek', '--position-ms', '1500'], 'POST', 'http://leader:7700/api/seek', { positionMs: 1500 }],
    [['ctl', 'volume', '0.5'], 'PUT', 'http://leader:7700/api/volume', { volume: 0.5 }],
    [['ctl', 'member', 'member2', '--delay-ms', '12', '--channel-mode', 'left'], 'PUT', 'http://leader:7700/api/members/member2', { outputDelayMs: 12, channelMode: 'left' }],
    [['ctl', 'status', '--leader', 'http://x:1'], 'GET', 'http://x:1/api/status', undefined],
    [['ctl', 'repeat', 'one'], 'PUT', 'http://leader:7700/api/repeat', { repeat: 'one' }],
    [['ctl', 'shuffle', 'on', '--seed', '42'], 'PUT', 'http://leader:7700/api/shuffle', { shuffle: true, seed: 42 }],
    [['ctl', 'shuffle', 'off'], 'PUT', 'http://leader:7700/api/shuffle', { shuffle: false }],
    [['ctl', 'shuffle', 'again'], 'POST', 'http://leader:7700/api/shuffle', {}],
    [['ctl', 'stop-after', 'on'], 'PUT', 'http://leader:7700/api/stop-after', { stopAfter: true }],
    [['ctl', 'clock', '--confirm'], 'PUT', 'http://leader:7700/api/clock', { wallMs: 1_800_000_000_123, confirm: true }],
    [['ctl', 'clock'], 'PUT', 'http://leader:7700/api/clock', { wallMs: 1_800_000_000_123 }],
    [['ctl', 'loudness'], 'GET', 'http://leader:7700/api/loudness', undefined],
    [['ctl', 'loudness', 'album', '--target-lufs', '-18'], 'PUT', 'http://leader:7700/api/loudness', { normalize: 'album', targetLufs: -18 }],
    [['ctl', 'crossfade', '4000'], 'PUT', 'http://leader:7700/api/crossfade', { crossfadeMs: 4000 }],
  ];
  for (const [argv, method, url, body] of cases) {
    const f = fakeIo(200, { rev: 1, atUs: 5, at: '2025-01-01T00:00:00.000Z', playlist: [], members: [], playing: false, volume: 1, position: null });
    assert.equal(await runCtl(argv, { ...f.io, nowMs: () => 1_800_000_000_123 }), 0, argv.join(' ') + f.err);
    assert.equal(f.calls[0]?.url, url);
    assert.equal(f.calls[0]?.init.method, method);
    assert.deepEqual(f.calls[0]?.init.body === undefined ? undefined : JSON.parse(String(f.calls[0]?.init.body)), body);
  }
});

test('ctl reports errors with a non-zero exit code', async () => {
  const f = fakeIo(422, { error: 'JAS_ERR_TIME_IN_PAST', message: 'requested time "18:00:00" is in the past' });
  assert.equal(await runCtl(['ctl', 'play', '--at', '18:00:00'], f.io), 1);
  assert.match(f.err, /JAS_ERR_TIME_IN_PAST: requested time/);
  const usage = fakeIo(200, {});
  assert.equal(await runCtl(['ctl', 'seek'], usage.io), 2);
  assert.match(usage.err, /--position-ms/);
  assert.equal(await runCtl(['ctl', 'frobnicate'], usage.io), 2);
  assert.equal(await runCtl(['ctl', 'volume', 'loud'], usage.io), 2);
  for (const bad of [['repeat', 'twice'], ['shuffle'], ['shuffle', 'off', '--seed', '3'], ['stop-after', 'yes'], ['repeat', 'one', '--at', '+5s']]) {
    assert.equal(await runCtl(['ctl', ...bad], usage.io), 2, bad.join(' '));
  }
  assert.equal(await runCtl(['ctl', 'crossfade'], usage.io), 2);
  assert.equal(await runCtl(['ctl', 'crossfade', 'long'], usage.io), 2);
  const down = fakeIo(200, {});
  down.io.fetch = (async () => { throw new Error('ECONNREFUSED'); }) as unknown as typeof fetch;
  assert.equal(await runCtl(['ctl', 'status'], down.io), 1);
  assert.match(down.err, /cannot reach the leader/);
});

test('leader options: defaults, flags, config file, errors, help', async () => {
  const d = parseLeaderArgs([]).config;
  assert.equal(d.httpPort, 7700);
  assert.equal(d.ntpPort, 11123);
  assert.equal(d.minLeadMs, 250);
  assert.equal(d.outputRate, 48000);
  assert.equal(d.memberPattern, '^member\\d+$');
  const dir = await mkdtemp(path.join(tmpdir(), 'jas-cfg-'));
  try {
    const file = path.join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ httpPort: 8000, members: ['10.0.0.5'], mdns: false }));
    const c = parseLeaderArgs(['--config', file, '--member', 'h:7702', '--http-port=9000']).config;
    assert.equal(c.httpPort, 9000, 'flags win over the file');
    assert.deepEqual(c.members, ['h:7702']);
    assert.equal(c.mdns, false);
    await writeFile(file, JSON.stringify({ nope: 1 }));
    assert.throws(() => parseLeaderArgs(['--config', file]), ConfigError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.throws(() => parseLeaderArgs(['--http-port', 'x']), ConfigError);
  assert.throws(() => parseLeaderArgs(['--member', 'host:99999']), ConfigError);
  assert.throws(() => parseLeaderArgs(['--member-pattern', '(']), ConfigError);
  assert.throws(() => parseLeaderArgs(['--bogus']), ConfigError);
  assert.equal(parseLeaderArgs(['--help']).help, true);
  for (const flag of ['--playlist', '--music-dir', '--http-port', '--ntp-port', '--host', '--state-dir', '--member-pattern', '--member', '--min-lead-ms', '--output-rate', '--config']) {
    assert.ok(helpText().includes(flag), flag);
  }
});

test('catalog: example music decoded once, exact frames at the output rate, cached by hash', async (t) => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'jas-cat-'));
  const worker = new WorkerTrackAnalyzer();
  t.after(async () => { await worker.close(); await rm(stateDir, { recursive: true, force: true }); });
  let decodes = 0;
  const analyzer = { analyze: async (p: string): Promise<TrackAnalysis> => { decodes++; return worker.analyze(p); }, close: async () => undefined };
  const parsed = await parsePlaylistFile(path.join(REPO, 'Music', 'Playlist.m3u8'));
  assert.ok(parsed.entries.length >= 5);
  const broken = path.join(stateDir, 'broken.mp3');
  await writeFile(broken, 'ID3 this is not audio at all');
  parsed.entries.push({ line: 999, entry: 'broken.mp3', path: broken });
  const catalog = new TrackCatalog({ analyzer, outputRate: 48000, stateDir });
  const r = await catalog.load(parsed);
  assert.equal(r.tracks.length, parsed.entries.length - 1);
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0]?.line, 999);
  for (const track of r.tracks) {
    assert.match(track.id, /^[0-9a-f]{64}$/);
    assert.equal(track.frames, framesAtRate(track.sourceFrames, track.sourceRate, 48000));
    assert.ok(track.frames > 48000, 'each example track is longer than a second');
    assert.equal(catalog.byHash(track.id)?.path, track.path);
    const l = track.loudness?.integratedLufs;
    assert.ok(typeof l === 'number' && l > -40 && l < -3, `${track.path}: loudness measured in the same pass (${String(l)} LUFS)`);
    assert.ok((track.loudness?.truePeakDbtp ?? 1) <= 0.5, 'true peak measured');
  }
  const first = decodes;
  const again = new TrackCatalog({ analyzer, outputRate: 48000, stateDir });
  await again.load({ entries: parsed.entries.slice(0, -1), problems: [] });
  assert.equal(decodes, first, 'a new catalog on the same state dir decodes nothing again (loudness included)');
  assert.deepEqual(again.tracks.map((t) => t.loudness), r.tracks.map((t) => t.loudness));
});

test('leader options from the environment: between the config file and the flags', () => {
  const env = { JAS_HTTP_PORT: '7800', JAS_NO_MDNS: '1', JAS_LOOP: 'true', JAS_MEMBERS: '10.0.0.5:7701, 10.0.0.6', JAS_MIN_LEAD_MS: '400' };
  const a = parseLeaderArgs([], env).config;
  assert.equal(a.httpPort, 7800);
  assert.equal(a.mdns, false);
  assert.equal(a.loop, true);
  assert.deepEqual(a.members, ['10.0.0.5:7701', '10.0.0.6']);
  assert.equal(a.minLeadMs, 400);
  assert.equal(parseLeaderArgs(['--http-port', '7900'], env).config.httpPort, 7900, 'a flag wins over the environment');
  assert.throws(() => parseLeaderArgs([], { JAS_HTTP_PORT: 'x' }), /JAS_HTTP_PORT/);
  assert.throws(() => parseLeaderArgs([], { JAS_LOOP: 'maybe' }), /JAS_LOOP/);
  for (const name of ['JAS_HTTP_PORT', 'JAS_NO_MDNS', 'JAS_MEMBERS', 'JAS_LEADER_CONFIG']) assert.ok(helpText().includes(name), `--help names ${name}`);
});
