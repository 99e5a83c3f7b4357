import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameResampler, SINC_PHASES } from '../../src/audio/frame-resampler.js';
import { frameKernelBytes } from '../../src/audio/frame-resampler-kernel.js';

/** Deterministic noise in [-1, 1) (a fixed LCG: the test must not depend on Math.random). */
function noise(samples: number, seed: number): Float32Array {
  const out = new Float32Array(samples);
  let s = seed >>> 0;
  for (let i = 0; i < samples; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

test('the kernel module validates (node 20 has wasm SIMD)', () => {
  const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
  assert.ok(wasm.validate(frameKernelBytes()));
});

test('the wasm kernel renders bit for bit what the JS loop renders', () => {
  const cases: Array<{ nominal: number; ratio: number; pos: number }> = [
    { nominal: 1, ratio: 1, pos: 7 }, // identity: every phase 0
    { nominal: 1, ratio: 1, pos: 7.25 }, // constant phase on a table row (pf 0)
    { nominal: 1, ratio: 1 + 500e-6, pos: 9.3 },
    { nominal: 1, ratio: 1 - 37e-6, pos: 12.999 },
    { nominal: 1, ratio: 44_100 / 48_000, pos: 8 + 1 / SINC_PHASES },
    { nominal: 48_000 / 44_100, ratio: (48_000 / 44_100) * (1 + 120e-6), pos: 15.5 },
    { nominal: 2, ratio: 2, pos: 15 },
  ];
  for (const [n, c] of cases.entries()) {
    const frames = 700 + (n % 2); // odd counts end with a single frame
    const jsR = FrameResampler.forRatio(c.nominal);
    const wasmR = FrameResampler.forRatio(c.nominal);
    const need = jsR.framesNeeded(c.pos - Math.floor(c.pos), c.ratio, frames) + Math.floor(c.pos) + 2;
    const src = noise(need * 2, 17 + n);
    const jsOut = new Float32Array(frames * 2);
    const jsEnd = jsR.process(src, c.pos, c.ratio, jsOut, frames);
    const buf = wasmR.workBuffers(need * 2, frames * 2);
    assert.ok(wasmR.runsKernelOn(buf.src, buf.out));
    buf.src.set(src);
    const wasmEnd = wasmR.process(buf.src, c.pos, c.ratio, buf.out, frames);
    assert.equal(wasmEnd, jsEnd, `case ${n}: end position`);
    assert.deepEqual(bits(buf.out), bits(jsOut), `case ${n}: samples`);
  }
});

test('buffers from workBuffers are zeroed and sized as asked; process on other arrays runs the JS loop', () => {
  const r = new FrameResampler();
  const { src, out } = r.workBuffers(100, 40);
  assert.equal(src.length, 100);
  assert.equal(out.length, 40);
  assert.ok(src.every((v) => v === 0) && out.every((v) => v === 0));
  assert.equal(r.runsKernelOn(new Float32Array(100), out), false);
  const plain = new Float32Array(100);
  for (let i = 0; i < 100; i++) plain[i] = i;
  const o = new Float32Array(4);
  assert.equal(r.process(plain, 10, 1, o, 2), 12);
  assert.deepEqual([...o], [20, 21, 22, 23]);
});
