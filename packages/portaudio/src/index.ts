// The one place that loads the native PortAudio addon (lazily, inside try/catch), so a member
// without it still runs with its capture sink. Wraps the addon with validated, typed calls:
// listDevices(), OutputStream (PCM ring in, DAC timing ring out), formatDeviceList().
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { renderDeviceList, type DeviceInfo } from './format-device-list.js';
import { readPcmRingHeader, SAMPLE_FORMAT_INT16 } from './shared-rings.js';

export {
  createPcmRing,
  createTimingRing,
  readPcmRingHeader,
  PCM_OFFSETS,
  TIMING_OFFSETS,
  TIMING_ENTRY_BYTES,
  RING_HEADER_BYTES,
  SAMPLE_FORMAT_INT16,
  TIMING_MIN_CAPACITY,
} from './shared-rings.js';
export { renderDeviceList, type DeviceInfo } from './format-device-list.js';

// Fixed-size buffers give one timing entry per equal step of frames (clean rate fits); 256
// frames is 5.3 ms at 48 kHz, cheap even on a Raspberry Pi.
export const DEFAULT_FRAMES_PER_BUFFER = 256;
// Output latency costs us nothing (playout is scheduled ahead), while a deep device buffer
// survives scheduling hiccups on a loaded host: prefer robustness.
export const DEFAULT_SUGGESTED_LATENCY_S = 0.05;
// Set to 1 to pretend the addon is missing (e.g. to test the capture-sink fallback).
const DISABLE_ENV = 'JAS_PORTAUDIO_DISABLE';
const ADDON_RELATIVE_PATH = ['build', 'Release', 'jas_portaudio.node'];

/**
 * Which native API plays the stream: PortAudio (any ALSA/JACK device, including ALSA's `pulse`
 * plugin), or PulseAudio's own client library (also pipewire-pulse), whose raw timing replaces the
 * plugin's smoothed latency estimate (docs/audio-output.md, "The native PulseAudio output").
 */
export type OutputApi = 'portaudio' | 'pulse';
export const OUTPUT_APIS: readonly OutputApi[] = ['portaudio', 'pulse'];

export interface OutputStreamOptions {
  /** Default 'portaudio'. */
  api?: OutputApi;
  /**
   * PortAudio: device index, or a case-insensitive part of its name; default: PortAudio's default
   * output. PulseAudio: the sink's name; default: the server's default sink (or $PULSE_SINK).
   */
  device?: number | string;
  sampleRate: number;
  channels: number;
  framesPerBuffer?: number;
  suggestedLatencyS?: number;
  /** Ask for SCHED_FIFO on the ALSA callback thread (falls back silently; see stats().realtime). Default true. */
  realtime?: boolean;
  pcmRing: SharedArrayBuffer;
  timingRing: SharedArrayBuffer;
}

export interface OutputStreamInfo {
  /** PortAudio's figure (the ALSA buffer); the true DAC delay is in the timing ring. */
  outputLatencyS: number;
  sampleRate: number;
  deviceName: string;
  deviceIndex: number | undefined;
  open: boolean;
}

export interface OutputStreamStats {
  callbacks: number;
  framesPlayed: number;
  underrunEvents: number;
  underrunFrames: number;
  /** PortAudio status flags seen in callbacks (device-level glitches, not ring underruns). */
  outputUnderflowFlags: number;
  outputOverflowFlags: number;
  primingOutputFlags: number;
  /** Callbacks without PortAudio timestamps: dacTime was estimated from outputLatency. */
  timeFallbacks: number;
  lastDacDelayNs: number;
  active: boolean;
  /** The callback thread was seen running SCHED_FIFO/RR (false until the first callback). */
  realtime: boolean;
}

interface NativeStream {
  start(): void;
  stop(): void;
  close(): void;
  closeAsync(): Promise<void>;
  demoteCallbackThread?(): number;
  info(): Omit<OutputStreamInfo, 'deviceIndex'>;
  stats(): OutputStreamStats;
}

interface NativeAddon {
  portAudioVersion: string;
  listDevices(refresh: boolean): DeviceInfo[];
  OutputStream: new (options: Record<string, unknown>) => NativeStream;
  setThreadRealtime(tid: number, priority: number): void;
  tuneMalloc?(arenaMax: number, mmapThresholdBytes: number): { arenaMax: boolean; mmapThreshold: boolean };
  isOutputFormatSupported?(device: number, channels: number, sampleRate: number, suggestedLatencyS: number): string | null;
  trimMalloc?(): boolean;
  /** The addon was built with libpulse (absent in builds before the PulseAudio backend). */
  hasPulse?: boolean;
  pulseServerInfo?(timeoutMs: number): PulseServerInfo;
}

export interface PulseServerInfo {
  /** "pulseaudio", or e.g. "PulseAudio (on PipeWire 0.3.65)" for pipewire-pulse */
  server: string;
  version: string;
  defaultSink: string;
}

export class PortAudioError extends Error {
  readonly code = 'JAS_ERR_PORTAUDIO';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PortAudioError';
  }
}

let addon: NativeAddon | undefined;
let loadError: Error | undefined;
let loadAttempted = false;

function load(): NativeAddon | undefined {
  if (loadAttempted) return addon;
  loadAttempted = true;
  if (process.env[DISABLE_ENV] === '1') {
    loadError = new Error(`native PortAudio addon disabled by ${DISABLE_ENV}=1`);
    return undefined;
  }
  const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const addonPath = path.join(packageRoot, ...ADDON_RELATIVE_PATH);
  try {
    const loaded = createRequire(import.meta.url)(addonPath) as NativeAddon;
    if (typeof loaded.listDevices !== 'function' || typeof loaded.OutputStream !== 'function') {
      throw new Error(`${addonPath} is not the JAudioSync PortAudio addon`);
    }
    addon = loaded;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    loadError = new Error(
      `native PortAudio addon not available (${reason}); build it with ` +
        '`npm run build:native -w packages/portaudio` (needs portaudio19-dev, g++, make)',
      { cause: err },
    );
  }
  return addon;
}

function requireAddon(): NativeAddon {
  const a = load();
  if (a === undefined) throw new PortAudioError(getLoadError()?.message ?? 'addon not available');
  return a;
}

/** True if the native addon loaded (loads it on first call). */
export function isAvailable(): boolean {
  return load() !== undefined;
}

/** Why the addon is not available, or undefined if it is (loads it on first call). */
export function getLoadError(): Error | undefined {
  load();
  return loadError;
}

/**
 * Puts one thread of this process (kernel tid, from /proc/thread-self) on SCHED_FIFO at
 * `priority`. Returns null on success, otherwise why not (no addon, not permitted, not our thread).
 */
export function setThreadRealtime(tid: number, priority: number): string | null {
  if (!Number.isSafeInteger(tid) || tid <= 0) return `bad thread id ${tid}`;
  if (!Number.isInteger(priority)) return `bad priority ${priority}`;
  // sched_setscheduler takes any tid on the host: only ever touch our own threads.
  if (!existsSync(`/proc/self/task/${tid}`)) return `thread ${tid} is not a thread of this process`;
  const a = load();
  if (a === undefined) return getLoadError()?.message ?? 'addon not available';
  if (typeof a.setThreadRealtime !== 'function') return 'the built addon predates setThreadRealtime: rebuild it';
  try {
    a.setThreadRealtime(tid, priority);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** What `tuneMalloc` applied: each setting true if glibc took it, or why nothing was done. */
export type MallocTuning = { arenaMax: boolean; mmapThreshold: boolean } | { error: string };

/**
 * glibc malloc settings for a long-running process that allocates and frees multi-megabyte
 * buffers from several threads: at most `arenaMax` arenas and a fixed mmap threshold (glibc's
 * dynamic one lets freed track buffers fragment the heaps; see docs/media.md). 0 leaves a setting
 * alone. Never throws.
 */
export function tuneMalloc(arenaMax: number, mmapThresholdBytes: number): MallocTuning {
  if (!Number.isInteger(arenaMax) || arenaMax < 0 || !Number.isInteger(mmapThresholdBytes) || mmapThresholdBytes < 0) {
    return { error: `bad arguments ${arenaMax}, ${mmapThresholdBytes}` };
  }
  const a = load();
  if (a === undefined) return { error: getLoadError()?.message ?? 'addon not available' };
  if (typeof a.tuneMalloc !== 'function') return { error: 'the built addon predates tuneMalloc: rebuild it' };
  try {
    return a.tuneMalloc(arenaMax, mmapThresholdBytes);
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Returns the free pages inside glibc's heaps to the kernel (malloc_trim(0)): glibc gives back only
 * the top of a heap by itself. Takes a few ms per 100 MB of heap; call it after big frees (a
 * finished decode, a dropped track), not per buffer. true: memory was released; false: nothing to
 * release; a string: why it could not run (no addon, not glibc). Never throws.
 */
export function trimMalloc(): boolean | string {
  const a = load();
  if (a === undefined) return getLoadError()?.message ?? 'addon not available';
  if (typeof a.trimMalloc !== 'function') return 'the built addon predates trimMalloc: rebuild it';
  try {
    return a.trimMalloc();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Calls `trim` (trimMalloc by default) every `everyMs`, off the event loop's keep-alive; the
 * leader and the member each run one. When it cannot run (no addon, not glibc) it stops and
 * reports why, once. Returns the stop function.
 */
export function startMallocTrim(
  onUnavailable: (reason: string) => void,
  everyMs: number,
  trim: () => boolean | string = trimMalloc,
): () => void {
  if (!Number.isFinite(everyMs) || everyMs <= 0) throw new RangeError(`malloc trim period must be > 0 ms, got ${everyMs}`);
  const timer = setInterval(() => {
    const r = trim();
    if (typeof r === 'string') {
      clearInterval(timer);
      onUnavailable(r);
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

export interface MemoryTuning {
  /** what was asked for (0 = left to the environment) */
  arenaMax: number;
  mmapThresholdBytes: number;
  result: MallocTuning;
}

/**
 * tuneMalloc for a daemon at start, before its worker threads exist, unless the environment sets
 * the same thing (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES): an operator's own
 * settings win. The member and the leader each pass their values (their memory-tuning.ts).
 */
export function tuneMallocUnlessSet(arenaMax: number, mmapThresholdBytes: number, env: NodeJS.ProcessEnv = process.env): MemoryTuning {
  const tunables = env['GLIBC_TUNABLES'] ?? '';
  const arena = env['MALLOC_ARENA_MAX'] !== undefined || tunables.includes('malloc.arena_max') ? 0 : arenaMax;
  const mmap = env['MALLOC_MMAP_THRESHOLD_'] !== undefined || tunables.includes('malloc.mmap_threshold') ? 0 : mmapThresholdBytes;
  return { arenaMax: arena, mmapThresholdBytes: mmap, result: tuneMalloc(arena, mmap) };
}

/** Whether streams can use `api: 'pulse'`: the addon was built against libpulse (libpulse-dev). */
export function hasPulseApi(): boolean {
  return load()?.hasPulse === true;
}

/**
 * What PulseAudio server this process would play to (PulseAudio itself or pipewire-pulse), or
 * why there is none (no libpulse in the addon, no server, no answer within `timeoutMs`).
 */
export function pulseServerInfo(timeoutMs = 500): PulseServerInfo | { error: string } {
  const a = load();
  if (a === undefined) return { error: getLoadError()?.message ?? 'addon not available' };
  if (a.hasPulse !== true || typeof a.pulseServerInfo !== 'function') return { error: 'the audio addon was built without libpulse-dev' };
  try {
    return a.pulseServerInfo(timeoutMs);
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** PortAudio's version text, or undefined without the addon. */
export function portAudioVersion(): string | undefined {
  return load()?.portAudioVersion;
}

/**
 * All PortAudio devices. `refresh` re-scans hardware (only while no stream is open: PortAudio
 * must be re-initialized for that).
 */
export function listDevices(options: { refresh?: boolean } = {}): DeviceInfo[] {
  const a = requireAddon();
  try {
    return a.listDevices(options.refresh === true);
  } catch (err) {
    throw wrapError(err);
  }
}

/** The device a stream with `device` would open (undefined: PortAudio's default output). */
export function findOutputDevice(device: number | string | undefined, channels: number): DeviceInfo {
  const a = requireAddon();
  if (device !== undefined) {
    try {
      return resolveDevice(a.listDevices(false), device, channels);
    } catch {
      return resolveDevice(listDevices({ refresh: true }), device, channels); // plugged in after start-up
    }
  }
  const found = listDevices().find((d) => d.isDefaultOutput);
  if (found === undefined) throw new PortAudioError('no default output device');
  return found;
}

/**
 * Whether the device opens int16 output with `channels` at `sampleRate` (PortAudio's
 * Pa_IsFormatSupported): null if it does, else PortAudio's reason.
 */
export function outputRateSupport(deviceIndex: number, channels: number, sampleRate: number, suggestedLatencyS = DEFAULT_SUGGESTED_LATENCY_S): string | null {
  const a = requireAddon();
  if (typeof a.isOutputFormatSupported !== 'function') return null; // an older build: let the open decide
  try {
    return a.isOutputFormatSupported(deviceIndex, channels, sampleRate, suggestedLatencyS);
  } catch (err) {
    throw wrapError(err);
  }
}

/**
 * The device list as text for `--list-devices`, then what `--audio-api pulse` would reach;
 * explains the problem if there is no addon.
 */
export function formatDeviceList(): string {
  if (!isAvailable()) return `${getLoadError()?.message ?? 'PortAudio addon not available'}\n`;
  let text: string;
  try {
    text = renderDeviceList(listDevices({ refresh: true }));
  } catch (err) {
    text = `cannot list PortAudio devices: ${err instanceof Error ? err.message : String(err)}\n`;
  }
  const server = pulseServerInfo();
  const pulse = 'error' in server
    ? `PulseAudio (--audio-api pulse): unavailable: ${server.error}`
    : `PulseAudio (--audio-api pulse): ${server.server} ${server.version}, default sink ${server.defaultSink || '(none)'}; --device names a sink (pactl list short sinks)`;
  return `${text}${pulse}\n`;
}

/**
 * Picks an output device: an index, a numeric string, an exact name, or the first device whose
 * name contains `device` (case-insensitive). Throws PortAudioError listing what exists.
 */
export function resolveDevice(devices: readonly DeviceInfo[], device: number | string, channels: number): DeviceInfo {
  const usable = devices.filter((d) => d.maxOutputChannels >= channels);
  const names = (): string => usable.map((d) => `${d.index}:${d.name}`).join(', ') || 'none';
  if (typeof device === 'number' || /^\d+$/.test(device.trim())) {
    const index = typeof device === 'number' ? device : Number(device.trim());
    const found = usable.find((d) => d.index === index);
    if (found === undefined) {
      throw new PortAudioError(`no output device with index ${index} and ${channels} channels (have ${names()})`);
    }
    return found;
  }
  const wanted = device.trim().toLowerCase();
  if (wanted === '') throw new PortAudioError('device name is empty');
  const found =
    usable.find((d) => d.name.toLowerCase() === wanted) ?? usable.find((d) => d.name.toLowerCase().includes(wanted));
  if (found === undefined) {
    throw new PortAudioError(`no output device matching "${device}" with ${channels} channels (have ${names()})`);
  }
  return found;
}

function wrapError(err: unknown): PortAudioError {
  if (err instanceof PortAudioError) return err;
  return new PortAudioError(err instanceof Error ? err.message : String(err), { cause: err });
}

/**
 * A PortAudio output stream that plays the PCM ring and appends one DAC timing entry per
 * callback. Keep it open for the daemon's life (silence when idle): start-up timestamps are
 * unreliable for a second or two. The rings stay referenced until close().
 */
export class OutputStream {
  private native: NativeStream | undefined;
  private readonly deviceIndex: number | undefined;
  // Held so the shared memory outlives the real-time callback even if the caller drops it.
  private readonly rings: { pcm: SharedArrayBuffer; timing: SharedArrayBuffer };

  constructor(options: OutputStreamOptions) {
    const a = requireAddon();
    const { sampleRate, channels } = options;
    if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 384000) {
      throw new PortAudioError(`sampleRate must be an integer in 8000..384000, got ${String(sampleRate)}`);
    }
    if (!Number.isInteger(channels) || channels < 1 || channels > 32) {
      throw new PortAudioError(`channels must be an integer in 1..32, got ${String(channels)}`);
    }
    if (!(options.pcmRing instanceof SharedArrayBuffer) || !(options.timingRing instanceof SharedArrayBuffer)) {
      throw new PortAudioError('pcmRing and timingRing must be SharedArrayBuffers (createPcmRing/createTimingRing)');
    }
    const header = readPcmRingHeader(options.pcmRing);
    if (header.channels !== channels || header.sampleFormat !== SAMPLE_FORMAT_INT16) {
      throw new PortAudioError(`PCM ring holds ${header.channels} ch format ${header.sampleFormat}, need ${channels} ch int16`);
    }
    if (header.sampleRate !== sampleRate) {
      throw new PortAudioError(`PCM ring is for ${header.sampleRate} Hz, stream asked for ${sampleRate} Hz`);
    }
    const api = options.api ?? 'portaudio';
    if (!OUTPUT_APIS.includes(api)) throw new PortAudioError(`api must be one of ${OUTPUT_APIS.join(', ')}, got ${String(api)}`);
    if (api === 'pulse' && a.hasPulse !== true) {
      throw new PortAudioError('this build of the audio addon has no PulseAudio backend: install libpulse-dev and run `npm run build:native -w packages/portaudio`');
    }
    if (api === 'pulse' && typeof options.device === 'number') throw new PortAudioError('a PulseAudio sink is chosen by name, not by index');
    this.deviceIndex = options.device === undefined || api === 'pulse' ? undefined : this.pickDevice(a, options.device, channels);
    this.rings = { pcm: options.pcmRing, timing: options.timingRing };
    const nativeOptions: Record<string, unknown> = {
      sampleRate,
      channels,
      framesPerBuffer: options.framesPerBuffer ?? DEFAULT_FRAMES_PER_BUFFER,
      suggestedLatencyS: options.suggestedLatencyS ?? DEFAULT_SUGGESTED_LATENCY_S,
      realtime: options.realtime ?? true,
      pcmRing: new Uint8Array(this.rings.pcm),
      timingRing: new Uint8Array(this.rings.timing),
    };
    if (this.deviceIndex !== undefined) nativeOptions['device'] = this.deviceIndex;
    if (api === 'pulse') {
      nativeOptions['api'] = 'pulse';
      const sink = typeof options.device === 'string' ? options.device.trim() : '';
      if (sink !== '') nativeOptions['pulseSink'] = sink;
    }
    try {
      this.native = new a.OutputStream(nativeOptions);
    } catch (err) {
      throw wrapError(err);
    }
  }

  private pickDevice(a: NativeAddon, device: number | string, channels: number): number {
    try {
      return resolveDevice(a.listDevices(false), device, channels).index;
    } catch {
      // A device plugged in after start-up only shows after a re-scan.
      return resolveDevice(this.safeList(a, true), device, channels).index;
    }
  }

  private safeList(a: NativeAddon, refresh: boolean): DeviceInfo[] {
    try {
      return a.listDevices(refresh);
    } catch (err) {
      throw wrapError(err);
    }
  }

  private call<T>(fn: (n: NativeStream) => T): T {
    if (this.native === undefined) throw new PortAudioError('stream is closed');
    try {
      return fn(this.native);
    } catch (err) {
      throw wrapError(err);
    }
  }

  start(): void {
    this.call((n) => n.start());
  }

  /** Stops callbacks at once (no drain); the ring keeps its contents. */
  stop(): void {
    this.call((n) => n.stop());
  }

  /** Idempotent. After close the addon no longer references the rings. */
  close(): void {
    const n = this.native;
    if (n === undefined) return;
    this.native = undefined;
    try {
      n.close();
    } catch (err) {
      throw wrapError(err);
    }
  }

  /**
   * Closes on a worker thread: resolves when closed, or with 'timeout' after `timeoutMs` if
   * PortAudio hangs in the close (its ALSA thread can spin after the audio server died; the stream
   * is then left to that thread, and this object is closed for every other use). Idempotent.
   */
  async closeAsync(timeoutMs = 2000): Promise<'closed' | 'timeout'> {
    const n = this.native;
    if (n === undefined) return 'closed';
    this.native = undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        n.closeAsync().then(() => 'closed' as const),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        }),
      ]);
      // A stream left behind: its thread may spin; it must not compete with the next stream.
      if (result === 'timeout') n.demoteCallbackThread?.();
      return result;
    } catch (err) {
      throw wrapError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  get closed(): boolean {
    return this.native === undefined;
  }

  get pcmRing(): SharedArrayBuffer {
    return this.rings.pcm;
  }

  get timingRing(): SharedArrayBuffer {
    return this.rings.timing;
  }

  info(): OutputStreamInfo {
    return { ...this.call((n) => n.info()), deviceIndex: this.deviceIndex };
  }

  stats(): OutputStreamStats {
    return this.call((n) => n.stats());
  }
}
