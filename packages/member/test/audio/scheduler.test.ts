// Scheduler tests on a deterministic, simulated member (DAC with ppm error and timestamp jitter, injected
// local clock, clock model with controllable error) driving a Scheduler in simulated time, so
// scheduler behaviour can be checked against the exact truth without real time or threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Timeline } from '@jaudiosync/protocol/timeline';
import type { ClockModel } from '../../src/clock/clock-model.js';
import { DacClock, type HostToLocalClock } from '../../src/audio/dac-clock.js';
import { Scheduler, type SchedulerOptions } from '../../src/audio/scheduler.js';
import { PlaylistReader, TrackStore } from '../../src/audio/track-store.js';
import { mulberry32 } from '@jaudiosync/test-support';

export const RATE = 48_000;
/** Leader timescale = host monotonic + this (wall-anchored, as in production). */
export const LEADER_OFFSET_US = 1_700_000_000_000_000;

/** Seeded uniform numbers (mulberry32), so failures reproduce. */
export const rng = mulberry32;

export interface SimOptions {
  dacPpm: number;
  jitterNs?: number;
  localOffsetUs?: number;
  localRatePpm?: number;
  latencyNs?: number;
  framesPerBuffer?: number;
  aheadFrames?: number;
  seed?: number;
  /**
   * The sink runs this long (playing silence) before the test starts, as a member's stream runs
   * from the daemon's start: the DAC clock needs 1.5 s of bins for its first lock.
   */
  warmUpMs?: number;
  /** the simulated device's rate (default RATE, the timeline's) */
  deviceRate?: number;
  scheduler?: Partial<SchedulerOptions>;
}

export class SimMember {
  hostNs = 1_000_000_000_000; // 1000 s of uptime
  readonly store = new TrackStore();
  readonly dac: DacClock;
  readonly sched: Scheduler;
  readonly clock: HostToLocalClock;
  /** Everything rendered, by ring position (stereo int16). */
  readonly out: Int16Array;
  writePos = 0;
  readPos = 0;
  deviceFrame = 0;
  /** Model error injected: leader = true leader + errUs (+ rate error). */
  modelErrUs = 0;
  modelRateErr = 0;
  /** (ringPos, sourcePosition) before each render call while locked. */
  readonly trace: { p: number; src: number; hostNs: number }[] = [];
  private readonly nsPerFrame: number;
  private t0Ns: number;
  private readonly r: () => number;
  private readonly o: Required<Omit<SimOptions, 'scheduler' | 'warmUpMs' | 'deviceRate'>>;
  readonly deviceRate: number;
  private readonly buf: Int16Array;

  constructor(opts: SimOptions, capacitySeconds = 30) {
    this.o = {
      jitterNs: 30_000,
      localOffsetUs: 0,
      localRatePpm: 0,
      latencyNs: 20_000_000,
      framesPerBuffer: 256,
      aheadFrames: 4800,
      seed: 1,
      ...opts,
    };
    this.r = rng(this.o.seed);
    const off = this.o.localOffsetUs;
    const k = 1 + this.o.localRatePpm / 1e6;
    this.clock = { fromHostMonoUs: (us) => us * k + off, toHostMonoUs: (us) => (us - off) / k };
    this.deviceRate = opts.deviceRate ?? RATE;
    this.nsPerFrame = 1e9 / (this.deviceRate * (1 + opts.dacPpm / 1e6));
    this.t0Ns = this.hostNs + this.o.latencyNs;
    this.dac = new DacClock({ nominalRate: this.deviceRate, clock: this.clock });
    this.sched = new Scheduler({ outputRate: RATE, deviceRate: this.deviceRate, clock: this.clock, ...opts.scheduler }, this.dac, new PlaylistReader(this.store));
    this.out = new Int16Array(this.deviceRate * capacitySeconds * 2);
    this.buf = new Int16Array(this.o.aheadFrames * 2 + 1024);
    this.publishModel();
    const warm = opts.warmUpMs ?? 2000;
    if (warm > 0) {
      this.run(warm);
      this.publishModel();
    }
  }

  /** True leader µs at host ns. */
  leaderAtHostNs(ns: number): number {
    return ns / 1000 + LEADER_OFFSET_US;
  }

  nowLeaderUs(): number {
    return this.leaderAtHostNs(this.hostNs);
  }

  /** Host ns at which ring position p leaves the DAC (valid once no more underruns occur). */
  dacHostNsOfRingPos(p: number): number {
    return this.t0Ns + (p + this.offset) * this.nsPerFrame;
  }

  private offset = 0;

  publishModel(): void {
    const hUs = this.hostNs / 1000;
    const localRef = this.clock.fromHostMonoUs(hUs);
    const m: ClockModel = {
      localRefUs: localRef,
      leaderRefUs: this.leaderAtHostNs(this.hostNs) + this.modelErrUs,
      rate: 1 / (1 + this.o.localRatePpm / 1e6) - 1 + this.modelRateErr,
      uncertaintyUs: 100,
      synced: true,
      samples: 10,
      rttUs: 200,
      lastSampleLocalUs: localRef,
    };
    this.sched.setClockModel(m);
  }

  setTimeline(tl: Timeline): void {
    this.sched.setTimeline(tl);
  }

  /**
   * A device xrun: the device played `frames` of silence the timing entries never counted, so every
   * later device frame leaves the DAC that much later (same rate); callbacks pause meanwhile.
   */
  xrun(frames: number): void {
    this.t0Ns += frames * this.nsPerFrame;
  }

  /**
   * Runs `ms` of simulated time in 5 ms engine ticks; the sink consumes buffers as they fall due.
   * `render: false` starves the sink (an engine stalled by CPU load): the ring underruns.
   */
  run(ms: number, render = true): void {
    const end = this.hostNs + ms * 1e6;
    const fpb = this.o.framesPerBuffer;
    while (this.hostNs < end) {
      this.hostNs += 5e6;
      // Sink callbacks due by now (each runs `latency` before its buffer reaches the DAC).
      for (;;) {
        const dacNs = this.t0Ns + this.deviceFrame * this.nsPerFrame;
        const cbNs = dacNs - this.o.latencyNs;
        if (cbNs > this.hostNs) break;
        const k = Math.min(fpb, this.writePos - this.readPos);
        const jitter = (this.r() + this.r() + this.r() - 1.5) * 2 * this.o.jitterNs;
        this.dac.add({
          deviceFrame: this.deviceFrame,
          ringPos: this.readPos + k - fpb, // the sinks' contract: maps the frames not yet played
          dacTimeNs: BigInt(Math.round(dacNs + jitter)),
          callbackTimeNs: BigInt(Math.round(cbNs)),
        });
        this.readPos += k;
        this.deviceFrame += fpb;
      }
      this.offset = this.deviceFrame - this.readPos;
      const n = this.readPos + this.o.aheadFrames - this.writePos;
      if (n <= 0 || !render) continue;
      const src = this.sched.sourcePosition;
      if (Number.isFinite(src)) this.trace.push({ p: this.writePos, src, hostNs: this.hostNs });
      this.sched.render(this.writePos, this.buf, n);
      const at = this.writePos * 2;
      if (at + n * 2 <= this.out.length) this.out.set(this.buf.subarray(0, n * 2), at);
      this.writePos += n;
    }
  }
}

/** A constant-valued stereo track (left = value, right = -value) registered in the store. */
export function dcTrack(store: TrackStore, id: string, frames: number, value: number): void {
  const pcm = new Int16Array(new SharedArrayBuffer(frames * 4));
  for (let i = 0; i < frames; i++) {
    pcm[2 * i] = value;
    pcm[2 * i + 1] = -value;
  }
  store.add(id, pcm, frames);
}

function timeline(over: Partial<Timeline> = {}): Timeline {
  return { rev: 1, outputRate: RATE, loop: false, tracks: [], revisions: [], ...over };
}

/** True wanted playlist position of ring frame p under a playing revision (atUs, base). */
function truthTarget(sim: SimMember, p: number, atUs: number, base: number, delayUs = 0): number {
  return base + ((sim.leaderAtHostNs(sim.dacHostNsOfRingPos(p)) + delayUs - atUs) * RATE) / 1e6;
}

/** Max |engine position - true position| (µs) over the trace after `fromNs`. */
function maxErrUs(sim: SimMember, fromNs: number, atUs: number, base: number, delayUs = 0): number {
  let worst = 0;
  for (const t of sim.trace) {
    if (t.hostNs < fromNs) continue;
    const e = ((t.src - truthTarget(sim, t.p, atUs, base, delayUs)) * 1e6) / RATE;
    worst = Math.max(worst, Math.abs(e));
  }
  return worst;
}

test('late join starts mid-track exactly on the timeline, with a short fade-in', () => {
  const sim = new SimMember({ dacPpm: 120, localOffsetUs: 5_000_000, localRatePpm: -35 });
  dcTrack(sim.store, 'a', RATE * 600, 8000);
  // Playing since 100 s before "now".
  const atUs = Math.round(sim.nowLeaderUs()) - 100_000_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.run(1000);
  assert.ok(sim.trace.length > 0, 'never locked');
  const first = sim.trace[0]!;
  const want = truthTarget(sim, first.p, atUs, 0);
  assert.ok(Math.abs(((first.src - want) * 1e6) / RATE) < 100, `start error ${((first.src - want) * 1e6) / RATE} µs`);
  // The frames before the lock are silence, then the level ramps up over the fade.
  const firstAudible = sim.out.findIndex((v, i) => i % 2 === 0 && v !== 0) / 2;
  assert.ok(firstAudible >= 0);
  assert.ok(sim.out[firstAudible * 2]! < 8000 * 0.1, 'no fade-in');
  assert.equal(sim.out[(firstAudible + 1000) * 2], 8000);
  assert.equal(sim.out[(firstAudible + 1000) * 2 + 1], -8000);
});

test('controller converges from an offset and holds against +300 ppm DAC and a changing clock model', () => {
  const sim = new SimMember({ dacPpm: 300, localOffsetUs: -2_000_000, localRatePpm: 50, seed: 3 });
  dcTrack(sim.store, 'a', RATE * 600, 1000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  let maxCorr = 0;
  const track = (ms: number): void => {
    for (let i = 0; i < ms / 50; i++) {
      sim.run(50);
      maxCorr = Math.max(maxCorr, Math.abs(sim.sched.stats.correctionPpm));
    }
  };
  track(3000);
  const settled1 = maxErrUs(sim, sim.hostNs - 1e9, atUs, 0);
  assert.ok(settled1 < 15, `steady error ${settled1} µs`);
  // The clock model steps by 1.5 ms (a fresh sync) and its rate is now 5 ppm off.
  sim.modelErrUs = 1500;
  sim.modelRateErr = 5e-6;
  sim.publishModel();
  const stepAt = sim.hostNs;
  track(8000);
  // The audio follows the model (that is the contract), within 15 µs after settling, never jumping.
  const following = ((): number => {
    let worst = 0;
    for (const t of sim.trace) {
      if (t.hostNs < sim.hostNs - 2e9) continue;
      const leaderModel = sim.leaderAtHostNs(sim.dacHostNsOfRingPos(t.p)) + 1500 + 5e-6 * (sim.dacHostNsOfRingPos(t.p) - stepAt) / 1000;
      worst = Math.max(worst, Math.abs(((t.src - ((leaderModel - atUs) * RATE) / 1e6) * 1e6) / RATE));
    }
    return worst;
  })();
  if (process.env['JAS_DEBUG']) {
    for (const t of sim.trace.filter((_, i) => i % 40 === 0)) {
      const h = sim.dacHostNsOfRingPos(t.p);
      const lm = sim.leaderAtHostNs(h) + (t.hostNs >= stepAt ? 1500 + (5e-6 * (h - stepAt)) / 1000 : 0);
      console.log(((t.hostNs - stepAt) / 1e9).toFixed(2), (((t.src - ((lm - atUs) * RATE) / 1e6) * 1e6) / RATE).toFixed(1));
    }
  }
  assert.ok(following < 15, `error after model step ${following} µs`);
  assert.equal(sim.sched.stats.jumps, 0);
  assert.ok(maxCorr <= 500 + 1e-9, `correction ${maxCorr} ppm exceeds the bound`);
  assert.ok(maxCorr > 100, 'the controller should have worked to absorb 1.5 ms');
  // DAC +300 ppm vs host; the model's leader runs 5 ppm fast vs host; the local clock cancels out.
  assert.ok(Math.abs(sim.sched.stats.driftPpm - 295) < 5, `drift ${sim.sched.stats.driftPpm}`);
});

test('a large error jumps (fade out, reposition, fade in) instead of slewing for ages', () => {
  const sim = new SimMember({ dacPpm: -80, seed: 5 });
  dcTrack(sim.store, 'a', RATE * 600, 1000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.run(2000);
  sim.modelErrUs = -50_000;
  sim.publishModel();
  sim.run(1000);
  assert.equal(sim.sched.stats.jumps, 1);
  const err = maxErrUs(sim, sim.hostNs - 5e8, atUs + 50_000, 0);
  assert.ok(err < 30, `after jump ${err} µs`);
});

test('track k+1 frame 0 follows the last frame of track k at the scheduled DAC time, no gap', () => {
  const sim = new SimMember({ dacPpm: 200, jitterNs: 0, seed: 7 });
  dcTrack(sim.store, 'a', 30_000, 4000);
  dcTrack(sim.store, 'b', RATE * 10, 12000);
  const atUs = Math.round(sim.nowLeaderUs()) + 300_000;
  sim.setTimeline(
    timeline({
      tracks: [
        { id: 'a', frames: 30_000 },
        { id: 'b', frames: RATE * 10 },
      ],
      revisions: [{ atUs, playing: true, index: 0, frame: 0 }],
    }),
  );
  sim.run(2500);
  // Ring position whose true leader time is the boundary (frame 30000 from atUs).
  const boundaryUs = atUs + (30_000 * 1e6) / RATE;
  let p = 0;
  while (sim.leaderAtHostNs(sim.dacHostNsOfRingPos(p + 1)) <= boundaryUs) p++;
  // Left channel crosses the midpoint 8000 within a frame of the boundary; no frame near it dips.
  let cross = -1;
  for (let q = p - 50; q < p + 50; q++) {
    if (sim.out[2 * q]! < 8000 && sim.out[2 * q + 2]! >= 8000) cross = q + 0.5;
    // Band-limited interpolation rings around a step (Gibbs: up to ~13 % of the 8000 step, depending
    // on the sub-frame phase); a gap would read ~0.
    assert.ok(sim.out[2 * q]! >= 2500, `dip at ${q - p}: ${sim.out[2 * q]}`);
  }
  assert.ok(Math.abs(cross - p) <= 1.5, `boundary at ${cross - p} frames`);
});

test('stop fades out from its atUs and resume fades in at its atUs from the stored frame', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 9 });
  // A ramp track: sample value = frame index (mod 30000) makes the position readable.
  const frames = RATE * 60;
  const pcm = new Int16Array(new SharedArrayBuffer(frames * 4));
  for (let i = 0; i < frames; i++) pcm[2 * i] = pcm[2 * i + 1] = (i % 20_000) + 1000;
  sim.store.add('r', pcm, frames);
  const t0 = Math.round(sim.nowLeaderUs()) + 300_000;
  const stopUs = t0 + 1_000_000;
  const resumeUs = t0 + 2_000_000;
  sim.setTimeline(
    timeline({
      tracks: [{ id: 'r', frames }],
      revisions: [
        { atUs: t0, playing: true, index: 0, frame: 0 },
        { atUs: stopUs, playing: false, index: 0, frame: 48_000 },
        { atUs: resumeUs, playing: true, index: 0, frame: 48_000 },
      ],
    }),
  );
  sim.run(3000);
  const ringAt = (us: number): number => {
    let p = 0;
    while (sim.leaderAtHostNs(sim.dacHostNsOfRingPos(p)) < us) p++;
    return p;
  };
  const ps = ringAt(stopUs);
  // Before the stop: full level, value = frame index + 1000.
  assert.ok(Math.abs(sim.out[2 * (ps - 10)]! - (48_000 - 10 - 20_000 * 2 + 1000)) <= 2);
  // During the fade: lower than the ramp value; after it: silence.
  assert.ok(sim.out[2 * (ps + 144)]! < 0.6 * (8_000 + 144 + 1000));
  for (let q = ps + 290; q < ps + 1000; q++) assert.equal(sim.out[2 * q], 0);
  const pr = ringAt(resumeUs);
  for (let q = pr - 100; q < pr; q++) assert.equal(sim.out[2 * q], 0);
  // After the fade-in: frame 48000 + k, value (48000 + k) % 20000 + 1000.
  for (const k of [400, 1000, 5000]) {
    const want = ((48_000 + k) % 20_000) + 1000;
    assert.ok(Math.abs(sim.out[2 * (pr + k)]! - want) <= 2, `resume +${k}: ${sim.out[2 * (pr + k)]} vs ${want}`);
  }
});

test('missing tracks play silence while the position keeps advancing; channel mode and volume apply', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 11 });
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(
    timeline({
      tracks: [{ id: 'late', frames: RATE * 60 }],
      revisions: [{ atUs, playing: true, index: 0, frame: 0 }],
      volume: { gain: 0.5, atUs: atUs + 1_500_000 },
    }),
  );
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'left' });
  sim.run(1000);
  assert.ok(sim.out.subarray(0, sim.writePos * 2).every((v) => v === 0));
  assert.ok(sim.sched.stats.locked, 'position should advance on the timeline without the track');
  const pos1 = sim.sched.sourcePosition;
  dcTrack(sim.store, 'late', RATE * 60, 10_000);
  sim.run(2000);
  const p = sim.writePos - 100;
  // Group volume 0.5 on the perceptual curve (gain 0.5^1.5 = -9 dB), left only on both outputs.
  assert.equal(sim.out[2 * p], Math.round(10_000 * 0.5 ** 1.5));
  assert.equal(sim.out[2 * p + 1], Math.round(10_000 * 0.5 ** 1.5));
  assert.ok(sim.sched.sourcePosition - pos1 > RATE * 1.9);
});

test('audio that arrives after a gap (a track loaded late, a streamed window behind a seek) fades in: no click', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 12 });
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'late', frames: RATE * 60 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(1000);
  const before = sim.writePos;
  dcTrack(sim.store, 'late', RATE * 60, 10_000);
  sim.run(500);
  // The first non-zero frame after the gap starts small and rises over the engine fade (5 ms),
  // never jumping from 0 to full scale.
  let first = -1;
  for (let p = before; p < sim.writePos; p++) if (sim.out[2 * p] !== 0) { first = p; break; }
  assert.ok(first >= 0, 'the track is heard');
  assert.ok(sim.out[2 * first]! < 500, `first frame ${sim.out[2 * first]} (a step to 10000 clicks)`);
  let maxStep = 0;
  for (let p = first; p < first + RATE * 0.01; p++) maxStep = Math.max(maxStep, Math.abs(sim.out[2 * (p + 1)]! - sim.out[2 * p]!));
  assert.ok(maxStep < 200, `largest sample step ${maxStep}`);
  assert.equal(sim.out[2 * (first + RATE * 0.01)], 10_000, 'full level after the fade');
});

test('a positive outputDelayUs plays the same frame that much earlier', () => {
  const a = new SimMember({ dacPpm: 0, jitterNs: 0 });
  const b = new SimMember({ dacPpm: 0, jitterNs: 0 });
  for (const s of [a, b]) dcTrack(s.store, 'a', RATE * 60, 1000);
  const atUs = Math.round(a.nowLeaderUs()) + 200_000;
  const tl = timeline({ tracks: [{ id: 'a', frames: RATE * 60 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] });
  a.setTimeline(tl);
  b.setTimeline(tl);
  b.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 10_000, channelMode: 'stereo' });
  a.run(1000);
  b.run(1000);
  const ta = a.trace[a.trace.length - 1]!;
  const tb = b.trace[b.trace.length - 1]!;
  assert.equal(ta.p, tb.p);
  // Same ring frame (same DAC time): b is 10 ms (480 frames) further into the track.
  assert.ok(Math.abs(tb.src - ta.src - 480) < 0.5, `${tb.src - ta.src}`);
});

test('device xruns: the engine never writes silence, re-anchors at once and jumps back onto the timeline', () => {
  const sim = new SimMember({ dacPpm: 150, localOffsetUs: 1_000_000, localRatePpm: 20, seed: 13 });
  dcTrack(sim.store, 'a', RATE * 600, 8000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.run(3000);
  assert.ok(sim.dac.ready);
  const r = rng(77);
  const XRUNS = 20;
  let worstAfterUs = 0;
  for (let k = 0; k < XRUNS; k++) {
    const frames = 256 * Math.round(1 + r() * 39); // 5 ms to 213 ms of device silence
    sim.xrun(frames);
    // The callbacks pause for the silence; the step is confirmed ~100 ms after they resume.
    const at = sim.hostNs + (frames / RATE) * 1e9;
    sim.run(300);
    assert.ok(sim.dac.ready, 'the DAC clock stays ready');
    sim.run(600 + r() * 600);
    // From 300 ms after the device resumed, the audio is back on the timeline.
    let worst = 0;
    for (const t of sim.trace) {
      if (t.hostNs < at + 300e6) continue;
      worst = Math.max(worst, Math.abs(((t.src - truthTarget(sim, t.p, atUs, 0)) * 1e6) / RATE));
    }
    worstAfterUs = Math.max(worstAfterUs, worst);
    sim.trace.length = 0;
  }
  assert.equal(sim.dac.discontinuityCount, XRUNS);
  assert.equal(sim.sched.stats.jumps, XRUNS, 'each xrun (>= one 5.3 ms period) is fixed by one jump');
  assert.ok(worstAfterUs < 100, `error after re-anchoring up to ${worstAfterUs} µs`);
  // What the engine wrote: no silent stretch once playing (a jump's V-shaped fade stays below 10 %
  // for ~1-1.5 ms; the old DAC clock wrote 0.5 s of silence after every xrun).
  const first = sim.out.findIndex((v, i) => i % 2 === 0 && v !== 0) / 2;
  let quiet = 0;
  let worstQuiet = 0;
  for (let p = first + 1000; p < sim.writePos - 10 && p * 2 < sim.out.length; p++) {
    quiet = Math.abs(sim.out[2 * p]!) < 800 ? quiet + 1 : 0;
    worstQuiet = Math.max(worstQuiet, quiet);
  }
  assert.ok(worstQuiet < 96, `silent for ${worstQuiet} frames`);
});

test('a PCM ring underrun (engine starved) is fixed by a jump, not seconds of slewing', () => {
  const sim = new SimMember({ dacPpm: -60, localOffsetUs: -2_000_000, localRatePpm: -30, seed: 21 });
  dcTrack(sim.store, 'a', RATE * 600, 8000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.run(3000);
  const jumpsBefore = sim.sched.stats.jumps;
  sim.run(100); // a 100 ms ring is written ahead: starve it for 110 ms -> ~10 ms of inserted silence
  sim.run(110, false);
  const at = sim.hostNs;
  sim.trace.length = 0;
  sim.run(1000);
  assert.ok((sim.dac.ringSlipCount ?? 0) >= 1, 'the DAC clock saw the ring slip');
  const jumps = sim.sched.stats.jumps - jumpsBefore;
  // The silence grows over a few short callbacks: one jump per slip seen while re-rendering.
  assert.ok(jumps >= 1 && jumps <= 3, `a jump puts the audio back (${jumps} jumps)`);
  assert.ok(maxErrUs(sim, at + 300e6, atUs, 0) < 100, 'back on the timeline within 300 ms');
});

test('a track that starts just as a starved engine recovers is on time at once (the sink maps the frames not yet played)', () => {
  const sim = new SimMember({ dacPpm: 80, localOffsetUs: 1_500_000, localRatePpm: 20, seed: 5 });
  dcTrack(sim.store, 'a', RATE * 600, 8000);
  // Silence while the DAC clock locks, then the engine starves for 250 ms (the ring of silence runs
  // dry and the sink plays short buffers); the track starts 30 ms after it renders again.
  const atUs = Math.round(sim.nowLeaderUs()) + 2_000_000 + 100_000 + 250_000 + 30_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.run(2100);
  sim.run(250, false);
  assert.equal(sim.trace.length, 0, 'the track must not have started before the starvation ended');
  const slipsBefore = sim.dac.ringSlipCount;
  sim.run(600);
  assert.ok(sim.dac.ringSlipCount > slipsBefore || slipsBefore > 0, 'the ring never ran dry');
  assert.ok(sim.trace.length > 0, 'never started');
  // Before the fix the entries of starved buffers mapped the next ring frame one buffer early:
  // the start was 5.3 ms late and a jump followed.
  assert.equal(sim.sched.stats.jumps, 0, 'a jump was needed');
  assert.ok(maxErrUs(sim, 0, atUs, 0) < 100, `start error ${maxErrUs(sim, 0, atUs, 0).toFixed(1)} µs`);
});

test('a device at 44.1 kHz plays the 48 kHz timeline in sync: the resampler converts, the position holds', () => {
  for (const dacPpm of [0, 80, -60]) {
    const sim = new SimMember({ dacPpm, deviceRate: 44_100, localOffsetUs: 3_000_000, localRatePpm: 25, seed: 7 });
    // A 1 kHz sine: what leaves a 44.1 kHz DAC at time t must be the sine at the timeline's t.
    const frames = RATE * 60;
    const pcm = new Int16Array(new SharedArrayBuffer(frames * 4));
    const HZ = 1000;
    for (let i = 0; i < frames; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(8000 * Math.sin((2 * Math.PI * HZ * i) / RATE));
    sim.store.add('a', pcm, frames);
    const atUs = Math.round(sim.nowLeaderUs()) + 300_000;
    sim.setTimeline(timeline({ tracks: [{ id: 'a', frames }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
    sim.run(6000);
    // The engine's own view: where its source position is against the true timeline.
    const err = maxErrUs(sim, sim.hostNs - 2e9, atUs, 0);
    assert.ok(err < 15, `${dacPpm} ppm: position error ${err.toFixed(1)} µs`);
    assert.ok(Math.abs(sim.sched.stats.driftPpm - dacPpm) < 20, `${dacPpm} ppm: drift read as ${sim.sched.stats.driftPpm.toFixed(1)} ppm (nominal ratio not taken out)`);
    // What was written: each of the last 2 s of device frames against the sine at its true DAC time.
    let worst = 0;
    const last = sim.writePos - 1000;
    for (let p = last - 2 * 44_100; p < last; p++) {
      const tS = (sim.leaderAtHostNs(sim.dacHostNsOfRingPos(p)) - atUs) / 1e6;
      const want = 8000 * Math.sin(2 * Math.PI * HZ * tS);
      // 1 kHz at 8000 peak moves 50 LSB/µs: 1 LSB of rounding plus a few µs of timing.
      worst = Math.max(worst, Math.abs(sim.out[2 * p]! - want * 0.99999));
    }
    assert.ok(worst < 8000 * 2 * Math.PI * HZ * 10e-6, `${dacPpm} ppm: output off the true sine by ${worst.toFixed(0)} LSB (> 10 µs)`);
  }
});

test('an error of a few ms that does not slew away within 0.5 s is fixed by a faded jump, not 10 s of slewing', () => {
  const sim = new SimMember({ dacPpm: 40, seed: 11 });
  dcTrack(sim.store, 'a', RATE * 600, 6000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.run(3000);
  assert.equal(sim.sched.stats.jumps, 0);
  // The clock model moves by 5 ms at once (e.g. the DAC clock re-fitted after a starved host's
  // xruns): below the 20 ms jump threshold, far above what 500 ppm fixes in a second.
  sim.modelErrUs = 5000;
  sim.publishModel();
  const stepAt = sim.hostNs;
  sim.run(1500);
  assert.equal(sim.sched.stats.jumps, 1, 'one jump');
  // Following the model again within 1.5 s of the step (the contract: the audio follows the model).
  let worst = 0;
  for (const t of sim.trace) {
    if (t.hostNs < stepAt + 1.2e9) continue;
    const want = ((sim.leaderAtHostNs(sim.dacHostNsOfRingPos(t.p)) + 5000 - atUs) * RATE) / 1e6;
    worst = Math.max(worst, Math.abs(((t.src - want) * 1e6) / RATE));
  }
  assert.ok(worst < 50, `still ${worst.toFixed(0)} µs off 1.2 s after the step`);
  // The jump was faded: no sample jumps from full level to another without passing near zero.
  const from = sim.trace.find((t) => t.hostNs >= stepAt)!.p;
  let minLevel = Infinity;
  for (let p = from; p < sim.writePos - 100; p++) minLevel = Math.min(minLevel, Math.abs(sim.out[2 * p]!));
  assert.ok(minLevel < 600, 'the jump was not faded out and in');
});

test('an error just below the persistent threshold slews (no jump)', () => {
  const sim = new SimMember({ dacPpm: 40, seed: 12 });
  dcTrack(sim.store, 'a', RATE * 600, 6000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 600 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.run(3000);
  sim.modelErrUs = 1800;
  sim.publishModel();
  sim.run(6000);
  assert.equal(sim.sched.stats.jumps, 0);
});

/** First ring frame whose DAC time is at or after leader time `us`. */
function ringAtUs(sim: SimMember, us: number): number {
  let p = 0;
  while (sim.leaderAtHostNs(sim.dacHostNsOfRingPos(p)) < us) p++;
  return p;
}

test("track normalization gains start on the track's first frame; a changed gain ramps at trackGainAtUs", () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 21 });
  dcTrack(sim.store, 'a', RATE * 2, 10_000);
  dcTrack(sim.store, 'b', RATE * 60, 10_000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  const tracks = [{ id: 'a', frames: RATE * 2, gainDb: 6 }, { id: 'b', frames: RATE * 60, gainDb: -20 * Math.log10(2) }];
  sim.setTimeline(timeline({ tracks, revisions: [{ atUs, playing: true, index: 0, frame: 0 }], trackGainAtUs: atUs - 1_000_000 }));
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(3000);
  const boundary = ringAtUs(sim, atUs + 2_000_000);
  const a = Math.round(10_000 * 10 ** (6 / 20));
  assert.ok(Math.abs(sim.out[2 * (boundary - 40)]! - a) <= 1, `track a at +6 dB: ${sim.out[2 * (boundary - 40)]} vs ${a}`);
  assert.ok(Math.abs(sim.out[2 * (boundary + 40)]! - 5000) <= 1, `track b at -6 dB: ${sim.out[2 * (boundary + 40)]}`);
  assert.ok(Math.abs(sim.out[2 * (boundary + 40) + 1]! + 5000) <= 1);
  // The leader changes b's gain to 0 dB from changeUs on: old gain before, a 30 ms ramp, new gain after.
  const changeUs = Math.round(sim.nowLeaderUs()) + 300_000;
  sim.setTimeline(timeline({ rev: 2, tracks: [tracks[0]!, { id: 'b', frames: RATE * 60 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }], trackGainAtUs: changeUs }));
  sim.run(1000);
  const c = ringAtUs(sim, changeUs);
  assert.ok(Math.abs(sim.out[2 * (c - 20)]! - 5000) <= 1, `before the change: ${sim.out[2 * (c - 20)]}`);
  const mid = sim.out[2 * (c + 720)]!; // 15 ms into the ramp
  assert.ok(mid > 6000 && mid < 9000, `mid-ramp: ${mid}`);
  assert.ok(Math.abs(sim.out[2 * (c + 1500)]! - 10_000) <= 1, `after the ramp: ${sim.out[2 * (c + 1500)]}`);
  // The same timeline sent again (a reconnect) changes nothing.
  sim.setTimeline(timeline({ rev: 3, tracks: [tracks[0]!, { id: 'b', frames: RATE * 60 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }], trackGainAtUs: changeUs }));
  sim.run(200);
  assert.ok(Math.abs(sim.out[2 * (sim.writePos - 100)]! - 10_000) <= 1);
});

test('volume 0 (mute) fades over the volume ramp instead of cutting', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 22 });
  dcTrack(sim.store, 'a', RATE * 60, 10_000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ tracks: [{ id: 'a', frames: RATE * 60 }], revisions: [{ atUs, playing: true, index: 0, frame: 0 }] }));
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(1000);
  const muteUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.sched.setSettings({ volume: 0, atUs: muteUs, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(500);
  const m = ringAtUs(sim, muteUs);
  assert.ok(Math.abs(sim.out[2 * (m - 10)]! - 10_000) <= 1);
  const half = sim.out[2 * (m + 720)]!;
  assert.ok(half > 3000 && half < 7000, `half-way through the fade: ${half}`);
  assert.equal(sim.out[2 * (m + 1500)], 0);
});

test('crossfade: the next track starts one overlap before the end and both mix by the equal-power curve', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 23 });
  dcTrack(sim.store, 'a', RATE * 3, 10_000);
  dcTrack(sim.store, 'b', RATE * 60, 5_000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({
    tracks: [{ id: 'a', frames: RATE * 3 }, { id: 'b', frames: RATE * 60 }],
    revisions: [{ atUs, playing: true, index: 0, frame: 0 }],
    crossfadeFrames: RATE,
  }));
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(4500);
  // b's frame 0 is at the DAC 2 s after a's; the overlap lasts 1 s (48 000 frames).
  const x0 = ringAtUs(sim, atUs + 2_000_000);
  const at = (j: number): number => sim.out[2 * (x0 + j)]!;
  const want = (j: number): number => 10_000 * Math.cos((Math.PI / 2) * (j / RATE)) + 5_000 * Math.sin((Math.PI / 2) * (j / RATE));
  assert.ok(Math.abs(at(-100) - 10_000) <= 1, `before: ${at(-100)}`);
  for (const j of [100, 12_000, 24_000, 36_000, 47_900]) assert.ok(Math.abs(at(j) - want(j)) <= 3, `overlap +${j}: ${at(j)} vs ${want(j).toFixed(0)}`);
  assert.ok(Math.abs(at(48_100) - 5_000) <= 1, `after: ${at(48_100)}`);
  // Equal power: at the middle each track is at -3 dB.
  assert.ok(Math.abs(at(24_000) - 15_000 * Math.SQRT1_2) <= 3);
  assert.equal(at(-100 + 1) * -1, sim.out[2 * (x0 - 99) + 1], 'right channel mirrors left');
});

test('crossfade with loop: the last track fades into the first from the second lap on, not before the first', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 24 });
  dcTrack(sim.store, 'a', RATE * 2, 8_000);
  dcTrack(sim.store, 'b', RATE * 2, 8_000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({
    loop: true,
    tracks: [{ id: 'a', frames: RATE * 2 }, { id: 'b', frames: RATE * 2 }],
    revisions: [{ atUs, playing: true, index: 0, frame: 0 }],
    crossfadeFrames: RATE / 2,
  }));
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(4000);
  // Lap length 2 x 1.5 s; the first lap starts with a alone (after the 6 ms start fade).
  const start = ringAtUs(sim, atUs);
  assert.ok(Math.abs(sim.out[2 * (start + 12_000)]! - 8_000) <= 1, `first lap, 0.25 s in: ${sim.out[2 * (start + 12_000)]}`);
  // Second lap, 0.25 s in: b's tail and a's start at the curve's middle: 8000 x (sin + cos)(pi/4).
  const lap2 = ringAtUs(sim, atUs + 3_000_000);
  assert.ok(Math.abs(sim.out[2 * (lap2 + 12_000)]! - 8_000 * Math.SQRT2) <= 3, `second lap, 0.25 s in: ${sim.out[2 * (lap2 + 12_000)]}`);
});

test('a crossfade set while playing (the revision re-based inside the current track) moves nothing audible', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 25 });
  dcTrack(sim.store, 'a', RATE * 2, 10_000);
  dcTrack(sim.store, 'b', RATE * 60, 5_000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  const tracks = [{ id: 'a', frames: RATE * 2 }, { id: 'b', frames: RATE * 60 }];
  const r0 = { atUs, playing: true, index: 0, frame: 0 };
  sim.setTimeline(timeline({ tracks, revisions: [r0] }));
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(3500);
  const jumps = sim.sched.stats.jumps;
  const from = sim.writePos;
  // What the leader sends: the same revision, plus one re-based 1 s into b, and a 1 s crossfade.
  const rebased = { atUs: atUs + 3_000_000, playing: true, index: 1, frame: RATE };
  sim.setTimeline(timeline({ rev: 2, tracks, revisions: [r0, rebased], crossfadeFrames: RATE }));
  sim.run(1000);
  assert.equal(sim.sched.stats.jumps, jumps, 'no jump');
  for (let p = from; p < sim.writePos - 10; p++) assert.equal(sim.out[2 * p], 5000, `frame ${p - from} after the change`);
});

test('crossfade: a jump into a track (next, a seek into its first overlap frames) cuts in without the previous tail', () => {
  const sim = new SimMember({ dacPpm: 0, jitterNs: 0, seed: 26 });
  dcTrack(sim.store, 'a', RATE * 60, 10_000);
  dcTrack(sim.store, 'b', RATE * 60, 5_000);
  const atUs = Math.round(sim.nowLeaderUs()) + 200_000;
  const tracks = [{ id: 'a', frames: RATE * 60 }, { id: 'b', frames: RATE * 60 }];
  const r0 = { atUs, playing: true, index: 0, frame: 0 };
  sim.setTimeline(timeline({ tracks, revisions: [r0], crossfadeFrames: 4 * RATE }));
  sim.sched.setSettings({ volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' });
  sim.run(1000);
  // "next" 1 s into a: b from its frame 0, which lies in the a->b overlap on the playlist axis.
  const nextUs = Math.round(sim.nowLeaderUs()) + 200_000;
  sim.setTimeline(timeline({ rev: 2, tracks, revisions: [r0, { atUs: nextUs, playing: true, index: 1, frame: 0 }], crossfadeFrames: 4 * RATE }));
  sim.run(2000);
  const n = ringAtUs(sim, nextUs);
  for (const j of [480, 24_000, 48_000, 72_000]) assert.equal(sim.out[2 * (n + j)], 5000, `b alone ${j} frames after next`);
});

test("repeat one's lap is seamless: a track looping back onto itself plays on without a fade or a click", () => {
  const sim = new SimMember({ dacPpm: 35, localOffsetUs: 1_000_000, localRatePpm: -20, seed: 31 });
  // Track a: exactly 1000 periods of a 1 kHz cosine, so the lap continues it at its crest. Track b
  // (silence) follows a on the playlist, and nothing is before a: a kernel reading the playlist's
  // neighbours instead of the lap dips at the seam.
  const cosine = (amp: number): Int16Array => {
    const pcm = new Int16Array(new SharedArrayBuffer(RATE * 4));
    for (let i = 0; i < RATE; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(amp * Math.cos((2 * Math.PI * 1000 * i) / RATE));
    return pcm;
  };
  sim.store.add('a', cosine(8000), RATE);
  sim.store.add('b', cosine(0), RATE);
  const atUs = Math.round(sim.nowLeaderUs()) + 300_000;
  const lapUs = atUs + 1_000_000;
  sim.setTimeline(timeline({
    tracks: [{ id: 'a', frames: RATE }, { id: 'b', frames: RATE }],
    revisions: [{ atUs, playing: true, index: 0, frame: 0 }, { atUs: lapUs, playing: true, index: 0, frame: 0 }],
  }));
  sim.run(2000);
  assert.equal(sim.sched.stats.jumps, 0);
  let worst = 0;
  let at = 0;
  for (let p = 0; p < sim.writePos; p++) {
    const L = sim.leaderAtHostNs(sim.dacHostNsOfRingPos(p));
    if (L < lapUs - 100_000 || L > lapUs + 100_000) continue;
    const tS = (L - (L < lapUs ? atUs : lapUs)) / 1e6;
    const e = Math.abs(sim.out[2 * p]! - 8000 * Math.cos(2 * Math.PI * 1000 * tS));
    if (e > worst) { worst = e; at = L - lapUs; }
  }
  // 10 µs of timing at 1 kHz is up to 500 LSB; a fade would dip to 0 (8000), the neighbours' silence by 1000s.
  assert.ok(worst < 400, `output off the looping sine by ${worst.toFixed(0)} LSB at ${at.toFixed(0)} µs from the lap`);
});
