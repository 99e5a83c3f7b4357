// Loudness normalization end to end: three tracks made at -8, -16 and -26 LUFS play at the target
// (-16 LUFS) within ±1 LU on every member, measured with the BS.1770 meter on what each member's
// capture sink recorded; the leader reports what it measured and the gain it chose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoudnessMeter } from '@jaudiosync/media';
import type { Capture } from '@jaudiosync/member/capture-file';
import { wavBytes } from '../helpers/wav.js';
import { FaultCluster } from '../faults/helpers/fault-cluster.js';
import { workDir } from '../faults/helpers/fault-env.js';

const RATE = 48_000;
const TRACK_S = 8;
const LEVELS_LUFS = [-8, -16, -26];
const TARGET_LUFS = -16;
/** The tolerance. */
const TOLERANCE_LU = 1;
/** Skipped at each track's start and end: the boundary and the meter's 400 ms blocks. */
const EDGE_S = 1;

/** Three tones (200 Hz, 1 kHz, 5 kHz), scaled so the meter reads `lufs`: a stand-in for music. */
function toneTrack(lufs: number): Int16Array {
  const n = TRACK_S * RATE;
  const unit = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / RATE;
    unit[i] = (Math.sin(2 * Math.PI * 200 * t) + Math.sin(2 * Math.PI * 1000 * t) + Math.sin(2 * Math.PI * 5000 * t)) / 3;
  }
  const meter = new LoudnessMeter(RATE);
  meter.push(unit, unit);
  const scale = 10 ** ((lufs - meter.result().integratedLufs!) / 20);
  const pcm = new Int16Array(2 * n);
  for (let i = 0; i < n; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(unit[i]! * scale * 32767);
  return pcm;
}

/** Integrated loudness of a capture's frames between two true times. */
function captureLufs(cap: Capture, fromNs: number, toNs: number): number | null {
  const lo = Math.ceil(cap.frameAtTrueTime(fromNs));
  const hi = Math.floor(cap.frameAtTrueTime(toNs));
  const meter = new LoudnessMeter(cap.sampleRate);
  for (const b of cap.blocks) {
    const from = Math.max(lo, b.deviceFrame);
    const to = Math.min(hi, b.deviceFrame + b.frames);
    if (to <= from) continue;
    const l = new Float32Array(to - from);
    const r = new Float32Array(to - from);
    if (b.samples !== null) {
      for (let f = from; f < to; f++) {
        const at = (f - b.deviceFrame) * cap.channels;
        l[f - from] = b.samples[at]! / 32768;
        r[f - from] = b.samples[at + 1]! / 32768;
      }
    }
    meter.push(l, r);
  }
  return meter.result().integratedLufs;
}

interface LoudnessReport { tracks: Array<{ loudnessLufs: number | null; truePeakDbtp: number | null; gainDb: number; peakLimited: boolean }> }

test('tracks at -8, -16 and -26 LUFS play at the -16 LUFS target within 1 LU on every member (captures)', { timeout: 180_000 }, async (t) => {
  const wd = workDir('loudness');
  let fc: FaultCluster | undefined;
  t.after(async () => {
    await fc?.stop();
    wd.cleanup();
  });
  const music = join(wd.dir, 'music');
  mkdirSync(music, { recursive: true });
  const names = LEVELS_LUFS.map((l) => `tone${l}.wav`);
  LEVELS_LUFS.forEach((l, k) => writeFileSync(join(music, names[k]!), wavBytes(toneTrack(l), 2, RATE)));
  writeFileSync(join(music, 'list.m3u8'), `#EXTM3U\n${names.join('\n')}\n`);
  fc = await FaultCluster.start({
    dir: wd.dir, netsim: false, playlist: join(music, 'list.m3u8'),
    members: [{ id: 'member1', dacPpm: 40, clockOffsetUs: 1_000_000 }, { id: 'member2', dacPpm: -30, clockOffsetUs: -500_000 }],
    leaderArgs: ['--normalize', 'track', '--target-lufs', String(TARGET_LUFS)],
  });
  await fc.waitReady(3);
  const report = (await fc.c.api<LoudnessReport>('GET', '/api/loudness')).body;
  report.tracks.forEach((tr, k) => {
    assert.ok(tr.loudnessLufs !== null && Math.abs(tr.loudnessLufs - LEVELS_LUFS[k]!) < 0.2, `leader measured track ${k}: ${String(tr.loudnessLufs)}`);
    assert.ok(Math.abs(tr.gainDb - (TARGET_LUFS - LEVELS_LUFS[k]!)) < 0.2, `gain of track ${k}: ${tr.gainDb}`);
    assert.ok(tr.truePeakDbtp !== null && tr.truePeakDbtp + tr.gainDb <= -1, `track ${k} cannot clip`);
  });
  const play = await fc.c.api<{ atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  await fc.sleepPastLeaderUs(play.body.atUs, LEVELS_LUFS.length * TRACK_S * 1000 + 1500);
  await fc.c.stop();

  const measured: Record<string, number[]> = {};
  for (const id of ['member1', 'member2']) {
    const cap = fc.capture(id);
    measured[id] = LEVELS_LUFS.map((_, k) => {
      const fromNs = fc!.monoNsOfLeaderUs(play.body.atUs + (k * TRACK_S + EDGE_S) * 1e6);
      const toNs = fc!.monoNsOfLeaderUs(play.body.atUs + ((k + 1) * TRACK_S - EDGE_S) * 1e6);
      return captureLufs(cap, fromNs, toNs) ?? -Infinity;
    });
  }
  wd.report(t, { targetLufs: TARGET_LUFS, sourceLufs: LEVELS_LUFS, gainsDb: report.tracks.map((x) => x.gainDb), measured });
  for (const [id, levels] of Object.entries(measured)) {
    levels.forEach((l, k) => assert.ok(Math.abs(l - TARGET_LUFS) <= TOLERANCE_LU, `${id}, track ${k} (made at ${LEVELS_LUFS[k]} LUFS) played at ${l.toFixed(2)} LUFS`));
  }
  wd.passed();
});
