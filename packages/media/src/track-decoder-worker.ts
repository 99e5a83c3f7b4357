// Worker-thread entry of TrackDecoder: lowers its own thread's priority (workerData.nice) so the
// audio engine always wins the CPU, answers decode/measure jobs posted by the main thread, and runs
// a full GC now and then and a young one after every chunk (DecodeHooks.gcHint, chunkGcHint) to
// keep the peak RSS of a decode low.
import { parentPort, workerData } from 'node:worker_threads';
import { handleJob, type JobReply } from './decode-job.js';
import { exposeGc, exposeMinorGc } from './expose-gc.js';
import { lowerThreadPriority } from './thread-priority.js';

const port = parentPort;
if (port !== null) {
  const nice = (workerData as { nice?: unknown } | null)?.nice;
  if (typeof nice === 'number' && nice > 0) port.postMessage({ type: 'thread', ...lowerThreadPriority(nice) } satisfies JobReply);
  const gc = { full: exposeGc(), young: exposeMinorGc() };
  const post = (reply: JobReply): void => port.postMessage(reply);
  port.on('message', (m: unknown) => void handleJob(m, post, gc));
}
