// glibc malloc settings for the member process, applied once at start before its worker threads
// exist. A member frees a multi-megabyte PCM buffer per track; with glibc's defaults those frees
// fragment the heaps and RSS only grows (looping the example playlist: 93 -> 171 MiB in 6 min;
// with these settings 114-127 MiB). An operator's own MALLOC_* / GLIBC_TUNABLES settings win.
import { tuneMalloc, type MallocTuning } from '@jaudiosync/portaudio';

/** At most this many malloc arenas (glibc default: 8 per core). */
export const MALLOC_ARENA_MAX = 2;
/** Blocks from this size up are mmapped and returned to the kernel when freed (fixed, not dynamic). */
export const MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024;

export interface MemoryTuning {
  /** what was asked for (0 = left to the environment) */
  arenaMax: number;
  mmapThresholdBytes: number;
  result: MallocTuning;
}

/** Applies the member's malloc settings unless the environment already sets them. */
export function tuneMemory(env: NodeJS.ProcessEnv = process.env): MemoryTuning {
  const tunables = env['GLIBC_TUNABLES'] ?? '';
  const arenaMax = env['MALLOC_ARENA_MAX'] !== undefined || tunables.includes('malloc.arena_max') ? 0 : MALLOC_ARENA_MAX;
  const mmapThresholdBytes = env['MALLOC_MMAP_THRESHOLD_'] !== undefined || tunables.includes('malloc.mmap_threshold') ? 0 : MALLOC_MMAP_THRESHOLD_BYTES;
  return { arenaMax, mmapThresholdBytes, result: tuneMalloc(arenaMax, mmapThresholdBytes) };
}
