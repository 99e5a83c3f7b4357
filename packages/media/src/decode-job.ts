// The message protocol between TrackDecoder (main thread) and its worker, and the worker-side job
// handler. Kept apart from the worker entry so tests can wrap the handler in their own worker.
import { decodeToPcm, measureTrack, type DecodedTrack, type DecodeHooks, type DecodeOptions, type DecodeProgress, type TrackMeasurement } from './decode-to-pcm.js';
import type { ThreadPriority } from './thread-priority.js';
import { TrackError, type TrackErrorTransfer } from './track-error.js';

export type JobKind = 'decode' | 'measure';

export interface JobRequest {
  type: 'job';
  id: number;
  kind: JobKind;
  input: string | Uint8Array;
  opts: DecodeOptions;
}

export type JobReply =
  | { type: 'progress'; id: number; progress: DecodeProgress }
  | { type: 'done'; id: number; result: DecodedTrack | TrackMeasurement }
  | { type: 'error'; id: number; error: TrackErrorTransfer }
  /** Sent once by a worker after setting its thread's priority. */
  | ({ type: 'thread' } & ThreadPriority);

function isJobRequest(m: unknown): m is JobRequest {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return r['type'] === 'job' && typeof r['id'] === 'number' && (r['kind'] === 'decode' || r['kind'] === 'measure')
    && (typeof r['input'] === 'string' || r['input'] instanceof Uint8Array) && typeof r['opts'] === 'object';
}

/** The worker's collections: a full one now and then, a young one after every chunk (DecodeHooks). */
export interface JobGc {
  full?: (() => void) | undefined;
  young?: (() => void) | undefined;
}

/** Runs one job and posts its progress and outcome; never throws. */
export async function handleJob(message: unknown, post: (reply: JobReply) => void, gc: JobGc = {}): Promise<void> {
  if (!isJobRequest(message)) return;
  const { id } = message;
  const onProgress = (progress: DecodeProgress): void => post({ type: 'progress', id, progress });
  const hooks: DecodeHooks = { onProgress };
  if (gc.full !== undefined) hooks.gcHint = gc.full;
  if (gc.young !== undefined) hooks.chunkGcHint = gc.young;
  try {
    const result = message.kind === 'decode'
      ? await decodeToPcm(message.input, message.opts ?? {}, hooks)
      : await measureTrack(message.input, hooks);
    post({ type: 'done', id, result });
  } catch (err) {
    post({ type: 'error', id, error: TrackError.wrap(err, 'corrupt').toTransfer() });
  }
}
