// A full garbage collection on demand, used right after a track's PCM is dropped. A track is a
// SharedArrayBuffer of up to ~58 MiB per 5 minutes, referenced from the main thread and the engine
// worker; its memory returns to the system only when both isolates have collected their handle,
// and neither allocates enough JS to collect soon on its own (measured with 5-minute tracks: the
// finished one stayed resident, 229 MiB; 156 MiB with this). One collection per track change
// costs 5-7 ms of the engine thread (between two ticks, the ring 100+ ms ahead of the DAC) and
// 11-18 ms of the main thread, which is not real-time (measured on the 2-core test VM).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | null | undefined;

function resolveGc(): (() => void) | null {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as () => void;
  try {
    // The flag makes V8 install gc() in contexts created from now on; a throwaway context hands it
    // over. V8 does not promise that late flag changes work: if this fails, memory is freed later.
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    return typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    return null;
  }
}

let scheduled = false;

/**
 * One full collection once the current work is done (several tracks dropped together cost one).
 * The caller must have dropped its references by then.
 */
export function scheduleGarbageCollection(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    collectGarbage();
  }).unref();
}

/** Runs a full collection of this thread's isolate; false where that is not possible. */
export function collectGarbage(): boolean {
  if (gcFn === undefined) gcFn = resolveGc();
  if (gcFn === null) return false;
  gcFn();
  return true;
}
