// What both hand-assembled wasm SIMD kernels share (the decoder's resampler, simd-kernel.ts, and
// the member engine's, member/src/audio/frame-resampler-kernel.ts): LEB128 numbers, the module
// around one exported function `run` that works on an imported memory, and compiling it once and
// instantiating it with a memory of its own. Each kernel keeps its own opcodes and body.

/** The part of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** Value type codes of the binary format. */
export const WASM_TYPE = { i32: 0x7f, f64: 0x7c, v128: 0x7b } as const;

/** An unsigned LEB128 number. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/**
 * A module importing `env.mem` (one memory) and exporting one function `run` of these parameter
 * and result types; `body` is its code entry (size, locals, code).
 */
export function oneFunctionModule(params: readonly number[], results: readonly number[], body: number[]): Uint8Array {
  const type = [1, 0x60, params.length, ...params, results.length, ...results];
  const imports = [1, ...name('env'), ...name('mem'), 0x02, 0x00, 1];
  const funcs = [1, 0];
  const exports = [1, ...name('run'), 0x00, 0];
  const code = [1, ...body];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, type), ...section(2, imports), ...section(3, funcs), ...section(7, exports), ...section(10, code),
  ]);
}

export interface WasmKernel<Run> {
  readonly memory: WasmMemory;
  readonly run: Run;
}

/**
 * A loader for one module: compiled on the first call (null for good if wasm or the module's
 * features, e.g. SIMD, are missing), then each call an instance with its own memory of at least
 * `bytes` (whole 64 KiB pages).
 */
export function kernelLoader<Run>(moduleBytes: () => Uint8Array): (bytes: number) => WasmKernel<Run> | null {
  let compiled: object | null | undefined;
  return (bytes) => {
    if (compiled === undefined) {
      const wasm = moduleBytes();
      compiled = wasmApi !== undefined && wasmApi.validate(wasm) ? new wasmApi.Module(wasm) : null;
    }
    if (compiled === null || wasmApi === undefined) return null;
    const memory = new wasmApi.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
    const instance = new wasmApi.Instance(compiled, { env: { mem: memory } });
    return { memory, run: instance.exports['run'] as Run };
  };
}
