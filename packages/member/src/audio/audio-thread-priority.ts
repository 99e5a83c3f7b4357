// Scheduling priority of the member's audio threads (the engine worker that refills the PCM ring,
// the capture sink's simulated DAC). A refill that waits for the CPU longer than the ring holds is
// an audible underrun, and on a busy host (a browser starting, decoding, a loaded test machine)
// normal threads can wait 100 ms and more. So these threads ask for SCHED_FIFO where the system
// allows it (root, CAP_SYS_NICE, or RLIMIT_RTPRIO as systemd's LimitRTPRIO= grants), else for a
// lower nice value (RLIMIT_NICE), else they stay as they are and say why.
import { getPriority, setPriority } from 'node:os';
import { currentThreadId, type ThreadPriority } from '@jaudiosync/media/thread-priority';
import { setThreadRealtime } from '@jaudiosync/portaudio';

/** The calling thread's kernel id (0 if unknown): what a worker posts so the main thread can raise it. */
export const currentKernelThreadId = currentThreadId;

/** SCHED_FIFO priority of the engine worker: above every normal thread, below audio servers (JACK ~70+). */
export const ENGINE_RT_PRIORITY = 10;
/** The capture sink stands in for a DAC interrupt: one above the engine that feeds it. */
export const CAPTURE_SINK_RT_PRIORITY = 11;
/** Without real-time permission, this nice value (needs RLIMIT_NICE or CAP_SYS_NICE). */
export const AUDIO_FALLBACK_NICE = -15;

/** tid and nice as for a decode thread; `error` says why real-time (and then the nice value) was not granted. */
export interface AudioThreadPriority extends ThreadPriority {
  /** What the thread runs with now. */
  scheduling: 'fifo' | 'nice' | 'unchanged';
  /** SCHED_FIFO priority when scheduling is 'fifo'. */
  rtPriority?: number;
}

function niceOf(tid: number): number {
  try {
    return getPriority(tid);
  } catch {
    return Number.NaN;
  }
}

/**
 * Raises one thread of this process: SCHED_FIFO at `rtPriority`, else nice `fallbackNice` (only if
 * that is lower than what it has). Never throws. `realtime: false` skips SCHED_FIFO.
 */
export function raiseAudioThreadPriority(tid: number, rtPriority: number, options: { realtime?: boolean; fallbackNice?: number } = {}): AudioThreadPriority {
  if (!Number.isSafeInteger(tid) || tid <= 0) return { tid: 0, scheduling: 'unchanged', nice: Number.NaN, error: 'thread id unknown (no /proc/thread-self)' };
  const reasons: string[] = [];
  if (options.realtime !== false) {
    const err = setThreadRealtime(tid, rtPriority);
    if (err === null) return { tid, scheduling: 'fifo', rtPriority, nice: niceOf(tid) };
    reasons.push(err);
  } else reasons.push('real-time scheduling disabled');
  const want = options.fallbackNice ?? AUDIO_FALLBACK_NICE;
  const before = niceOf(tid);
  if (!(before <= want)) {
    try {
      // On Linux setpriority(PRIO_PROCESS, tid) changes that one thread.
      setPriority(tid, want);
      return { tid, scheduling: 'nice', nice: niceOf(tid), error: reasons.join('; ') };
    } catch (err) {
      reasons.push(`nice ${want}: ${(err as Error).message}`);
    }
  }
  return { tid, scheduling: 'unchanged', nice: before, error: reasons.join('; ') };
}

/** One line for the log: "tid 123: SCHED_FIFO 10" / "tid 123: nice -15 (why not FIFO)" / "tid 123: unchanged, nice 0 (why)". */
export function describeAudioThreadPriority(p: AudioThreadPriority): string {
  if (p.scheduling === 'fifo') return `tid ${p.tid}: SCHED_FIFO ${p.rtPriority ?? '?'}`;
  if (p.scheduling === 'nice') return `tid ${p.tid}: nice ${p.nice} (no real-time: ${p.error ?? '?'})`;
  return `tid ${p.tid}: unchanged, nice ${p.nice} (${p.error ?? '?'})`;
}
