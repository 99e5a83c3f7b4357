// End-to-end: two AudioEngines (worker threads) with different injected clocks, feeding two capture
// sinks (simulated DACs in real time, +100 and -80 ppm), play one click track per one timeline with a
// late join, a stop/resume and a seek. The captures (true DAC times) must put every click where the
// leader timescale says, and both members within ~100 µs of each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Timeline, TimelineRevision } from '@jaudiosync/protocol/timeline';
import { AudioEngine } from '../../src/audio/audio-engine.js';
import { CaptureSink } from '../../src/audio/capture-sink.js';
import { readCapture, type Capture } from '../../src/audio/capture-file.js';
import { ClockModelShare, type ClockModel } from '../../src/clock/clock-model.js';

const RATE = 48_000;
/** Leader timescale of this test: host monotonic µs + a wall-clock-like anchor. */
const LEADER_OFFSET_US = 1_700_000_000_000_000;
const CLICK_PERIOD = 12_000; // 250 ms
const CLICK_AT = 2_000; // first click's start frame
const CLICK_LEN = 96; // 2 ms windowed 3 kHz burst
const TRACK_FRAMES = RATE * 30;

function hostUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

function clickTemplate(): Float32Array {
  const t = new Float32Array(CLICK_LEN);
  for (let i = 0; i < CLICK_LEN; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / CLICK_LEN);
    t[i] = w * Math.sin((2 * Math.PI * 3000 * i) / RATE);
  }
  return t;
}

function clickTrack(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(TRACK_FRAMES * 4);
  const pcm = new Int16Array(sab);
  const tpl = clickTemplate();
  for (let s = CLICK_AT; s + CLICK_LEN < TRACK_FRAMES; s += CLICK_PERIOD) {
    for (let i = 0; i < CLICK_LEN; i++) pcm[2 * (s + i)] = pcm[2 * (s + i) + 1] = Math.round(tpl[i]! * 20_000);
  }
  return sab;
}

interface Member {
  name: string;
  offsetUs: number;
  ratePpm: number;
  dacPpm: number;
  share: ClockModelShare;
  sink: CaptureSink;
  engine: AudioEngine;
  file: string;
}

function publishTrueModel(m: Member): void {
  const h = hostUs();
  const k = 1 + m.ratePpm / 1e6;
  const model: ClockModel = {
    localRefUs: h * k + m.offsetUs,
    leaderRefUs: h + LEADER_OFFSET_US,
    rate: 1 / k - 1,
    uncertaintyUs: 50,
    synced: true,
    samples: 16,
    rttUs: 100,
    lastSampleLocalUs: h * k + m.offsetUs,
  };
  m.share.publish(model);
}

/** Expected click start times (leader µs) per revision segment, away from transition fades. */
function expectedClicks(tl: Timeline, endUs: number): number[] {
  const out: number[] = [];
  const revs = tl.revisions;
  for (let i = 0; i < revs.length; i++) {
    const r = revs[i] as TimelineRevision;
    if (!r.playing) continue;
    const segEnd = revs[i + 1]?.atUs ?? endUs;
    for (let s = CLICK_AT; s < TRACK_FRAMES; s += CLICK_PERIOD) {
      if (s < r.frame) continue;
      const at = r.atUs + ((s - r.frame) * 1e6) / RATE;
      if (at < r.atUs + 20_000 || at + 20_000 > segEnd) continue;
      out.push(at);
    }
  }
  return out;
}

/** Finds the click nearest true time `ns` (within ±5 ms) by cross-correlation; returns its true ns or null. */
function locateClick(cap: Capture, ns: number, tpl: Float32Array): number | null {
  const f0 = Math.round(cap.frameAtTrueTime(ns));
  const search = 240;
  const seg = cap.monoSamples(f0 - search, 2 * search + CLICK_LEN + 2);
  let best = -Infinity;
  let bestLag = -1;
  const corr = new Float64Array(2 * search + 1);
  for (let lag = 0; lag <= 2 * search; lag++) {
    let acc = 0;
    for (let i = 0; i < CLICK_LEN; i++) acc += seg[lag + i]! * tpl[i]!;
    corr[lag] = acc;
    if (acc > best) {
      best = acc;
      bestLag = lag;
    }
  }
  // Expected peak for a full-level click: sum(tpl^2) * 20000/32768.
  let energy = 0;
  for (const v of tpl) energy += v * v;
  if (best < 0.5 * energy * (20_000 / 32768) || bestLag <= 0 || bestLag >= 2 * search) return null;
  const a = corr[bestLag - 1]!;
  const b = corr[bestLag]!;
  const c = corr[bestLag + 1]!;
  const frac = (a - c) / (2 * (a - 2 * b + c));
  return cap.trueTimeOfFrame(f0 - search + bestLag + frac);
}

test('two members with different clocks and DAC rates play clicks aligned to the leader timescale', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-engine-'));
  const members: Member[] = [];
  t.after(async () => {
    for (const m of members) await m.engine.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const pcm = clickTrack();
  const specs = [
    { name: 'A', offsetUs: 3_000_000, ratePpm: 40, dacPpm: 100 },
    { name: 'B', offsetUs: -1_200_000, ratePpm: -25, dacPpm: -80 },
  ];
  for (const s of specs) {
    const file = join(dir, `${s.name}.jasc`);
    const sink = new CaptureSink({ ratePpm: s.dacPpm, file, timingJitterUs: 30, latencyMs: 20 });
    const share = new ClockModelShare();
    const logs: string[] = [];
    const engine = new AudioEngine({
      sink,
      clockShare: share.buffer,
      clock: { offsetUs: s.offsetUs, ratePpm: s.ratePpm },
      outputRate: RATE,
      onLog: (_l, msg) => logs.push(msg),
    });
    members.push({ ...s, share, sink, engine, file });
  }
  const t0 = Math.round(hostUs() + LEADER_OFFSET_US) + 1_500_000;
  const tl: Timeline = {
    rev: 1,
    outputRate: RATE,
    loop: false,
    tracks: [{ id: 'clicks', frames: TRACK_FRAMES }],
    revisions: [
      { atUs: t0, playing: true, index: 0, frame: 0 },
      { atUs: t0 + 5_100_000, playing: false, index: 0, frame: 5_100_000 * 0.048 },
      { atUs: t0 + 7_000_000, playing: true, index: 0, frame: 5_100_000 * 0.048 },
      { atUs: t0 + 9_200_000, playing: true, index: 0, frame: 20 * RATE + 777 },
    ],
  };
  const endUs = t0 + 12_000_000;
  // A starts now; B joins late, mid-track (about 1.5 s after the start of play).
  const [a, b] = members as [Member, Member];
  for (const m of [a, b]) {
    publishTrueModel(m);
    assert.equal(m.engine.addTrack('clicks', { kind: 'pcm', buffer: pcm }, TRACK_FRAMES), null);
    assert.equal(m.engine.setTimeline(tl), null);
    assert.equal(m.engine.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' }), null);
  }
  await a.engine.start();
  const republish = setInterval(() => {
    for (const m of members) publishTrueModel(m); // the model keeps updating, as clock sync does
  }, 500);
  t.after(() => clearInterval(republish));
  await new Promise((r) => setTimeout(r, 3_000));
  await b.engine.start();
  while (hostUs() + LEADER_OFFSET_US < endUs + 200_000) await new Promise((r) => setTimeout(r, 100));
  clearInterval(republish);
  const statsA = a.engine.stats();
  const statsB = b.engine.stats();
  for (const m of members) await m.engine.stop();

  const tpl = clickTemplate();
  const caps = members.map((m) => readCapture(m.file));
  const clicks = expectedClicks(tl, endUs);
  const offsets: { atUs: number; a: number | null; b: number | null }[] = [];
  for (const at of clicks) {
    const ns = (at - LEADER_OFFSET_US) * 1000;
    const fa = locateClick(caps[0]!, ns, tpl);
    const fb = locateClick(caps[1]!, ns, tpl);
    offsets.push({ atUs: at - t0, a: fa === null ? null : (fa - ns) / 1000, b: fb === null ? null : (fb - ns) / 1000 });
  }
  const settledA = offsets.filter((o) => o.atUs > 1_000_000);
  const settledB = offsets.filter((o) => o.atUs > 3_500_000);
  const fmt = (v: number | null): string => (v === null ? 'miss' : v.toFixed(1));
  const report = offsets.map((o) => `${(o.atUs / 1e6).toFixed(2)}s A ${fmt(o.a)} B ${fmt(o.b)}`).join('\n');
  t.diagnostic(`stats A ${JSON.stringify(statsA)}`);
  t.diagnostic(`stats B ${JSON.stringify(statsB)}`);
  // Every expected click is there, at the right time, in both captures (stop/resume/seek included).
  const missingA = settledA.filter((o) => o.a === null).length;
  const missingB = settledB.filter((o) => o.b === null).length;
  assert.equal(missingA + missingB, 0, `missing clicks\n${report}`);
  const errA = settledA.map((o) => Math.abs(o.a!));
  const errB = settledB.map((o) => Math.abs(o.b!));
  const pair = settledB.map((o) => Math.abs(o.a! - o.b!));
  const max = (xs: number[]): number => xs.reduce((m, x) => Math.max(m, x), 0);
  t.diagnostic(`max |A - truth| ${max(errA).toFixed(1)} µs, |B - truth| ${max(errB).toFixed(1)} µs, |A - B| ${max(pair).toFixed(1)} µs over ${pair.length} clicks`);
  assert.ok(max(errA) < 100 && max(errB) < 100, `clicks off the leader timescale\n${report}`);
  assert.ok(max(pair) < 100, `members misaligned\n${report}`);
  // Silence while stopped (after the stop fade, before the resume).
  for (const cap of caps) {
    const from = Math.ceil(cap.frameAtTrueTime((t0 + 5_150_000 - LEADER_OFFSET_US) * 1000));
    const to = Math.floor(cap.frameAtTrueTime((t0 + 6_990_000 - LEADER_OFFSET_US) * 1000));
    const seg = cap.monoSamples(from, to - from);
    assert.ok(seg.every((v) => v === 0), 'audio while stopped');
  }
  assert.ok(statsA !== null && statsA.underruns <= 2, `underruns A ${statsA?.underruns}`);
});
