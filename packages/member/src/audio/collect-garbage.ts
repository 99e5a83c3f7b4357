// A full garbage collection on demand, used right after a track's PCM is dropped. A track is a
// SharedArrayBuffer of up to ~58 MiB per 5 minutes, referenced from the main thread and the engine
// worker; its memory returns to the system only when both isolates have collected their handle,
// and neither allocates enough JS to collect soon on its own (measured with 5-minute tracks: the
// finished one stayed resident, 229 MiB; 156 MiB with this). One collection per track change
// costs 5-7 ms of the engine thread (between two ticks, the ring 100+ ms ahead of the DAC) and
// 11-18 ms of the main thread, which is not real-time (measured on the 2-core test VM).
import { exposeGc } from '@jaudiosync/media/expose-gc';

let gcFn: (() => void) | null | undefined;

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
  if (gcFn === undefined) gcFn = exposeGc() ?? null;
  if (gcFn === null) return false;
  gcFn();
  return true;
}
