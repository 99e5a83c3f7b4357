// globalThis.gc without starting node with --expose-gc: the flag only affects contexts created
// after it is set, so a throwaway context hands the function over. V8 does not promise that late
// flag changes work; callers treat undefined as "no forced collections" (memory is freed later).
// Used by the decoder worker (peak RSS of a decode) and the member (a dropped track's PCM).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A function running a full collection of the calling thread's isolate, or undefined. */
export function exposeGc(): (() => void) | undefined {
  const exposed: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return () => void (exposed as () => void)();
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => void (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}
