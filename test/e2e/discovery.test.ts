// Member discovery over mDNS on simulated hosts (netsim): the leader finds two members by mDNS only
// (no --member), plays; member2 is SIGKILLed (the leader marks it offline), restarted, found again,
// and its audio rejoins the running timeline mid-track in sync with member1 (captures compared).
// A second test shows --member-pattern keeps hosts that do not match out.
// JAS_E2E_KEEP=1 keeps the working dir (daemon logs, captures).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture } from '@jaudiosync/member/capture-file';
import { Netsim, netsimUnavailableReason } from '../netsim/netsim.js';
import { findOnset, measureOffset } from '../helpers/capture-analysis.js';
import { Cluster, hostMonoNsAtLeaderUs, leaderUsAtHostMonoNs, sleep, type ClusterMember, type ClusterStatus } from '../helpers/cluster.js';
import { netsimSpawner, startRestProxy, type RestProxy } from '../helpers/netsim-cluster.js';
import { wavBytes } from '@jaudiosync/test-support';

const HTTP_PORT = 7700;
const NTP_PORT = 11123;
const RATE = 48_000;
/** Long enough to kill, restart and still compare several seconds of the same track. */
const TRACK_S = 40;
/** Both members up, found, synced, track decoded (node start + download + decode on a busy box). */
const READY_TIMEOUT_MS = 30_000;
/** Play this far ahead so both members start at the scheduled frame. */
const PLAY_DELAY_MS = 1500;
/** Let both play before the kill. */
const PLAY_BEFORE_KILL_MS = 2500;
/** SIGKILL -> restart gap (a crashed service restarted by its supervisor). */
const RESTART_DELAY_MS = 1000;
/** The bound for "offline": a dead TCP peer is seen at once, a silent one by heartbeats (4 s). */
const OFFLINE_BOUND_MS = 5_000;
/** The leader must have the restarted member back this soon after its process started. */
const RECONNECT_BOUND_MS = 8_000;
/** ... and its audio must start this soon after the restart (node start, clock sync, cached decode). */
const REJOIN_AUDIO_BOUND_MS = 15_000;
/** Compare this much audio after the restarted member's first sound (its first windows may still settle). */
const COMPARE_SKIP_MS = 500;
const COMPARE_MS = 3000;
/** In sync: median |offset| between the members over the compared seconds (µs level when healthy; 1 ms is generous for a loaded box). */
const MAX_MEDIAN_OFFSET_US = 1000;
/** Windows that must match (of 30 at 100 ms steps): the restarted member plays the same material. */
const MIN_MATCHED_WINDOWS = 15;
const TEST_TIMEOUT_MS = 60_000;

const skip = netsimUnavailableReason() ?? false;
const keep = process.env['JAS_E2E_KEEP'] === '1';

/** A track of non-periodic material (band-limited noise, slowly varying level): every 30 ms window
 *  correlates with itself only at one lag, so the offset between captures is unambiguous. */
function writeNoiseTrack(path: string, seconds: number): void {
  const frames = seconds * RATE;
  const pcm = new Int16Array(frames * 2);
  let seed = 0x9e3779b9;
  const rnd = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return ((seed >>> 0) / 0x1_0000_0000) * 2 - 1;
  };
  let lp = 0;
  for (let i = 0; i < frames; i++) {
    lp += 0.35 * (rnd() - lp); // one-pole low-pass: keeps the correlation peak smooth
    const level = 0.35 + 0.15 * Math.sin((2 * Math.PI * i) / (RATE * 1.7));
    const s = Math.max(-32767, Math.min(32767, Math.round(lp * level * 32767 * 1.6)));
    pcm[2 * i] = s;
    pcm[2 * i + 1] = s;
  }
  writeFileSync(path, wavBytes(pcm, 2, RATE));
}

const monoNs = (): number => Number(process.hrtime.bigint());

function member(s: ClusterStatus, id: string): ClusterStatus['members'][number] | undefined {
  return s.members.find((m) => m.id === id);
}

describe('mDNS discovery on simulated hosts', { skip }, () => {
  let net: Netsim | undefined;
  let dir = '';
  let playlist = '';
  const proxies: RestProxy[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jas-e2e-discovery-'));
    writeNoiseTrack(join(dir, 'noise.wav'), TRACK_S);
    playlist = join(dir, 'playlist.m3u8');
    writeFileSync(playlist, '#EXTM3U\nnoise.wav\n');
    net = await Netsim.up({ members: 2 });
  });
  after(async () => {
    for (const p of proxies) await p.stop();
    await net?.down();
    if (dir && !keep) rmSync(dir, { recursive: true, force: true });
  });

  async function cluster(name: string, members: ClusterMember[], leaderArgs: string[] = []): Promise<Cluster> {
    assert.ok(net);
    const proxy = await startRestProxy(net, 'leader', HTTP_PORT, join(dir, `${name}-rest.sock`));
    proxies.push(proxy);
    return Cluster.start({
      dir: join(dir, name),
      members,
      playlist,
      spawner: netsimSpawner(net),
      memberAddress: null, // mDNS only
      httpPort: HTTP_PORT,
      ntpPort: NTP_PORT,
      leaderArgs,
      request: proxy.request,
    });
  }

  test('two members found by mDNS; a SIGKILLed member goes offline, comes back and rejoins mid-track in sync', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const members: ClusterMember[] = [
      { id: 'member1', clockOffsetUs: 350_000, clockRatePpm: 40, dacPpm: 30 },
      { id: 'member2', clockOffsetUs: -1_200_000, clockRatePpm: -60, dacPpm: -45 },
    ];
    const c = await cluster('main', members);
    t.after(() => c.stop());
    const ready = await c.waitFor((s) => s.members.length === 2 && s.members.every((m) => m.connected && m.clock?.synced && (m.ready ?? 0) >= 1), READY_TIMEOUT_MS, 'both members synced and the track decoded');
    assert.deepEqual(ready.members.map((m) => m.id).sort(), ['member1', 'member2']);
    assert.ok(!c.readLog('leader').some((l) => l.includes('"source":"config"')), 'no explicit member was configured');

    const play = await c.api<{ atUs: number }>('POST', '/api/play', { delayMs: PLAY_DELAY_MS });
    assert.equal(play.status, 200, JSON.stringify(play.body));
    await sleep(PLAY_DELAY_MS + PLAY_BEFORE_KILL_MS);

    // ---- member2 dies: the leader marks it offline -------------------------------------------
    const killNs = monoNs();
    await c.killMember('member2', 'SIGKILL');
    await c.waitFor((s) => member(s, 'member2')?.connected === false, OFFLINE_BOUND_MS, 'member2 marked offline');
    const offlineMs = (monoNs() - killNs) / 1e6;
    t.diagnostic(`member2 offline ${offlineMs.toFixed(0)} ms after SIGKILL`);

    // ---- member2 comes back: found again, rejoins the running timeline --------------------------
    await sleep(Math.max(0, RESTART_DELAY_MS - offlineMs));
    const restartNs = monoNs();
    c.startMember(members[1]!, 1, 'member2-restart');
    await c.waitFor((s) => member(s, 'member2')?.connected === true, RECONNECT_BOUND_MS, 'restarted member2 reconnected');
    const reconnectMs = (monoNs() - restartNs) / 1e6;
    t.diagnostic(`member2 reconnected ${reconnectMs.toFixed(0)} ms after its restart`);

    // Wait for its first sound, then record a few seconds of both.
    let onsetNs: number | null = null;
    const audioDeadlineNs = restartNs + REJOIN_AUDIO_BOUND_MS * 1e6;
    // Diagnostics: member2's clock error (its offset estimate minus the true offset, known from the
    // injected clock error and the leader's anchor) while it rejoins.
    const anchor0 = c.leaderAnchor();
    const def2 = members[1]!;
    const clockNotes: string[] = [];
    while (monoNs() < audioDeadlineNs && onsetNs === null) {
      await sleep(500);
      const nowNs = monoNs();
      const ck = member(await c.status().catch(() => ({ members: [] }) as unknown as ClusterStatus), 'member2')?.clock;
      if (ck && anchor0) {
        const trueOffsetUs = leaderUsAtHostMonoNs(anchor0, nowNs) - ((nowNs / 1000) * (1 + (def2.clockRatePpm ?? 0) / 1e6) + (def2.clockOffsetUs ?? 0));
        clockNotes.push(`${((nowNs - restartNs) / 1e9).toFixed(1)}s:${ck.synced ? 'synced' : 'unsynced'} err ${(ck.offsetUs - trueOffsetUs).toFixed(0)}±${ck.uncertaintyUs}µs`);
      }
      try {
        onsetNs = findOnset(readCapture(c.capturePath('member2-restart')), restartNs);
      } catch {
        onsetNs = null; // not written yet (the capture sink flushes every 0.5 s)
      }
    }
    assert.ok(onsetNs !== null, `restarted member2 played nothing within ${REJOIN_AUDIO_BOUND_MS} ms`);
    const rejoinMs = (onsetNs - restartNs) / 1e6;
    t.diagnostic(`member2 audio back ${rejoinMs.toFixed(0)} ms after its restart; its clock meanwhile: ${clockNotes.join(' ')}`);
    await sleep(COMPARE_SKIP_MS + COMPARE_MS + 1000);
    const leaderLog = c.readLog('leader');
    await c.stop();

    const anchor = c.leaderAnchor();
    assert.ok(anchor, 'leader logged its timescale anchor');
    const playNs = hostMonoNsAtLeaderUs(anchor, play.body.atUs);
    assert.ok(onsetNs > playNs + 2e9, 'the restarted member started mid-track');
    assert.ok(onsetNs < playNs + TRACK_S * 1e9 - (COMPARE_SKIP_MS + COMPARE_MS) * 1e6, 'rejoined before the track ended');

    const m1 = readCapture(c.capturePath('member1'));
    const m2 = readCapture(c.capturePath('member2-restart'));
    const fromNs = onsetNs + COMPARE_SKIP_MS * 1e6;
    const series = measureOffset(m1, m2, { fromNs, toNs: fromNs + COMPARE_MS * 1e6 });
    t.diagnostic(`restarted member2 vs member1: ${series.stats.count}/${series.windows} windows, median ${series.stats.medianUs.toFixed(1)} µs, max |${series.stats.maxAbsUs.toFixed(1)}| µs, rejected ${JSON.stringify(series.rejected)}`);
    assert.ok(series.stats.count >= MIN_MATCHED_WINDOWS, `only ${series.stats.count} of ${series.windows} windows matched member1 (wrong position or not in sync): ${JSON.stringify(series.rejected)}`);
    assert.ok(Math.abs(series.stats.medianUs) <= MAX_MEDIAN_OFFSET_US, `restarted member2 is ${series.stats.medianUs.toFixed(0)} µs off member1`);
    // The onset itself is where member1 is: the first sound is already at the running position.
    const firstWindow = measureOffset(m1, m2, { fromNs: onsetNs + 50e6, toNs: onsetNs + 400e6 });
    if (firstWindow.stats.count > 0) t.diagnostic(`first 0.4 s after the onset: median ${firstWindow.stats.medianUs.toFixed(1)} µs (${firstWindow.stats.count} windows)`);

    const found = leaderLog.filter((l) => l.includes('"member found"'));
    assert.ok(found.some((l) => l.includes('mdns:member1')) && found.some((l) => l.includes('mdns:member2')), 'both found over mDNS');
  });

  test('--member-pattern keeps hosts that do not match out', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const m1: ClusterMember = { id: 'member1' };
    const c = await cluster('pattern', [m1], ['--member-pattern', '^member1$', '--log-level', 'debug']);
    t.after(() => c.stop());
    c.startMember({ id: 'member2' }, 1);
    // member2 answers the same mDNS query: wait until the leader has seen (and ignored) it.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !c.readLog('leader').some((l) => l.includes('mDNS service ignored') && l.includes('member2'))) await sleep(250);
    assert.ok(c.readLog('leader').some((l) => l.includes('mDNS service ignored') && l.includes('member2')), 'the leader saw member2 and ignored it');
    await sleep(1000);
    const s = await c.status();
    assert.deepEqual(s.members.map((m) => m.id), ['member1']);
  });
});
