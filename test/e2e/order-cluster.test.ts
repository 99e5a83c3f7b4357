// The play order on real daemons: a leader and two members with capture sinks on loopback
// (test/helpers/cluster.ts). Each track is a tone at its own level, so the captured level says
// which track a member plays.
// - Shuffle: the leader shuffles (seeded) before play and again while the first track plays: both
//   members must play the track the leader's play order names next, and the playing track must not
//   be disturbed by the re-shuffle.
// - Repeat one and stop-after: the track plays again at its end on both members, then stops at the
//   end of that lap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCapture } from '@jaudiosync/member/capture-file';
import { Cluster, memberBinSkip, hostMonoNsAtLeaderUs, sleep, type LeaderAnchor } from '../helpers/cluster.js';
import { rmsLevel } from '../helpers/capture-analysis.js';
import { sineTrack, writeTonePlaylist } from './tone-cluster.js';

const TRACK_S = 4;
/** Track k is a 440 Hz tone at amplitude LEVELS[k]: its RMS is LEVELS[k] / sqrt(2). */
const LEVELS = [0.08, 0.16, 0.24, 0.32, 0.4, 0.48];
/** Captured RMS within this fraction of the track's: the members play it at volume 1. */
const LEVEL_TOLERANCE = 0.08;

/** Two members on loopback playing tracks 0..count-1 of LEVELS, synced with every track ready. */
async function levelCluster(t: TestContext, prefix: string, count: number): Promise<{ cluster: Cluster; anchor: LeaderAnchor }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  let cluster: Cluster | undefined;
  // The daemons stop before their directory goes: removed under them, it is written again and the
  // removal fails, which would leave them running.
  t.after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const playlist = writeTonePlaylist(dir, LEVELS.slice(0, count).map((l, k) => ({ name: `tone-${k}`, pcm: sineTrack(440, l, TRACK_S) })), 'tones.m3u8');
  cluster = await Cluster.start({ dir, playlist, members: [{ id: 'member1', dacPpm: 40 }, { id: 'member2', dacPpm: -30 }] });
  await cluster.waitFor((s) => s.playlist.length === count && s.members.length === 2
    && s.members.every((m) => m.clock?.synced === true && m.ready === count), 120_000, 'members synced with every track ready');
  const anchor = cluster.leaderAnchor();
  assert.ok(anchor, 'the leader logs its timescale anchor');
  return { cluster, anchor };
}

/** Which track (m3u8 index) a level is; -1 when none is within the tolerance. */
function trackOfLevel(rms: number): number {
  return LEVELS.findIndex((l) => Math.abs(rms - l / Math.SQRT2) < (LEVEL_TOLERANCE * l) / Math.SQRT2);
}

interface OrderStatus { playlist: Array<{ index: number; playlistIndex: number }>; shuffle: boolean; seed: number }

test('shuffle: two members play the same shuffled next track, also after a re-shuffle while a track plays', {
  skip: memberBinSkip(),
  timeout: 240_000,
}, async (t) => {
  const { cluster, anchor } = await levelCluster(t, 'jas-shuffle-', LEVELS.length);

  // Shuffle before play: stopped at the start, the whole order is drawn from the seed.
  const shuffled = await cluster.api<{ seed: number; shuffle: boolean }>('PUT', '/api/shuffle', { shuffle: true, seed: 20261206 });
  assert.equal(shuffled.status, 200, JSON.stringify(shuffled.body));
  const first = (await cluster.api<OrderStatus>('GET', '/api/status')).body.playlist.map((e) => e.playlistIndex);
  assert.notDeepEqual(first, LEVELS.map((_l, k) => k), 'the seed gives another order than the m3u8');
  const play = await cluster.api<{ atUs: number }>('POST', '/api/play', {});
  assert.equal(play.status, 200, JSON.stringify(play.body));
  const startUs = play.body.atUs;

  // Re-shuffle 1.5 s into the first track: only the tracks after it move.
  await sleep(Math.max(0, (hostMonoNsAtLeaderUs(anchor, startUs) - Number(process.hrtime.bigint())) / 1e6) + 1500);
  const again = await cluster.api<{ seed: number; atUs: number }>('POST', '/api/shuffle', { seed: 7 });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  const second = (await cluster.api<OrderStatus>('GET', '/api/status')).body.playlist.map((e) => e.playlistIndex);
  assert.equal(second[0], first[0], 'the playing track keeps its place');
  assert.notEqual(second[1], first[1], 'the re-shuffle names another next track (else this test could not tell)');
  t.diagnostic(`order before play ${first.join(',')}, after the re-shuffle ${second.join(',')}`);

  // Let two tracks play, then read the captures.
  await sleep(Math.max(0, (hostMonoNsAtLeaderUs(anchor, startUs + 2 * TRACK_S * 1e6) - Number(process.hrtime.bigint())) / 1e6) + 1500);
  const expected = [second[0]!, second[1]!];
  for (const id of ['member1', 'member2']) {
    const cap = readCapture(cluster.capturePath(id));
    const heard: number[] = [];
    for (let k = 0; k < 2; k++) {
      // The middle of each track slot (away from the transition fades).
      const fromNs = hostMonoNsAtLeaderUs(anchor, startUs + (k * TRACK_S + 0.3) * 1e6);
      const toNs = hostMonoNsAtLeaderUs(anchor, startUs + ((k + 1) * TRACK_S - 0.3) * 1e6);
      // In 0.25 s pieces: the level must hold through the slot (a jump or a wrong track shows).
      const pieces: number[] = [];
      for (let a = fromNs; a + 0.25e9 <= toNs; a += 0.25e9) pieces.push(trackOfLevel(rmsLevel(cap, a, a + 0.25e9)));
      t.diagnostic(`${id} slot ${k}: tracks by level ${pieces.join(',')}`);
      assert.ok(pieces.every((p) => p === pieces[0]), `${id} slot ${k}: one track throughout (${pieces.join(',')})`);
      heard.push(pieces[0]!);
    }
    assert.deepEqual(heard, expected, `${id} plays the leader's order`);
  }
});

test('repeat one: both members play the track again at its end; stop-after: both stop at the end of the lap', {
  skip: memberBinSkip(),
  timeout: 240_000,
}, async (t) => {
  const { cluster, anchor } = await levelCluster(t, 'jas-repeat-', 3);
  assert.equal((await cluster.api('PUT', '/api/repeat', { repeat: 'one' })).status, 200);
  const play = await cluster.api<{ atUs: number }>('POST', '/api/play', { index: 1 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  const startUs = play.body.atUs;
  // In the first lap: stop after the track (the second lap, as the first is already in its lap).
  await sleep(Math.max(0, (hostMonoNsAtLeaderUs(anchor, startUs + (TRACK_S + 1) * 1e6) - Number(process.hrtime.bigint())) / 1e6));
  const stopAfter = await cluster.api<{ atUs: number }>('PUT', '/api/stop-after', { stopAfter: true });
  assert.equal(stopAfter.status, 200, JSON.stringify(stopAfter.body));
  assert.equal(stopAfter.body.atUs, startUs + 2 * TRACK_S * 1e6 - 6000, 'stops at the end of the second lap (less the 6 ms stop fade)');
  await sleep(Math.max(0, (hostMonoNsAtLeaderUs(anchor, startUs + 3 * TRACK_S * 1e6) - Number(process.hrtime.bigint())) / 1e6) + 1000);
  const s = await cluster.status();
  assert.equal(s.playing, false);
  for (const id of ['member1', 'member2']) {
    const cap = readCapture(cluster.capturePath(id));
    const slots: number[][] = [];
    for (let k = 0; k < 3; k++) {
      const pieces: number[] = [];
      for (let a = startUs + (k * TRACK_S + 0.3) * 1e6; a + 0.25e6 <= startUs + ((k + 1) * TRACK_S - 0.3) * 1e6; a += 0.25e6) {
        const rms = rmsLevel(cap, hostMonoNsAtLeaderUs(anchor, a), hostMonoNsAtLeaderUs(anchor, a + 0.25e6));
        pieces.push(rms < 0.001 ? -2 : trackOfLevel(rms)); // -2: silence
      }
      slots.push(pieces);
    }
    t.diagnostic(`${id}: ${slots.map((p) => p.join(',')).join(' | ')}`);
    assert.ok(slots[0]!.every((p) => p === 1), `${id}: track 1 plays`);
    assert.ok(slots[1]!.every((p) => p === 1), `${id}: track 1 again (repeat one), not track 2`);
    assert.ok(slots[2]!.every((p) => p === -2), `${id}: silence after the lap (stop-after)`);
  }
});
