import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussian as gauss, mulberry32 as rng } from '@jaudiosync/test-support';
import { DacClock, type HostToLocalClock } from '../../src/audio/dac-clock.js';

const RATE = 48_000;

function localClock(offsetUs: number, ratePpm: number): HostToLocalClock {
  return {
    fromHostMonoUs: (us) => us * (1 + ratePpm / 1e6) + offsetUs,
    toHostMonoUs: (us) => (us - offsetUs) / (1 + ratePpm / 1e6),
  };
}

interface SimOpts {
  ppm: number;
  jitterNs: number;
  outlierEvery?: number;
  fpb?: number;
  startNs?: number;
}

/** A simulated DAC: buffer k starts at device frame k*fpb, leaving the DAC at t0 + frames/trueRate. */
function* dac(o: SimOpts, seed = 1): Generator<{ deviceFrame: number; ringPos: number; dacTimeNs: bigint; callbackTimeNs: bigint; trueNs: number }> {
  const r = rng(seed);
  const fpb = o.fpb ?? 256;
  const nsPerFrame = 1e9 / (RATE * (1 + o.ppm / 1e6));
  const t0 = o.startNs ?? 5_000_000_000_000;
  for (let k = 0; ; k++) {
    const deviceFrame = k * fpb;
    const trueNs = t0 + deviceFrame * nsPerFrame;
    let noisy = trueNs + gauss(r) * o.jitterNs;
    if (o.outlierEvery !== undefined && k % o.outlierEvery === 7) noisy += 400_000 * (r() < 0.5 ? -1 : 1);
    const dacTimeNs = BigInt(Math.round(noisy));
    yield { deviceFrame, ringPos: deviceFrame, dacTimeNs, callbackTimeNs: dacTimeNs - 20_000_000n, trueNs };
  }
}

test('DacClock recovers rate and phase from jittery entries with outliers', () => {
  for (const ppm of [300, -80, 870]) {
    const clock = localClock(123_456_789, 40);
    const dc = new DacClock({ nominalRate: RATE, clock });
    let last: { deviceFrame: number; trueNs: number } | undefined;
    let n = 0;
    for (const e of dac({ ppm, jitterNs: 36_000, outlierEvery: 50 }, 7)) {
      dc.add(e);
      last = e;
      if (++n >= 2000) break; // ~10.7 s of 256-frame buffers
    }
    assert.ok(dc.ready);
    assert.ok(Math.abs(dc.ratePpm - ppm) < 3, `rate ${dc.ratePpm} vs ${ppm}`);
    // Bins of ~47 entries: their scatter is a fraction of the entries' 36 µs.
    assert.ok(dc.residualRmsUs > 1 && dc.residualRmsUs < 20, `rms ${dc.residualRmsUs}`);
    // Predict 150 ms ahead (where the engine writes) to within 10 µs.
    const nsPerFrame = 1e9 / (RATE * (1 + ppm / 1e6));
    const pos = last!.deviceFrame + 7200;
    const trueLocal = clock.fromHostMonoUs((last!.trueNs + 7200 * nsPerFrame) / 1000);
    const errUs = dc.dacTimeOfRingPos(pos) - trueLocal;
    assert.ok(Math.abs(errUs) < 10, `phase error ${errUs} µs at ${ppm} ppm`);
    // The inverse agrees.
    assert.ok(Math.abs(dc.ringPosAtLocalUs(dc.dacTimeOfRingPos(pos)) - pos) < 1e-3);
  }
});

test('DacClock ignores zero-delay start-up entries and re-anchors (stays ready) after a stall', () => {
  const clock = localClock(0, 0);
  const dc = new DacClock({ nominalRate: RATE, clock });
  const t0 = 1_000_000_000_000;
  // Start-up burst: wrong times, delay 0.
  for (let k = 0; k < 20; k++) {
    const t = BigInt(t0 + k * 1000);
    assert.equal(dc.add({ deviceFrame: k * 256, ringPos: k * 256, dacTimeNs: t, callbackTimeNs: t }), false);
  }
  assert.equal(dc.ready, false);
  // Then entries with a positive delay, but a first stretch that is off by 0.8 s (before a stall).
  let k = 20;
  for (; k < 400; k++) {
    const t = BigInt(Math.round(t0 + k * 256 * (1e9 / RATE)));
    dc.add({ deviceFrame: k * 256, ringPos: k * 256, dacTimeNs: t, callbackTimeNs: t - 10_000_000n });
  }
  assert.equal(dc.ready, true);
  for (; k < 800; k++) {
    const t = BigInt(Math.round(t0 + 800_000_000 + k * 256 * (1e9 / RATE)));
    dc.add({ deviceFrame: k * 256, ringPos: k * 256, dacTimeNs: t, callbackTimeNs: t - 10_000_000n });
    assert.equal(dc.ready, true, 'never unready after the first lock');
  }
  assert.equal(dc.resetCount, 0);
  assert.equal(dc.discontinuityCount, 1);
  assert.ok(Math.abs(dc.lastStepUs - 800_000) < 1, `step ${dc.lastStepUs} µs`);
  const want = (t0 + 800_000_000 + 900 * 256 * (1e9 / RATE)) / 1000;
  assert.ok(Math.abs(dc.dacTimeOfRingPos(900 * 256) - want) < 1, `${dc.dacTimeOfRingPos(900 * 256) - want}`);
});

interface PaSimOpts {
  ppm: number;
  jitterNs: number;
  seed: number;
  /** Reported DAC time = truth + this (e.g. a start-up trend or a sawtooth), per entry time (s). */
  bias?: (tS: number) => number;
  /** Each burst's callbacks come this late at most (uniform): bursty writes (libpulse after a server restart). */
  cbScatterNs?: number;
}

/**
 * A PortAudio-through-PulseAudio-like sink: 256-frame callbacks in bursts of 3 every 16 ms, ~64 ms
 * delay; `xrun(frames)` moves the device timeline later by that many frames at the same rate
 * (silence the device inserted that deviceFrame never counted).
 */
class PaSim {
  deviceFrame = 0;
  phaseNs = 0;
  cbNs = 3_000_000_000_000;
  private readonly t0: number;
  private readonly nsPerFrame: number;
  private readonly r: () => number;
  constructor(private readonly o: PaSimOpts) {
    this.t0 = this.cbNs;
    this.nsPerFrame = 1e9 / (RATE * (1 + o.ppm / 1e6));
    this.r = rng(o.seed);
  }
  trueNs(frame: number): number {
    return this.t0 + 64_000_000 + this.phaseNs + frame * this.nsPerFrame;
  }
  xrun(frames: number): void {
    this.phaseNs += frames * this.nsPerFrame;
    this.cbNs += frames * this.nsPerFrame;
  }
  /** One burst of 3 callbacks (16 ms of audio). */
  *burst(): Generator<{ deviceFrame: number; ringPos: number; dacTimeNs: bigint; callbackTimeNs: bigint }> {
    for (let j = 0; j < 3; j++) {
      const t = this.trueNs(this.deviceFrame);
      const bias = this.o.bias?.((this.cbNs - this.t0) / 1e9) ?? 0;
      const dac = t + bias + gauss(this.r) * this.o.jitterNs;
      const late = (this.o.cbScatterNs ?? 0) * this.r();
      yield { deviceFrame: this.deviceFrame, ringPos: this.deviceFrame, dacTimeNs: BigInt(Math.round(dac)), callbackTimeNs: BigInt(Math.round(this.cbNs + late)) };
      this.deviceFrame += 256;
    }
    this.cbNs += 768 * this.nsPerFrame;
  }
}

test('DacClock through 30 device xruns: never unready after the first lock, rate within a few ppm, phase re-anchored at once', () => {
  const ppm = 137;
  const sim = new PaSim({ ppm, jitterNs: 40_000, seed: 21 });
  const dc = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  const r = rng(99);
  let locked = false;
  let worstRate = 0;
  const rateErrs: number[] = [];
  let worstPhaseUs = 0;
  let xruns = 0;
  let sinceXrunBursts = 0;
  for (let b = 0; b < 2500 && xruns <= 30; b++) {
    // An xrun every ~0.8-1.6 s after the first 6 s, of 1-20 periods (ALSA loses whole periods).
    if (b > 375 && sinceXrunBursts > 50 + r() * 50 && xruns < 30) {
      sim.xrun(256 * Math.round(1 + r() * 19));
      xruns++;
      sinceXrunBursts = 0;
    }
    sinceXrunBursts++;
    for (const e of sim.burst()) dc.add(e);
    if (dc.ready) locked = true;
    else assert.equal(locked, false, `unready again at burst ${b}`);
    if (b > 375) {
      worstRate = Math.max(worstRate, Math.abs(dc.ratePpm - ppm));
      rateErrs.push(Math.abs(dc.ratePpm - ppm));
    }
    // 24 bursts (384 ms: up to 107 ms of silence, then ~100 ms of agreeing entries) after each
    // xrun the phase 100 ms ahead must be right again.
    if (b > 375 && sinceXrunBursts > 24) {
      const f = sim.deviceFrame + 4800;
      worstPhaseUs = Math.max(worstPhaseUs, Math.abs(dc.dacTimeOfRingPos(f) - sim.trueNs(f) / 1000));
    }
  }
  assert.equal(xruns, 30);
  assert.equal(dc.discontinuityCount, 30);
  assert.equal(dc.resetCount, 0);
  // Segments of ~1.2 s with 40 µs jitter pin the shared slope to ~4 ppm (1 sigma).
  rateErrs.sort((a, b) => a - b);
  const medianRate = rateErrs[rateErrs.length >> 1]!;
  assert.ok(medianRate < 4, `rate off by ${medianRate} ppm (median)`);
  assert.ok(worstRate < 12, `rate off by up to ${worstRate} ppm`);
  assert.ok(worstPhaseUs < 50, `phase off by up to ${worstPhaseUs} µs after re-anchoring`);
});

test('DacClock: lone outliers, a burst of outliers at one instant and a ±1 ms wander are not discontinuities', () => {
  const ppm = -60;
  // PulseAudio-like smoothing: a 1.5 s sawtooth of ±1 ms on top of the truth.
  const sim = new PaSim({ ppm, jitterNs: 30_000, seed: 5, bias: (t) => ((t % 1.5) / 1.5 - 0.5) * 2_000_000 });
  const dc = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  for (let b = 0; b < 1000; b++) {
    const burst = [...sim.burst()];
    // Every 40th burst: all three entries 6 ms late (one bad instant); every 17th: one entry 30 ms off.
    for (const [j, e] of burst.entries()) {
      if (b % 40 === 39) e.dacTimeNs += 6_000_000n;
      if (b % 17 === 3 && j === 1) e.dacTimeNs -= 30_000_000n;
      dc.add(e);
    }
  }
  assert.equal(dc.discontinuityCount, 0);
  assert.ok(dc.ready);
  assert.ok(Math.abs(dc.ratePpm - ppm) < 100, `rate ${dc.ratePpm}`);
  const f = sim.deviceFrame + 4800;
  assert.ok(Math.abs(dc.dacTimeOfRingPos(f) - sim.trueNs(f) / 1000) < 1500);
});

test('DacClock never adopts an implausible slope: wrong-trend start-up and a noisy stretch after an xrun', () => {
  const ppm = 80;
  // Start-up: the first 0.7 s of reported times run at -4591 ppm relative to the truth (then steady).
  const trend = (t: number): number => (t < 0.7 ? -(0.7 - t) * 4591e-6 * 1e9 : 0);
  const sim = new PaSim({ ppm, jitterNs: 50_000, seed: 8, bias: trend });
  const dc = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  let worstAbs = 0;
  for (let b = 0; b < 750; b++) {
    for (const e of sim.burst()) dc.add(e);
    if (dc.ready) worstAbs = Math.max(worstAbs, Math.abs(dc.ratePpm));
  }
  assert.ok(worstAbs <= 2000, `slope ${worstAbs} ppm adopted`);
  assert.ok(Math.abs(dc.ratePpm - ppm) < 10, `rate after 12 s ${dc.ratePpm}`);
  // An xrun, then 0.5 s of entries with 300 µs noise: the rate must not follow the noise.
  const noisy = new PaSim({ ppm, jitterNs: 300_000, seed: 9 });
  noisy.deviceFrame = sim.deviceFrame;
  sim.xrun(2400); // a device xrun moves the callbacks with the DAC timeline
  noisy.cbNs = sim.cbNs;
  noisy.phaseNs = sim.phaseNs; // same start, same crystal: the same true timeline
  let worstRate = 0;
  for (let b = 0; b < 32; b++) {
    for (const e of noisy.burst()) dc.add(e);
    worstRate = Math.max(worstRate, Math.abs(dc.ratePpm - ppm));
  }
  assert.equal(dc.discontinuityCount, 1);
  assert.ok(worstRate < 30, `rate moved by ${worstRate} ppm during a noisy stretch`);
  const f = noisy.deviceFrame + 4800;
  assert.ok(Math.abs(dc.dacTimeOfRingPos(f) - noisy.trueNs(f) / 1000) < 300);
});

test('DacClock maps ring positions through underruns (device frames the ring never saw)', () => {
  const clock = localClock(0, 0);
  const dc = new DacClock({ nominalRate: RATE, clock });
  const fpb = 256;
  const nsPerFrame = 1e9 / RATE;
  const t0 = 2_000_000_000_000;
  let ringPos = 0;
  for (let k = 0; k < 200; k++) {
    const deviceFrame = k * fpb;
    const t = BigInt(Math.round(t0 + deviceFrame * nsPerFrame));
    dc.add({ deviceFrame, ringPos, dacTimeNs: t, callbackTimeNs: t - 5_000_000n });
    // Buffer 100 underran: only 56 ring frames were copied, 200 silent frames inserted.
    ringPos += k === 100 ? 56 : fpb;
  }
  assert.equal(dc.ringToDeviceOffset, 200);
  const p = ringPos + 1000;
  const want = (t0 + (p + 200) * nsPerFrame) / 1000;
  assert.ok(Math.abs(dc.dacTimeOfRingPos(p) - want) < 0.5);
});

test('DacClock uses the injected local clock for its answers', () => {
  const a = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  const b = new DacClock({ nominalRate: RATE, clock: localClock(5_000_000, 100) });
  for (const e of (function* () {
    let n = 0;
    for (const x of dac({ ppm: 50, jitterNs: 0 })) {
      if (n++ > 100) return;
      yield x;
    }
  })()) {
    a.add(e);
    b.add(e);
  }
  const hostUs = a.dacTimeOfRingPos(30_000);
  assert.ok(Math.abs(b.dacTimeOfRingPos(30_000) - (hostUs * (1 + 100e-6) + 5_000_000)) < 1e-3);
});

test('DacClock stays exact over a long run (reference rebased past 1000 s)', () => {
  const clock = localClock(0, 0);
  const dc = new DacClock({ nominalRate: RATE, clock });
  let last: { deviceFrame: number; trueNs: number } | undefined;
  let n = 0;
  // 4800-frame buffers: one entry per 100 ms, 1500 s of DAC time.
  for (const e of dac({ ppm: 250, jitterNs: 20_000, fpb: 4800 }, 11)) {
    dc.add(e);
    last = e;
    if (++n >= 15_000) break;
  }
  const nsPerFrame = 1e9 / (RATE * (1 + 250 / 1e6));
  const pos = last!.deviceFrame + 4800;
  const errUs = dc.dacTimeOfRingPos(pos) - (last!.trueNs + 4800 * nsPerFrame) / 1000;
  assert.ok(Math.abs(errUs) < 10, `error after 1500 s: ${errUs} µs`);
  assert.ok(Math.abs(dc.ratePpm - 250) < 3);
  assert.equal(dc.resetCount, 0);
});

test('DacClock: callbacks that run a sawtooth (PulseAudio: 750 ppm fast, then a 9 ms pause every 12 s) move neither the rate nor the phase', () => {
  const ppm = 120;
  const dc = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  const r = rng(11);
  const fpb = 256;
  const nsPerFrame = 1e9 / (RATE * (1 + ppm / 1e6));
  const t0 = 7_000_000_000_000;
  const periodNs = 12e9;
  let worstPhaseNs = 0;
  let worstRatePpm = 0;
  for (let k = 0; k < Math.ceil(90e9 / (fpb * nsPerFrame)); k++) {
    const deviceFrame = k * fpb;
    const trueNs = t0 + deviceFrame * nsPerFrame;
    // Callbacks lead the DAC by 200 ms minus a ramp that grows 750 ppm and resets every 12 s.
    const phase = ((trueNs - t0) % periodNs) * 750e-6;
    const callbackNs = trueNs - 200e6 - phase + Math.abs(gauss(r)) * 300_000;
    const dacNs = trueNs + gauss(r) * 30_000;
    dc.add({ deviceFrame, ringPos: deviceFrame, dacTimeNs: BigInt(Math.round(dacNs)), callbackTimeNs: BigInt(Math.round(callbackNs)) });
    if (dc.ready && trueNs - t0 > 20e9) {
      worstPhaseNs = Math.max(worstPhaseNs, Math.abs(dc.hostNsOfDeviceFrame(deviceFrame) - trueNs));
      worstRatePpm = Math.max(worstRatePpm, Math.abs(dc.ratePpm - ppm));
    }
  }
  assert.equal(dc.discontinuityCount, 0, 'a callback pause is not a step of the timeline');
  assert.ok(worstRatePpm < 5, `rate within 5 ppm after 20 s (worst ${worstRatePpm.toFixed(1)} ppm)`);
  assert.ok(worstPhaseNs < 30_000, `phase within 30 µs after 20 s (worst ${(worstPhaseNs / 1000).toFixed(1)} µs)`);
  assert.ok(dc.sources.reportShare > 0.99, `the reports carry the answer (share ${dc.sources.reportShare})`);
});

/** Feeds bursts until the clock is ready (or `maxS` of callbacks): seconds from the first entry. */
function secondsToReady(dc: DacClock, sim: PaSim, maxS: number): number {
  const start = sim.cbNs;
  while (sim.cbNs - start < maxS * 1e9) {
    for (const e of sim.burst()) {
      dc.add(e);
      if (dc.ready) return (Number(e.callbackTimeNs) - start) / 1e9;
    }
  }
  return Number.POSITIVE_INFINITY;
}

test('DacClock: a clean start locks after 0.3 s and is right; a start whose bins scatter waits for the full 1.5 s', () => {
  const clean = new PaSim({ ppm: 60, jitterNs: 30_000, seed: 3 });
  const dc = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  const t = secondsToReady(dc, clean, 5);
  assert.ok(t >= 0.3 && t < 0.5, `clean start ready after ${t} s`);
  const pos = clean.deviceFrame + 4800; // 100 ms ahead, where the engine writes
  const err = dc.dacTimeOfRingPos(pos) - clean.trueNs(pos) / 1000;
  assert.ok(Math.abs(err) < 20, `phase error at the early lock ${err} µs`);

  // Reports that swing ±400 µs over 0.6 s (a loaded or bursty start): no bin pair is trusted early.
  const noisy = new PaSim({ ppm: 60, jitterNs: 30_000, seed: 4, bias: (s) => (s < 3 ? 400_000 * Math.sin((2 * Math.PI * s) / 0.6) : 0) });
  const dn = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  const tn = secondsToReady(dn, noisy, 10);
  assert.ok(tn >= 1.45 && tn < 4, `noisy start ready after ${tn} s`);
});

test('DacClock: trusted reports (capture sink, libpulse) lock early though the callbacks scatter; others wait for the full rule', () => {
  // Write callbacks late by up to 0.8 ms (bursts), reports clean: the callbacks' envelope is no
  // witness yet, the reports are the timeline.
  const opts = { ppm: 180, jitterNs: 5_000, cbScatterNs: 800_000 };
  const plain = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  const tPlain = secondsToReady(plain, new PaSim({ ...opts, seed: 31 }), 10);
  assert.ok(tPlain >= 1.45, `untrusted reports locked after ${tPlain} s`);
  const sim = new PaSim({ ...opts, seed: 31 });
  const trusted = new DacClock({ nominalRate: RATE, clock: localClock(0, 0), trustedReports: true });
  const t = secondsToReady(trusted, sim, 10);
  assert.ok(t >= 0.3 && t < 0.5, `trusted reports locked after ${t} s`);
  const pos = sim.deviceFrame + 4800;
  const err = trusted.dacTimeOfRingPos(pos) - sim.trueNs(pos) / 1000;
  assert.ok(Math.abs(err) < 10, `phase error at the early lock ${err} µs`);
  // Reports that swing at the start are not trusted blindly: the early check still holds them.
  const swing = new PaSim({ ...opts, seed: 32, bias: (s) => (s < 3 ? 400_000 * Math.sin((2 * Math.PI * s) / 0.6) : 0) });
  const ts = secondsToReady(new DacClock({ nominalRate: RATE, clock: localClock(0, 0), trustedReports: true }), swing, 10);
  assert.ok(ts >= 1.45, `swinging trusted reports locked after ${ts} s`);
});

test('DacClock: the early lock on a clean sink far from nominal takes its rate from the reports, not from the nominal-rate prior', () => {
  // A null sink 260 ppm fast, reports clean to a few µs: a prior weighed as 100 µs of noise held the
  // slope near nominal at 0.5 s (a first lock 56 µs off); weighed by the bins' own noise it does not.
  for (const seed of [41, 42, 43]) {
    const sim = new PaSim({ ppm: 260, jitterNs: 3_000, seed });
    const dc = new DacClock({ nominalRate: RATE, clock: localClock(0, 0), trustedReports: true });
    const t = secondsToReady(dc, sim, 5);
    assert.ok(t < 0.5, `ready after ${t} s`);
    const pos = sim.deviceFrame + 9600; // 200 ms ahead
    const err = dc.dacTimeOfRingPos(pos) - sim.trueNs(pos) / 1000;
    assert.ok(Math.abs(err) < 8, `seed ${seed}: phase error 200 ms past the early lock ${err} µs (rate ${dc.ratePpm} ppm)`);
  }
});

test('DacClock: a prefill burst and the stream\'s start-up stall (PulseAudio) are forgotten, the lock comes 0.3 s after the stall', () => {
  const sim = new PaSim({ ppm: -40, jitterNs: 30_000, seed: 5 });
  const nsPerFrame = 1e9 / (RATE * (1 - 40 / 1e6));
  // 12 callbacks at one instant, 1.1 s before the server takes the stream; their reported times
  // assume the stream ran at once.
  const prefillCb = sim.cbNs - 1_100_000_000;
  const dc = new DacClock({ nominalRate: RATE, clock: localClock(0, 0) });
  for (let k = 0; k < 12; k++) {
    const f = k * 256;
    dc.add({ deviceFrame: f, ringPos: f, dacTimeNs: BigInt(Math.round(prefillCb + 5_000_000 + f * nsPerFrame)), callbackTimeNs: BigInt(prefillCb + k * 1000) });
  }
  sim.deviceFrame = 3072;
  sim.phaseNs = -3072 * nsPerFrame;
  const t = secondsToReady(dc, sim, 5);
  assert.ok(t >= 0.3 && t < 0.5, `ready ${t} s after the stall`);
  const pos = sim.deviceFrame + 4800;
  const err = dc.dacTimeOfRingPos(pos) - sim.trueNs(pos) / 1000;
  assert.ok(Math.abs(err) < 20, `phase error ${err} µs`);
  assert.equal(dc.discontinuityCount, 0);
});
