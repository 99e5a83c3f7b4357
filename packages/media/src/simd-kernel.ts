// The resampler's stereo hot loop as a tiny WebAssembly module with 128-bit SIMD: four taps per
// multiply-add in float32, for both channels, one call per chunk instead of per frame. It is the
// JS loop of polyphase-resampler.ts (the same phase and position stepping, the same table), ~5x
// faster here; V8 runs wasm SIMD on x86-64 (SSE4.1) and on a Pi's arm64 (NEON). Assembled here
// from its opcodes (wasm binary format, SIMD proposal as standardised): no toolchain, nothing to
// download. Where SIMD is not available, `simdKernel()` is null and the JS loop runs.
import { kernelLoader, oneFunctionModule, uleb, WASM_TYPE, type WasmKernel } from './wasm-module.js';

/** run(coef, histL, histR, outL, outR, count, taps, phases, step, pos, phase, lastPos) -> frames.
 *  Byte addresses; positions are in samples relative to the history's first sample minus
 *  (halfTaps - 1) (the caller folds that into histL/histR). Writes the final pos to byte 0 and
 *  the final phase to byte 4 of memory. */
export type SimdRun = (coef: number, histL: number, histR: number, outL: number, outR: number, count: number,
  taps: number, phases: number, step: number, pos: number, phase: number, lastPos: number) => number;

export type SimdKernel = WasmKernel<SimdRun>;

// Locals: 0 coef, 1 histL, 2 histR, 3 outL, 4 outR, 5 count, 6 taps, 7 phases, 8 step, 9 pos,
// 10 phase, 11 lastPos (parameters); 12 k, 13 ci, 14 off, 15 end (i32); 16 accL, 17 accR, 18 w (v128).
const OP = {
  block: 0x02, loop: 0x03, end: 0x0b, br: 0x0c, brIf: 0x0d, get: 0x20, set: 0x21, tee: 0x22,
  i32Const: 0x41, add: 0x6a, mul: 0x6c, divU: 0x6e, remU: 0x70, shl: 0x74, geS: 0x4e, gtS: 0x4a, ltU: 0x49, geU: 0x4f,
  i32Store: 0x36, f32Store: 0x38, f32Add: 0x92, simd: 0xfd, void: 0x40,
} as const;
const SIMD = { load: 0x00, const: 0x0c, extractF32: 0x1f, addF32: 0xe4, mulF32: 0xe6 } as const;

const get = (i: number): number[] => [OP.get, i];
const set = (i: number): number[] => [OP.set, i];
const i32 = (v: number): number[] => [OP.i32Const, v]; // small non-negative constants (< 64)
const simd = (op: number, ...rest: number[]): number[] => [OP.simd, ...uleb(op), ...rest];
/** align 2^2 (floats are 4-byte aligned; wasm allows any alignment), offset 0 */
const memarg = [2, 0];

function hsum(acc: number): number[] {
  return [
    ...get(acc), ...simd(SIMD.extractF32, 0), ...get(acc), ...simd(SIMD.extractF32, 1), OP.f32Add,
    ...get(acc), ...simd(SIMD.extractF32, 2), ...get(acc), ...simd(SIMD.extractF32, 3), OP.f32Add, OP.f32Add,
  ];
}

function body(): number[] {
  const zero = simd(SIMD.const, ...new Array<number>(16).fill(0));
  const macc = (acc: number, hist: number): number[] => [
    ...get(acc), ...get(18), ...get(hist), ...get(14), OP.add, ...simd(SIMD.load, ...memarg), ...simd(SIMD.mulF32), ...simd(SIMD.addF32), ...set(acc),
  ];
  const store = (out: number, acc: number): number[] => [...get(out), ...get(12), ...i32(2), OP.shl, OP.add, ...hsum(acc), OP.f32Store, ...memarg];
  const code = [
    OP.block, OP.void,
    OP.loop, OP.void,
    ...get(12), ...get(5), OP.geS, OP.brIf, 1,
    ...get(9), ...get(11), OP.gtS, OP.brIf, 1,
    // ci = coef + phase * taps * 4; end = ci + taps * 4; off = pos * 4
    ...get(0), ...get(10), ...get(6), OP.mul, ...i32(2), OP.shl, OP.add, ...set(13),
    ...get(13), ...get(6), ...i32(2), OP.shl, OP.add, ...set(15),
    ...get(9), ...i32(2), OP.shl, ...set(14),
    ...zero, ...set(16), ...zero, ...set(17),
    OP.loop, OP.void,
    ...get(13), ...simd(SIMD.load, ...memarg), ...set(18),
    ...macc(16, 1), ...macc(17, 2),
    ...get(14), ...i32(16), OP.add, ...set(14),
    ...get(13), ...i32(16), OP.add, OP.tee, 13, ...get(15), OP.ltU, OP.brIf, 0,
    OP.end,
    ...store(3, 16), ...store(4, 17),
    ...get(12), ...i32(1), OP.add, ...set(12),
    // phase += step; if (phase >= phases) { pos += phase / phases; phase %= phases }
    ...get(10), ...get(8), OP.add, ...set(10),
    ...get(10), ...get(7), OP.geU, 0x04, OP.void,
    ...get(9), ...get(10), ...get(7), OP.divU, OP.add, ...set(9),
    ...get(10), ...get(7), OP.remU, ...set(10),
    OP.end,
    OP.br, 0,
    OP.end,
    OP.end,
    ...i32(0), ...get(9), OP.i32Store, ...memarg,
    ...i32(4), ...get(10), OP.i32Store, ...memarg,
    ...get(12),
    OP.end,
  ];
  const locals = [2, 4, 0x7f, 3, 0x7b]; // 4 x i32, 3 x v128
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

/** The module's bytes (exported for its test). */
export function simdKernelBytes(): Uint8Array {
  return oneFunctionModule(new Array<number>(12).fill(WASM_TYPE.i32), [WASM_TYPE.i32], body());
}

/** A kernel with its own memory of `bytes` (rounded up to 64 KiB pages), or null without wasm SIMD. */
export const simdKernel = kernelLoader<SimdRun>(simdKernelBytes);
