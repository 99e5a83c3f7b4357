import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameResampler, SINC_HALF_TAPS } from '../../src/audio/frame-resampler.js';

const RATE = 48_000;

function sine(frames: number, hz: number, amp = 0.5, phase = 0): Float32Array {
  const s = new Float32Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    s[2 * i] = amp * Math.sin((2 * Math.PI * hz * i) / RATE + phase);
    s[2 * i + 1] = -s[2 * i]!;
  }
  return s;
}

test('ratio 1 at an integer position is bit-transparent', () => {
  const r = new FrameResampler();
  const src = sine(2000, 1234);
  const out = new Float32Array(1000 * 2);
  const end = r.process(src, 100, 1, out, 1000);
  assert.equal(end, 1100);
  for (let k = 0; k < 1000; k++) assert.equal(out[2 * k], src[2 * (100 + k)]);
});

test('sine in, sine out at ratio 1 +- 500 ppm and fractional start: error below -60 dB up to 10 kHz', () => {
  const r = new FrameResampler();
  for (const hz of [100, 1000, 5000, 10_000]) {
    for (const ratio of [1 + 500e-6, 1 - 500e-6, 1 + 37e-6]) {
      const n = 20_000;
      const src = sine(n + 200, hz);
      const out = new Float32Array(n * 2);
      const start = 50.3;
      r.process(src, start, ratio, out, n);
      let errPow = 0;
      for (let k = 0; k < n; k++) {
        const want = 0.5 * Math.sin((2 * Math.PI * hz * (start + k * ratio)) / RATE);
        errPow += (out[2 * k]! - want) ** 2;
        assert.ok(Math.abs(out[2 * k + 1]! + out[2 * k]!) < 1e-6); // channels independent
      }
      const snrDb = 10 * Math.log10((0.125 * n) / errPow);
      assert.ok(snrDb > 60, `${hz} Hz at ${ratio}: ${snrDb.toFixed(1)} dB`);
    }
  }
});

test('no clicks: the sample-to-sample step never exceeds that of the clean sine', () => {
  const r = new FrameResampler();
  const hz = 440;
  const n = 48_000;
  const src = sine(n + 200, hz, 0.9);
  const out = new Float32Array(n * 2);
  r.process(src, SINC_HALF_TAPS + 0.999, 1 + 480e-6, out, n);
  const maxStep = 0.9 * 2 * Math.sin((Math.PI * hz * (1 + 480e-6)) / RATE) * 1.001;
  for (let k = 1; k < n; k++) assert.ok(Math.abs(out[2 * k]! - out[2 * k - 2]!) <= maxStep + 1e-4, `step at ${k}`);
});

test('sourceFramesNeeded covers the kernel of every output frame', () => {
  const r = new FrameResampler();
  const n = 128;
  const ratio = 1.0005;
  const frac = 0.99;
  const need = FrameResampler.sourceFramesNeeded(frac, ratio, n);
  // Poison one frame past the need: the output must not see it.
  const src = new Float32Array((need + 4) * 2);
  src.fill(0);
  src[need * 2] = 1e9;
  const out = new Float32Array(n * 2);
  r.process(src, SINC_HALF_TAPS - 1 + frac, ratio, out, n);
  for (const v of out) assert.ok(Math.abs(v) < 1);
});

/** Level (dB re the input's 0.5 amplitude) of a tone after resampling at `ratio`, and its frequency check. */
function toneGainDb(r: FrameResampler, hz: number, ratio: number): number {
  const n = 16_384;
  const src = sine(Math.ceil(n * ratio) + 200, hz);
  const out = new Float32Array(n * 2);
  r.process(src, r.halfTaps + 0.37, ratio, out, n);
  let pow = 0;
  for (let k = 1000; k < n; k++) pow += out[2 * k]! ** 2;
  return 10 * Math.log10(pow / (n - 1000) / 0.125);
}

test('to a 44.1 kHz device: flat passband, what would fold back below 20 kHz is attenuated', () => {
  const ratio = 48_000 / 44_100;
  const r = FrameResampler.forRatio(ratio);
  assert.ok(r.taps > SINC_HALF_TAPS * 2, 'the downsampling kernel is the longer one');
  for (const hz of [100, 1000, 10_000, 15_000]) {
    const g = toneGainDb(r, hz, ratio);
    assert.ok(Math.abs(g) < 0.2, `${hz} Hz passes at ${g.toFixed(2)} dB`);
  }
  // Above the device's Nyquist (22.05 kHz): 23 kHz would alias to 21.1 kHz, 24 kHz... is the source's Nyquist.
  for (const hz of [22_500, 23_000, 23_500]) {
    const g = toneGainDb(r, hz, ratio);
    assert.ok(g < -25, `${hz} Hz (would fold to ${(44_100 - hz) / 1000} kHz) only ${g.toFixed(1)} dB down`);
  }
  // The default kernel lets the same tone through nearly whole: the test can tell the kernels apart.
  assert.ok(toneGainDb(new FrameResampler(), 23_000, ratio) > -12);
});

test('forRatio keeps the bit-transparent kernel up to ratio 1 (drift, a faster device); bad kernels are refused', () => {
  assert.equal(FrameResampler.forRatio(1 + 500e-6).taps, SINC_HALF_TAPS * 2);
  assert.equal(FrameResampler.forRatio(44_100 / 48_000).cutoff, 1);
  assert.throws(() => new FrameResampler({ halfTaps: 1 }), /halfTaps/);
  assert.throws(() => new FrameResampler({ cutoff: 0 }), /cutoff/);
  assert.throws(() => new FrameResampler({ cutoff: 1.2 }), /cutoff/);
});
