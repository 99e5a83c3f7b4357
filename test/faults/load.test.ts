// Load: many members and a client issuing 20 commands a second (group volume, member settings,
// status and playlist reads; each volume change is a new timeline sent to every member) while the
// playlist plays. Judged on the captured audio of every member (all clicks, right place, in sync)
// and the leader's resident memory (flat). Default: 8 members for 20 s; JAS_LONG_FAULTS=1: 32
// members for 60 s (the issue's numbers; needs more than 2 cores to be meaningful).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sleep } from '../helpers/cluster.js';
import { writeClickPlaylist } from './helpers/click-playlist.js';
import { checkClicks, describe, detectClicks, expectedClicks, outliers, pairwiseUs } from './helpers/click-check.js';
import { assertCleanAudio } from './helpers/audio-asserts.js';
import { FaultCluster, faultSkipReason } from './helpers/fault-cluster.js';
import { LONG_FAULTS, MAX_MEMBER_OFFSET_US, MAX_TIMELINE_ERROR_US, maxAbs, workDir } from './helpers/fault-env.js';

const MEMBERS = Number(process.env['JAS_LOAD_MEMBERS'] ?? (LONG_FAULTS ? 32 : 8));
const LOAD_S = Number(process.env['JAS_LOAD_SECONDS'] ?? (LONG_FAULTS ? 60 : 20));
const COMMANDS_PER_S = 20;
/** Requests in flight at most: a slow leader is measured, not buried. */
const MAX_IN_FLIGHT = 20;
/** Leader RSS growth allowed between the first and the last third of the run (GC noise is ~10 MB). */
const MAX_RSS_GROWTH_KB = 30 * 1024;

test(`load: ${MEMBERS} members, ${COMMANDS_PER_S} commands/s for ${LOAD_S} s: every member stays in sync, leader memory flat`, {
  skip: faultSkipReason() ?? false,
  timeout: (LOAD_S + 240) * 1000,
}, async (t) => {
  const wd = workDir('load');
  let fc: FaultCluster | undefined;
  t.after(async () => {
    await fc?.stop();
    wd.cleanup();
  });
  const trackS = Math.ceil((LOAD_S + 8) / 2);
  const music = writeClickPlaylist(join(wd.dir, 'music'), [trackS, trackS]);
  const ids = Array.from({ length: MEMBERS }, (_, i) => `member${i + 1}`);
  fc = await FaultCluster.start({
    dir: wd.dir, playlist: music.m3u8,
    members: ids.map((id, i) => ({ id, dacPpm: ((i * 37) % 200) - 100, clockOffsetUs: (i - MEMBERS / 2) * 250_000, clockRatePpm: ((i * 13) % 60) - 30 })),
  });
  await fc.waitReady(2, 120_000);
  fc.startMonitor();
  await fc.c.waitFor((s) => s.members.every((m) => m.ready === 2), 120_000, 'all tracks cached');
  const entries = (await fc.c.status()).playlist.map((p, k) => ({ frames: Number(p.frames), tone: k }));
  const play = await fc.c.api<{ atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  await fc.sleepPastLeaderUs(play.body.atUs, 500);

  // ---- the load -------------------------------------------------------------------------------
  const rss: number[] = [];
  const latenciesMs: number[] = [];
  const failures: string[] = [];
  let sent = 0;
  let inFlight = 0;
  let skipped = 0;
  const loadFromNs = fc.nowMonoNs();
  const endAt = Date.now() + LOAD_S * 1000;
  const rssTimer = setInterval(() => rss.push(fc!.rssKb('leader')), 1000);
  const issue = async (k: number): Promise<void> => {
    const member = ids[k % ids.length]!;
    const kinds: Array<() => Promise<{ status: number; text: string }>> = [
      () => fc!.rawRequest('PUT', '/api/volume', JSON.stringify({ volume: 0.7 + 0.3 * ((k >> 2) % 2) }), 'application/json'),
      () => fc!.rawRequest('GET', '/api/status'),
      () => fc!.rawRequest('PATCH', `/api/members/${member}`, JSON.stringify({ volume: 0.8 + 0.2 * ((k >> 2) % 2), channelMode: k % 8 < 4 ? 'stereo' : 'mono' }), 'application/json'),
      () => fc!.rawRequest('GET', k % 2 ? '/api/playlist' : '/api/members'),
    ];
    const t0 = performance.now();
    inFlight++;
    try {
      const r = await kinds[k % kinds.length]!();
      if (r.status !== 200) failures.push(`${r.status} ${r.text.slice(0, 200)}`);
    } catch (err) {
      failures.push((err as Error).message);
    } finally {
      inFlight--;
      latenciesMs.push(performance.now() - t0);
    }
  };
  const pending: Array<Promise<void>> = [];
  for (let k = 0; Date.now() < endAt; k++) {
    const due = loadFromNs / 1e6 + (k * 1000) / COMMANDS_PER_S;
    await sleep(Math.max(0, due - fc.nowMonoNs() / 1e6));
    if (inFlight >= MAX_IN_FLIGHT) {
      skipped++;
      continue;
    }
    sent++;
    pending.push(issue(k));
  }
  await Promise.all(pending);
  clearInterval(rssTimer);
  const loadToNs = fc.nowMonoNs();
  await sleep(1500);
  const final = await fc.c.status();
  await fc.c.stop();

  const expected = expectedClicks(fc, play.body.atUs, entries);
  const fromNs = fc.monoNsOfLeaderUs(play.body.atUs);
  const reports = new Map(ids.map((id) => [id, checkClicks(detectClicks(fc!.capture(id)), expected, fromNs, loadToNs, fc!.starvation(id))] as const));
  const ref = reports.get('member1')!;
  const pairMax = Object.fromEntries(ids.slice(1).map((id) => [id, Math.round(maxAbs(pairwiseUs(ref, reports.get(id)!)))]));
  const third = Math.max(1, Math.floor(rss.length / 3));
  const firstRss = Math.max(...rss.slice(0, third));
  const lastRss = Math.max(...rss.slice(-third));
  latenciesMs.sort((a, b) => a - b);
  const p = (q: number): number => Math.round(latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(q * latenciesMs.length))] ?? NaN);
  wd.report(t, ({
    members: MEMBERS, loadS: (loadToNs - loadFromNs) / 1e9, sent, skipped, failures: failures.length, firstFailures: failures.slice(0, 3),
    latencyMs: { p50: p(0.5), p99: p(0.99), max: p(1) }, leaderRssKb: { first: firstRss, last: lastRss, series: rss },
    connectedAtEnd: final.members.filter((m) => m.connected).length, underruns: final.members.map((m) => m.audio?.underruns ?? -1),
    reports: Object.fromEntries([...reports].map(([k, r]) => [k, describe(r)])), pairMaxUs: pairMax,
    outliers: Object.fromEntries([...reports].map(([k, r]) => [k, outliers(r, MAX_TIMELINE_ERROR_US, fromNs)]).filter(([, o]) => (o as unknown[]).length > 0)),
  }));

  assert.ok(sent >= LOAD_S * COMMANDS_PER_S * 0.9, `commands sent: ${sent} (skipped ${skipped} with ${MAX_IN_FLIGHT} in flight)`);
  assert.equal(failures.length, 0, `failed commands: ${failures.slice(0, 3).join('; ')}`);
  assert.equal(final.members.filter((m) => m.connected).length, MEMBERS, 'every member connected at the end');
  for (const [id, r] of reports) assertCleanAudio(id, r, LOAD_S * 4);
  for (const [id, m] of Object.entries(pairMax)) assert.ok(m < MAX_MEMBER_OFFSET_US, `member1 vs ${id}: ${m} µs`);
  assert.ok(lastRss - firstRss < MAX_RSS_GROWTH_KB, `leader RSS grew ${lastRss - firstRss} kB`);
  wd.passed();
});
