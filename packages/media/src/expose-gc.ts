// globalThis.gc without starting node with --expose-gc: the flag only affects contexts created
// after it is set, so a throwaway context hands the function over. V8 does not promise that late
// flag changes work; callers treat undefined as "no forced collections" (memory is freed later).
// Used by the decoder worker (peak RSS of a decode) and the member (a dropped track's PCM).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: { type: 'minor' | 'major' }) => void;

/** Per thread (module state is per isolate): one throwaway context, however many callers. */
let cached: GcFunction | null | undefined;

function exposedGc(): GcFunction | undefined {
  if (cached !== undefined) return cached ?? undefined;
  const exposed: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') {
    cached = exposed as GcFunction;
    return cached;
  }
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    cached = typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}

/** A function running a full collection of the calling thread's isolate, or undefined. */
export function exposeGc(): (() => void) | undefined {
  const gc = exposedGc();
  return gc === undefined ? undefined : () => void gc();
}

/** A function running a young-generation collection (a scavenge, ~1 ms) of the calling thread's
 *  isolate, or undefined: it frees the backing stores of short-lived ArrayBuffers, such as a
 *  decoder's per-chunk output, without a full collection's cost (~9 ms in the decode worker). */
export function exposeMinorGc(): (() => void) | undefined {
  const gc = exposedGc();
  return gc === undefined ? undefined : () => void gc({ type: 'minor' });
}
