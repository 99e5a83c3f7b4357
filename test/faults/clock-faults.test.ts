// Wall clock faults, judged on the captured audio (libfaketime, monotonic clocks left true as on a
// real host whose RTC is wrong or whose NTP daemon steps the wall clock):
// - member1 boots with its wall clock three years in the past (FAKETIME="-3y"): it syncs and plays
//   like the others (the member reads only CLOCK_MONOTONIC for timing);
// - the leader's wall clock is stepped forward by one hour while playing (FAKETIME_TIMESTAMP_FILE,
//   re-read on every call): nothing already scheduled moves, no member is dropped, and a command
//   after the step still lands on the right frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../helpers/cluster.js';
import { writeClickPlaylist } from './helpers/click-playlist.js';
import { spliceAt, checkClicks, describe, detectClicks, expectedClicks, outliers, pairwiseUs } from './helpers/click-check.js';
import { assertCleanAudio, assertInSync } from './helpers/audio-asserts.js';
import { FAKETIME_LIB, FaultCluster, faultSkipReason } from './helpers/fault-cluster.js';
import { MAX_MEMBER_OFFSET_US, MAX_TIMELINE_ERROR_US, maxAbs, workDir } from './helpers/fault-env.js';

const IDS = ['member1', 'member2', 'member3'];
const YEAR_MS = 365 * 86_400_000;

/** pino `time` (wall ms) of the first log line of a daemon. */
function firstLogWallMs(path: string): number {
  const line = readFileSync(path, 'utf8').split('\n').find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as { time: number }).time : NaN;
}

test('member wall clock 3 years off at boot, leader wall clock stepped +1 h while playing: the audio does not move', {
  skip: faultSkipReason() ?? (existsSync(FAKETIME_LIB) ? false : `libfaketime not installed (${FAKETIME_LIB}; Debian package faketime)`),
  timeout: 240_000,
}, async (t) => {
  const wd = workDir('clock-faults');
  let fc: FaultCluster | undefined;
  t.after(async () => {
    await fc?.stop();
    wd.cleanup();
  });
  const music = writeClickPlaylist(join(wd.dir, 'music'), [12, 12, 12]);
  const tsFile = join(wd.dir, 'leader-faketime');
  writeFileSync(tsFile, '+0\n');
  fc = await FaultCluster.start({
    dir: wd.dir, playlist: music.m3u8,
    members: [
      { id: 'member1', dacPpm: 70, clockRatePpm: 20 },
      { id: 'member2', dacPpm: -50, clockOffsetUs: -2_000_000 },
      { id: 'member3', dacPpm: 0 },
    ],
    hostEnv: {
      member1: { LD_PRELOAD: FAKETIME_LIB, FAKETIME: '-3y', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
      leader: { LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: tsFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    },
  });
  await fc.waitReady(3);
  fc.startMonitor();
  await fc.c.waitFor((s) => s.members.every((m) => m.ready === 3), 60_000, 'all tracks cached');
  // The faults are real: member1's process lives three years ago.
  const skewYears = (Date.now() - firstLogWallMs(fc.c.logPath('member1'))) / YEAR_MS;
  assert.ok(skewYears > 2.9 && skewYears < 3.1, `member1 wall clock is ${skewYears.toFixed(2)} years behind`);

  const entries = (await fc.c.status()).playlist.map((p, k) => ({ frames: Number(p.frames), tone: k }));
  const play = await fc.c.api<{ atUs: number; at: string }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  await fc.sleepPastLeaderUs(play.body.atUs, 4000);

  const stepNs = fc.nowMonoNs();
  writeFileSync(tsFile, '+1h\n');
  await sleep(1000);
  const probe = await fc.c.api<{ atUs: number; at: string }>('PUT', '/api/volume', { volume: 1 });
  assert.equal(probe.status, 200, JSON.stringify(probe.body));
  // The leader's wall clock did step: the wall time it prints for a leader time is an hour on.
  const wallStepS = (Date.parse(probe.body.at) - Date.now()) / 1000;
  assert.ok(wallStepS > 3500 && wallStepS < 3700, `leader wall clock stepped by ${wallStepS} s`);
  await sleep(3000);
  const next = await fc.c.api<{ atUs: number }>('POST', '/api/next', {});
  assert.equal(next.status, 200, JSON.stringify(next.body));
  await fc.sleepPastLeaderUs(next.body.atUs, 1200);
  const s = await fc.c.status();
  assert.equal(s.position?.index, 1, 'next took effect after the step');
  assert.ok(s.members.every((m) => m.connected && m.clock?.synced), 'every member still connected and synced');
  await sleep(4000);
  const disconnects = (fc.logText('leader').match(/"member disconnected"/g) ?? []).length;
  await fc.c.stop();
  const endNs = fc.nowMonoNs() - 1e9;

  const nextNs = fc.monoNsOfLeaderUs(next.body.atUs);
  const expected = spliceAt(expectedClicks(fc, play.body.atUs, entries), expectedClicks(fc, next.body.atUs, entries, 1, 0), nextNs);
  const fromNs = fc.monoNsOfLeaderUs(play.body.atUs);
  const reports = new Map(IDS.map((id) => [id, checkClicks(detectClicks(fc.capture(id)), expected, fromNs, endNs, fc.starvation(id))] as const));
  const aroundStep = IDS.map((id) => describe(checkClicks(detectClicks(fc.capture(id)), expected, stepNs - 2e9, stepNs + 4e9, fc.starvation(id))));
  const pairs = [...pairwiseUs(reports.get('member3')!, reports.get('member1')!), ...pairwiseUs(reports.get('member3')!, reports.get('member2')!)];
  wd.report(t, ({
    skewYears, wallStepS, disconnects, reports: Object.fromEntries([...reports].map(([k, r]) => [k, describe(r)])), aroundStep, pairMaxUs: maxAbs(pairs),
    outliers: Object.fromEntries([...reports].map(([k, r]) => [k, outliers(r, MAX_TIMELINE_ERROR_US, fromNs)])),
  }));

  assert.equal(disconnects, 0, 'no member dropped by the wall clock step');
  for (const [id, r] of reports) assertCleanAudio(id, r, 40);
  assertInSync('member3 vs member1 and member2', pairs, 40);
  wd.passed();
});
