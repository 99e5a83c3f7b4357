// Worker-thread entry of TrackDecoder: answers decode/measure jobs posted by the main thread, and
// runs a full GC now and then (see DecodeHooks.gcHint) to keep the peak RSS of a decode low.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { handleJob, type JobReply } from './decode-job.js';

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
  const gcHint = exposeGc();
  const post = (reply: JobReply): void => port.postMessage(reply);
  port.on('message', (m: unknown) => void handleJob(m, post, gcHint));
}
