// Loudness normalization end to end: three tracks made at -8, -16 and -26 LUFS play at the target
// (-16 LUFS) within ±1 LU on every member, measured with the BS.1770 meter on what each member's
// capture sink recorded; the leader reports what it measured and the gain it chose. Normalization
// switched off mid-track takes effect on every member at the same moment (the ramp's middle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoudnessMeter } from '@jaudiosync/media';
import type { Capture } from '@jaudiosync/member/capture-file';
import { rmsLevel } from '../helpers/capture-analysis.js';
import { TONE_RATE as RATE, toneCluster } from './tone-cluster.js';

const TRACK_S = 8;
const LEVELS_LUFS = [-8, -16, -26];
const TARGET_LUFS = -16;
/** The tolerance. */
const TOLERANCE_LU = 1;
/** Skipped at each track's start and end: the boundary and the meter's 400 ms blocks. */
const EDGE_S = 1;
/** Normalization is switched off this far into the playlist (inside the -26 LUFS track). */
const SWITCH_OFF_S = 19;
/** Members ramp a gain change over this (scheduler VOLUME_RAMP_US). */
const RAMP_US = 30_000;
/** Two members' switch moments may differ by this much (their sync is tens of µs). */
const SWITCH_SYNC_US = 500;

/**
 * Leader time (µs) at which the capture's level (20 ms RMS) passes halfway between its level before
 * and after `aroundUs`, searched in 0.25 ms steps; null if it never does.
 */
function levelStepUs(cap: Capture, nsOf: (us: number) => number, aroundUs: number): number | null {
  const rmsAt = (us: number): number => rmsLevel(cap, nsOf(us - 10_000), nsOf(us + 10_000));
  const before = rmsAt(aroundUs - 100_000);
  const after = rmsAt(aroundUs + 150_000);
  const half = (before + after) / 2;
  let prev = rmsAt(aroundUs - 60_000);
  for (let us = aroundUs - 60_000 + 250; us <= aroundUs + 100_000; us += 250) {
    const v = rmsAt(us);
    if ((prev - half) * (v - half) <= 0 && prev !== v) return us - 250 + (250 * (prev - half)) / (prev - v);
    prev = v;
  }
  return null;
}

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
  const { fc, wd } = await toneCluster(t, {
    name: 'loudness',
    tracks: LEVELS_LUFS.map((l) => ({ name: `tone${l}`, pcm: toneTrack(l) })),
    members: [{ id: 'member1', dacPpm: 40, clockOffsetUs: 1_000_000 }, { id: 'member2', dacPpm: -30, clockOffsetUs: -500_000 }],
    leaderArgs: ['--normalize', 'track', '--target-lufs', String(TARGET_LUFS)],
  });
  const report = (await fc.c.api<LoudnessReport>('GET', '/api/loudness')).body;
  report.tracks.forEach((tr, k) => {
    assert.ok(tr.loudnessLufs !== null && Math.abs(tr.loudnessLufs - LEVELS_LUFS[k]!) < 0.2, `leader measured track ${k}: ${String(tr.loudnessLufs)}`);
    assert.ok(Math.abs(tr.gainDb - (TARGET_LUFS - LEVELS_LUFS[k]!)) < 0.2, `gain of track ${k}: ${tr.gainDb}`);
    assert.ok(tr.truePeakDbtp !== null && tr.truePeakDbtp + tr.gainDb <= -1, `track ${k} cannot clip`);
  });
  const play = await fc.c.api<{ atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  await fc.sleepPastLeaderUs(play.body.atUs, SWITCH_OFF_S * 1000);
  const off = await fc.c.api<{ atUs: number; normalize: string }>('PUT', '/api/loudness', { normalize: 'off' });
  assert.equal(off.status, 200, JSON.stringify(off.body));
  const offS = (off.body.atUs - play.body.atUs) / 1e6;
  assert.ok(offS > 2 * TRACK_S + EDGE_S + 1 && offS < 3 * TRACK_S - EDGE_S - 1, `switch-off at ${offS} s lands inside the last track`);
  await fc.sleepPastLeaderUs(play.body.atUs, LEVELS_LUFS.length * TRACK_S * 1000 + 1500);
  await fc.c.stop();

  const nsOf = (us: number): number => fc.monoNsOfLeaderUs(us);
  const measured: Record<string, number[]> = {};
  const afterOff: Record<string, number> = {};
  const stepUs: Record<string, number | null> = {};
  for (const id of ['member1', 'member2']) {
    const cap = fc.capture(id);
    measured[id] = LEVELS_LUFS.map((_, k) => {
      const fromUs = play.body.atUs + (k * TRACK_S + EDGE_S) * 1e6;
      // The last track is normalized only until the switch-off.
      const toUs = Math.min(play.body.atUs + ((k + 1) * TRACK_S - EDGE_S) * 1e6, off.body.atUs - 200_000);
      return captureLufs(cap, nsOf(fromUs), nsOf(toUs)) ?? -Infinity;
    });
    afterOff[id] = captureLufs(cap, nsOf(off.body.atUs + 200_000), nsOf(play.body.atUs + (3 * TRACK_S - EDGE_S) * 1e6)) ?? -Infinity;
    stepUs[id] = levelStepUs(cap, nsOf, off.body.atUs + RAMP_US / 2);
  }
  const stepVsRampMiddleUs = Object.fromEntries(Object.entries(stepUs).map(([id, us]) => [id, us === null ? null : us - (off.body.atUs + RAMP_US / 2)]));
  wd.report(t, { targetLufs: TARGET_LUFS, sourceLufs: LEVELS_LUFS, gainsDb: report.tracks.map((x) => x.gainDb), measured, afterOff, stepVsRampMiddleUs });
  for (const [id, levels] of Object.entries(measured)) {
    levels.forEach((l, k) => assert.ok(Math.abs(l - TARGET_LUFS) <= TOLERANCE_LU, `${id}, track ${k} (made at ${LEVELS_LUFS[k]} LUFS) played at ${l.toFixed(2)} LUFS`));
    const last = LEVELS_LUFS[LEVELS_LUFS.length - 1]!;
    assert.ok(Math.abs(afterOff[id]! - last) <= TOLERANCE_LU, `${id}: after the switch-off the last track plays as made (${afterOff[id]!.toFixed(2)} LUFS)`);
    const d = stepVsRampMiddleUs[id];
    assert.ok(d !== null && d !== undefined && Math.abs(d) < 3000, `${id}: the level steps down at the ramp's middle (${String(d)} µs off)`);
  }
  const [s1, s2] = [stepUs['member1'], stepUs['member2']];
  assert.ok(s1 != null && s2 != null && Math.abs(s1 - s2) < SWITCH_SYNC_US, `both members switch together (${String(s1)} vs ${String(s2)})`);
  wd.passed();
});
