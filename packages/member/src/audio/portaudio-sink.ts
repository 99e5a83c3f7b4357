// AudioSink over our PortAudio addon: a stream kept open for the daemon's life whose callback
// consumes the PCM ring and appends DAC timing (docs/audio-shared-memory.md). The addon is loaded
// lazily; where it is missing, creating this sink fails with the reason and the daemon can fall
// back to the capture sink.
import { OutputStream, type OutputApi, isAvailable, getLoadError, findOutputDevice, outputRateSupport, DEFAULT_FRAMES_PER_BUFFER, DEFAULT_SUGGESTED_LATENCY_S } from '@jaudiosync/portaudio';
import { chooseDeviceRate } from './device-rate.js';
import { PcmRing } from './pcm-ring.js';
import { DacTimingRing } from './dac-timing-ring.js';
import type { AudioSink, AudioSinkStats } from './sink.js';
import { OUTPUT_STALL_HELD_MS, OUTPUT_STALL_MS } from './output-supervisor.js';

/** One second of ring: the engine keeps it ~0.1 s full; the rest absorbs scheduling hiccups. */
const RING_SECONDS = 1;
const TIMING_ENTRIES = 4096;
/**
 * How long stop() waits for PortAudio to close a stream before leaving it behind. A healthy close
 * takes a few ms; after PipeWire was killed, PortAudio 19.6's ALSA thread can spin and the close
 * hang in it for good. A stream left behind is detached (its callback plays silence and stops, it
 * never reads the ring again), so the next one need not wait: at 2 s the member came back 2 s after
 * the others (bench:realpath --server pipewire --fault server-restart).
 */
const CLOSE_TIMEOUT_MS = 500;

export interface PortAudioSinkOptions {
  /** Native library (default 'portaudio'); 'pulse': PulseAudio's own, `device` is a sink name. */
  api?: OutputApi;
  device?: number | string | undefined;
  /** the timeline's rate */
  sampleRate: number;
  /** rate to open the device at; 0 or undefined: the timeline's if the device takes it (device-rate.ts) */
  deviceRate?: number;
  channels?: number;
  framesPerBuffer?: number;
  suggestedLatencyS?: number;
}

export class PortAudioSink implements AudioSink {
  readonly kind = 'portaudio' as const;
  /** the device's rate (the engine resamples the timeline to it when they differ) */
  readonly sampleRate: number;
  /** why the device runs at `sampleRate` (for the log) */
  readonly rateReason: string;
  readonly channels: number;
  readonly framesPerBuffer: number;
  /** libpulse reports the server's raw timing; PortAudio's ALSA devices can report an estimate (the `pulse` device's smoothed one). */
  readonly trustedReports: boolean;
  readonly stallMs: number;
  readonly pcmRing: SharedArrayBuffer;
  readonly timingRing: SharedArrayBuffer;
  private readonly ring: PcmRing;
  private readonly timing: DacTimingRing;
  private stream: OutputStream | null = null;
  private running = false;
  private lastError: string | undefined;

  constructor(private readonly opts: PortAudioSinkOptions) {
    if (!isAvailable()) throw new Error(getLoadError()?.message ?? 'PortAudio addon not available');
    this.channels = opts.channels ?? 2;
    ({ rate: this.sampleRate, reason: this.rateReason } = pickRate(opts, this.channels));
    this.framesPerBuffer = opts.framesPerBuffer ?? DEFAULT_FRAMES_PER_BUFFER;
    this.trustedReports = opts.api === 'pulse';
    this.stallMs = opts.api === 'pulse' ? OUTPUT_STALL_HELD_MS : OUTPUT_STALL_MS;
    this.ring = PcmRing.create(Math.round(this.sampleRate * RING_SECONDS), this.channels, this.sampleRate);
    this.timing = DacTimingRing.create(TIMING_ENTRIES);
    this.pcmRing = this.ring.sab;
    this.timingRing = this.timing.sab;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const opts: ConstructorParameters<typeof OutputStream>[0] = {
      sampleRate: this.sampleRate,
      channels: this.channels,
      framesPerBuffer: this.framesPerBuffer,
      pcmRing: this.pcmRing,
      timingRing: this.timingRing,
    };
    if (this.opts.device !== undefined) opts.device = this.opts.device;
    if (this.opts.api !== undefined) opts.api = this.opts.api;
    if (this.opts.suggestedLatencyS !== undefined) opts.suggestedLatencyS = this.opts.suggestedLatencyS;
    this.stream = new OutputStream(opts);
    this.stream.start();
    this.running = true;
  }

  async stop(): Promise<void> {
    if (!this.stream) return;
    const stream = this.stream;
    this.stream = null;
    this.running = false;
    try {
      // Off the JS thread: after the audio server died, PortAudio's ALSA thread can spin and the
      // close hang in it (bench:realpath --fault server-restart on PipeWire). The member must go on.
      if ((await stream.closeAsync(CLOSE_TIMEOUT_MS)) === 'timeout') {
        this.lastError = `the old output stream did not close within ${CLOSE_TIMEOUT_MS} ms (PortAudio's thread is stuck): left behind`;
      }
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }

  discardQueued(): void {
    if (this.stream === null) this.ring.discardAll(); // the callback is the reader while a stream is open
  }

  deviceName(): string | undefined {
    return this.stream?.info().deviceName;
  }

  stats(): AudioSinkStats {
    const s = this.stream?.stats();
    const base = {
      kind: this.kind,
      running: this.running,
      buffers: s?.callbacks ?? 0,
      deviceFrames: s?.framesPlayed ?? 0,
      ringFillFrames: this.ring.fillFrames,
      underrunFrames: this.ring.underrunFrames,
      underrunEvents: this.ring.underrunEvents,
      ...(s !== undefined ? { deviceActive: s.active } : {}),
    };
    return this.lastError === undefined ? base : { ...base, lastError: this.lastError };
  }
}

function pickRate(opts: PortAudioSinkOptions, channels: number): { rate: number; reason: string } {
  const forced = opts.deviceRate ?? 0;
  if (forced > 0) return chooseDeviceRate(opts.sampleRate, forced, 0, () => null);
  // PulseAudio takes any rate and resamples to its sink's in the server.
  if (opts.api === 'pulse') return { rate: opts.sampleRate, reason: 'the timeline rate (PulseAudio resamples to its sink)' };
  let device;
  try {
    device = findOutputDevice(opts.device, channels);
  } catch (err) {
    // No such device yet: the open reports it (and the output supervisor retries).
    return { rate: opts.sampleRate, reason: `the timeline rate (${(err as Error).message})` };
  }
  const latencyS = opts.suggestedLatencyS ?? DEFAULT_SUGGESTED_LATENCY_S;
  return chooseDeviceRate(opts.sampleRate, 0, device.defaultSampleRate, (rate) => outputRateSupport(device.index, channels, rate, latencyS));
}
