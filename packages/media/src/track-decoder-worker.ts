// Worker-thread entry of TrackDecoder: lowers its own thread's priority (workerData.nice) so the
// audio engine always wins the CPU, answers decode/measure jobs posted by the main thread, and runs
// a full GC now and then (see DecodeHooks.gcHint) to keep the peak RSS of a decode low.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { handleJob, type JobReply } from './decode-job.js';
import { lowerThreadPriority } from './thread-priority.js';

/** globalThis.gc without starting node with --expose-gc (the flag only affects new contexts). */
function exposeGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => void (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

const port = parentPort;
if (port !== null) {
  const nice = (workerData as { nice?: unknown } | null)?.nice;
  if (typeof nice === 'number' && nice > 0) port.postMessage({ type: 'thread', ...lowerThreadPriority(nice) } satisfies JobReply);
  const gcHint = exposeGc();
  const post = (reply: JobReply): void => port.postMessage(reply);
  port.on('message', (m: unknown) => void handleJob(m, post, gcHint));
}
