import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DacClock, type HostToLocalClock } from '../../src/audio/dac-clock.js';

const RATE = 48_000;

/** Deterministic PRNG (mulberry32) and normal deviates, so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

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
    assert.ok(dc.residualRmsUs > 20 && dc.residualRmsUs < 60, `rms ${dc.residualRmsUs}`);
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

test('DacClock ignores zero-delay start-up entries and restarts the fit after a stall', () => {
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
  for (; k < 150; k++) {
    const t = BigInt(Math.round(t0 + k * 256 * (1e9 / RATE)));
    dc.add({ deviceFrame: k * 256, ringPos: k * 256, dacTimeNs: t, callbackTimeNs: t - 10_000_000n });
  }
  assert.equal(dc.ready, true);
  for (; k < 500; k++) {
    const t = BigInt(Math.round(t0 + 800_000_000 + k * 256 * (1e9 / RATE)));
    dc.add({ deviceFrame: k * 256, ringPos: k * 256, dacTimeNs: t, callbackTimeNs: t - 10_000_000n });
  }
  assert.equal(dc.resetCount, 1);
  const want = (t0 + 800_000_000 + 600 * 256 * (1e9 / RATE)) / 1000;
  assert.ok(Math.abs(dc.dacTimeOfRingPos(600 * 256) - want) < 1, `${dc.dacTimeOfRingPos(600 * 256) - want}`);
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
  const dc = new DacClock({ nominalRate: RATE, clock, window: 128 });
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
