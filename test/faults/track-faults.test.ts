// Bad tracks and bad disks, judged on the captured audio. One group of three members:
// - member1's cache directory cannot be created (a file is in the way), member2's cache is a full
//   64 KiB tmpfs: both report it (status problems) and play from memory, in sync;
// - the playlist has a directory, a text file, random bytes named .mp3 and a truncated WAV: the
//   leader drops what it cannot decode and says why (/api/playlist problems);
// - after the leader loaded the playlist (members cut off by a blackhole so they have not fetched
//   yet), one track file vanishes and another is rewritten: every member reports the track and plays
//   silence for its slot; the tracks around it play on, in sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../helpers/cluster.js';
import { clickTrackWav, CLICK_RATE } from './helpers/click-playlist.js';
import { wavBytes } from '../helpers/wav.js';
import { checkClicks, describe, detectClicks, expectedClicks, outliers, pairwiseUs } from './helpers/click-check.js';
import { assertCleanAudio, assertInSync } from './helpers/audio-asserts.js';
import { FaultCluster, faultSkipReason } from './helpers/fault-cluster.js';
import { MAX_MEMBER_OFFSET_US, MAX_TIMELINE_ERROR_US, maxAbs, workDir } from './helpers/fault-env.js';

const TRACK_S = 6;
const IDS = ['member1', 'member2', 'member3'];

test('unwritable and full caches, vanished/changed/corrupt/odd playlist entries: reported, skipped, the rest plays in sync', {
  skip: faultSkipReason() ?? false,
  timeout: 240_000,
}, async (t) => {
  const wd = workDir('track-faults');
  let fc: FaultCluster | undefined;
  let unmount = (): void => undefined;
  t.after(async () => {
    await fc?.stop();
    unmount();
    wd.cleanup();
  });
  const musicDir = join(wd.dir, 'music');
  mkdirSync(join(musicDir, 'a-directory.wav'), { recursive: true });
  for (let k = 0; k < 4; k++) writeFileSync(join(musicDir, `click-${k + 1}.wav`), clickTrackWav(k, TRACK_S));
  writeFileSync(join(musicDir, 'notes.txt'), 'not audio\n');
  writeFileSync(join(musicDir, 'noise.mp3'), Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919 + 13) % 251)));
  // A WAV whose header promises 5 s but whose data stops after 0.5 s.
  const full = wavBytes(new Int16Array(5 * CLICK_RATE * 2), 2, CLICK_RATE);
  writeFileSync(join(musicDir, 'truncated.wav'), full.subarray(0, 44 + CLICK_RATE * 2 * 2 / 2));
  const m3u8 = join(musicDir, 'faulty.m3u8');
  writeFileSync(m3u8, ['#EXTM3U', 'click-1.wav', 'a-directory.wav', 'notes.txt', 'click-2.wav', 'noise.mp3', 'click-3.wav', 'truncated.wav', 'click-4.wav', ''].join('\n'));

  // member1: a file where its cache directory should be; member2: a full tmpfs.
  writeFileSync(join(wd.dir, 'blocker'), 'x');
  const fullDir = join(wd.dir, 'full-cache');
  mkdirSync(fullDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'jas-fault-full', fullDir]);
  unmount = () => { try { execFileSync('umount', ['-l', fullDir]); } catch { /* already gone */ } };
  writeFileSync(join(fullDir, 'filler'), Buffer.alloc(60 * 1024));

  fc = await FaultCluster.start({
    dir: wd.dir,
    members: [
      { id: 'member1', dacPpm: 50, extraArgs: ['--cache-dir', join(wd.dir, 'blocker', 'cache')] },
      { id: 'member2', dacPpm: -40, clockOffsetUs: 900_000, extraArgs: ['--cache-dir', fullDir] },
      { id: 'member3', dacPpm: 10 },
    ],
  });
  await fc.c.waitFor((s) => s.members.length === 3 && s.members.every((m) => m.connected && m.clock?.synced), 60_000, 'members synced');

  // Cut the members off (blackhole: their TCP just stalls) while the leader loads the playlist and
  // two of its files break; the timeline reaches them when the links return, too late to fetch.
  // One at a time: jas-net.sh rewrites the hub's config file for each call.
  for (const id of IDS) await fc.net!.blackhole(id, true);
  let loaded;
  try {
    loaded = await fc.c.api<{ tracks: number; problems: Array<{ entry: string; reason: string }> }>('PUT', '/api/playlist', { path: m3u8 });
    rmSync(join(musicDir, 'click-3.wav'));
    appendFileSync(join(musicDir, 'click-2.wav'), Buffer.alloc(4096, 1));
  } finally {
    for (const id of IDS) await fc.net!.blackhole(id, false);
  }
  assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  const problems = loaded.body.problems;
  const dropped = new Map(problems.map((p) => [p.entry, p.reason]));
  wd.report(t, ({ problems }));
  for (const e of ['a-directory.wav', 'notes.txt', 'noise.mp3']) assert.ok(dropped.has(e), `${e} dropped with a reason: ${JSON.stringify(problems)}`);
  const truncatedKept = !dropped.has('truncated.wav');
  await fc.c.waitFor((s) => s.members.every((m) => m.connected && m.clock?.synced), 30_000, 'members back after the blackhole');
  fc.startMonitor();
  await sleep(3000); // the members' prefetches of the broken tracks fail now, before play
  const status = await fc.c.status();
  const titles = status.playlist.map((p) => String(p.path ?? p.title));
  const toneOfEntry = titles.map((p) => {
    const m = /click-(\d)\.wav$/.exec(p);
    if (!m) return -1; // the truncated WAV (if kept): silence
    const k = Number(m[1]) - 1;
    return k === 1 || k === 2 ? -1 : k; // changed / vanished after load: silent slot everywhere
  });
  const entries = status.playlist.map((p, i) => ({ frames: Number(p.frames), tone: toneOfEntry[i]! }));
  const underrunsBefore = Object.fromEntries(status.members.map((m) => [m.id, m.audio?.underruns ?? 0]));
  // No explicit delay: the leader's lead time grew with the RTTs it saw during the blackhole.
  const play = await fc.c.api<{ atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  const totalS = entries.reduce((a, e) => a + e.frames, 0) / CLICK_RATE;
  await sleep((fc.monoNsOfLeaderUs(play.body.atUs) - fc.nowMonoNs()) / 1e6 + totalS * 1000 + 1000);
  const final = await fc.c.status();
  const playlistReply = await fc.c.api<{ problems: unknown[] }>('GET', '/api/playlist');
  await fc.c.stop();

  const expected = expectedClicks(fc, play.body.atUs, entries);
  const fromNs = fc.monoNsOfLeaderUs(play.body.atUs);
  const toNs = fromNs + totalS * 1e9 + 0.5e9;
  const reports = new Map(IDS.map((id) => [id, checkClicks(detectClicks(fc.capture(id)), expected, fromNs, toNs, fc.starvation(id))] as const));
  const pairs = [...pairwiseUs(reports.get('member3')!, reports.get('member1')!), ...pairwiseUs(reports.get('member3')!, reports.get('member2')!)];
  const memberProblems = Object.fromEntries(final.members.map((m) => [m.id, { health: m.health, problems: m['problems'] }]));
  const underrunsDuring = Object.fromEntries(final.members.map((m) => [m.id, (m.audio?.underruns ?? 0) - (underrunsBefore[m.id] ?? 0)]));
  wd.report(t, ({ truncatedKept, titles, underrunsDuring, outliers: Object.fromEntries([...reports].map(([k, r]) => [k, outliers(r, MAX_TIMELINE_ERROR_US, fromNs)])), memberProblems, reports: Object.fromEntries([...reports].map(([k, r]) => [k, describe(r)])), pairMaxUs: maxAbs(pairs) }));

  assert.equal(playlistReply.body.problems.length, problems.length, 'GET /api/playlist keeps the problems');
  // extra clicks would be sound in a silent slot
  for (const [id, r] of reports) assertCleanAudio(id, r, 40);
  assertInSync('member3 vs member1 and member2', pairs, 40);
  const text = (id: string): string => JSON.stringify(memberProblems[id]);
  assert.match(text('member1'), /JAS_ERR_CACHE/, 'member1 reports its cache');
  assert.match(text('member2'), /JAS_ERR_CACHE/, 'member2 reports its cache');
  for (const id of IDS) {
    assert.notEqual(memberProblems[id]?.health, 'ok', `${id} is flagged`);
    assert.match(text(id), /track [0-9a-f]{12}/, `${id} reports the unavailable tracks`);
  }
  wd.passed();
});
