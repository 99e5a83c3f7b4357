// glibc malloc settings for the leader process, applied once at start before its worker threads
// exist (as the member does, packages/member/src/memory-tuning.ts). The leader frees many 64 KB
// file-read buffers while it serves tracks to every member, and its decode worker frees a whole
// track's samples after measuring it; with glibc's defaults (8 arenas per core, a dynamic mmap
// threshold) that freed memory stayed resident: 100 light members on loopback, 142 MB after the
// playlist went out; with these settings and LEADER_NODE_FLAGS 107 MB. An operator's own
// MALLOC_* / GLIBC_TUNABLES settings win. Without the PortAudio addon (a leader-only box without
// libportaudio) nothing is changed and the reason is logged.
import { startMallocTrim as startPeriodicTrim, trimMalloc, tuneMallocUnlessSet, type MemoryTuning } from '@jaudiosync/portaudio';

export type { MemoryTuning };

/** At most this many malloc arenas (glibc default: 8 per core). */
export const MALLOC_ARENA_MAX = 2;
/** Blocks from this size up are mmapped and returned to the kernel when freed: the 64 KB read
 *  buffers of the track streams included (fixed, not dynamic). */
export const MALLOC_MMAP_THRESHOLD_BYTES = 64 * 1024;

/** Applies the leader's malloc settings unless the environment already sets them. */
export function tuneMemory(env: NodeJS.ProcessEnv = process.env): MemoryTuning {
  return tuneMallocUnlessSet(MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_BYTES, env);
}

/**
 * How often the leader hands glibc's free heap pages back to the kernel. glibc returns only the top
 * of a heap by itself; the playlist's measuring pass (decode worker) and the track uploads leave
 * free pages below live blocks, mostly in the second arena the worker threads share: 100 light
 * members on loopback, 125 -> 110 MB RSS at one malloc_trim(0) after the playlist went out, and
 * 3-7 MB after each full collection since (docs/leader.md, "Memory"). The same period as the
 * member's. A trim takes 0.2-0.4 ms in steady play and 2-5 ms after a full collection freed much;
 * while the playlist was measured and sent out on the loaded test VM, 7-47 ms (the event loop
 * waits: commands are scheduled >= 250 ms ahead and one slow pong does not move the lead).
 */
export const MALLOC_TRIM_MS = 5_000;

/** Starts the leader's periodic trim (`startMallocTrim` of @jaudiosync/portaudio); returns the stop function. */
export function startMallocTrim(
  onUnavailable: (reason: string) => void,
  everyMs = MALLOC_TRIM_MS,
  trim: () => boolean | string = trimMalloc,
): () => void {
  return startPeriodicTrim(onUnavailable, everyMs, trim);
}
