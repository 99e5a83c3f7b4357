// The one interface the audio engine needs from any sink (PortAudio addon or the capture sink): the
// two shared rings of docs/audio-shared-memory.md plus start/stop and counters. Audio itself never
// goes through these methods; it flows through the rings.

export type AudioSinkKind = 'portaudio' | 'capture';

/** Counters a sink reports; all read without blocking (mostly from shared memory). */
export interface AudioSinkStats {
  readonly kind: AudioSinkKind;
  /** Between a resolved start() and stop(). */
  readonly running: boolean;
  /** Device buffers handed to the DAC so far (= timing entries appended). */
  readonly buffers: number;
  /** Frames handed to the DAC so far, silence included. */
  readonly deviceFrames: number;
  /** PCM ring counters (see PcmRing). */
  readonly ringFillFrames: number;
  readonly underrunFrames: number;
  readonly underrunEvents: number;
  /**
   * False once the device stream ended on its own (PortAudio: the audio server or the device went
   * away; measured: within 0.2 s of killing PulseAudio or PipeWire). Absent for sinks that cannot end.
   */
  readonly deviceActive?: boolean;
  /** Last error the sink met and survived (it keeps playing silence), if any. */
  readonly lastError?: string;
}

export interface AudioSink {
  readonly kind: AudioSinkKind;
  /** Nominal device rate in Hz; the true rate is estimated from the timing ring. */
  readonly sampleRate: number;
  readonly channels: number;
  /** Frames per device buffer (one timing entry each). */
  readonly framesPerBuffer: number;
  /**
   * Its timing entries' DAC times are measured, not a smoothed estimate (the capture sink's own
   * clock; libpulse's raw timing replies): the DAC clock may lock on them alone (dac-clock.ts).
   */
  readonly trustedReports: boolean;
  /** No device buffer for this long means the output is lost (OutputSupervisor; default OUTPUT_STALL_MS). */
  readonly stallMs?: number;
  /** PCM ring (engine writes, sink reads): attach with `new PcmRing(sab)`. */
  readonly pcmRing: SharedArrayBuffer;
  /** Timing ring (sink writes, engine reads): attach with `new DacTimingRing(sab)`. */
  readonly timingRing: SharedArrayBuffer;
  /** Opens the device and starts consuming the PCM ring; resolves once the first buffer is due. */
  start(): Promise<void>;
  /** Stops consuming, releases the device (and flushes files); idempotent. */
  stop(): Promise<void>;
  /**
   * While stopped: drops the audio queued in the PCM ring (the reader's side), so that a reopened
   * output starts with what the engine writes next, not with audio rendered for the lost stream.
   */
  discardQueued?(): void;
  stats(): AudioSinkStats;
}
