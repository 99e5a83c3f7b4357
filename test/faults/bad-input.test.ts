// Bad input on every boundary of RUNNING daemons while they play: a corpus of malformed REST
// requests and odd m3u8 uploads to the leader, malformed/unauthenticated WebSocket frames and a
// flood to a member, malformed NTP packets to the leader's NTP server. Each must get a clear error
// (4xx + JAS_ERR_* code, a close code, or silence for NTP), the daemons must keep serving, and the
// captured audio must stay complete and in sync throughout. The group has a shared key, as in
// production: REST calls without the token are refused, and no unauthenticated WebSocket client
// can displace the leader. (Parsers are unit-tested in packages/protocol/test and
// packages/leader/test, the member link in packages/member/test/link; this hits the processes.)
// Loopback, not netsim: nothing here depends on the network, and the attacker runs in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CHALLENGE_HEADER, createNonce, generateKey } from '@jaudiosync/protocol';
import { sleep } from '../helpers/cluster.js';
import { clickTrackWav, writeClickPlaylist } from './helpers/click-playlist.js';
import { checkClicks, describe, detectClicks, expectedClicks, outliers, pairwiseUs } from './helpers/click-check.js';
import { assertCleanAudio, assertInSync } from './helpers/audio-asserts.js';
import { FaultCluster } from './helpers/fault-cluster.js';
import { MAX_MEMBER_OFFSET_US, MAX_TIMELINE_ERROR_US, maxAbs, workDir } from './helpers/fault-env.js';

const IDS = ['member1', 'member2'];
const WS_TIMEOUT_MS = 5000;
/** Audio judged after the last attack too: late effects (a reconnect, a clock step) show there. */
const LISTEN_AFTER_S = 12;

interface Case { name: string; method: string; path: string; body?: string | Buffer; type?: string; status?: number; code?: string; auth?: string }

function restCorpus(playing: { index: number }): Case[] {
  const J = 'application/json';
  const j = (o: unknown): string => JSON.stringify(o);
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  return [
    { name: 'wrong type: index as string', method: 'POST', path: '/api/play', body: j({ index: '1' }), type: J, status: 400, code: 'JAS_ERR_VALIDATION' },
    { name: 'negative position', method: 'POST', path: '/api/play', body: j({ index: 0, positionMs: -5 }), type: J, status: 400 },
    { name: 'huge index', method: 'POST', path: '/api/play', body: j({ index: 1e308 }), type: J },
    { name: 'index past the playlist', method: 'POST', path: '/api/play', body: j({ index: 999 }), type: J },
    { name: 'NaN literal', method: 'POST', path: '/api/play', body: '{"delayMs": NaN}', type: J, status: 400, code: 'JAS_ERR_BAD_JSON' },
    { name: 'Infinity literal', method: 'POST', path: '/api/seek', body: '{"positionMs": Infinity}', type: J, status: 400, code: 'JAS_ERR_BAD_JSON' },
    { name: 'negative delay', method: 'POST', path: '/api/next', body: j({ delayMs: -1000 }), type: J },
    { name: 'delay 30 years', method: 'POST', path: '/api/next', body: j({ delayMs: 1e12 }), type: J },
    { name: 'time in the past', method: 'POST', path: '/api/stop', body: j({ at: '1999-01-01T00:00:00Z' }), type: J, code: 'JAS_ERR_TIME_IN_PAST' },
    { name: 'unreadable time', method: 'POST', path: '/api/stop', body: j({ at: 'half past never' }), type: J },
    { name: 'time as number', method: 'POST', path: '/api/stop', body: j({ at: 12 }), type: J, status: 400 },
    { name: 'seek without position', method: 'POST', path: '/api/seek', body: j({}), type: J, status: 400, code: 'JAS_ERR_VALIDATION' },
    { name: 'seek far past the track end', method: 'POST', path: '/api/seek', body: j({ positionMs: 1e9, index: playing.index }), type: J },
    { name: 'volume 2', method: 'PUT', path: '/api/volume', body: j({ volume: 2 }), type: J, status: 400 },
    { name: 'volume negative', method: 'PUT', path: '/api/volume', body: j({ volume: -0.1 }), type: J, status: 400 },
    { name: 'volume string', method: 'PUT', path: '/api/volume', body: j({ volume: 'loud' }), type: J, status: 400 },
    { name: 'volume missing', method: 'PUT', path: '/api/volume', body: j({}), type: J, status: 400 },
    { name: 'unknown normalization mode', method: 'PUT', path: '/api/loudness', body: j({ normalize: 'loud' }), type: J, status: 400, code: 'JAS_ERR_VALIDATION' },
    { name: 'normalization target 0 LUFS', method: 'PUT', path: '/api/loudness', body: j({ targetLufs: 0 }), type: J, status: 400 },
    { name: 'loudness body empty', method: 'PUT', path: '/api/loudness', body: j({}), type: J, status: 400 },
    { name: 'crossfade 13 s', method: 'PUT', path: '/api/crossfade', body: j({ crossfadeMs: 13_000 }), type: J, status: 400 },
    { name: 'crossfade negative', method: 'PUT', path: '/api/crossfade', body: j({ crossfadeMs: -1 }), type: J, status: 400 },
    { name: 'crossfade as text', method: 'PUT', path: '/api/crossfade', body: j({ crossfadeMs: 'long' }), type: J, status: 400 },
    { name: 'unknown field', method: 'POST', path: '/api/play', body: j({ index: 0, shuffle: true }), type: J, status: 400 },
    { name: 'unknown member', method: 'PUT', path: '/api/members/nobody', body: j({ volume: 0.5 }), type: J, status: 404, code: 'JAS_ERR_NOT_FOUND' },
    { name: 'bad channel mode', method: 'PUT', path: '/api/members/member1', body: j({ channelMode: 'surround' }), type: J, status: 400 },
    { name: 'member delay huge', method: 'PATCH', path: '/api/members/member1', body: j({ outputDelayMs: 1e9 }), type: J, status: 400 },
    { name: 'member id with path tricks', method: 'PUT', path: '/api/members/..%2F..%2Fetc', body: j({ volume: 0.5 }), type: J },
    { name: 'truncated JSON', method: 'POST', path: '/api/play', body: '{"index":', type: J, status: 400, code: 'JAS_ERR_BAD_JSON' },
    { name: 'JSON array body', method: 'POST', path: '/api/play', body: '[]', type: J, status: 400 },
    { name: 'JSON null body', method: 'PUT', path: '/api/volume', body: 'null', type: J, status: 400 },
    { name: 'JSON string body', method: 'POST', path: '/api/seek', body: '"seek"', type: J, status: 400 },
    { name: 'deeply nested JSON', method: 'POST', path: '/api/play', body: deep, type: J, status: 400 },
    { name: 'binary garbage as JSON', method: 'POST', path: '/api/play', body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x7b]), type: J, status: 400 },
    { name: 'oversize body (2 MiB)', method: 'PUT', path: '/api/volume', body: j({ volume: 0.5, pad: 'x'.repeat(2 * 1024 * 1024) }), type: J, status: 413, code: 'JAS_ERR_TOO_LARGE' },
    { name: 'text/plain to a JSON route', method: 'POST', path: '/api/play', body: '{}', type: 'text/plain', status: 415, code: 'JAS_ERR_UNSUPPORTED_MEDIA' },
    { name: 'XML', method: 'PUT', path: '/api/volume', body: '<volume>1</volume>', type: 'application/xml', status: 415 },
    { name: 'form encoded', method: 'POST', path: '/api/stop', body: 'at=now', type: 'application/x-www-form-urlencoded', status: 415 },
    { name: 'unknown route', method: 'POST', path: '/api/explode', body: '{}', type: J, status: 404, code: 'JAS_ERR_NOT_FOUND' },
    { name: 'track by a path, not a hash', method: 'GET', path: '/tracks/..%2F..%2Fetc%2Fpasswd', status: 400 },
    { name: 'track by an unknown hash', method: 'GET', path: `/tracks/${'0'.repeat(64)}`, status: 404 },
    { name: 'playlist path missing', method: 'PUT', path: '/api/playlist', body: j({ path: '/nonexistent/none.m3u8' }), type: J },
    { name: 'playlist path is a directory', method: 'PUT', path: '/api/playlist', body: j({ path: '/tmp' }), type: J },
    { name: 'playlist path wrong type', method: 'PUT', path: '/api/playlist', body: j({ path: 42 }), type: J, status: 400 },
    { name: 'no REST token', method: 'POST', path: '/api/stop', body: j({}), type: J, status: 401, code: 'JAS_ERR_UNAUTHORIZED', auth: '' },
    { name: 'wrong REST token', method: 'POST', path: '/api/stop', body: j({}), type: J, status: 401, code: 'JAS_ERR_UNAUTHORIZED', auth: 'Bearer jasr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    { name: 'the key itself as a token', method: 'PUT', path: '/api/volume', body: j({ volume: 0 }), type: J, status: 401, code: 'JAS_ERR_UNAUTHORIZED', auth: 'Bearer KEY' },
  ];
}

function m3u8Corpus(): Case[] {
  const M = 'audio/x-mpegurl';
  const many = ['#EXTM3U', ...Array.from({ length: 10_001 }, (_, i) => `missing-${i}.wav`)].join('\n');
  return [
    { name: 'empty m3u8', method: 'PUT', path: '/api/playlist', body: '', type: M },
    { name: 'only comments', method: 'PUT', path: '/api/playlist', body: '#EXTM3U\n#EXTINF:1,x\n', type: M },
    { name: 'BOM + CRLF, missing files', method: 'PUT', path: '/api/playlist', body: '\ufeff#EXTM3U\r\n#EXTINF:3,a\r\nnope-a.wav\r\nnope-b.wav\r\n', type: M },
    { name: '10 001 entries', method: 'PUT', path: '/api/playlist', body: many, type: M },
    { name: 'non-UTF-8 bytes', method: 'PUT', path: '/api/playlist', body: Buffer.from([0x23, 0x45, 0x0a, 0xff, 0xfe, 0xfd, 0x2e, 0x77, 0x61, 0x76, 0x0a, 0xc3, 0x28, 0x0a]), type: M },
    { name: '.. paths out of the music dir', method: 'PUT', path: '/api/playlist', body: '../../../../../etc/passwd\n../../../../../proc/self/environ\n', type: M },
    { name: 'remote URL and NUL', method: 'PUT', path: '/api/playlist', body: 'http://example.invalid/a.mp3\nfile://\u0000/x\n', type: M },
    { name: 'a directory entry', method: 'PUT', path: '/api/playlist', body: '.\n..\n/\n', type: M },
  ];
}

function isErrorReply(json: unknown): json is { error: string; message: string } {
  const o = json as { error?: unknown; message?: unknown } | null;
  return typeof o?.error === 'string' && /^JAS_ERR_[A-Z_]+$/.test(o.error) && typeof o.message === 'string' && o.message.length > 0;
}

interface WsResult { opened: boolean; closeCode: number | null; closeReason: string; received: string[] }

/** Connects to a member as a would-be leader, runs `script`, waits for the close (bounded). */
function wsSession(url: string, script: (ws: WebSocket, got: string[]) => Promise<void> | void): Promise<WsResult> {
  return new Promise((resolve) => {
    // Sends a challenge like a leader would, so the member answers with its hello and then parses
    // what we send (without one it refuses the upgrade outright).
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, headers: { [CHALLENGE_HEADER]: createNonce() } });
    const r: WsResult = { opened: false, closeCode: null, closeReason: '', received: [] };
    const done = (): void => {
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      done();
    }, WS_TIMEOUT_MS);
    ws.on('open', () => {
      r.opened = true;
      void Promise.resolve(script(ws, r.received)).catch(() => undefined);
    });
    ws.on('message', (d) => r.received.push(String(d).slice(0, 300)));
    ws.on('close', (code, reason) => {
      r.closeCode = code;
      r.closeReason = reason.toString();
      done();
    });
    ws.on('error', () => undefined);
  });
}

function ntpRequest(): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (0 << 6) | (4 << 3) | 3; // LI 0, version 4, client
  b.writeUInt32BE(0x12345678, 40);
  b.writeUInt32BE(0x9abcdef0, 44);
  return b;
}

test('bad input on every boundary of running daemons: clear errors, daemons keep serving, music keeps playing in sync', {
  timeout: 300_000,
}, async (t) => {
  const wd = workDir('bad-input');
  let fc: FaultCluster | undefined;
  t.after(async () => {
    await fc?.stop();
    wd.cleanup();
  });
  const music = writeClickPlaylist(join(wd.dir, 'music'), [20, 20, 20]);
  const key = generateKey();
  fc = await FaultCluster.start({
    dir: wd.dir, playlist: music.m3u8, netsim: false, leaderArgs: ['--music-dir', music.dir], key,
    members: [{ id: 'member1', dacPpm: 40 }, { id: 'member2', dacPpm: -60, clockOffsetUs: 1_000_000 }],
  });
  await fc.waitReady(3);
  fc.startMonitor();
  await fc.c.waitFor((s) => s.members.every((m) => m.ready === 3), 60_000, 'all tracks cached');
  const status0 = await fc.c.status();
  const entries = status0.playlist.map((p, k) => ({ frames: Number(p.frames), tone: k }));
  const ntpPort = Number(status0.leader['ntpPort']);
  const play = await fc.c.api<{ atUs: number; rev: number }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  await fc.sleepPastLeaderUs(play.body.atUs, 1000);
  const attackFromNs = fc.nowMonoNs();

  // ---- REST corpus -----------------------------------------------------------------------------
  const restResults: Array<{ name: string; status: number; error?: string }> = [];
  const restWrong: string[] = [];
  for (const c of [...restCorpus({ index: 0 }), ...m3u8Corpus()]) {
    const r = await fc.raw(c.method, c.path, c.body, c.type, c.auth === undefined ? {} : { authorization: c.auth.replace('KEY', key) });
    const err = (r.json as { error?: string } | null)?.error;
    restResults.push({ name: c.name, status: r.status, ...(err ? { error: err } : {}) });
    const why = !(r.status >= 400 && r.status < 500) ? 'not a 4xx'
      : !isErrorReply(r.json) ? 'not the error reply contract'
        : c.status !== undefined && r.status !== c.status ? `expected HTTP ${c.status}`
          : c.code !== undefined && err !== c.code ? `expected ${c.code}` : null;
    if (why) restWrong.push(`${c.name}: ${why}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  }
  assert.deepEqual(restWrong, [], 'every bad request gets a clear 4xx error');
  const afterRest = await fc.c.status();
  assert.equal(afterRest.playing, true, 'still playing after the REST corpus');
  assert.equal(afterRest.position?.rev, play.body.rev, 'no bad request changed the timeline');

  // ---- WebSocket frames to member1 ---------------------------------------------------------------
  const wsUrl = `ws://127.0.0.1:${fc.c.memberPort(0)}/`;
  const welcome = JSON.stringify({ v: (JSON.parse((await fc.raw('GET', '/api/status')).text) as { leader: { protocol: string } }).leader.protocol, type: 'welcome', leaderId: 'intruder', ntpPort, trackBaseUrl: `${fc.c.leaderUrl}/tracks`, serverTimeUs: 1 });
  const protoV = (JSON.parse(welcome) as { v: unknown }).v;
  // [name, expected close code, script]. Nothing an unauthenticated client sends may displace the
  // leader: a welcome without a valid proof is refused (4006), anything else is closed as bad.
  const wsCases: Array<[string, number, (ws: WebSocket) => void | Promise<void>]> = [
    ['binary garbage', 4001, (ws) => ws.send(Buffer.from([0, 1, 2, 0xff, 0xfe]))],
    ['text that is not JSON', 4001, (ws) => ws.send('hello?')],
    ['wrong protocol major', 4004, (ws) => ws.send(JSON.stringify({ v: '99.0', type: 'welcome' }))],
    ['ping before welcome', 4007, (ws) => ws.send(JSON.stringify({ v: protoV, type: 'ping', seq: 1, sentUs: 1 }))],
    ['invalid timeline', 4002, (ws) => ws.send(JSON.stringify({ v: protoV, type: 'timeline', rev: 1, outputRate: 48000, loop: false, tracks: [], revisions: [] }))],
    ['5 MiB frame', 1009, (ws) => ws.send('x'.repeat(5 * 1024 * 1024))],
    ['JSON nested 10 000 deep', 4002, (ws) => ws.send('['.repeat(10_000) + ']'.repeat(10_000))],
    ['welcome without proof, then malformed frames', 4006, (ws) => {
      ws.send(welcome);
      ws.send('{"v":');
      ws.send(JSON.stringify({ v: protoV, type: 'settings', volume: 5, atUs: -1, outputDelayUs: 'x', channelMode: 'surround' }));
    }],
    ['welcome with a forged proof', 4006, (ws) => ws.send(JSON.stringify({ ...(JSON.parse(welcome) as object), proof: 'ab'.repeat(32) }))],
    ['flood of 3000 frames', 4007, (ws) => {
      for (let i = 0; i < 3000; i++) ws.send(JSON.stringify({ v: protoV, type: 'ping', seq: i, sentUs: i }));
    }],
    ['20 connections at once', 4001, async (ws) => {
      const extra = Array.from({ length: 19 }, () => new WebSocket(wsUrl, { headers: { [CHALLENGE_HEADER]: createNonce() } }));
      await sleep(300);
      for (const e of extra) e.terminate();
      ws.send('x');
    }],
  ];
  const disconnectsBefore = (fc.logText('leader').match(/"member":"member1"[^\n]*"member disconnected"/g) ?? []).length;
  const wsResults: Array<{ name: string; expectedClose: number } & WsResult> = [];
  for (const [name, expectedClose, script] of wsCases) {
    const r = await wsSession(wsUrl, (ws) => script(ws));
    wsResults.push({ name, expectedClose, ...r, received: r.received.slice(0, 3) });
  }
  for (const r of wsResults) {
    assert.ok(r.opened, `${r.name}: the member still accepts connections`);
    assert.equal(r.closeCode, r.expectedClose, `${r.name}: ${JSON.stringify(r)}`);
  }
  const disconnectsAfter = (fc.logText('leader').match(/"member":"member1"[^\n]*"member disconnected"/g) ?? []).length;
  assert.equal(disconnectsAfter, disconnectsBefore, 'the leader kept its connection to member1 through every unauthenticated frame');

  // ---- NTP packets to the leader -----------------------------------------------------------------
  const sock = createSocket('udp4');
  const replies: Buffer[] = [];
  sock.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const send = (b: Buffer): Promise<void> => new Promise((r) => sock.send(b, ntpPort, '127.0.0.1', () => r()));
  const bad: Buffer[] = [Buffer.alloc(0), Buffer.alloc(1, 0x23), Buffer.alloc(47, 0x23), Buffer.alloc(2000, 0x23), Buffer.alloc(48, 0xff)];
  const modeServer = ntpRequest();
  modeServer[0] = (4 << 3) | 4;
  const version7 = ntpRequest();
  version7[0] = (7 << 3) | 3;
  const version0 = ntpRequest();
  version0[0] = 3;
  bad.push(modeServer, version7, version0);
  for (const b of bad) await send(b);
  let seed = 7;
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.alloc(48);
    for (let k = 0; k < 48; k++) b[k] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    b[0] = (b[0]! & ~0x07) | ((b[0]! & 7) === 3 ? 4 : b[0]! & 7); // never a valid client request
    await send(b);
  }
  await sleep(300);
  const junkReplies = replies.length;
  await send(ntpRequest());
  await sleep(500);
  sock.close();
  const good = replies.slice(junkReplies).find((r) => r.length === 48 && (r[0]! & 7) === 4 && r.readUInt32BE(24) === 0x12345678 && r.readUInt32BE(28) === 0x9abcdef0);
  assert.equal(junkReplies, 0, 'no reply to malformed NTP packets');
  assert.ok(good, 'the NTP server still answers a valid request');

  // ---- everything still serves, the music still plays -------------------------------------------
  const health = await fc.raw('GET', '/healthz');
  assert.equal(health.status, 200);
  await fc.c.waitFor((s) => s.members.every((m) => m.connected && m.clock?.synced), 30_000, 'members connected, clocks synced');
  const attackToNs = fc.nowMonoNs();
  await sleep(LISTEN_AFTER_S * 1000); // and the music plays on
  const final = await fc.c.status();
  const memberErrors = final.members.find((m) => m.id === 'member1')?.['problems'];
  for (const id of IDS) assert.equal(fc.children.get(id)?.exitCode, null, `${id} process still running`);
  assert.equal(fc.children.get('leader')?.exitCode, null, 'leader process still running');

  // A valid but odd playlist after the audio window (loading one stops playback): BOM, CRLF, a
  // file name written in Latin-1 by an old tool (the file itself has the usual UTF-8 name on
  // disk), `..` paths that stay inside the music dir, a missing entry.
  mkdirSync(join(music.dir, 'sub'), { recursive: true });
  const latin1Name = Buffer.from('caf\xe9.wav', 'latin1');
  writeFileSync(join(music.dir, 'caf\u00e9.wav'), clickTrackWav(3, 2));
  const odd = Buffer.concat([Buffer.from('\ufeff#EXTM3U\r\n#EXTINF:2,Latin-1\r\n'), latin1Name, Buffer.from('\r\nsub/../click-1.wav\r\n../music/click-2.wav\r\nmissing.wav\r\n')]);
  const oddReply = await fc.raw('PUT', '/api/playlist', odd, 'audio/x-mpegurl');
  const oddBody = oddReply.json as { tracks?: number; problems?: Array<{ entry: string; reason: string }> };
  await fc.c.stop();
  const endNs = attackToNs + (LISTEN_AFTER_S - 1) * 1e9; // the odd playlist then stops playback

  const expected = expectedClicks(fc, play.body.atUs, entries);
  const fromNs = fc.monoNsOfLeaderUs(play.body.atUs);
  const reports = new Map(IDS.map((id) => [id, checkClicks(detectClicks(fc!.capture(id)), expected, fromNs, endNs, fc!.starvation(id))] as const));
  const pairs = pairwiseUs(reports.get('member1')!, reports.get('member2')!);
  wd.report(t, ({
    attackS: (attackToNs - attackFromNs) / 1e9, rest: restResults, ws: wsResults.map((r) => ({ name: r.name, closeCode: r.closeCode, closeReason: r.closeReason.slice(0, 120) })),
    ntp: { junkPackets: bad.length + 5000, junkReplies, validAnswered: good !== undefined }, memberErrors, oddPlaylist: oddBody, leaderDisconnectsOfMember1: disconnectsAfter - disconnectsBefore,
    reports: Object.fromEntries([...reports].map(([k, r]) => [k, describe(r)])), pairMaxUs: maxAbs(pairs),
    outliers: Object.fromEntries([...reports].map(([k, r]) => [k, outliers(r, MAX_TIMELINE_ERROR_US, fromNs)])),
  }));
  for (const [id, r] of reports) assertCleanAudio(id, r, 40);
  assertInSync('member1 vs member2', pairs, 12);
  assert.equal(oddReply.status, 200, oddReply.text.slice(0, 500));
  assert.ok((oddBody.tracks ?? 0) >= 2, `odd playlist: ${oddReply.text.slice(0, 500)}`);
  assert.ok(oddBody.problems?.some((p) => p.entry === 'missing.wav'), `odd playlist: missing.wav reported: ${oddReply.text.slice(0, 500)}`);
  await t.test('an uploaded Latin-1 m3u8 finds its Latin-1 file name', () => {
    assert.equal(oddBody.tracks, 3, `odd playlist: ${oddReply.text.slice(0, 500)}`);
  });
  wd.passed();
});
