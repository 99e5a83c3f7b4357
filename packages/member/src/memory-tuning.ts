// glibc malloc settings for the member process, applied once at start before its worker threads
// exist. A member frees a multi-megabyte PCM buffer per track; with glibc's defaults those frees
// fragment the heaps and RSS only grows (looping the example playlist: 93 -> 171 MiB in 6 min;
// with these settings 114-127 MiB). An operator's own MALLOC_* / GLIBC_TUNABLES settings win.
import { startMallocTrim as startPeriodicTrim, trimMalloc, tuneMallocUnlessSet, type MemoryTuning } from '@jaudiosync/portaudio';

export type { MemoryTuning };

/** At most this many malloc arenas (glibc default: 8 per core). */
export const MALLOC_ARENA_MAX = 2;
/** Blocks from this size up are mmapped and returned to the kernel when freed (fixed, not dynamic). */
export const MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024;

/** Applies the member's malloc settings unless the environment already sets them. */
export function tuneMemory(env: NodeJS.ProcessEnv = process.env): MemoryTuning {
  return tuneMallocUnlessSet(MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_BYTES, env);
}

/**
 * How often the member hands glibc's free heap pages back to the kernel. glibc returns only the
 * top of a heap by itself; a decode leaves tens of MB free below live blocks (bench:sync with
 * 5-minute tracks: 32 of the main heap's 40 MiB). A trim costs ~1 ms per 40 MB of heap.
 */
export const MALLOC_TRIM_MS = 5_000;

/** malloc_trim(0) through our addon: true/false whether pages were released, or why it could not run. */
export function trimMemory(): boolean | string {
  return trimMalloc();
}

/** Starts the member's periodic trim (`startMallocTrim` of @jaudiosync/portaudio); returns the stop function. */
export function startMallocTrim(onUnavailable: (reason: string) => void, everyMs = MALLOC_TRIM_MS): () => void {
  return startPeriodicTrim(onUnavailable, everyMs, trimMemory);
}
