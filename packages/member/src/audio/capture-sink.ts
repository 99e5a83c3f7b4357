// The capture sink: an AudioSink whose "device" is a simulated DAC running in real time in its own
// worker thread (capture-sink-worker.ts), with a configurable rate error and output latency, and an
// optional capture file of everything it played on the host's true time axis (capture-file.ts).
import { Worker } from 'node:worker_threads';
import type { CaptureSinkWorkerData, CaptureSinkWorkerMessage } from './capture-sink-worker.js';
import { CAPTURE_WORKER_MARKER, CONTROL_BYTES, CONTROL_STOP } from './capture-sink-worker.js';
import { DacTimingRing, DAC_TIMING_DEFAULT_CAPACITY } from './dac-timing-ring.js';
import { PcmRing } from './pcm-ring.js';
import type { AudioSink, AudioSinkStats } from './sink.js';
import { CAPTURE_SINK_RT_PRIORITY, raiseAudioThreadPriority, type AudioThreadPriority } from './audio-thread-priority.js';

/** Defaults: 48 kHz stereo, 256-frame buffers (5.3 ms) and 20 ms latency, like a Pi on ALSA. */
export const CAPTURE_DEFAULT_SAMPLE_RATE = 48_000;
export const CAPTURE_DEFAULT_CHANNELS = 2;
export const CAPTURE_DEFAULT_FRAMES_PER_BUFFER = 256;
export const CAPTURE_DEFAULT_LATENCY_MS = 20;
/** Longest sleep of the worker: it sleeps until its next buffer is due (a real DAC wakes once per period); stop() notifies it. */
export const CAPTURE_DEFAULT_WAKE_INTERVAL_MS = 50;
/** How long start()/stop() wait for the worker before giving up (the machine may be loaded). */
const WORKER_START_TIMEOUT_MS = 10_000;
const WORKER_STOP_TIMEOUT_MS = 5_000;

export interface CaptureSinkOptions {
  sampleRate?: number;
  channels?: number;
  /** Rate error of the simulated DAC in ppm: true rate = sampleRate * (1 + ratePpm/1e6). */
  ratePpm?: number;
  /** Output latency: DAC time of a buffer = the time it is consumed + latency. */
  latencyMs?: number;
  framesPerBuffer?: number;
  /** Capture file to write (none if omitted). */
  file?: string;
  /** PCM ring size in frames (default: 1 s at sampleRate). */
  ringCapacityFrames?: number;
  timingRingCapacity?: number;
  /** Gaussian noise (standard deviation, µs) added to the reported dacTimeNs only, like a driver's. */
  timingJitterUs?: number;
  wakeIntervalMs?: number;
  /** Ask for SCHED_FIFO for the simulated DAC's thread, as a DAC interrupt would have (default true). */
  realtime?: boolean;
}

export interface CaptureSinkStats extends AudioSinkStats {
  readonly kind: 'capture';
  /** Capture file bytes written (known after stop). */
  readonly captureBytes: number;
}

function optInt(name: string, value: number | undefined, dflt: number, min: number, max: number): number {
  const v = value ?? dflt;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`CaptureSink: ${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function optNum(name: string, value: number | undefined, dflt: number, min: number, max: number): number {
  const v = value ?? dflt;
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`CaptureSink: ${name} must be in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

export class CaptureSink implements AudioSink {
  readonly kind = 'capture' as const;
  readonly sampleRate: number;
  readonly channels: number;
  readonly framesPerBuffer: number;
  /** Its DAC times come from its own simulated clock (plus any injected jitter, no wander). */
  readonly trustedReports = true;
  readonly ratePpm: number;
  readonly latencyMs: number;
  readonly file: string | null;
  readonly pcmRing: SharedArrayBuffer;
  readonly timingRing: SharedArrayBuffer;
  /** True ns per device frame of the simulated DAC. */
  readonly nsPerFrame: number;
  private readonly ring: PcmRing;
  private readonly timing: DacTimingRing;
  private readonly control = new SharedArrayBuffer(CONTROL_BYTES);
  private readonly timingJitterUs: number;
  private readonly wakeIntervalMs: number;
  private worker: Worker | null = null;
  private exited: Promise<void> | null = null;
  private running = false;
  private started = false;
  private lastError: string | undefined;
  private captureBytes = 0;
  private t0DacNsValue: bigint | null = null;
  private readonly realtime: boolean;
  private priority: AudioThreadPriority | null = null;

  constructor(options: CaptureSinkOptions = {}) {
    this.sampleRate = optInt('sampleRate', options.sampleRate, CAPTURE_DEFAULT_SAMPLE_RATE, 8000, 384_000);
    this.channels = optInt('channels', options.channels, CAPTURE_DEFAULT_CHANNELS, 1, 32);
    this.framesPerBuffer = optInt('framesPerBuffer', options.framesPerBuffer, CAPTURE_DEFAULT_FRAMES_PER_BUFFER, 16, 16384);
    this.ratePpm = optNum('ratePpm', options.ratePpm, 0, -10_000, 10_000);
    this.latencyMs = optNum('latencyMs', options.latencyMs, CAPTURE_DEFAULT_LATENCY_MS, 0, 10_000);
    this.timingJitterUs = optNum('timingJitterUs', options.timingJitterUs, 0, 0, 100_000);
    this.wakeIntervalMs = optNum('wakeIntervalMs', options.wakeIntervalMs, CAPTURE_DEFAULT_WAKE_INTERVAL_MS, 0.5, 100);
    const capacity = optInt('ringCapacityFrames', options.ringCapacityFrames, this.sampleRate, this.framesPerBuffer, 1 << 26);
    const timingCapacity = optInt('timingRingCapacity', options.timingRingCapacity, DAC_TIMING_DEFAULT_CAPACITY, 32, 1 << 20);
    if (options.file !== undefined && (typeof options.file !== 'string' || options.file.length === 0)) {
      throw new TypeError('CaptureSink: file must be a non-empty path');
    }
    this.file = options.file ?? null;
    this.realtime = options.realtime !== false;
    this.nsPerFrame = 1e9 / (this.sampleRate * (1 + this.ratePpm / 1e6));
    this.ring = PcmRing.create(capacity, this.channels, this.sampleRate);
    this.timing = DacTimingRing.create(timingCapacity);
    this.pcmRing = this.ring.sab;
    this.timingRing = this.timing.sab;
  }

  /** How the simulated DAC's thread is scheduled (null before start). */
  get threadPriority(): AudioThreadPriority | null {
    return this.priority;
  }

  /** Host CLOCK_MONOTONIC ns at which device frame 0 leaves the simulated DAC (null before start). */
  get t0DacNs(): bigint | null {
    return this.t0DacNsValue;
  }

  /** Exact true DAC time (host monotonic ns) of a device frame; null before start. */
  trueDacTimeNs(deviceFrame: number): number | null {
    return this.t0DacNsValue === null ? null : Number(this.t0DacNsValue) + deviceFrame * this.nsPerFrame;
  }

  async start(): Promise<void> {
    // One run per sink: device frames and the timing ring must stay monotonic.
    if (this.started) throw new Error('CaptureSink: start() may be called once');
    this.started = true;
    Atomics.store(new Int32Array(this.control), CONTROL_STOP, 0);
    const data: CaptureSinkWorkerData = {
      marker: CAPTURE_WORKER_MARKER,
      pcmRing: this.pcmRing,
      timingRing: this.timingRing,
      control: this.control,
      ratePpm: this.ratePpm,
      latencyNs: this.latencyMs * 1e6,
      framesPerBuffer: this.framesPerBuffer,
      file: this.file,
      timingJitterNs: this.timingJitterUs * 1000,
      wakeIntervalMs: this.wakeIntervalMs,
    };
    const worker = new Worker(new URL('./capture-sink-worker.js', import.meta.url), { workerData: data });
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('error', (err) => {
      this.lastError = err.message;
      this.running = false;
    });
    worker.on('exit', () => {
      this.running = false;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('CaptureSink: worker did not start')), WORKER_START_TIMEOUT_MS);
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`CaptureSink: worker exited during start${this.lastError ? `: ${this.lastError}` : ''}`));
      };
      worker.once('exit', onExit);
      worker.on('message', (msg: CaptureSinkWorkerMessage) => {
        if (msg.type === 'started') {
          this.priority = raiseAudioThreadPriority(msg.tid, CAPTURE_SINK_RT_PRIORITY, { realtime: this.realtime });
          this.t0DacNsValue = msg.t0DacNs;
          this.running = true;
          clearTimeout(timer);
          worker.off('exit', onExit);
          resolve();
        } else if (msg.type === 'error') {
          this.lastError = msg.message;
        } else if (msg.type === 'stopped') {
          this.captureBytes = msg.captureBytes;
        }
      });
    }).catch(async (err: unknown) => {
      await this.stop();
      throw err;
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (worker === null || this.exited === null) return;
    const control = new Int32Array(this.control);
    Atomics.store(control, CONTROL_STOP, 1);
    Atomics.notify(control, CONTROL_STOP);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), WORKER_STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.lastError = 'CaptureSink: worker did not stop in time; terminated';
      await worker.terminate();
    }
    this.running = false;
    this.worker = null;
    this.exited = null;
  }

  stats(): CaptureSinkStats {
    const buffers = this.timing.count;
    return {
      kind: 'capture',
      running: this.running,
      buffers,
      deviceFrames: buffers * this.framesPerBuffer,
      ringFillFrames: this.ring.fillFrames,
      underrunFrames: this.ring.underrunFrames,
      underrunEvents: this.ring.underrunEvents,
      captureBytes: this.captureBytes,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }
}
