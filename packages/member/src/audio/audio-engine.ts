// AudioEngine: the main-thread handle of the engine worker (engine-worker.ts). Owns the worker's
// lifetime and the sink's start/stop, forwards timeline/settings/tracks (validated here), and keeps
// the latest stats the worker posts. Audio itself never passes through this thread.
import { Worker } from 'node:worker_threads';
import { validateTimeline, type Timeline } from '@jaudiosync/protocol/timeline';
import { isChannelMode, type ChannelMode } from './channel-mixer.js';
// Types only from the worker's module (a value import would load its graph into this thread).
import type { EngineClockParams, EngineStats, EngineWorkerCommand, EngineWorkerData, EngineWorkerMessage } from './engine-worker.js';
import { ENGINE_WORKER_MARKER } from './engine-worker-marker.js';
import type { AudioSink } from './sink.js';
import { TrackStore, type TrackSource } from './track-store.js';
import { PcmRing } from './pcm-ring.js';
import { DacTimingRing } from './dac-timing-ring.js';
import { scheduleGarbageCollection } from './collect-garbage.js';
import { ENGINE_RT_PRIORITY, raiseAudioThreadPriority, type AudioThreadPriority } from './audio-thread-priority.js';
import { OutputSupervisor, type OutputStatus } from './output-supervisor.js';

/** Frames kept ahead of the sink: 100 ms absorbs worker hiccups; latency is compensated anyway. */
/** Device rate / output rate bounds (the scheduler's resampler and source window are sized for them). */
export const MIN_DEVICE_RATE_RATIO = 0.25;
export const MAX_DEVICE_RATE_RATIO = 4;
export const ENGINE_DEFAULT_TARGET_FILL_MS = 100;
/** Worker wake-up period. */
export const ENGINE_DEFAULT_TICK_MS = 10;
const WORKER_START_TIMEOUT_MS = 10_000;
/**
 * Silence queued before the sink starts, so that the sink starts beside the worker instead of after
 * it (the worker's start, 80-160 ms on the loaded VM, is then off the path to the DAC clock's first
 * lock, which counts from the sink's start). It must cover the worker's start (else the sink
 * underruns, harmless in silence but counted) and is long drained when the DAC clock first locks
 * (>= 0.5 s after the sink starts), so it never delays the first audio.
 */
export const START_PREFILL_MS = 250;
const WORKER_STOP_TIMEOUT_MS = 5_000;

export interface AudioEngineOptions {
  sink: AudioSink;
  /** ClockModelShare buffer published by the clock-sync side. */
  clockShare: SharedArrayBuffer;
  /** The member ClockSource's injected offset/rate (0/0 in production). */
  clock?: Partial<EngineClockParams>;
  outputRate: number;
  targetFillMs?: number;
  tickMs?: number;
  jumpThresholdUs?: number;
  /** Ask for SCHED_FIFO for the engine thread (default true; falls back to nice, see threadPriority). */
  realtime?: boolean;
  /** Log sink for the worker's (rate-limited) warnings and errors, and the output supervisor's news. */
  onLog?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Reopen a PortAudio output that stopped consuming (default true; see output-supervisor.ts). */
  superviseOutput?: boolean;
}

export interface EngineSettings {
  /** Member volume 0..1 (perceptual: protocol/volume-curve.ts), ramped from leader-time `atUs`. */
  volume: number;
  atUs: number;
  /** > 0: this member's audio plays EARLIER by this much (compensates a slower speaker path). */
  outputDelayUs: number;
  channelMode: ChannelMode;
}

const OUTPUT_DELAY_LIMIT_US = 5_000_000;

export class AudioEngine {
  private readonly opts: AudioEngineOptions;
  private worker: Worker | null = null;
  private exited: Promise<void> | null = null;
  private latest: EngineStats | null = null;
  private priority: AudioThreadPriority | null = null;
  private timeline: Timeline | null = null;
  private settings: EngineSettings | null = null;
  private readonly tracks = new Map<string, { source: TrackSource; frames: number }>();
  private supervisor: OutputSupervisor | null = null;

  constructor(opts: AudioEngineOptions) {
    if (!Number.isInteger(opts.outputRate) || opts.outputRate <= 0) throw new RangeError('AudioEngine: bad outputRate');
    // A device at another rate is resampled to (device-rate.ts); beyond 4x either way it is a mistake.
    const ratio = opts.sink.sampleRate / opts.outputRate;
    if (!(ratio >= MIN_DEVICE_RATE_RATIO && ratio <= MAX_DEVICE_RATE_RATIO)) {
      throw new RangeError(`AudioEngine: device rate ${opts.sink.sampleRate} is too far from the output rate ${opts.outputRate}`);
    }
    if (opts.sink.channels !== 2) throw new RangeError('AudioEngine: the sink must be stereo');
    if (!(opts.clockShare instanceof SharedArrayBuffer)) throw new TypeError('AudioEngine: clockShare must be a SharedArrayBuffer');
    this.opts = opts;
  }

  /** Starts the worker (it writes silence until the DAC timing and clock model are known), then the sink. */
  async start(): Promise<void> {
    if (this.worker !== null) return;
    const o = this.opts;
    const fillMs = o.targetFillMs ?? ENGINE_DEFAULT_TARGET_FILL_MS;
    const data: EngineWorkerData = {
      marker: ENGINE_WORKER_MARKER,
      pcmRing: o.sink.pcmRing,
      timingRing: o.sink.timingRing,
      clockShare: o.clockShare,
      clock: { offsetUs: o.clock?.offsetUs ?? 0, ratePpm: o.clock?.ratePpm ?? 0 },
      outputRate: o.outputRate,
      // The ring runs at the device's rate.
      targetFillFrames: Math.max(256, Math.round((fillMs * o.sink.sampleRate) / 1000)),
      tickMs: o.tickMs ?? ENGINE_DEFAULT_TICK_MS,
      jumpThresholdUs: o.jumpThresholdUs ?? null,
      rejectZeroDelay: o.sink.kind === 'portaudio',
      trustedReports: o.sink.trustedReports,
      firstTimingIndex: new DacTimingRing(o.sink.timingRing).count,
    };
    // Before the worker exists, this thread is the ring's only producer.
    const ring = new PcmRing(o.sink.pcmRing);
    if (ring.fillFrames === 0) ring.writeSilence(Math.min(Math.round((START_PREFILL_MS * o.sink.sampleRate) / 1000), Math.floor(ring.capacityFrames / 2)));
    const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { workerData: data });
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: EngineWorkerMessage) => {
      if (m.type === 'stats') this.latest = m.stats;
      else if (m.type === 'log') o.onLog?.(m.level, m.message);
    });
    worker.on('error', (e) => o.onLog?.('error', `engine worker crashed: ${e.message}`));
    // What was set before start: the worker's port queues it until the worker listens. Sent now, not
    // after 'started', so that what is set while the worker starts (posted directly) is not sent twice.
    if (this.timeline !== null) this.post({ type: 'timeline', timeline: this.timeline });
    if (this.settings !== null) this.post({ type: 'settings', settings: this.settings });
    for (const [id, t] of this.tracks) this.post({ type: 'addTrack', id, source: t.source, frames: t.frames });
    const workerStarted = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('AudioEngine: worker did not start')), WORKER_START_TIMEOUT_MS);
      worker.once('exit', () => {
        clearTimeout(timer);
        reject(new Error('AudioEngine: worker exited during start'));
      });
      worker.on('message', (m: EngineWorkerMessage) => {
        if (m.type === 'started') {
          clearTimeout(timer);
          this.priority = raiseAudioThreadPriority(m.tid, ENGINE_RT_PRIORITY, { realtime: o.realtime !== false });
          resolve();
        }
      });
    });
    // The sink plays the prefill while the worker starts; both must be up, else neither stays.
    const results = await Promise.allSettled([workerStarted, o.sink.start()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.stop();
      throw failed.reason;
    }
    // A simulated DAC cannot be lost; a real output can (server restart, device unplugged).
    if (o.sink.kind === 'portaudio' && o.superviseOutput !== false) {
      this.supervisor = new OutputSupervisor({
        sink: o.sink,
        onRestart: () => this.post({ type: 'outputRestart' }),
        log: (level, message) => o.onLog?.(level, message),
        ...(o.sink.stallMs !== undefined ? { stallMs: o.sink.stallMs } : {}),
      });
      this.supervisor.start();
    }
  }

  /** Stops the sink and the worker; idempotent. */
  async stop(): Promise<void> {
    await this.supervisor?.stop();
    this.supervisor = null;
    await this.opts.sink.stop().catch((e: unknown) => this.opts.onLog?.('warn', `sink stop: ${String(e)}`));
    const worker = this.worker;
    const exited = this.exited;
    if (worker === null || exited === null) return;
    this.post({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), WORKER_STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) await worker.terminate();
    this.worker = null;
    this.exited = null;
  }

  /** Installs a timeline; returns an error message (and keeps the old one) if it is invalid. */
  setTimeline(tl: Timeline | null): string | null {
    if (tl !== null) {
      const err = validateTimeline(tl);
      if (err !== null) return err;
      if (tl.outputRate !== this.opts.outputRate) return `timeline outputRate ${tl.outputRate} != ${this.opts.outputRate}`;
      if (this.timeline !== null && tl.rev < this.timeline.rev) return `timeline rev ${tl.rev} is older than ${this.timeline.rev}`;
    }
    this.timeline = tl;
    this.post({ type: 'timeline', timeline: tl });
    return null;
  }

  /** Member settings; returns an error message if invalid. */
  setSettings(s: EngineSettings): string | null {
    if (typeof s !== 'object' || s === null) return 'settings: object expected';
    if (typeof s.volume !== 'number' || !(s.volume >= 0 && s.volume <= 1)) return 'settings.volume: number in [0, 1] expected';
    if (!Number.isSafeInteger(s.atUs)) return 'settings.atUs: integer expected';
    if (!Number.isFinite(s.outputDelayUs) || Math.abs(s.outputDelayUs) > OUTPUT_DELAY_LIMIT_US) {
      return `settings.outputDelayUs: within +-${OUTPUT_DELAY_LIMIT_US} expected`;
    }
    if (!isChannelMode(s.channelMode)) return 'settings.channelMode: stereo|mono|left|right expected';
    this.settings = { volume: s.volume, atUs: s.atUs, outputDelayUs: s.outputDelayUs, channelMode: s.channelMode };
    this.post({ type: 'settings', settings: this.settings });
    return null;
  }

  /**
   * Registers a decoded track of `frames` frames (shared, not copied): the whole track as
   * interleaved stereo int16 (`pcm`), or a TrackWindow's buffer that a PcmFeeder fills (`window`).
   */
  addTrack(id: string, source: TrackSource, frames: number): string | null {
    if (typeof id !== 'string' || id.length === 0) return 'track id must be a non-empty string';
    // The worker's store checks the same way: refuse here so the caller learns why.
    const err = new TrackStore().addSource(id, source, frames);
    if (err !== null) return err;
    this.tracks.set(id, { source, frames });
    this.post({ type: 'addTrack', id, source, frames });
    return null;
  }

  /** Forgets a track (the worker drops its reference; memory is freed once nobody holds it). */
  removeTrack(id: string): void {
    this.tracks.delete(id);
    this.post({ type: 'removeTrack', id });
    // This thread's handle too: the PCM is freed once both isolates have collected theirs.
    scheduleGarbageCollection();
  }

  /** Forces a fresh lock onto the timeline (e.g. after the clock model was reset). */
  resync(): void {
    this.post({ type: 'resync' });
  }

  /** How the engine thread is scheduled (null before start). */
  get threadPriority(): AudioThreadPriority | null {
    return this.priority;
  }

  /** The output's health (lost, restarts, last gap); null for a sink that is not supervised. */
  outputStatus(): OutputStatus | null {
    return this.supervisor?.status() ?? null;
  }

  /** Latest stats from the worker (posted every ENGINE_STATS_INTERVAL_MS, 1 s); null before the first. */
  stats(): EngineStats | null {
    return this.latest;
  }

  private post(c: EngineWorkerCommand): void {
    try {
      this.worker?.postMessage(c);
    } catch (e) {
      this.opts.onLog?.('error', `engine post ${c.type}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
