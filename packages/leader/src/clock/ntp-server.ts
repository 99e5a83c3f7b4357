// NtpServer: serves the leader timescale over NTP (RFC 5905 server mode, UDP) from a worker thread,
// so the main event loop's stalls never delay receive/transmit timestamps.
import { Worker } from 'node:worker_threads';
import type { LeaderTimescale } from './leader-timescale.js';

export interface NtpWorkerData {
  port: number;
  host: string;
  anchorWallUs: number;
  anchorMonoNs: string;
  stratum: number;
  stats: SharedArrayBuffer;
}

/** Indices of the shared Int32 counters (written by the worker). */
export const STAT = {
  received: 0, answered: 1, short: 2, oversize: 3, badVersion: 4, notClient: 5, sendErrors: 6,
  kernelTimestamps: 7, kernelRxStamps: 8, userRxStamps: 9,
} as const;
export const STAT_WORDS = 10;

/** Development/test default; 123 under systemd. */
export const NTP_DEV_PORT = 11123;
/** Stratum we advertise by default: like chrony's `local stratum 10` (not a disciplined clock). */
export const DEFAULT_STRATUM = 10;
/** A worker that does not bind within this long is treated as failed. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;

export interface NtpServerOptions {
  port?: number;
  host?: string;
  timescale: Pick<LeaderTimescale, 'anchorWallUs' | 'anchorMonoNs'>;
  stratum?: number;
}

export interface NtpServerStats {
  running: boolean;
  port: number;
  received: number;
  answered: number;
  ignored: { short: number; oversize: number; badVersion: number; notClient: number };
  sendErrors: number;
  /** The socket has kernel timestamps (@jaudiosync/netstamp); false: user-space ones only. */
  kernelTimestamps: boolean;
  /** Requests timestamped by the kernel / by the worker (the kernel had no stamp for them). */
  kernelRxStamps: number;
  userRxStamps: number;
  lastError: string | null;
}

export class NtpServer {
  private readonly opts: Required<Omit<NtpServerOptions, 'timescale'>> & Pick<NtpServerOptions, 'timescale'>;
  private readonly statsBuf = new SharedArrayBuffer(STAT_WORDS * 4);
  private readonly counters = new Int32Array(this.statsBuf);
  private worker: Worker | null = null;
  private boundPort = 0;
  private lastError: string | null = null;

  constructor(opts: NtpServerOptions) {
    const port = opts.port ?? NTP_DEV_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`NtpServer: bad port ${port}`);
    const stratum = opts.stratum ?? DEFAULT_STRATUM;
    if (!Number.isInteger(stratum) || stratum < 1 || stratum > 15) throw new RangeError(`NtpServer: stratum must be 1..15, got ${stratum}`);
    this.opts = { port, host: opts.host ?? '0.0.0.0', stratum, timescale: opts.timescale };
  }

  /** The bound port (useful with port 0); 0 before start. */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.worker) return;
    const workerData: NtpWorkerData = {
      port: this.opts.port,
      host: this.opts.host,
      anchorWallUs: this.opts.timescale.anchorWallUs,
      anchorMonoNs: this.opts.timescale.anchorMonoNs.toString(),
      stratum: this.opts.stratum,
      stats: this.statsBuf,
    };
    const worker = new Worker(new URL('./ntp-server-worker.js', import.meta.url), { workerData });
    this.worker = worker;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('NTP server worker did not start')), START_TIMEOUT_MS);
        const done = (err?: Error) => {
          clearTimeout(timer);
          worker.off('message', onMsg);
          worker.off('error', onErr);
          worker.off('exit', onExit);
          if (err) reject(err);
          else resolve();
        };
        const onMsg = (m: { type?: string; port?: number; message?: string }) => {
          if (m.type === 'listening') {
            this.boundPort = m.port ?? 0;
            done();
          } else if (m.type === 'error') done(new Error(`NTP server on ${this.opts.host}:${this.opts.port}: ${m.message}`));
        };
        const onErr = (e: Error) => done(e);
        const onExit = (code: number) => done(new Error(`NTP server worker exited (${code})`));
        worker.on('message', onMsg);
        worker.on('error', onErr);
        worker.on('exit', onExit);
      });
    } catch (e) {
      this.worker = null;
      await worker.terminate();
      throw e;
    }
    worker.on('message', (m: { type?: string; message?: string }) => {
      if (m.type === 'error') this.lastError = m.message ?? 'unknown';
    });
    worker.on('error', (e) => {
      this.lastError = e.message;
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null;
    });
  }

  async stop(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
      w.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      w.postMessage({ type: 'stop' });
    });
    await w.terminate();
    this.boundPort = 0;
  }

  stats(): NtpServerStats {
    const c = (i: number) => Atomics.load(this.counters, i);
    return {
      running: this.worker !== null,
      port: this.boundPort,
      received: c(STAT.received),
      answered: c(STAT.answered),
      ignored: { short: c(STAT.short), oversize: c(STAT.oversize), badVersion: c(STAT.badVersion), notClient: c(STAT.notClient) },
      sendErrors: c(STAT.sendErrors),
      kernelTimestamps: c(STAT.kernelTimestamps) === 1,
      kernelRxStamps: c(STAT.kernelRxStamps),
      userRxStamps: c(STAT.userRxStamps),
      lastError: this.lastError,
    };
  }
}
