// Unit tests of the bench:realpath analysis on synthetic recordings (deterministic, no audio server):
// known fractional delays made by an exact FFT delay of the band-limited test track, dropouts,
// rejection reasons, the arrival time map, schedule matching and the summary figures.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ArrivalTimeMap, dropouts, Fft, fractionalDelay, lrOffsets, scheduleErrors, scheduleStats, summarizeOffsets, windowCounts,
  type Arrival, type StereoRecording, type WindowResult,
} from './realpath-analysis.js';
import { makeTestTrack, type TestTrack } from './realpath-signal.js';
import { SeededRandom } from './lib/rng.js';

const RATE = 48_000;
/** 2^18 frames (5.46 s): a power of two, so the whole-track FFT delay is exact and circular. */
const FRAMES = 1 << 18;
const TOLERANCE_US = 0.1;

let trackCache: TestTrack | undefined;
function track(): TestTrack {
  trackCache ??= makeTestTrack({ seed: 11, frames: FRAMES });
  return trackCache;
}

/** The mono source as floats. */
function mono(t: TestTrack): Float64Array {
  const x = new Float64Array(t.frames);
  for (let i = 0; i < t.frames; i++) x[i] = t.pcm[2 * i]! / 32768;
  return x;
}

/** x delayed by `d` samples (y[t] = x[t - d]), band-limited and circular: a phase ramp on its spectrum. */
function fftDelay(x: Float64Array, d: number): Float64Array {
  const n = x.length;
  const fft = new Fft(n);
  const re = Float64Array.from(x);
  const im = new Float64Array(n);
  fft.transform(re, im);
  for (let k = 0; k < n; k++) {
    const kk = k <= n / 2 ? k : k - n; // signed frequency, so the result stays real
    const th = (-2 * Math.PI * kk * d) / n;
    const c = k === n / 2 ? Math.cos(Math.PI * d) : Math.cos(th);
    const s = k === n / 2 ? 0 : Math.sin(th);
    const r = re[k]! * c - im[k]! * s;
    im[k] = re[k]! * s + im[k]! * c;
    re[k] = r;
  }
  fft.transform(re, im, true);
  return re;
}

/** y[t] = x(t - d(t)) for a slowly varying delay d, by long Kaiser-windowed sinc interpolation. */
function varyingDelay(x: Float64Array, d: (t: number) => number): Float64Array {
  const half = 128;
  const beta = 12;
  const i0 = (v: number): number => {
    let sum = 1;
    let term = 1;
    for (let k = 1; k < 50; k++) {
      term *= (v / (2 * k)) ** 2;
      sum += term;
    }
    return sum;
  };
  const norm = i0(beta);
  const y = new Float64Array(x.length);
  for (let t = 0; t < x.length; t++) {
    const pos = t - d(t);
    const base = Math.floor(pos);
    let acc = 0;
    for (let k = base - half + 1; k <= base + half; k++) {
      const u = pos - k;
      const sinc = u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u);
      const r = u / half;
      const win = Math.abs(r) >= 1 ? 0 : i0(beta * Math.sqrt(1 - r * r)) / norm;
      acc += x[((k % x.length) + x.length) % x.length]! * sinc * win;
    }
    y[t] = acc;
  }
  return y;
}

function toInt16(x: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(x * 32768)));
}

function stereo(left: Float64Array, right: Float64Array): StereoRecording {
  const samples = new Int16Array(left.length * 2);
  for (let i = 0; i < left.length; i++) {
    samples[2 * i] = toInt16(left[i]!);
    samples[2 * i + 1] = toInt16(right[i]!);
  }
  return { samples, rate: RATE };
}

describe('fractionalDelay / lrOffsets', () => {
  test('identical channels read exactly 0 in every window', () => {
    const t = track();
    const rec: StereoRecording = { samples: t.pcm, rate: RATE };
    const w = lrOffsets(rec, RATE, 1);
    const ok = w.filter((x) => x.offsetUs !== null);
    assert.ok(ok.length >= 3, `only ${ok.length} windows accepted: ${JSON.stringify(windowCounts(w))}`);
    for (const x of ok) assert.equal(x.offsetUs, 0, `window at ${x.tS} s read ${x.offsetUs} µs`);
  });

  for (const d of [0, 0.3, 12.7, -250.4]) {
    test(`a fractional delay of ${d} samples of the band-limited test track is read within ${TOLERANCE_US} µs`, () => {
      const x = mono(track());
      const rec = stereo(x, fftDelay(x, d));
      const expectUs = (d / RATE) * 1e6;
      for (const windowS of [1, 0.1]) {
        const w = lrOffsets(rec, RATE, windowS, { requireBursts: windowS >= 1 });
        const ok = w.filter((r) => r.offsetUs !== null);
        const counts = windowCounts(w);
        // only the first window (no room for the lag range before it) may be rejected
        assert.ok(counts.accepted >= counts.total - 1, `windowS ${windowS}: ${JSON.stringify(counts)}`);
        const worst = Math.max(...ok.map((r) => Math.abs(r.offsetUs! - expectUs)));
        assert.ok(worst < TOLERANCE_US, `windowS ${windowS}: worst error ${worst.toFixed(4)} µs (expected ${expectUs.toFixed(3)} µs)`);
      }
    });
  }

  test('plain band-limited noise, fractional delay 0.37 samples, 1 s windows without bursts required', () => {
    const rng = new SeededRandom(5);
    const n = FRAMES;
    // white noise low-passed in the frequency domain (exactly band-limited to 16 kHz)
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    for (let i = 0; i < n; i++) re[i] = rng.uniform(-1, 1) * 0.2;
    const fft = new Fft(n);
    fft.transform(re, im);
    for (let k = 0; k < n; k++) {
      const f = Math.min(k, n - k) / n;
      if (f > 16_000 / RATE) {
        re[k] = 0;
        im[k] = 0;
      }
    }
    fft.transform(re, im, true);
    const rec = stereo(re, fftDelay(re, 0.37));
    const w = lrOffsets(rec, RATE, 1, { requireBursts: false });
    const ok = w.filter((r) => r.offsetUs !== null);
    assert.ok(ok.length >= 3);
    for (const r of ok) assert.ok(Math.abs(r.offsetUs! - (0.37 / RATE) * 1e6) < TOLERANCE_US, `${r.offsetUs} µs`);
  });

  test('a lag that drifts at 600 ppm inside the windows (two members correcting differently) is read at each window centre', () => {
    const x = mono(track());
    const d0 = -3.3; // samples at frame 0
    const ratePpm = 600;
    const y = varyingDelay(x, (t) => d0 + (ratePpm / 1e6) * t);
    const rec = stereo(x, y);
    for (const windowS of [1, 0.1]) {
      const w = lrOffsets(rec, RATE, windowS, { requireBursts: false });
      const ok = w.filter((r) => r.offsetUs !== null);
      assert.ok(ok.length >= w.length - 2, JSON.stringify(windowCounts(w)));
      for (const r of ok) {
        // The window reads the lag of the event the left plays at its centre tc: the right plays it
        // at t' with t' - d(t') = tc, i.e. t' - tc = d(tc) * (1 + rate) to first order.
        const dc = d0 + (ratePpm / 1e6) * (r.startFrame + r.frames / 2);
        const expectUs = ((dc * (1 + ratePpm / 1e6)) / RATE) * 1e6;
        // 100 ms windows: 5 sub-windows, each read at its energy centroid while the lag moves by
        // 0.6 samples inside it; the peak of that smeared correlation is the centroid's lag only
        // to ~0.1 µs.
        assert.ok(Math.abs(r.offsetUs! - expectUs) < (windowS >= 1 ? TOLERANCE_US : 0.3), `windowS ${windowS} at ${r.tS.toFixed(2)} s: ${r.offsetUs!.toFixed(3)} µs, expected ${expectUs.toFixed(3)}`);
        assert.ok(Math.abs(r.driftPpm! - ratePpm) < (windowS >= 1 ? 2 : 40), `drift ${r.driftPpm} ppm`);
      }
    }
  });

  test('the estimate is antisymmetric: swapping channels flips the sign', () => {
    const x = mono(track());
    const y = fftDelay(x, 3.21);
    const seg = (v: Float64Array): Float64Array => v.slice(48_000, 48_000 + 4800 + 2 * 960);
    const ab = fractionalDelay(seg(x), seg(y), 960);
    const ba = fractionalDelay(seg(y), seg(x), 960);
    assert.ok(typeof ab !== 'string' && typeof ba !== 'string');
    assert.ok(Math.abs(ab.delay + ba.delay) < 1e-4, `${ab.delay} vs ${ba.delay}`);
    assert.ok(Math.abs(ab.delay - 3.21) < 0.005, `${ab.delay}`);
  });

  test('offsets beyond the search range are rejected as edge, not guessed', () => {
    const x = mono(track());
    const rec = stereo(x, fftDelay(x, 25e-3 * RATE));
    const w = lrOffsets(rec, RATE, 1);
    const c = windowCounts(w);
    assert.equal(c.accepted, 0, JSON.stringify(c));
    assert.ok((c.rejected['edge'] ?? 0) + (c.rejected['uncorrelated'] ?? 0) >= c.total - 1, JSON.stringify(c));
  });

  test('a window holding only the noise floor is rejected as no_bursts when bursts are required', () => {
    const t = track();
    const rec: StereoRecording = { samples: t.pcm.slice(), rate: RATE };
    // replace the bursts of the third second with the floor from 2000 frames earlier (bursts are
    // >= 4800 frames apart, so that stretch is floor only)
    for (const b of t.bursts) {
      if (b < 2 * RATE - 400 || b > 3 * RATE + 100) continue;
      for (let f = b - 100; f < b + 250; f++) {
        rec.samples[2 * f] = rec.samples[2 * (f - 2000)]!;
        rec.samples[2 * f + 1] = rec.samples[2 * (f - 2000) + 1]!;
      }
    }
    let loud = 0;
    for (let f = 2 * RATE; f < 3 * RATE; f++) if (Math.abs(rec.samples[2 * f]!) > 0.15 * 32768) loud++;
    assert.equal(loud, 0);
    const w = lrOffsets(rec, RATE, 1);
    assert.equal(w[2]?.rejected, 'no_bursts');
    assert.equal(w[1]?.rejected, null);
  });
  test('one member not playing yet reads silent_left, not an offset', () => {
    const t = track();
    const rec: StereoRecording = { samples: t.pcm.slice(), rate: RATE };
    for (let f = 0; f < 2 * RATE; f++) rec.samples[2 * f] = 0; // member1 starts at 2 s
    const w = lrOffsets(rec, RATE, 1, { fromFrame: 0, dropouts: [] });
    assert.equal(w[1]?.rejected, 'silent_left');
    assert.equal(w[2]?.rejected, null);
  });
});

describe('dropouts', () => {
  test('a one-sided gap is counted for that channel and rejects the windows it touches; a gap on both is "both" and rejects nothing', () => {
    const t = track();
    const rec: StereoRecording = { samples: t.pcm.slice(), rate: RATE };
    // left loses 5 ms at 1.5 s; both lose 10.7 ms (one PipeWire quantum is 10.67 ms) at 3.5 s
    for (let f = 72_000; f < 72_000 + 240; f++) rec.samples[2 * f] = 0;
    for (let f = 168_000; f < 168_000 + 512; f++) {
      rec.samples[2 * f] = 0;
      rec.samples[2 * f + 1] = 0;
    }
    // right loses 3 ms at 4.2 s, with a tiny residual (near-zero, not digital zero)
    for (let f = 201_600; f < 201_600 + 144; f++) rec.samples[2 * f + 1] = (f % 3) - 1;
    const d = dropouts(rec);
    assert.deepEqual({ both: d.both, left: d.left, right: d.right }, { both: 1, left: 1, right: 1 });
    const left = d.list.find((x) => x.kind === 'left')!;
    assert.equal(left.startFrame, 72_000);
    assert.equal(left.endFrame, 72_240);
    assert.ok(Math.abs(left.ms - 5) < 1e-9);
    const w = lrOffsets(rec, RATE, 1, { dropouts: d.list });
    assert.equal(w[1]?.rejected, 'dropout_left');
    assert.equal(w[4]?.rejected, 'dropout_right');
    assert.equal(w[3]?.rejected, null, 'a server-side drop on both channels keeps the window');
    assert.ok(Math.abs(w[3]!.offsetUs!) < TOLERANCE_US);
  });

  test('a gap on both channels with one channel silent for longer: "both" for the shared part, the rest for that side', () => {
    const t = track();
    const rec: StereoRecording = { samples: t.pcm.slice(), rate: RATE };
    // as seen at 65 s on both servers: both silent 8.1 ms, the left 24 ms from the same frame
    for (let f = 100_000; f < 100_000 + 1160; f++) rec.samples[2 * f] = 0;
    for (let f = 100_000; f < 100_000 + 389; f++) rec.samples[2 * f + 1] = 0;
    // and a shared gap whose ends differ by 0.5 ms (two members 0.5 ms apart both starving): no slivers
    for (let f = 150_000; f < 150_000 + 480; f++) rec.samples[2 * f] = 0;
    for (let f = 150_024; f < 150_024 + 480; f++) rec.samples[2 * f + 1] = 0;
    const d = dropouts(rec);
    assert.deepEqual(d.list.map((x) => [x.kind, x.startFrame, x.endFrame]), [
      ['both', 100_000, 100_389], ['left', 100_389, 101_160], ['both', 150_024, 150_480],
    ]);
  });

  test('the noise floor itself never reads as a dropout', () => {
    const t = track();
    const d = dropouts({ samples: t.pcm, rate: RATE });
    assert.equal(d.list.length, 0, JSON.stringify(d.list.slice(0, 3)));
  });

  test('stretches shorter than 2 ms are not dropouts', () => {
    const t = track();
    const rec: StereoRecording = { samples: t.pcm.slice(), rate: RATE };
    for (let f = 10_000; f < 10_000 + 90; f++) rec.samples[2 * f] = 0;
    assert.equal(dropouts(rec).list.length, 0);
  });
});

describe('ArrivalTimeMap', () => {
  test('recovers the undelayed frame times and the monitor rate from jittered, always-late arrivals', () => {
    const rng = new SeededRandom(3);
    const rateHz = 48_012; // a null sink a little fast against the host clock
    const t0 = 5e9;
    const arrivals: Arrival[] = [];
    for (let f = 960; f <= 20 * 48_000; f += 960) arrivals.push({ endFrame: f, monoNs: t0 + (f / rateHz) * 1e9 + 200_000 + rng.next() ** 4 * 3e6 });
    const map = new ArrivalTimeMap(arrivals, 48_000);
    assert.ok(Math.abs(map.rateHz - rateHz) < 1, `rate ${map.rateHz}`);
    for (const f of [10_000, 200_000.5, 500_000]) {
      const ns = map.hostNsOf(f)!;
      const truth = t0 + (f / rateHz) * 1e9 + 200_000;
      assert.ok(Math.abs(ns - truth) < 20_000, `frame ${f}: ${((ns - truth) / 1000).toFixed(1)} µs off`);
      assert.ok(Math.abs(map.frameAtHostNs(ns)! - f) < 1e-3);
    }
  });
});

describe('scheduleErrors', () => {
  test('heard minus scheduled per burst, across the loop seam, on a recording with a known delay and time map', () => {
    const t = makeTestTrack({ seed: 4, seconds: 3 });
    const n = t.frames;
    const lead = 12_345; // recording frames before the first lap starts
    const laps = 2;
    const frames = lead + laps * n + 10_000;
    const samples = new Int16Array(frames * 2);
    for (let f = lead; f < lead + laps * n; f++) {
      const v = t.pcm[2 * ((f - lead) % n)]!;
      samples[2 * f + 1] = v; // right channel only
    }
    const rec: StereoRecording = { samples, rate: RATE };
    // frames arrive exactly at t0 + f / rate (no jitter): the monitor bias is 0 here
    const t0 = 1e12;
    const arrivals: Arrival[] = [];
    for (let f = 480; f <= frames; f += 480) arrivals.push({ endFrame: f, monoNs: t0 + (f / RATE) * 1e9 });
    const map = new ArrivalTimeMap(arrivals, RATE);
    // leader timescale = host ns / 1000 + 7e6; playback was scheduled 250 µs earlier than heard
    const leaderUsToHostNs = (us: number): number => (us - 7e6) * 1000;
    const hostNsToLeaderUs = (ns: number): number => ns / 1000 + 7e6;
    const playAtUs = hostNsToLeaderUs(t0 + (lead / RATE) * 1e9) - 250;
    const r = scheduleErrors({ rec, channel: 1, fromFrame: 0, toFrame: frames, track: t, playAtUs, map, leaderUsToHostNs, hostNsToLeaderUs });
    assert.equal(r.matched.length, t.bursts.length * laps, `matched ${r.matched.length} of ${t.bursts.length * laps}, unmatched ${r.unmatched}`);
    assert.ok(r.matched.every((m) => m.aligned));
    assert.ok(r.matched.some((m) => m.lap === 1));
    for (const m of r.matched) assert.ok(Math.abs(m.errorUs - 250) < 0.5, `burst ${m.burst} lap ${m.lap}: ${m.errorUs} µs`);
    const s = scheduleStats(r.matched.map((m) => m.errorUs));
    assert.ok(Math.abs(s.median_us! - 250) < 0.5 && s.p99_us! < 0.5);
    const left = scheduleErrors({ rec, channel: 0, fromFrame: 0, toFrame: frames, track: t, playAtUs, map, leaderUsToHostNs, hostNsToLeaderUs });
    assert.equal(left.matched.length, 0);
  });
});

describe('summarizeOffsets', () => {
  const win = (tS: number, offsetUs: number | null, frames = 4800): WindowResult => ({
    tS, startFrame: Math.round((tS * RATE) - frames / 2), frames, offsetUs, quality: offsetUs === null ? null : 1, spreadUs: 0, residualUs: 0, driftPpm: 0, subWindows: { accepted: 1, total: 1 }, rejected: offsetUs === null ? 'no_bursts' : null,
  });
  test('first second, time to sync and percentiles', () => {
    const fine = [win(0.05, 900), win(0.15, -300), win(0.25, null), win(0.35, 150), win(0.45, 40), win(0.55, 20), win(0.95, 10), win(1.05, 2000), win(1.15, 30), win(1.25, 20)];
    const coarse = [win(0.5, 100, 48_000), win(1.5, -10, 48_000), win(2.5, null, 48_000), win(3.5, 5, 48_000)];
    const s = summarizeOffsets(coarse, fine, RATE);
    assert.equal(s.first_second_us, 900);
    assert.equal(s.first_second_windows, 6);
    assert.equal(s.first_second_unmeasured, 0);
    assert.ok(Math.abs(s.in_sync_after_s! - 1.1) < 1e-9, `${s.in_sync_after_s}`);
    assert.deepEqual(s.offset_us, { n: 3, p50: 10, p99: 100, max: 100 });
  });
  test('never in sync when the last window is out; null figures without windows', () => {
    assert.equal(summarizeOffsets([], [win(0.05, 10), win(0.15, 500)], RATE).in_sync_after_s, null);
    const e = summarizeOffsets([], [], RATE);
    assert.equal(e.first_second_us, null);
    assert.equal(e.in_sync_after_s, null);
    assert.equal(e.offset_us.p99, null);
  });
  test('a window beyond the search range or with one member silent is out of sync; one rejected for a dropout counts neither way', () => {
    const edge: WindowResult = { ...win(0.25, null), rejected: 'edge' };
    const drop: WindowResult = { ...win(0.35, null), rejected: 'dropout_left' };
    const missing: WindowResult = { ...win(0.45, null), rejected: 'silent_right' };
    const s = summarizeOffsets([], [win(0.05, 10), win(0.15, 20), edge, drop, missing, win(0.55, 30), win(0.65, 10)], RATE);
    assert.ok(Math.abs(s.in_sync_after_s! - 0.5) < 1e-9, `${s.in_sync_after_s}`);
    assert.equal(s.first_second_unmeasured, 2);
    assert.equal(s.first_second_us, 30);
  });
  test('in sync from the first window when never out', () => {
    assert.equal(summarizeOffsets([], [win(0.05, 10), win(0.15, -20)], RATE).in_sync_after_s, 0);
  });
});
