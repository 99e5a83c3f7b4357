// ClockSync: runs the NTP client and the TimeFilter in a worker thread (timestamps never wait for
// the main event loop) and exposes the newest ClockModel via a SharedArrayBuffer seqlock + events.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ClockSource, type ClockSourceParams } from './clock-source.js';
import { ClockModelShare, leaderFromLocal, type ClockModel } from './clock-model.js';
import type { PriorContradiction, PriorState } from './time-filter.js';

/** The clock worker's young generation (V8: three semi-spaces, 1 MB each). Left to V8 it grew to
 *  ~8 MB of semi-spaces while polling (the worker's heap 15 MB for ~7 MB used: bench:sync, issue
 *  #18); its garbage is small and short-lived, so a small one costs only more frequent, shorter
 *  scavenges (the exchanges are timed by the kernel, not by this thread's wake-ups, where netstamp
 *  works; in user space a late wake-up only lengthens a round trip, which the filter weighs). */
export const CLOCK_WORKER_YOUNG_GENERATION_MB = 3;

/** Initial burst: 50 Hz for 10 s converges to < 100 µs within a few seconds even over bad WiFi. */
export const BURST_INTERVAL_MS = 20;
export const BURST_DURATION_MS = 10_000;
/**
 * Fast start: in the first FAST_START_MS after a (re)start the polls come every
 * FAST_START_RTT_FACTOR round trips (the median of the last FAST_START_RTT_SAMPLES; not the
 * largest: one 3 ms stall of the loaded VM's lan held it at 12 ms), but at least every
 * FAST_START_MIN_INTERVAL_MS and at most every BURST_INTERVAL_MS. On a LAN (round trip ~0.4 ms)
 * that is 200 polls/s for a second: 4x the samples that set the first sync's error (a line's error
 * at its newest end is ~2 sd/sqrt(n); simulated lan: first sync 0.86 -> 0.46 s at the same bound,
 * docs/clock.md). On WiFi (round trips of 10 ms and more) it stays at the 50 Hz burst: polls closer
 * than a few round trips queue behind each other in the link's FIFO and meet its floor less often
 * (simulated wifi at 100 Hz: p99 after 10 s 7 -> 151 µs). Each poll still waits for nothing: the
 * schedule only picks the gap. Cost: 400 requests/s to the leader for one second per starting member.
 */
export const FAST_START_MS = 1_000;
export const FAST_START_MIN_INTERVAL_MS = 5;
export const FAST_START_RTT_FACTOR = 4;
export const FAST_START_RTT_SAMPLES = 9;
/**
 * After the start burst, 25 Hz until this long after the start: the window then holds ~30 s of
 * dense samples before the 10 Hz polls take over (bench:clock wifi: the error's excursions right
 * after a 10 s burst set the p99; a 30 s 50 Hz burst removed them, this costs half of that).
 */
export const SETTLE_INTERVAL_MS = 40;
export const SETTLE_UNTIL_MS = 30_000;
/** Steady polling: 10 Hz keeps several floor-delay samples per second per direction (docs/clock.md). */
export const STEADY_INTERVAL_MS = 100;
/**
 * Warm-up exchanges before the measured one in each poll, each sent on the previous reply. One
 * removes most of the leader's wake-up latency (lan floor asymmetry +150 -> +30 µs at 10 Hz polls
 * on the loaded VM); a second one showed no measurable gain in bench:clock for 50 % more packets
 * (docs/clock.md).
 */
export const WARMUPS_PER_POLL = 1;
/** No reply for this long = link gap (holdover); poll at burst rate to catch the link's return. */
export const GAP_MS = 2_000;
/** After a gap, burst this long to re-converge quickly. */
export const REBURST_DURATION_MS = 5_000;
const STOP_TIMEOUT_MS = 3_000;
/** A synced fit is remembered (clock-memory.ts) this often once settled: a restart finds its
 *  prediction off by a few µs of crystal wander at most (RATE_WANDER_PER_S over 30 s). */
export const CLOCK_MEMORY_SAVE_MS = 30_000;
/** In the first minute after the first sync, save this often instead: the fit's rate is still
 *  improving fast (simulated wifi: rate sd 19 ppm at 5 s, 3.7 at 17 s, 1.2 at 40 s). */
export const CLOCK_MEMORY_EARLY_SAVE_MS = 5_000;
export const CLOCK_MEMORY_EARLY_MS = 60_000;

export type ClockMode = 'leader' | 'system';

export interface ClockSyncOptions {
  clock?: Partial<ClockSourceParams>;
  mode?: ClockMode;
  /** File for the clock memory (a synced fit kept for a restart); absent: none. */
  memoryFile?: string;
}

/** The leader's NTP server and the name of its timescale (welcome.timescaleId, protocol 1.2). */
export interface ClockServer {
  host: string;
  port: number;
  timescaleId?: string;
}

export interface ClockSyncStats {
  mode: ClockMode;
  server: { host: string; port: number } | null;
  sent: number;
  /** warm-up requests among `sent` (one per poll) and their replies (not samples) */
  warmups: number;
  warmupReplies: number;
  received: number;
  accepted: number;
  rejected: number;
  mismatched: number;
  late: number;
  timeouts: number;
  outliers: number;
  steps: number;
  resets: number;
  holdover: boolean;
  /** What became of the remembered fit: none, pending (being checked), in use, rejected, superseded. */
  prior: PriorState;
  /** Why the remembered fit was rejected (µs: its distance from a sample or the fresh fit, and the
   *  bound it exceeded), else null. */
  priorRejection: PriorContradiction | null;
  /** The midpoint estimator's share of the newest fit (0: the delay-floor envelope alone). */
  midpointShare: number;
  pollIntervalMs: number;
  /** The socket has kernel timestamps (@jaudiosync/netstamp); false: user-space ones only. */
  kernelTimestamps: boolean;
  /** Replies timestamped by the kernel / by this thread (the kernel had no stamp for them). */
  kernelRxStamps: number;
  userRxStamps: number;
  lastError: string | null;
}

/** Pure polling schedule: burst at start and after gaps, steady otherwise. Times in local µs. */
export class PollSchedule {
  private burstUntilUs: number;
  private settleUntilUs: number;
  private fastUntilUs: number;
  /** The last round trips (delays) seen in the fast start, oldest first. */
  private fastDelaysUs: number[] = [];
  private lastReplyUs: number | null = null;
  private inGap = false;

  constructor(startUs: number) {
    this.burstUntilUs = startUs + BURST_DURATION_MS * 1000;
    this.settleUntilUs = startUs + SETTLE_UNTIL_MS * 1000;
    this.fastUntilUs = startUs + FAST_START_MS * 1000;
  }

  /** A reply arrived at nowUs; delayUs: its round trip without the server's time (the fast start's gap). */
  onReply(nowUs: number, delayUs?: number): void {
    if (this.inGap) this.burstUntilUs = Math.max(this.burstUntilUs, nowUs + REBURST_DURATION_MS * 1000);
    this.inGap = false;
    this.lastReplyUs = nowUs;
    if (delayUs !== undefined && Number.isFinite(delayUs) && nowUs < this.fastUntilUs) {
      this.fastDelaysUs.push(delayUs);
      if (this.fastDelaysUs.length > FAST_START_RTT_SAMPLES) this.fastDelaysUs.shift();
    }
  }

  /** True while no reply arrived for GAP_MS (the model is in holdover). */
  holdover(nowUs: number): boolean {
    this.inGap = this.lastReplyUs !== null && nowUs - this.lastReplyUs > GAP_MS * 1000;
    return this.inGap;
  }

  intervalMs(nowUs: number): number {
    if (nowUs < this.fastUntilUs && this.fastDelaysUs.length > 0 && !this.holdover(nowUs)) {
      const sorted = [...this.fastDelaysUs].sort((a, b) => a - b);
      const median = sorted[sorted.length >> 1] as number;
      const ms = Math.ceil((FAST_START_RTT_FACTOR * median) / 1000);
      return Math.min(BURST_INTERVAL_MS, Math.max(FAST_START_MIN_INTERVAL_MS, ms));
    }
    if (this.holdover(nowUs) || nowUs < this.burstUntilUs) return BURST_INTERVAL_MS;
    if (nowUs < this.settleUntilUs) return SETTLE_INTERVAL_MS;
    return STEADY_INTERVAL_MS;
  }

  restart(nowUs: number): void {
    this.burstUntilUs = nowUs + BURST_DURATION_MS * 1000;
    this.settleUntilUs = nowUs + SETTLE_UNTIL_MS * 1000;
    this.fastUntilUs = nowUs + FAST_START_MS * 1000;
    this.fastDelaysUs = [];
    this.lastReplyUs = null;
    this.inGap = false;
  }
}

export interface ClockSyncWorkerData {
  clock: ClockSourceParams;
  mode: ClockMode;
  share: SharedArrayBuffer;
  memoryFile: string | null;
}

export class ClockSync extends EventEmitter {
  readonly share: SharedArrayBuffer;
  readonly mode: ClockMode;
  private readonly clock: ClockSource;
  private readonly reader: ClockModelShare;
  private worker: Worker | null = null;
  private lastStats: ClockSyncStats;
  private readonly memoryFile: string | null;

  constructor(opts: ClockSyncOptions = {}) {
    super();
    this.clock = new ClockSource(opts.clock ?? {});
    const mode = opts.mode ?? 'leader';
    if (mode !== 'leader' && mode !== 'system') throw new RangeError(`ClockSync: mode must be 'leader' or 'system', got ${String(mode)}`);
    this.mode = mode;
    this.reader = new ClockModelShare();
    this.share = this.reader.buffer;
    this.lastStats = emptyStats(mode);
    this.memoryFile = opts.memoryFile ?? null;
  }

  /** Starts the worker (idempotent) and points it at the leader's NTP server (ignored in system mode). */
  start(server: ClockServer): void {
    if (!this.worker) this.spawn();
    this.setServer(server);
  }

  // setServer() before start() also starts the worker (the leader's address may arrive later).

  /** Starts the worker with no server yet: its start-up (isolate, modules, the netstamp addon) is
   *  then done before the leader's welcome names the server, instead of after it. */
  prepare(): void {
    if (!this.worker) this.spawn();
  }

  setServer(server: ClockServer): void {
    if (this.mode === 'system') return;
    if (typeof server?.host !== 'string' || server.host === '' || !Number.isInteger(server.port) || server.port < 1 || server.port > 65535
      || (server.timescaleId !== undefined && typeof server.timescaleId !== 'string')) {
      throw new RangeError(`ClockSync: bad server ${JSON.stringify(server)}`);
    }
    if (!this.worker) this.spawn();
    this.worker?.postMessage({ type: 'server', host: server.host, port: server.port, timescaleId: server.timescaleId ?? null });
  }

  async stop(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      w.postMessage({ type: 'stop' });
    });
    await w.terminate();
  }

  /** Newest published model (null before the first sample). */
  model(): ClockModel | null {
    return this.reader.read();
  }

  /** Leader time now per the model, or null while not synced. */
  leaderNowUs(): number | null {
    const m = this.reader.read();
    if (!m || !m.synced) return null;
    return leaderFromLocal(m, this.clock.nowUs());
  }

  stats(): ClockSyncStats {
    return { ...this.lastStats };
  }

  private spawn(): void {
    const workerData: ClockSyncWorkerData = { clock: { ...this.clock.params }, mode: this.mode, share: this.share, memoryFile: this.memoryFile };
    const w = new Worker(new URL('./clock-sync-worker.js', import.meta.url), { workerData, resourceLimits: { maxYoungGenerationSizeMb: CLOCK_WORKER_YOUNG_GENERATION_MB } });
    this.worker = w;
    w.on('message', (m: { type?: string; stats?: ClockSyncStats; kernelTimestamps?: boolean; samples?: number; uncertaintyUs?: number; prior?: PriorState }) => {
      if (m.type === 'stats' && m.stats) {
        const before = this.lastStats.prior;
        this.lastStats = m.stats;
        if (m.stats.prior !== before) this.emit('prior', m.stats.prior, m.stats.priorRejection);
      } else if (m.type === 'socket' && typeof m.kernelTimestamps === 'boolean') {
        this.lastStats = { ...this.lastStats, kernelTimestamps: m.kernelTimestamps };
        this.emit('timestamps', m.kernelTimestamps);
      } else if (m.type === 'synced') {
        this.emit('synced', { samples: m.samples ?? 0, uncertaintyUs: m.uncertaintyUs ?? NaN, prior: m.prior ?? 'none' });
      }
    });
    w.on('error', (e) => {
      this.lastStats = { ...this.lastStats, lastError: e.message };
      this.emit('warning', e);
    });
    w.on('exit', () => {
      if (this.worker === w) this.worker = null;
    });
  }
}

export function emptyStats(mode: ClockMode): ClockSyncStats {
  return {
    mode, server: null, sent: 0, warmups: 0, warmupReplies: 0, received: 0, accepted: 0, rejected: 0, mismatched: 0, late: 0, timeouts: 0,
    outliers: 0, steps: 0, resets: 0, holdover: false, prior: 'none', priorRejection: null, midpointShare: 0, pollIntervalMs: BURST_INTERVAL_MS,
    kernelTimestamps: false, kernelRxStamps: 0, userRxStamps: 0, lastError: null,
  };
}
