// FrameResampler's hot loop (frame-resampler.ts) as a tiny WebAssembly module: the same arithmetic
// in float64, operation for operation, so its output is bit-identical to the JS loop (wasm has no
// fused multiply-add and rounds like JS). Both channels share one f64x2 accumulator, two taps'
// coefficients are interpolated per SIMD operation, and two output frames are computed side by
// side (each frame's sum is a chain of 16 dependent adds: two chains keep the CPU busy while one
// waits). The engine thread spent ~20 % of its time in the JS loop (issue #18). Assembled here
// from its opcodes (wasm binary format, SIMD as standardised): no toolchain. Without wasm SIMD,
// `frameResamplerKernel()` is null and the JS loop runs.
//
// Why it is bit-identical although it has no `pf === 0` branch: with pf = 0 the interpolation
// c0 + (c1 - c0) * 0 is c0 up to the sign of a zero, and a zero coefficient's sign cannot reach the
// sum (it starts at +0, and x + (+-0) is x for x != 0, +0 for x = +0).
import { kernelLoader, oneFunctionModule, uleb, WASM_TYPE, type WasmKernel } from '@jaudiosync/media/wasm-module';

/**
 * run(table, src, out, frames, taps, half, phases, pos, ratio) -> the position after the last frame.
 * Byte addresses into the kernel's memory: `table` the phase table as float64 ((phases + 1) * taps
 * values, exactly the float32 table widened), `src` interleaved stereo float32 from source frame 0,
 * `out` interleaved stereo float32.
 */
export type FrameKernelRun = (table: number, src: number, out: number, frames: number, taps: number, half: number, phases: number, pos: number, ratio: number) => number;

export type FrameKernel = WasmKernel<FrameKernelRun>;

const T = { ...WASM_TYPE, void: 0x40 } as const;
const OP = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d,
  get: 0x20, set: 0x21, tee: 0x22, i32Const: 0x41, f64Const: 0x44,
  i32LtS: 0x48, i32GtS: 0x4a, i32LtU: 0x49,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32Shl: 0x74,
  f64Floor: 0x9c, f64Add: 0xa0, f64Sub: 0xa1, f64Mul: 0xa2,
  i32TruncF64S: 0xaa, f64ConvertI32S: 0xb7, f32DemoteF64: 0xb6, f32Store: 0x38, simd: 0xfd,
} as const;
const SIMD = {
  load: 0x00, const: 0x0c, shuffle: 0x0d, f64Splat: 0x14, f64Extract: 0x21, load64Zero: 0x5d, promoteLow: 0x5f,
  f64Add: 0xf0, f64Sub: 0xf1, f64Mul: 0xf2,
} as const;

function f64Bytes(v: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return [...b];
}

const get = (i: number): number[] => [OP.get, i];
const set = (i: number): number[] => [OP.set, i];
const i32 = (v: number): number[] => [OP.i32Const, v]; // small non-negative constants (< 64)
const simd = (op: number, ...rest: number[]): number[] => [OP.simd, ...uleb(op), ...rest];
/** align 2^2 (float32) / 2^3 (float64), offset 0 */
const memarg32 = [2, 0];
const memarg64 = [3, 0];
/** The two float32 at an address, as float64 (exact). */
const loadPair32 = (addr: number[]): number[] => [...addr, ...simd(SIMD.load64Zero, ...memarg32), ...simd(SIMD.promoteLow)];
const loadPair64 = (addr: number[]): number[] => [...addr, ...simd(SIMD.load, ...memarg64)];
/** Lane 0 or 1 of local `v` (f64x2) in both lanes. */
const dup = (v: number, lane: 0 | 1): number[] => {
  const b = Array.from({ length: 8 }, (_, i) => lane * 8 + i);
  return [...get(v), ...get(v), ...simd(SIMD.shuffle, ...b, ...b)];
};

// Parameters: 0 table, 1 src, 2 out, 3 frames, 4 taps, 5 half, 6 phases (i32); 7 pos, 8 ratio (f64).
const P = { table: 0, src: 1, out: 2, frames: 3, taps: 4, half: 5, phases: 6, pos: 7, ratio: 8 } as const;
// Locals: i32 9 k, 10 j (byte offset in a table row), 11 rowBytes, 12-13 tb (table row address per
// frame slot), 14-15 sb (first source frame's address per slot); f64 16 i, 17 ph;
// v128 18 c, 19-20 pfv (pf in both lanes per slot), 21-22 acc per slot.
const L = { k: 9, j: 10, rowBytes: 11, tb: 12, sb: 14, i: 16, ph: 17, c: 18, pfv: 19, acc: 21 } as const;
const LOCALS = [3, 7, T.i32, 2, T.f64, 5, T.v128];

/** Renders `slots` frames (1 or 2) from frame k on, advancing pos and k. */
function frames(slots: 1 | 2): number[] {
  const code: number[] = [];
  for (let f = 0; f < slots; f++) {
    code.push(
      // i = floor(p); ph = (p - i) * phases; pf = ph - floor(ph)
      ...get(P.pos), OP.f64Floor, ...set(L.i),
      ...get(P.pos), ...get(L.i), OP.f64Sub, ...get(P.phases), OP.f64ConvertI32S, OP.f64Mul, ...set(L.ph),
      ...get(L.ph), ...get(L.ph), OP.f64Floor, OP.f64Sub, ...simd(SIMD.f64Splat), ...set(L.pfv + f),
      // tb = table + floor(ph) * rowBytes; sb = src + (i - half + 1) * 8
      ...get(P.table), ...get(L.ph), OP.f64Floor, OP.i32TruncF64S, ...get(L.rowBytes), OP.i32Mul, OP.i32Add, ...set(L.tb + f),
      ...get(P.src), ...get(L.i), OP.i32TruncF64S, ...get(P.half), OP.i32Sub, ...i32(1), OP.i32Add, ...i32(3), OP.i32Shl, OP.i32Add, ...set(L.sb + f),
      ...simd(SIMD.const, ...new Array<number>(16).fill(0)), ...set(L.acc + f),
      ...get(P.pos), ...get(P.ratio), OP.f64Add, ...set(P.pos),
    );
  }
  // Two taps per pass: j steps over 16 bytes of a float64 table row and 16 bytes of source.
  code.push(...i32(0), ...set(L.j), OP.loop, T.void);
  for (let f = 0; f < slots; f++) {
    const c0 = loadPair64([...get(L.tb + f), ...get(L.j), OP.i32Add]);
    const c1 = loadPair64([...get(L.tb + f), ...get(L.rowBytes), OP.i32Add, ...get(L.j), OP.i32Add]);
    const src = (lane: 0 | 1): number[] => loadPair32([...get(L.sb + f), ...get(L.j), OP.i32Add, ...(lane === 1 ? [...i32(8), OP.i32Add] : [])]);
    code.push(
      // c = c0 + (c1 - c0) * pf, as the JS loop computes it
      ...c0, ...set(L.c),
      ...get(L.c), ...c1, ...get(L.c), ...simd(SIMD.f64Sub), ...get(L.pfv + f), ...simd(SIMD.f64Mul), ...simd(SIMD.f64Add), ...set(L.c),
      // acc += c[tap] * (left, right), tap by tap
      ...get(L.acc + f), ...dup(L.c, 0), ...src(0), ...simd(SIMD.f64Mul), ...simd(SIMD.f64Add),
      ...dup(L.c, 1), ...src(1), ...simd(SIMD.f64Mul), ...simd(SIMD.f64Add), ...set(L.acc + f),
    );
  }
  code.push(...get(L.j), ...i32(16), OP.i32Add, OP.tee, L.j, ...get(L.rowBytes), OP.i32LtU, OP.brIf, 0, OP.end);
  for (let f = 0; f < slots; f++) {
    for (const lane of [0, 1] as const) {
      code.push(
        ...get(P.out), ...get(L.k), ...i32(3), OP.i32Shl, OP.i32Add,
        ...get(L.acc + f), ...simd(SIMD.f64Extract, lane), OP.f32DemoteF64, OP.f32Store, 2, f * 8 + lane * 4,
      );
    }
  }
  code.push(...get(L.k), ...i32(slots), OP.i32Add, ...set(L.k));
  return code;
}

function body(): number[] {
  const code = [
    ...get(P.taps), ...i32(3), OP.i32Shl, ...set(L.rowBytes),
    // pairs of frames while two are left
    OP.block, T.void, OP.loop, T.void,
    ...get(L.k), ...i32(2), OP.i32Add, ...get(P.frames), OP.i32GtS, OP.brIf, 1,
    ...frames(2),
    OP.br, 0,
    OP.end, OP.end,
    // the last one
    ...get(L.k), ...get(P.frames), OP.i32LtS, OP.if, T.void,
    ...frames(1),
    OP.end,
    ...get(P.pos),
    OP.end,
  ];
  return [...uleb(LOCALS.length + code.length), ...LOCALS, ...code];
}

/** The module's bytes (exported for its test). */
export function frameKernelBytes(): Uint8Array {
  return oneFunctionModule([...new Array<number>(7).fill(T.i32), T.f64, T.f64], [T.f64], body());
}

/** A kernel with its own memory of at least `bytes`, or null without wasm SIMD. */
export const frameResamplerKernel = kernelLoader<FrameKernelRun>(frameKernelBytes);
