// Runs the curl lines of the README (the block between the readme-curl markers) and of
// docs/rest-api.md (every ```sh block, top to bottom) verbatim with bash against one running leader
// with a shared key and two members, and checks that each call got the documented answer (status,
// reply shape against the protocol's schemas) and took effect (/api/status after the command's
// time; the leader's log for a command scheduled hours ahead). One cluster serves both tests: the
// README's first, then the REST doc's, which starts from playback stopped at the first track.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { generateKey, parseKey, restToken } from '@jaudiosync/protocol/auth';
import * as Rest from '@jaudiosync/protocol/rest';
import { CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import { TINY_PNG, withId3 } from '@jaudiosync/test-support';
import { Cluster, EXAMPLE_PLAYLIST, REPO_ROOT, sleep } from '../helpers/cluster.js';
import { DocShell, docShellLines, jsonOf, type CurlRun, type DocLine } from '../helpers/doc-shell.js';

const README = join(REPO_ROOT, 'README.md');
const REST_DOC = join(REPO_ROOT, 'docs/rest-api.md');
const MEMBERS = ['member1', 'member2'];
/** The time of day docs/rest-api.md schedules a play at. */
const DOC_TIME_OF_DAY = '18:55:00';

type Status = Rest.StatusReply;

let dir = '';
let cluster: Cluster | undefined;
let token = '';
let zone = { tz: 'UTC', offsetH: 0 };

/**
 * An Etc/GMT zone (whole hours, -12..+14) in which it is now 15:xx local time, so the doc's play at
 * 18:55 today lies 3-4 h ahead whenever the suite runs and is scheduled rather than refused as past.
 */
function zoneBeforeDocTime(nowMs: number): { tz: string; offsetH: number } {
  let offsetH = (((15 - new Date(nowMs).getUTCHours()) % 24) + 24) % 24;
  if (offsetH > 14) offsetH -= 24;
  // POSIX sign convention: Etc/GMT-3 is UTC+3.
  return { tz: offsetH === 0 ? 'Etc/GMT' : `Etc/GMT${offsetH > 0 ? '-' : '+'}${Math.abs(offsetH)}`, offsetH };
}

function pos(s: Status): NonNullable<Status['position']> {
  assert.ok(s.position, 'a position');
  return s.position;
}

function leader(): Cluster {
  assert.ok(cluster, 'cluster started');
  return cluster;
}

function shellEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LEADER: leader().leaderUrl.replace(/^http:\/\//, ''), JAS_TOKEN: token };
}

function assertShape(schema: TSchema, value: unknown, what: string): void {
  if (Value.Check(schema, value)) return;
  const first = [...Value.Errors(schema, value)][0];
  assert.fail(`${what}: reply does not match its schema at ${first?.path || '/'}: ${first?.message ?? '?'}\n${JSON.stringify(value).slice(0, 800)}`);
}

async function status(): Promise<Status> {
  return (await leader().status()) as unknown as Status;
}

/** /api/status once the leader's timescale has passed `atUs` (a command's time). */
async function statusAfter(atUs: number): Promise<Status> {
  for (;;) {
    const s = await status();
    const aheadMs = (atUs - s.leader.nowUs) / 1000;
    if (aheadMs < 0) return s;
    await sleep(aheadMs + 20);
  }
}

/** Milliseconds of playing since a command took effect, as of a status. */
function msSince(reply: { atUs: number }, s: Status): number {
  return (pos(s).atUs - reply.atUs) / 1000;
}

/** A position (ms) where it should be, within a few frames' rounding. */
function assertNear(actualMs: number, expectedMs: number, what: string): void {
  assert.ok(Math.abs(actualMs - expectedMs) < 2, `${what}: at ${actualMs} ms, expected ${expectedMs}`);
}

/** A command's time is `delayMs` after the leader received it: between its clock before and after the request. */
async function assertDelayed(reply: { atUs: number }, before: Status, delayMs: number): Promise<void> {
  const afterUs = (await status()).leader.nowUs;
  assert.ok(reply.atUs >= before.leader.nowUs + delayMs * 1000 - 1000 && reply.atUs <= afterUs + delayMs * 1000 + 1000,
    `atUs ${reply.atUs} is not ${delayMs} ms after the request (leader time ${before.leader.nowUs}..${afterUs})`);
}

/** The revision the leader logged as the last of timeline `rev` (the log is written asynchronously). */
async function loggedRevision(rev: number): Promise<{ atUs: number; playing: boolean; index: number; frame: number }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = leader().leaderRevisions().find((x) => x.rev === rev);
    if (r) return r;
    if (Date.now() > deadline) assert.fail(`the leader did not log timeline rev ${rev}`);
    await sleep(50);
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jas-doc-curl-'));
  const key = generateKey();
  token = restToken(parseKey(key));
  zone = zoneBeforeDocTime(Date.now());
  // The leader's --music-dir: the example tracks (links), its playlist, and an MP3 with a cover for
  // the artwork line; the playlist the doc uploads lists two of them.
  const music = join(dir, 'music');
  mkdirSync(music);
  const exampleDir = join(REPO_ROOT, 'Music');
  for (const f of readdirSync(exampleDir)) if (/\.(wav|mp3|flac|ogg|opus)$/.test(f)) symlinkSync(join(exampleDir, f), join(music, f));
  copyFileSync(EXAMPLE_PLAYLIST, join(music, 'Playlist.m3u8'));
  writeFileSync(join(music, 'party-cover.mp3'), withId3(readFileSync(join(exampleDir, '02-pluck-parade.mp3')), {
    title: 'Pluck Parade (covered)', artist: 'JAudioSync Test Ensemble', album: 'Party', picture: { mime: 'image/png', data: TINY_PNG },
  }));
  cluster = await Cluster.start({
    dir, playlist: EXAMPLE_PLAYLIST, members: MEMBERS.map((id) => ({ id })), token,
    env: { JAS_KEY: key }, leaderEnv: { TZ: zone.tz }, leaderArgs: ['--music-dir', music],
  });
  await cluster.waitFor((s) => s.playlist.length > 0 && s.members.every((m) => m.clock?.synced), 30_000, 'members synced');
}, { timeout: 60_000 });

after(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the README curl lines work verbatim against a running leader', { timeout: 120_000 }, async () => {
  const lines = docShellLines(README, 'readme-curl');
  assert.ok(lines.filter((l) => l.kind === 'curl').length >= 8, 'the README shows the commands');
  const cwd = join(dir, 'readme-sh');
  mkdirSync(cwd);
  const sh = new DocShell(cwd, shellEnv());
  for (const l of lines) {
    if (l.kind === 'set') {
      sh.set(l.text);
      continue;
    }
    const r = await sh.run(l.text);
    assert.equal(r.exitCode, 0, `README.md:${l.lineNo} failed: ${l.text}\n${r.stderr}${r.stdout}`);
    assert.equal(r.httpCode, 200, `README.md:${l.lineNo}: ${l.text}\n${r.stdout}`);
    jsonOf(r);
  }
  const s = await leader().waitFor((st) => st.playing && st.position?.index === 1, 15_000, 'the last play (track 2) in effect');
  const m1 = s.members.find((m) => m.id === 'member1');
  assert.equal(m1?.['volume'], 0.8);
  assert.equal(m1?.['outputDelayMs'], 12);
  assert.equal(m1?.['channelMode'], 'left');
  const full = s as unknown as Status;
  assert.equal(full.volume, 0.5);
  assert.deepEqual(full.loudness, { normalize: 'track', targetLufs: -16 });
  assert.equal(full.crossfadeMs, 4000);
  assert.equal(full.shuffle, true);
  assert.equal(full.repeat, 'all');
});

/** One curl line of the doc: words its text must hold (so an edited doc fails here, not later) and its check. */
interface Step {
  has: string[];
  /** never ends by itself: stopped after the first event */
  stream?: boolean;
  check(r: CurlRun, before: Status): Promise<void> | void;
}

test('the docs/rest-api.md curl lines work verbatim, in order, and take effect', { timeout: 120_000 }, async () => {
  const c = leader();
  const lines = docShellLines(REST_DOC);
  const curls = lines.filter((l) => l.kind === 'curl');
  // Every curl line of the doc is in a ```sh block (none is left out of the run).
  assert.equal(curls.length, readFileSync(REST_DOC, 'utf8').split('\n').filter((l) => /^\s*curl /.test(l)).length, 'every curl line of the doc is in a ```sh block');

  const cwd = join(dir, 'rest-sh');
  mkdirSync(cwd);
  writeFileSync(join(cwd, 'Party.m3u8'), '#EXTM3U\n#EXTINF:32,JAudioSync Test Ensemble - Pluck Parade (covered)\nparty-cover.mp3\n03-lattice-steps.flac\n');
  const sh = new DocShell(cwd, shellEnv());
  const music = join(dir, 'music');
  const rate = (await status()).leader.outputRate;

  // The doc's "without it: 401": the same request without the token.
  const bare = await fetch(`${c.leaderUrl}/api/status`);
  assert.equal(bare.status, 401);
  assert.equal(bare.headers.get('www-authenticate'), 'Bearer realm="jaudiosync"');
  assert.equal(((await bare.json()) as Rest.ErrorReply).error, 'JAS_ERR_UNAUTHORIZED');

  // From a player stopped at the first track (the README test left the second playing): the first
  // play visibly starts it, and the doc's jumps stay on tracks the members have decoded (a jump to
  // another waits 1.5 s for it: timeline-controller.ts, UNDECODED_LEAD_US).
  await c.api('POST', '/api/stop', {});
  const rewind = await c.api<Rest.CommandReply>('POST', '/api/seek', { index: 0, positionMs: 0 });
  const start = await statusAfter(rewind.body.atUs);
  assert.ok(!start.playing && pos(start).index === 0, 'stopped at the first track');

  const ok = (r: CurlRun, code = 200): void => {
    assert.equal(r.exitCode, 0, `${r.line}\n${r.stderr}`);
    assert.equal(r.httpCode, code, `HTTP status of: ${r.line}\n${r.stdout}`);
  };
  const command = (r: CurlRun): Rest.CommandReply => {
    ok(r);
    const body = jsonOf<Rest.CommandReply>(r);
    assertShape(Rest.CommandReply, body, r.line);
    return body;
  };
  const order = (r: CurlRun): Rest.OrderReply => {
    ok(r);
    const body = jsonOf<Rest.OrderReply>(r);
    assertShape(Rest.OrderReply, body, r.line);
    return body;
  };
  let scheduled: Rest.CommandReply | undefined;
  let stoppedAt = { index: 0, positionMs: 0 };

  const steps: Step[] = [
    // ---- Authentication
    { has: ['$LEADER/api/status'], check: (r) => { ok(r); assertShape(Rest.StatusReply, jsonOf(r), r.line); } },
    // ---- Commands
    {
      has: ['/api/play', '"+3s"'],
      check: async (r, b) => {
        assert.equal(b.playing, false);
        const reply = command(r);
        await assertDelayed(reply, b, 3000);
        const s = await statusAfter(reply.atUs);
        assert.equal(s.playing, true);
        assertNear(pos(s).positionMs, msSince(reply, s), 'from the resume point (the start)');
      },
    },
    {
      has: ['/api/play', '"index":2', '"positionMs":10000', `"at":"${DOC_TIME_OF_DAY}"`],
      check: async (r) => {
        scheduled = command(r);
        // 18:55:00 today in the leader's zone, hours ahead (within a few ms: "at" is the leader's
        // timescale read back as wall time); the leader sent it as the timeline's last revision.
        const zoneMs = zone.offsetH * 3_600_000;
        const expectedMs = Date.parse(`${new Date(Date.now() + zoneMs).toISOString().slice(0, 10)}T${DOC_TIME_OF_DAY}Z`) - zoneMs;
        assert.ok(Math.abs(Date.parse(scheduled.at) - expectedMs) < 5, `"at" ${scheduled.at} is not ${DOC_TIME_OF_DAY} in ${zone.tz}`);
        assert.deepEqual(await loggedRevision(scheduled.rev), { rev: scheduled.rev, atUs: scheduled.atUs, playing: true, index: 2, frame: 10 * rate });
        assert.equal((await status()).playing, true, 'still playing until then');
      },
    },
    {
      has: ['/api/stop'],
      check: async (r) => {
        const reply = command(r);
        const s = await statusAfter(reply.atUs);
        assert.equal(s.playing, false);
        stoppedAt = { index: pos(s).index, positionMs: pos(s).positionMs };
        // The stop is now the timeline's last revision: the play at 18:55 is cancelled.
        const last = await loggedRevision(reply.rev);
        assert.equal(last.atUs, reply.atUs);
        assert.equal(last.playing, false);
        assert.ok(scheduled && last.atUs < scheduled.atUs);
      },
    },
    {
      has: ['/api/resume', '"delayMs":1000'],
      check: async (r, b) => {
        const reply = command(r);
        await assertDelayed(reply, b, 1000);
        const s = await statusAfter(reply.atUs);
        assert.equal(s.playing, true);
        assert.equal(pos(s).index, stoppedAt.index);
        assertNear(pos(s).positionMs, stoppedAt.positionMs + msSince(reply, s), 'from where it stopped');
      },
    },
    {
      has: ['/api/next'],
      check: async (r, b) => {
        const reply = command(r);
        const s = await statusAfter(reply.atUs);
        const i = pos(b).index;
        assert.equal(pos(s).index, i + 1 < b.playlist.length ? i + 1 : 0);
        assert.equal(s.playing, i + 1 < b.playlist.length || b.loop);
        if (s.playing) assertNear(pos(s).positionMs, msSince(reply, s), 'from its start');
      },
    },
    {
      has: ['/api/previous'],
      check: async (r, b) => {
        const reply = command(r);
        const s = await statusAfter(reply.atUs);
        const i = pos(b).index;
        // Under 3 s into the track when it acts: the one before (the last one when the playlist
        // wraps); later, the start of this one.
        const playedMs = pos(b).positionMs + (reply.atUs - pos(b).atUs) / 1000;
        assert.equal(pos(s).index, playedMs > 3000 ? i : i > 0 ? i - 1 : b.loop ? b.playlist.length - 1 : 0, `${playedMs} ms into track ${i}`);
        assert.equal(s.playing, true);
        assertNear(pos(s).positionMs, msSince(reply, s), 'from its start');
      },
    },
    {
      has: ['/api/seek', '{"positionMs":15000}'],
      check: async (r, b) => {
        const reply = command(r);
        const s = await statusAfter(reply.atUs);
        assert.equal(pos(s).index, pos(b).index);
        assertNear(pos(s).positionMs, 15_000 + msSince(reply, s), 'from 15 s');
      },
    },
    {
      has: ['/api/seek', '{"index":0,"positionMs":0}'],
      check: async (r) => {
        const reply = command(r);
        const s = await statusAfter(reply.atUs);
        assert.equal(pos(s).index, 0);
        assert.equal(s.playing, true);
        assertNear(pos(s).positionMs, msSince(reply, s), 'from its start');
      },
    },
    // ---- Order
    {
      has: ['/api/repeat', '"one"'],
      check: async (r) => {
        assert.equal(order(r).repeat, 'one');
        const s = await status();
        assert.equal(s.repeat, 'one');
        assert.equal(s.loop, false);
      },
    },
    {
      has: ['-X PUT', '/api/shuffle', '"shuffle":true'],
      check: async (r, b) => {
        const reply = order(r);
        assert.equal(reply.shuffle, true);
        const s = await statusAfter(reply.atUs);
        assert.equal(s.shuffle, true);
        assert.equal(s.seed, reply.seed);
        // Only the upcoming tracks move.
        assert.equal(s.playlist[pos(s).index]?.id, b.playlist[pos(b).index]?.id);
      },
    },
    {
      has: ['-X POST', '/api/shuffle'],
      check: async (r, b) => {
        const reply = order(r);
        assert.equal(reply.shuffle, true);
        assert.notEqual(reply.seed, b.seed, 'a new seed');
        assert.equal((await status()).seed, reply.seed);
      },
    },
    {
      has: ['-X PUT', '/api/shuffle', '"shuffle":false'],
      check: async (r, b) => {
        assert.equal(order(r).shuffle, false);
        const s = await status();
        assert.equal(s.shuffle, false);
        // The tracks that move are upcoming ones (after the playing track, and after any track a
        // revision of the last second names), and they move into m3u8 order.
        const was = b.playlist.map((e) => e.playlistIndex ?? -1);
        const now = s.playlist.map((e) => e.playlistIndex ?? -1);
        let first = 0;
        while (first < now.length && now[first] === was[first]) first++;
        assert.ok(first > pos(s).index, `the playing track ${pos(s).index} stays: ${JSON.stringify(was)} -> ${JSON.stringify(now)}`);
        assert.deepEqual(now.slice(first), was.slice(first).sort((x, y) => x - y), 'the upcoming tracks in m3u8 order');
      },
    },
    {
      has: ['/api/stop-after', '"stopAfter":true'],
      check: async (r) => {
        const reply = order(r);
        assert.equal(reply.stopAfter, true);
        const s = await status();
        assert.equal(s.stopAfter, true);
        // The stop is at the end of the playing track; remainingMs counts down to it.
        const track = s.playlist[pos(s).index];
        assert.ok(track && s.remainingMs !== null && s.remainingMs <= track.durationMs - pos(s).positionMs + 100, `remainingMs ${s.remainingMs}`);
        assert.ok(Math.abs((reply.atUs - s.leader.nowUs) / 1000 - s.remainingMs) < 500, `stop at ${reply.atUs}, remainingMs ${s.remainingMs}`);
      },
    },
    // ---- Volume and members
    {
      has: ['/api/volume', '{"volume":0.5}'],
      check: async (r, b) => {
        ok(r);
        const reply = jsonOf<{ rev: number; atUs: number; volume: number }>(r);
        assert.equal(reply.volume, 0.5);
        assert.ok(reply.rev > pos(b).rev, 'a new timeline revision');
        const s = await status();
        assert.equal(s.volume, 0.5);
        assert.ok(pos(s).rev >= reply.rev);
      },
    },
    {
      has: ['/api/members/member2', '"outputDelayMs":12'],
      check: async (r) => {
        ok(r);
        const { atUs, at, ...settings } = jsonOf<Record<string, unknown>>(r);
        assert.deepEqual(settings, { id: 'member2', volume: 0.8, outputDelayMs: 12, channelMode: 'left' });
        assert.ok(typeof atUs === 'number' && typeof at === 'string', 'when the trims apply');
        const m = (await status()).members.find((x) => x.id === 'member2');
        assert.deepEqual(m && [m.volume, m.outputDelayMs, m.channelMode], [0.8, 12, 'left']);
      },
    },
    {
      has: ['$LEADER/api/members'],
      check: (r) => {
        ok(r);
        const members = jsonOf<Rest.MemberStatus[]>(r);
        members.forEach((m) => assertShape(Rest.MemberStatus, m, r.line));
        assert.deepEqual(members.map((m) => [m.id, m.connected]).sort(), MEMBERS.map((id) => [id, true]));
      },
    },
    // ---- Crossfade
    {
      has: ['/api/crossfade', '6000'],
      check: async (r, b) => {
        ok(r);
        const reply = jsonOf(r);
        assertShape(Rest.REST_SCHEMAS.CrossfadeReply, reply, r.line);
        assert.equal((reply as { crossfadeMs: number }).crossfadeMs, 6000);
        assert.notEqual(b.crossfadeMs, 6000);
        assert.equal((await status()).crossfadeMs, 6000);
      },
    },
    // ---- Loudness
    {
      has: ['-X PUT', '/api/loudness', '"track"', '-16'],
      check: async (r) => {
        ok(r);
        const reply = jsonOf<Rest.LoudnessSetReply>(r);
        assertShape(Rest.LoudnessSetReply, reply, r.line);
        assert.ok(reply.rev !== null, 'new gains on the timeline');
        assert.deepEqual((await status()).loudness, { normalize: 'track', targetLufs: -16 });
      },
    },
    {
      has: ['-X PUT', '/api/loudness', '"album"'],
      check: async (r) => {
        ok(r);
        assert.equal(jsonOf<Rest.LoudnessSetReply>(r).normalize, 'album');
        assert.deepEqual((await status()).loudness, { normalize: 'album', targetLufs: -16 });
      },
    },
    {
      has: ['$LEADER/api/loudness'],
      check: (r, b) => {
        ok(r);
        const reply = jsonOf<Rest.LoudnessReply>(r);
        assertShape(Rest.LoudnessReply, reply, r.line);
        assert.equal(reply.normalize, 'album');
        assert.equal(reply.tracks.length, b.playlist.length);
        assert.ok(reply.tracks.every((t) => t.loudnessLufs !== null), 'every track measured');
      },
    },
    // ---- Playlist
    {
      has: ['$LEADER/api/playlist '],
      check: (r) => {
        ok(r);
        const reply = jsonOf<{ path: string; tracks: Array<{ id: string }>; problems: unknown[] }>(r);
        assert.equal(reply.path, EXAMPLE_PLAYLIST);
        assert.equal(reply.tracks.length, 5);
        assert.deepEqual(reply.problems, []);
      },
    },
    {
      has: ['/api/playlist', '{"path":"Playlist.m3u8"}'],
      check: async (r, b) => {
        ok(r);
        // Relative to --music-dir; loading stops playback.
        assert.deepEqual(jsonOf(r), { path: join(music, 'Playlist.m3u8'), tracks: 5, problems: [] });
        const s = await status();
        assert.equal(s.playing, false);
        assert.equal(s.stopAfter, false);
        assert.equal(s.leader.playlistPath, join(music, 'Playlist.m3u8'));
        assert.ok(pos(s).rev > pos(b).rev);
      },
    },
    {
      has: ['/api/playlist', "-d '{}'"],
      check: async (r, b) => {
        ok(r);
        assert.deepEqual(jsonOf(r), { path: join(music, 'Playlist.m3u8'), tracks: 5, problems: [] });
        assert.ok(pos(await status()).rev > pos(b).rev, 'loaded again');
      },
    },
    {
      has: ['/api/playlist', '@Party.m3u8'],
      check: async (r) => {
        ok(r);
        assert.deepEqual(jsonOf(r), { path: null, tracks: 2, problems: [] });
        const s = await status();
        assert.deepEqual(s.playlist.map((e) => e.path), [join(music, 'party-cover.mp3'), join(music, '03-lattice-steps.flac')]);
        assert.equal(s.playlist[0]?.artwork, createHash('sha256').update(TINY_PNG).digest('hex'));
        assert.equal(s.leader.playlistPath, undefined);
      },
    },
    // ---- Status and events
    {
      has: ['$LEADER/api/status '],
      check: (r) => {
        ok(r);
        const s = jsonOf<Status>(r);
        assertShape(Rest.StatusReply, s, r.line);
        assert.equal(s.playlist.length, 2);
      },
    },
    {
      has: ['curl -sN', '/api/events'],
      stream: true,
      check: (r) => {
        assert.equal(r.exitCode, null, `still streaming when stopped after the first event: ${r.stderr}`);
        assert.equal(r.httpCode, 200);
        assert.match(r.contentType, /^text\/event-stream/);
        const event = /^event: status\ndata: (.*)$/m.exec(r.stdout);
        assert.ok(event?.[1], `an "event: status": ${r.stdout.slice(0, 300)}`);
        assertShape(Rest.StatusReply, JSON.parse(event[1]), r.line);
      },
    },
    {
      has: ['/api/openapi.json'],
      check: (r) => {
        ok(r);
        const doc = jsonOf<{ openapi: string; paths: Record<string, unknown> }>(r);
        assert.equal(doc.openapi, '3.0.3');
        for (const p of ['/api/play', '/api/status', '/api/events', '/api/calibration', '/api/clock', '/tracks/{sha256}', '/api/artwork/{sha256}']) assert.ok(p in doc.paths, p);
      },
    },
    // No token: /healthz is open.
    { has: ['curl -s $LEADER/healthz'], check: (r) => { ok(r); assert.deepEqual(jsonOf(r), { ok: true }); } },
    // ---- What's playing
    {
      has: ['-o cover', '/api/artwork/$ART'],
      check: (r) => {
        ok(r);
        // A 1x1 PNG is served as embedded (only larger covers are scaled to JPEG).
        assert.equal(r.contentType, 'image/png');
        assert.deepEqual(readFileSync(join(cwd, 'cover')), TINY_PNG);
      },
    },
    // ---- Clock
    {
      has: ['/api/clock', 'date +%s%3N'],
      check: async (r) => {
        ok(r);
        const reply = jsonOf<Rest.ClockReply>(r);
        assertShape(Rest.ClockReply, reply, r.line);
        // This machine's clock is the leader's system clock: (almost) no step, and a phone's time
        // that agrees with the system clock within 1 s is not kept (wall-clock.ts, AGREE_MS).
        assert.equal(reply.method, 'offset');
        assert.ok(Math.abs(reply.stepMs) < 2000, `stepMs ${reply.stepMs}`);
        assert.ok(Math.abs(reply.wallMs - Date.now()) < 1000);
        const s = await status();
        assert.equal(s.leader.clockSettable, true);
        // (A request slower than a second, on a very busy machine, is a step the leader keeps.)
        assert.equal(s.leader.clockSource, Math.abs(reply.stepMs) < 1000 ? 'system' : 'phone');
        assert.ok(Math.abs((s.leader.wallMs ?? 0) - Date.now()) < 1000);
      },
    },
    // ---- Tracks
    {
      has: ['-o $TRACK', '/tracks/$TRACK'],
      check: (r, b) => {
        ok(r);
        const id = b.playlist[0]?.id ?? '';
        const file = readFileSync(join(cwd, id));
        assert.equal(createHash('sha256').update(file).digest('hex'), id);
        assert.deepEqual(file, readFileSync(join(music, 'party-cover.mp3')));
      },
    },
    { has: ["'range: bytes=0-1023'", '| wc -c'], check: (r) => { ok(r, 206); assert.equal(r.stdout.trim(), '1024'); } },
    // ---- Acoustic calibration (stopped: the playlist load stopped playback)
    {
      has: ['/api/calibration', '"rounds":3'],
      check: (r, b) => {
        assert.equal(b.playing, false);
        ok(r);
        const reply = jsonOf<typeof CalibrationReply.static>(r);
        assertShape(CalibrationReply, reply, r.line);
        // Three probes per member, each member in turn, ahead of the reply; each member's settings as they were.
        assert.deepEqual(reply.probes.map((p) => p.memberId), [...MEMBERS, ...MEMBERS, ...MEMBERS]);
        assert.ok(reply.startUs > b.leader.nowUs && reply.probes.every((p) => p.atUs >= reply.startUs && p.atUs < reply.endUs));
        assert.deepEqual(reply.members.find((m) => m.memberId === 'member2'), { memberId: 'member2', outputDelayMs: 12, volume: 0.8 });
      },
    },
  ];

  assert.equal(curls.length, steps.length, `the doc has ${curls.length} curl lines, the test checks ${steps.length}`);
  let i = 0;
  for (const l of lines) {
    if (l.kind === 'set') {
      sh.set(l.text);
      continue;
    }
    const step = steps[i++] as Step;
    const where = (line: DocLine): string => `docs/rest-api.md:${line.lineNo}: ${line.text}`;
    assert.ok(step.has.every((w) => l.text.includes(w)), `${where(l)}\nis not the line the test expects here (holding ${JSON.stringify(step.has)})`);
    const before = await status();
    const r = await sh.run(l.text, { stream: step.stream === true });
    try {
      await step.check(r, before);
    } catch (err) {
      throw new Error(`${where(l)}\nexit ${r.exitCode}, HTTP ${r.httpCode}: ${r.stdout.slice(0, 400)}\n${(err as Error).message}`, { cause: err });
    }
  }
});
