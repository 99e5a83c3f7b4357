// A leader and capture-sink members on loopback playing tone tracks made for the test: the tracks
// written as WAVs with their m3u8 into a work dir (kept under test-artifacts when the test fails),
// the cluster started (FaultCluster) and ready when every member is connected and synced, both torn
// down after the test. What the e2e tests of loudness and crossfade share.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { ClusterMember } from '../helpers/cluster.js';
import { wavBytes } from '../helpers/wav.js';
import { FaultCluster } from '../faults/helpers/fault-cluster.js';
import { workDir, type WorkDir } from '../faults/helpers/fault-env.js';

export const TONE_RATE = 48_000;

/** `seconds` of a sine at `hz`, peak `amplitude` (full scale 1), the same on both channels. */
export function sineTrack(hz: number, amplitude: number, seconds: number): Int16Array {
  const n = seconds * TONE_RATE;
  const pcm = new Int16Array(2 * n);
  for (let i = 0; i < n; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * i) / TONE_RATE));
  return pcm;
}

export interface ToneFile {
  /** file name without `.wav` */
  name: string;
  /** interleaved stereo at TONE_RATE */
  pcm: Int16Array;
}

/** Writes each track as `<name>.wav` into `dir` and an m3u8 (`playlistName`) listing them in order; returns its path. */
export function writeTonePlaylist(dir: string, tracks: readonly ToneFile[], playlistName = 'list.m3u8'): string {
  mkdirSync(dir, { recursive: true });
  for (const tr of tracks) writeFileSync(join(dir, `${tr.name}.wav`), wavBytes(tr.pcm, 2, TONE_RATE));
  const playlist = join(dir, playlistName);
  writeFileSync(playlist, `#EXTM3U\n${tracks.map((tr) => `${tr.name}.wav`).join('\n')}\n`);
  return playlist;
}

export interface ToneClusterOptions {
  /** names the work dir (and the artifacts of a failed test) */
  name: string;
  tracks: readonly ToneFile[];
  members: ClusterMember[];
  leaderArgs?: string[];
}

/** The cluster, ready, and its work dir (report numbers and mark the test passed through it). */
export async function toneCluster(t: TestContext, o: ToneClusterOptions): Promise<{ fc: FaultCluster; wd: WorkDir }> {
  const wd = workDir(o.name);
  let fc: FaultCluster | undefined;
  t.after(async () => {
    await fc?.stop();
    wd.cleanup();
  });
  const playlist = writeTonePlaylist(join(wd.dir, 'music'), o.tracks);
  fc = await FaultCluster.start({ dir: wd.dir, netsim: false, playlist, members: o.members, ...(o.leaderArgs ? { leaderArgs: o.leaderArgs } : {}) });
  await fc.waitReady(o.tracks.length);
  return { fc, wd };
}
