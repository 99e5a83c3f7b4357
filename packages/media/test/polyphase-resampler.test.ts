// The resampler: frequency and level kept in the passband, stopband attenuation, exact output
// length, and chunking independence (bit-identical output for any chunk sizes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { framesAtRate } from '../src/frames-at-rate.js';
import { filterResponse } from '../src/filter-response.js';
import { designPolyphaseFilter } from '../src/kaiser-sinc.js';
import { PolyphaseResampler } from '../src/polyphase-resampler.js';

function sine(rate: number, hz: number, seconds: number, amp: number, phase = 0): Float32Array {
  const n = Math.round(rate * seconds);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amp * Math.sin((2 * Math.PI * hz * i) / rate + phase);
  return out;
}

/** Resamples [left, right] in chunks of the given sizes (cycled); returns the concatenated output. */
function run(inRate: number, outRate: number, input: Float32Array[], chunkSizes: number[]): Float32Array[] {
  const rs = new PolyphaseResampler(inRate, outRate, input.length);
  const parts: Float32Array[][] = [];
  let at = 0;
  let k = 0;
  while (at < input[0]!.length) {
    const size = chunkSizes[k++ % chunkSizes.length]!;
    parts.push(rs.push(input.map((ch) => ch.subarray(at, at + size))));
    at += size;
  }
  parts.push(rs.flush());
  return input.map((_, c) => {
    const total = parts.reduce((s, p) => s + p[c]!.length, 0);
    const out = new Float32Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p[c]!, o);
      o += p[c]!.length;
    }
    return out;
  });
}

/** Least-squares fit of a sine at `hz` over x[from, to): amplitude, and the rms of what remains. */
function fitSine(x: Float32Array, rate: number, hz: number, from: number, to: number): { amp: number; residualRms: number } {
  let sc = 0, cc = 0, ss = 0, xs = 0, xc = 0;
  for (let i = from; i < to; i++) {
    const w = (2 * Math.PI * hz * i) / rate;
    const s = Math.sin(w), c = Math.cos(w);
    ss += s * s; cc += c * c; sc += s * c; xs += x[i]! * s; xc += x[i]! * c;
  }
  const det = ss * cc - sc * sc;
  const a = (xs * cc - xc * sc) / det;
  const b = (xc * ss - xs * sc) / det;
  let r2 = 0;
  for (let i = from; i < to; i++) {
    const w = (2 * Math.PI * hz * i) / rate;
    const e = x[i]! - (a * Math.sin(w) + b * Math.cos(w));
    r2 += e * e;
  }
  return { amp: Math.hypot(a, b), residualRms: Math.sqrt(r2 / (to - from)) };
}

function rms(x: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (to - from));
}

const db = (ratio: number): number => 20 * Math.log10(ratio);

test('1 kHz sine 44.1k -> 48k keeps frequency and amplitude (within 0.1 dB), no distortion', () => {
  const amp = 0.5;
  const [l, r] = run(44100, 48000, [sine(44100, 1000, 1, amp), sine(44100, 1000, 1, amp, 1)], [4096]);
  for (const out of [l!, r!]) {
    assert.equal(out.length, 48000);
    const fit = fitSine(out, 48000, 1000, 4800, 43200); // away from the edges (filter start-up/flush)
    assert.ok(Math.abs(db(fit.amp / amp)) < 0.1, `level ${db(fit.amp / amp)} dB`);
    // A wrong frequency would leave the whole signal in the residual.
    assert.ok(db(fit.residualRms / (amp / Math.SQRT2)) < -80, `residual ${db(fit.residualRms / (amp / Math.SQRT2))} dB`);
  }
});

test('passband: 19 kHz at 44.1k -> 48k within 0.1 dB', () => {
  const [out] = run(44100, 48000, [sine(44100, 19000, 0.5, 0.5)], [10000]);
  const fit = fitSine(out!, 48000, 19000, 2400, 21600);
  assert.ok(Math.abs(db(fit.amp / 0.5)) < 0.1, `level ${db(fit.amp / 0.5)} dB`);
});

test('48k -> 44.1k: a 23 kHz tone folds to 21.1 kHz, above the passband edge, and nothing lands below it', () => {
  const [out] = run(48000, 44100, [sine(48000, 23000, 0.5, 0.5)], [3000]);
  const fit = fitSine(out!, 44100, 21100, 2205, out!.length - 2205);
  // The fold itself sits in the transition band (inaudible); what is left once it is fitted away
  // is everything that landed elsewhere, including below 19.845 kHz.
  const rest = db(fit.residualRms / (0.5 / Math.SQRT2));
  assert.ok(rest <= -75, `residual beside the 21.1 kHz fold: ${rest} dB`);
});

test('44.1k -> 48k: a 1 kHz tone has no image anywhere in the output (23.1 kHz would be the first)', () => {
  const [out] = run(44100, 48000, [sine(44100, 1000, 0.5, 0.5)], [4096]);
  const fit = fitSine(out!, 48000, 1000, 2400, 21600);
  assert.ok(db(fit.residualRms / (0.5 / Math.SQRT2)) < -80, `image at ${db(fit.residualRms / (0.5 / Math.SQRT2))} dB`);
});

test('downsampling aliases: 30 kHz at 96k -> 48k (would alias to 18 kHz) is attenuated by >= 80 dB', () => {
  const [out] = run(96000, 48000, [sine(96000, 30000, 0.5, 0.5)], [5000]);
  const level = db(rms(out!, 2400, out!.length - 2400) / (0.5 / Math.SQRT2));
  assert.ok(level <= -80, `alias at ${level} dB`);
});

test('chunked streaming output is bit-identical to one-shot output', () => {
  const noise = (seed: number, n: number): Float32Array => {
    let s = seed;
    return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
  };
  for (const [inRate, outRate] of [[44100, 48000], [48000, 44100], [22050, 48000], [44101, 48000]] as const) {
    const input = [noise(1, 30011), noise(2, 30011)];
    const once = run(inRate, outRate, input, [input[0]!.length]);
    const chunked = run(inRate, outRate, input, [1, 7, 1000, 3, 4096, 577]);
    assert.equal(once[0]!.length, framesAtRate(30011, inRate, outRate));
    assert.deepEqual(chunked[0], once[0]);
    assert.deepEqual(chunked[1], once[1]);
  }
});

test('the wasm SIMD stereo loop (float32 sums) matches the JS loop (double sums) to < -120 dB, any chunking', () => {
  const noise = (seed: number, n: number): Float32Array => {
    let s = seed;
    return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5);
  };
  for (const [inRate, outRate] of [[44100, 48000], [48000, 44100], [8000, 48000]] as const) {
    const simd = new PolyphaseResampler(inRate, outRate, 2);
    assert.equal(simd.usesSimd, true, 'wasm SIMD is available in Node 20+');
    assert.equal(new PolyphaseResampler(inRate, outRate, 2, { simd: false }).usesSimd, false);
    const input = [noise(3, 40_000), noise(4, 40_000)];
    const viaSimd = run(inRate, outRate, input, [20_000, 13, 9000]);
    const js = new PolyphaseResampler(inRate, outRate, 2, { simd: false });
    const a = js.push(input);
    const b = js.flush();
    for (let c = 0; c < 2; c++) {
      const ref = new Float32Array([...a[c]!, ...b[c]!]);
      assert.equal(viaSimd[c]!.length, ref.length);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(viaSimd[c]![i]! - ref[i]!));
      assert.ok(worst > 0, 'two different loops ran');
      assert.ok(db(worst / 0.5) < -120, `${inRate}->${outRate} channel ${c}: worst difference ${db(worst / 0.5)} dB`);
    }
  }
});

test('output length is exactly framesAtRate for short and odd lengths and many rate pairs', () => {
  for (const [inRate, outRate] of [[44100, 48000], [48000, 44100], [8000, 48000], [96000, 48000], [192000, 44100], [44101, 48000], [48000, 48000]] as const) {
    for (const n of [0, 1, 2, 5, 146, 147, 148, 1000]) {
      const [out] = run(inRate, outRate, [new Float32Array(n).fill(0.25)], [64]);
      assert.equal(out!.length, framesAtRate(n, inRate, outRate), `${inRate}->${outRate} n=${n}`);
    }
  }
});

test('equal rates pass samples through untouched', () => {
  const x = sine(48000, 440, 0.1, 0.3);
  const [out] = run(48000, 48000, [x], [333]);
  assert.deepEqual(out, x);
});

test('odd rate pairs (interpolated coefficient table) still keep a 1 kHz tone clean', () => {
  const f = designPolyphaseFilter(44101, 48000);
  assert.equal(f.exact, false);
  const [out] = run(44101, 48000, [sine(44101, 1000, 0.5, 0.5)], [4096]);
  const fit = fitSine(out!, 48000, 1000, 2400, 21600);
  assert.ok(Math.abs(db(fit.amp / 0.5)) < 0.1);
  assert.ok(db(fit.residualRms / (0.5 / Math.SQRT2)) < -70, `residual ${db(fit.residualRms / (0.5 / Math.SQRT2))} dB`);
});

test('filter design: Kaiser length and band edges follow the lower rate', () => {
  const up = designPolyphaseFilter(44100, 48000);
  assert.equal(up.phases, 160);
  assert.equal(up.step, 147);
  assert.equal(up.taps % 4, 0);
  assert.ok(Math.abs(up.passbandHz - 19845) < 1);
  assert.ok(Math.abs(up.stopbandHz - 24255) < 1);
  assert.ok(up.taps <= 64, `${up.taps} taps: the cost of a decode grows with them`);
  for (let p = 0; p < up.phases; p++) {
    let sum = 0;
    for (let j = 0; j < up.taps; j++) sum += up.coeffs[p * up.taps + j]!;
    assert.ok(Math.abs(sum - 1) < 1e-5, `phase ${p} DC gain ${sum}`);
  }
});

// The quality the decoder's resampler is chosen for (bench/resampler.ts reports the same figures
// beside the cost): flat to 0.45 of the lower rate, 89 dB down from 0.55 of it on.
for (const [from, to] of [[44100, 48000], [48000, 44100], [22050, 48000], [96000, 48000]] as const) {
  test(`filter quality ${from} -> ${to}: passband ripple < 0.001 dB, stopband >= 89 dB`, () => {
    const r = filterResponse(designPolyphaseFilter(from, to));
    assert.ok(r.passbandRippleDb < 0.001, `ripple ${r.passbandRippleDb} dB`);
    assert.ok(r.stopbandAttenuationDb >= 89, `stopband ${r.stopbandAttenuationDb} dB`);
  });
}

test('filterResponse tells a worse filter from a good one (shorter stopband spec, narrow transition)', () => {
  const weak = filterResponse(designPolyphaseFilter(44100, 48000, { passbandFraction: 0.45, stopbandFraction: 0.55, stopbandDb: 40 }));
  assert.ok(weak.stopbandAttenuationDb < 45 && weak.stopbandAttenuationDb > 35, `40 dB design measured ${weak.stopbandAttenuationDb} dB`);
  assert.ok(weak.passbandRippleDb > 0.01, `40 dB design ripple ${weak.passbandRippleDb} dB`);
  const good = filterResponse(designPolyphaseFilter(44100, 48000));
  assert.ok(good.gainDbAt(1000) > -0.001 && good.gainDbAt(30000) < -89);
});

test('rejects bad use', () => {
  assert.throws(() => new PolyphaseResampler(0, 48000, 2), RangeError);
  assert.throws(() => new PolyphaseResampler(44100, 48000, 0), RangeError);
  const rs = new PolyphaseResampler(44100, 48000, 2);
  assert.throws(() => rs.push([new Float32Array(4)]), RangeError);
  assert.throws(() => rs.push([new Float32Array(4), new Float32Array(3)]), RangeError);
  rs.flush();
  assert.throws(() => rs.flush(), /flushed/);
});
