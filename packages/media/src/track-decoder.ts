// A small pool of decode worker threads: decode() and measure() never block the caller's event loop;
// failures come back as rejected promises (TrackError, JAS_ERR_TRACK); a crashed worker is replaced.
// Workers run at a low thread priority (nice) so decoding never takes the CPU from the audio engine.
import { Worker } from 'node:worker_threads';
import type { JobKind, JobReply, JobRequest } from './decode-job.js';
import { MAX_NICE, type ThreadPriority } from './thread-priority.js';
import type { DecodedTrack, DecodeHooks, DecodeOptions, TrackInput, TrackMeasurement } from './decode-to-pcm.js';
import { trackName } from './track-name.js';
import { TrackError } from './track-error.js';

/** One worker: a Pi 3A+ has 512 MB, and one decode at a time keeps the peak memory bounded. */
export const DEFAULT_WORKERS = 1;
/** JS heap cap per worker: a runaway decode dies alone (and is replaced) instead of the process. */
export const WORKER_HEAP_MB = 256;
/** Young generation of a worker (V8 sizes it as three semi-spaces: 1 MB each). A decode collects
 *  it after every chunk (DecodeHooks.chunkGcHint), so a larger one would only hold garbage: peak
 *  RSS of a 5-minute decode 2-3 MB lower than V8's default (up to 16 MB semi-spaces), same CPU. */
export const WORKER_YOUNG_GENERATION_MB = 3;
/** An idle worker is stopped after this long: its isolate and wasm decoders hold ~40 MB, which a
 *  512 MB member needs back between tracks; a respawn costs ~50 ms. */
export const DEFAULT_IDLE_MS = 10_000;
/** Decode threads get the lowest priority: the audio engine's thread (nice 0) must never wait for
 *  them; decoding has seconds of slack, the engine ~100 ms. */
export const DEFAULT_DECODE_NICE = MAX_NICE;
const WORKER_URL = new URL('./track-decoder-worker.js', import.meta.url);

export interface TrackDecoderOptions {
  workers?: number;
  /** Worker entry to run (tests inject one that can crash on demand). */
  workerUrl?: URL;
  /** Stop idle workers after this many ms (default DEFAULT_IDLE_MS; 0 = never). */
  idleMs?: number;
  /** Nice value of the worker threads, 0..19 (default DEFAULT_DECODE_NICE; 0 = leave unchanged). */
  nice?: number;
}

interface Job {
  id: number;
  kind: JobKind;
  input: TrackInput;
  opts: DecodeOptions;
  hooks: DecodeHooks;
  resolve: (r: DecodedTrack | TrackMeasurement) => void;
  reject: (e: TrackError) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  dead: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  thread: ThreadPriority | undefined;
}

export class TrackDecoder {
  private readonly size: number;
  private readonly workerUrl: URL;
  private readonly idleMs: number;
  private readonly nice: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  /** Workers that crashed and were replaced (for state reports and tests). */
  crashes = 0;

  constructor(options: TrackDecoderOptions = {}) {
    const n = options.workers ?? DEFAULT_WORKERS;
    if (!Number.isInteger(n) || n < 1 || n > 16) throw new RangeError(`workers must be an integer in 1..16, got ${n}`);
    this.size = n;
    this.workerUrl = options.workerUrl ?? WORKER_URL;
    const idle = options.idleMs ?? DEFAULT_IDLE_MS;
    if (!Number.isFinite(idle) || idle < 0) throw new RangeError(`idleMs must be >= 0, got ${idle}`);
    this.idleMs = idle;
    const nice = options.nice ?? DEFAULT_DECODE_NICE;
    if (!Number.isInteger(nice) || nice < 0 || nice > MAX_NICE) throw new RangeError(`nice must be an integer in 0..${MAX_NICE}, got ${nice}`);
    this.nice = nice;
  }

  /** Kernel thread id and nice value of each live worker (once it has reported them). */
  threads(): ThreadPriority[] {
    return this.slots.flatMap((s) => (s.thread === undefined ? [] : [{ ...s.thread }]));
  }

  /** Worker threads currently alive (idle ones stop after idleMs). */
  get liveWorkers(): number {
    return this.slots.length;
  }

  /** Decodes a path or encoded bytes to int16 stereo at opts.outputRate (default 48000). */
  decode(input: TrackInput, opts: DecodeOptions = {}, hooks: DecodeHooks = {}): Promise<DecodedTrack> {
    return this.submit('decode', input, opts, hooks) as Promise<DecodedTrack>;
  }

  /** Decodes without keeping audio: exact source length (the leader's frame counts), loudness, tags. */
  measure(input: TrackInput, hooks: DecodeHooks = {}): Promise<TrackMeasurement> {
    return this.submit('measure', input, {}, hooks) as Promise<TrackMeasurement>;
  }

  /** Rejects pending jobs (kind 'closed') and stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = (): TrackError => new TrackError('closed', 'decoder closed');
    for (const job of this.queue.splice(0)) job.reject(err());
    const stopping: Array<Promise<number>> = [];
    for (const slot of this.slots.splice(0)) {
      slot.dead = true;
      clearTimeout(slot.idleTimer);
      slot.job?.reject(err());
      slot.job = undefined;
      stopping.push(slot.worker.terminate());
    }
    await Promise.allSettled(stopping);
  }

  private submit(kind: JobKind, input: TrackInput, opts: DecodeOptions, hooks: DecodeHooks): Promise<DecodedTrack | TrackMeasurement> {
    return new Promise((resolve, reject) => {
      const track = typeof input === 'string' || input instanceof Uint8Array ? trackName(input) : 'input';
      if (this.closed) return reject(new TrackError('closed', 'decoder closed', track));
      if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
        return reject(new TrackError('invalid-argument', 'input must be a path or a Uint8Array', track));
      }
      if (typeof opts !== 'object' || opts === null) {
        return reject(new TrackError('invalid-argument', 'options must be an object', track));
      }
      const signal = hooks.signal;
      if (signal?.aborted) return reject(new TrackError('aborted', 'decode aborted', track));
      const job: Job = { id: this.nextId++, kind, input, opts: { ...opts }, hooks, resolve, reject };
      signal?.addEventListener('abort', () => this.abort(job), { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === undefined && !s.dead);
      if (slot === undefined && this.slots.length < this.size) slot = this.spawn();
      if (slot === undefined) return;
      const job = this.queue.shift()!;
      slot.job = job;
      clearTimeout(slot.idleTimer);
      slot.idleTimer = undefined;
      // The bytes are copied once into a buffer we own and then moved (not copied again) to the worker.
      const input = typeof job.input === 'string' ? job.input : new Uint8Array(job.input);
      const msg: JobRequest = { type: 'job', id: job.id, kind: job.kind, input, opts: job.opts };
      slot.worker.ref();
      slot.worker.postMessage(msg, typeof input === 'string' ? [] : [input.buffer as ArrayBuffer]);
    }
  }

  /** Drops a queued job, or stops the worker running it (a fresh one is spawned for the next job). */
  private abort(job: Job): void {
    const err = new TrackError('aborted', 'decode aborted', trackName(job.input));
    const q = this.queue.indexOf(job);
    if (q >= 0) {
      this.queue.splice(q, 1);
      job.reject(err);
      return;
    }
    const slot = this.slots.find((s) => s.job === job);
    if (slot === undefined) return; // already settled
    slot.job = undefined;
    this.retire(slot);
    job.reject(err);
    this.pump();
  }

  private spawn(): Slot {
    const worker = new Worker(this.workerUrl, { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }, workerData: { nice: this.nice } });
    const slot: Slot = { worker, job: undefined, dead: false, idleTimer: undefined, thread: undefined };
    worker.unref(); // an idle pool must not keep the process alive
    worker.on('message', (m: JobReply) => this.onReply(slot, m));
    worker.on('error', (err) => this.onCrash(slot, err.message));
    worker.on('exit', (code) => this.onCrash(slot, `worker exited with code ${code}`));
    worker.on('messageerror', (err) => this.onCrash(slot, `message could not be deserialized: ${err.message}`));
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, m: JobReply): void {
    if (m.type === 'thread') {
      slot.thread = { tid: m.tid, nice: m.nice, ...(m.error === undefined ? {} : { error: m.error }) };
      return;
    }
    const job = slot.job;
    if (slot.dead || job === undefined || m.id !== job.id) return;
    if (m.type === 'progress') {
      try {
        job.hooks.onProgress?.(m.progress);
      } catch {
        // A throwing progress callback must not break the decode.
      }
      return;
    }
    slot.job = undefined;
    slot.worker.unref();
    if (m.type === 'done') job.resolve(m.result);
    else job.reject(TrackError.fromTransfer(m.error));
    this.pump();
    if (slot.job === undefined && this.idleMs > 0) {
      slot.idleTimer = setTimeout(() => this.retire(slot), this.idleMs);
      slot.idleTimer.unref();
    }
  }

  private retire(slot: Slot): void {
    if (slot.dead || slot.job !== undefined) return;
    clearTimeout(slot.idleTimer);
    slot.dead = true;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
  }

  private onCrash(slot: Slot, why: string): void {
    if (slot.dead) return;
    slot.dead = true;
    clearTimeout(slot.idleTimer);
    void slot.worker.terminate();
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    if (this.closed) return;
    this.crashes++;
    const job = slot.job;
    slot.job = undefined;
    job?.reject(new TrackError('crashed', `decode worker crashed: ${why}`, trackName(job.input)));
    this.pump(); // spawns a replacement if work is waiting
  }
}
