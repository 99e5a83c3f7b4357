// Lowers the scheduling priority of the calling OS thread only (Linux: a nice value is per thread),
// so a decode worker yields the CPU to the audio engine's thread of the same process.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Highest nice value Linux accepts (lowest priority). */
export const MAX_NICE = 19;

export interface ThreadPriority {
  /** Kernel thread id (the `<tid>` of /proc/<pid>/task/<tid>), or 0 if unknown. */
  tid: number;
  /** The thread's nice value after the attempt (NaN if it could not be read). */
  nice: number;
  /** Why the nice value could not be set (undefined on success). */
  error?: string;
}

/** The calling thread's kernel id from /proc/thread-self (-> "<pid>/task/<tid>"); 0 if unavailable. */
export function currentThreadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}

/**
 * Sets the calling thread's nice value (raising it needs no privilege). Never throws: without
 * /proc (not Linux) nothing changes and `error` says why.
 */
export function lowerThreadPriority(nice: number): ThreadPriority {
  if (!Number.isInteger(nice) || nice < 0 || nice > MAX_NICE) return { tid: 0, nice: NaN, error: `nice must be an integer in 0..${MAX_NICE}` };
  const tid = currentThreadId();
  if (tid === 0) return { tid, nice: NaN, error: 'no /proc/thread-self (not Linux?)' };
  try {
    // setpriority(PRIO_PROCESS, tid) on Linux changes that one thread, not the whole process.
    setPriority(tid, nice);
    return { tid, nice: getPriority(tid) };
  } catch (err) {
    let now = NaN;
    try {
      now = getPriority(tid);
    } catch {
      // leave NaN
    }
    return { tid, nice: now, error: (err as Error).message };
  }
}
