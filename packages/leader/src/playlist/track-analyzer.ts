// Exact length of a track: decodes it once in a worker thread (decode-worker.ts) and returns the
// source frame count and rate. One file at a time (decoding peaks at ~270 MB for 5 minutes of MP3).
import { Worker } from 'node:worker_threads';

/** A file that takes longer than this to decode is treated as broken (357x realtime is typical). */
const DECODE_TIMEOUT_MS = 120_000;

export interface TrackAnalysis {
  sourceRate: number;
  sourceFrames: number;
  channels: number;
}

export interface TrackAnalyzer {
  analyze(path: string): Promise<TrackAnalysis>;
  close(): Promise<void>;
}

interface Reply { id: number; ok: boolean; sourceRate?: number; sourceFrames?: number; channels?: number; error?: string }

export class WorkerTrackAnalyzer implements TrackAnalyzer {
  private worker: Worker | null = null;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  analyze(path: string): Promise<TrackAnalysis> {
    const run = this.queue.then(() => this.run(path));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private ensureWorker(): Worker {
    if (!this.worker) {
      this.worker = new Worker(new URL('./decode-worker.js', import.meta.url));
      this.worker.unref();
    }
    return this.worker;
  }

  private run(path: string): Promise<TrackAnalysis> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<TrackAnalysis>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (reply: Reply): void => {
        if (reply.id !== id) return;
        cleanup();
        if (reply.ok && typeof reply.sourceRate === 'number' && typeof reply.sourceFrames === 'number') {
          resolve({ sourceRate: reply.sourceRate, sourceFrames: reply.sourceFrames, channels: reply.channels ?? 0 });
        } else reject(new Error(reply.error ?? 'decode failed'));
      };
      const onError = (err: Error): void => {
        cleanup();
        this.worker = null;
        reject(err);
      };
      const onExit = (): void => {
        cleanup();
        this.worker = null;
        reject(new Error('decoder worker exited'));
      };
      const timer = setTimeout(() => {
        cleanup();
        void worker.terminate();
        this.worker = null;
        reject(new Error(`decoding took longer than ${DECODE_TIMEOUT_MS} ms`));
      }, DECODE_TIMEOUT_MS);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ id, path });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
