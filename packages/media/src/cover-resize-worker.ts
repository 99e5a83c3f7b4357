// Runs phoneSizedCover off the caller's thread: decoding a large cover takes 0.1-1 s here and
// several on a Pi, which a leader's event loop (WebSocket fan-out, REST) must not wait for. The
// image codecs (jpeg-js, pngjs) are imported by the worker only: the caller's thread, a leader's
// main thread for its whole life, does not hold their code.
import { parentPort, Worker, workerData } from 'node:worker_threads';
import type { SizedCover } from './cover-resize.js';
import type { ArtworkMime } from './track-tags.js';

const MARKER = 'jaudiosync-cover-resize';
/** A cover that takes longer than this is given up (and the worker ended). */
export const COVER_RESIZE_TIMEOUT_MS = 30_000;

interface Job { marker: typeof MARKER; data: Uint8Array; mime: ArtworkMime }
type Reply = { ok: true; cover: SizedCover } | { ok: false; error: string };

/** phoneSizedCover in a worker thread of bounded heap; rejects on a bad picture or a timeout. */
export function resizeCover(data: Uint8Array, mime: ArtworkMime, timeoutMs = COVER_RESIZE_TIMEOUT_MS): Promise<SizedCover> {
  return new Promise((resolve, reject) => {
    const job: Job = { marker: MARKER, data, mime };
    const worker = new Worker(new URL('./cover-resize-worker.js', import.meta.url), {
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 16 },
    });
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void worker.terminate();
      f();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`cover resize took over ${timeoutMs} ms`))), timeoutMs);
    worker.once('message', (r: Reply) => finish(() => (r.ok ? resolve(r.cover) : reject(new Error(r.error)))));
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (code) => finish(() => reject(new Error(`cover resize worker exited (${code})`))));
  });
}

const job = workerData as Job | undefined;
if (parentPort !== null && job?.marker === MARKER) {
  let reply: Reply;
  try {
    const { phoneSizedCover } = await import('./cover-resize.js');
    reply = { ok: true, cover: phoneSizedCover(job.data, job.mime) };
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort.postMessage(reply);
}
