// The control page driving the real daemons: a leader and two members with capture sinks on
// loopback (test/helpers/cluster.ts). Tapping Play must put the first click of the track at the DAC
// at the scheduled leader time; moving a member's volume slider must change its captured level.
// Screenshot at phone width kept in test-artifacts/ui/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCapture } from '@jaudiosync/member/capture-file';
import { Cluster, EXAMPLE_PLAYLIST, memberBinSkip, REPO_ROOT, hostMonoNsAtLeaderUs, sleep } from '../helpers/cluster.js';
import { DEFAULT_ONSET_THRESHOLD, findOnset, rmsLevel } from '../helpers/capture-analysis.js';
import { wavOnsetS } from '../helpers/wav.js';
import { launchBrowser } from './browser.js';

// Browser globals used only inside waitForFunction callbacks (no DOM lib in this project).
declare const document: { querySelectorAll(sel: string): { length: number } };

const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'ui');
/** With the leader's logged timescale anchor the mapping to host time is exact: what is left is
 * the members' sync error (tens of µs) and the shape of the start fade, resampling and threshold. */
const ONSET_TOLERANCE_ANCHOR_MS = 2;
/** Through /api/status the mapping costs up to half a loopback request more (busy machine). */
const ONSET_TOLERANCE_STATUS_MS = 5;
/** Members fade in linearly over this from a revision's atUs (docs/audio-engine.md, Transitions). */
const START_FADE_S = 0.006;
/** Members must agree far better than the leader-time mapping: they share one timescale. */
const MEMBER_ONSET_SPREAD_MS = 1;
const STATUS_SAMPLES = 7;

/**
 * Host CLOCK_MONOTONIC ns of a leader time, through /api/status: the status read with the shortest
 * round trip, its leader.nowUs taken to be at the middle of that round trip.
 */
async function leaderToMono(cluster: Cluster): Promise<{ monoNs(leaderUs: number): number; rttMs: number }> {
  let best = { rttNs: Infinity, midNs: 0, nowUs: 0 };
  for (let i = 0; i < STATUS_SAMPLES; i++) {
    const t1 = process.hrtime.bigint();
    const s = await cluster.status();
    const t2 = process.hrtime.bigint();
    const rttNs = Number(t2 - t1);
    if (rttNs < best.rttNs) best = { rttNs, midNs: Number(t1) + rttNs / 2, nowUs: s.leader.nowUs };
  }
  const b = best;
  return { monoNs: (leaderUs) => b.midNs + (leaderUs - b.nowUs) * 1000, rttMs: b.rttNs / 1e6 };
}

test('control page with real daemons: play starts the audio at the scheduled frame; member volume changes the captured level', {
  skip: memberBinSkip(),
  timeout: 240_000,
}, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'jas-ui-capture-'));
  let failed = true;
  t.after(async () => {
    if (failed && existsSync(dir)) {
      // Keep the daemons' logs of a failed run next to the screenshots.
      const keep = path.join(ARTIFACTS, 'capture-run-logs');
      mkdirSync(keep, { recursive: true });
      for (const f of readdirSync(dir)) if (f.endsWith('.log')) copyFileSync(path.join(dir, f), path.join(keep, f));
    }
    await rm(dir, { recursive: true, force: true });
  });
  const cluster = await Cluster.start({
    dir, playlist: EXAMPLE_PLAYLIST,
    members: [{ id: 'member1' }, { id: 'member2' }],
  });
  t.after(() => cluster.stop());
  const ready = await cluster.waitFor((s) => s.playlist.length > 0 && s.members.every((m) => m.clock?.synced === true && m.ready === s.playlist.length),
    120_000, 'members synced with every track ready');
  assert.match(ready.playlist[0]?.title ?? '', /Metronome Morning/);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = browser.page;
  await page.goto(`${cluster.leaderUrl}/`);
  await page.waitForFunction(() => document.querySelectorAll('#conn[data-state="live"]').length === 1);
  await page.waitForFunction(() => document.querySelectorAll('#members article[data-member]').length === 2);

  // ---- Play: the first click of track 1 at the DAC at the revision's atUs ----------------------
  const before = await leaderToMono(cluster);
  const [playReply] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/play') && r.request().method() === 'POST'),
    page.click('#b-play'),
  ]);
  assert.equal(playReply.status(), 200);
  const play = await playReply.json() as { rev: number; atUs: number };
  const after = await leaderToMono(cluster);
  const viaStatus = after.rttMs < before.rttMs ? after : before;
  const anchor = cluster.leaderAnchor();
  const map = anchor ? { monoNs: (us: number) => hostMonoNsAtLeaderUs(anchor, us) } : viaStatus;
  const toleranceMs = anchor ? ONSET_TOLERANCE_ANCHOR_MS : ONSET_TOLERANCE_STATUS_MS;
  if (anchor) t.diagnostic(`leader time via /api/status is ${((viaStatus.monoNs(play.atUs) - map.monoNs(play.atUs)) / 1e6).toFixed(3)} ms off the logged anchor (rtt ${viaStatus.rttMs.toFixed(2)} ms)`);
  const clickOffsetS = wavOnsetS(path.join(REPO_ROOT, 'Music', '01-metronome-morning.wav'), DEFAULT_ONSET_THRESHOLD, START_FADE_S);
  const expectedNs = map.monoNs(play.atUs) + clickOffsetS * 1e9;
  await sleep(Math.max(0, (expectedNs - Number(process.hrtime.bigint())) / 1e6) + 2500);
  const s = await cluster.status();
  assert.equal(s.playing, true, 'leader says playing');
  assert.equal(s.position?.index, 0);
  await page.waitForFunction(() => document.querySelectorAll('#now-state[data-playing="true"]').length === 1);
  // What the members say about their audio and clock, for a failed onset.
  for (const m of s.members) t.diagnostic(`${m.id}: ${JSON.stringify({ audio: m.audio, clock: m.clock })}`);

  const onsets: number[] = [];
  for (const id of ['member1', 'member2']) {
    const cap = readCapture(cluster.capturePath(id));
    const onsetNs = findOnset(cap, expectedNs - 200e6);
    assert.ok(onsetNs !== null, `${id}: no onset in the capture`);
    const errMs = (onsetNs - expectedNs) / 1e6;
    t.diagnostic(`${id}: onset ${errMs.toFixed(3)} ms after the scheduled time (${anchor ? 'leader anchor' : 'via /api/status'})`);
    assert.ok(Math.abs(errMs) < toleranceMs, `${id}: onset ${errMs.toFixed(3)} ms from the scheduled time`);
    onsets.push(onsetNs);
  }
  assert.ok(Math.abs(onsets[0]! - onsets[1]!) / 1e6 < MEMBER_ONSET_SPREAD_MS, 'members start together');

  // ---- Member volume slider: member1 to 25 %, member2 stays at 100 % ------------------------------
  const [volReply] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/members/member1') && r.request().method() === 'PUT'),
    page.locator('article[data-member="member1"] .m-vol').evaluate((el) => {
      const input = el as unknown as { value: string; dispatchEvent(e: unknown): boolean };
      input.value = '25';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      input.dispatchEvent(new Event('change', { bubbles: true }));
    }),
  ]);
  assert.equal(volReply.status(), 200);
  const vol = await volReply.json() as { volume: number; atUs: number };
  assert.equal(vol.volume, 0.25);
  const changeNs = map.monoNs(vol.atUs);
  await sleep(Math.max(0, (changeNs - Number(process.hrtime.bigint())) / 1e6) + 2500);
  const c1 = readCapture(cluster.capturePath('member1'));
  const c2 = readCapture(cluster.capturePath('member2'));
  // Same material on both (in sync), so the level ratio isolates member1's gain.
  const ratio = (fromNs: number, toNs: number) => rmsLevel(c1, fromNs, toNs) / rmsLevel(c2, fromNs, toNs);
  const beforeRatio = ratio(expectedNs, Math.min(changeNs - 50e6, expectedNs + 2.2e9));
  const afterRatio = ratio(changeNs + 100e6, changeNs + 2.3e9);
  t.diagnostic(`member1/member2 level: ${beforeRatio.toFixed(3)} before, ${afterRatio.toFixed(3)} after`);
  assert.ok(Math.abs(beforeRatio - 1) < 0.1, `levels equal before (ratio ${beforeRatio})`);
  // Volume 0.25 on the perceptual curve (docs/audio-engine.md, "Volume"): gain 0.25^1.5 = 0.125 (-18 dB).
  assert.ok(Math.abs(afterRatio - 0.25 ** 1.5) < 0.025, `member1 at gain 0.125 after (ratio ${afterRatio})`);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'control-page-capture-390x844.png'), fullPage: true });
  assert.deepEqual(browser.problems.filter((p) => !/Failed to load resource/.test(p)), []);
  failed = false;
});
