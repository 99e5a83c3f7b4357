// The member's first steps, taken before the rest of its modules load (the leader link, the message
// schemas, track handling, mDNS, pino: ~200 ms here): the audio output starts here, from a handful
// of small modules. The DAC clock's first lock counts from the sink's start
// (dac-clock.ts), so every millisecond the sink starts sooner is one sooner to the first sound; the
// workers (engine, simulated DAC) load their own modules on their own threads meanwhile.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hasPulseApi, listDevices, pulseServerInfo } from '@jaudiosync/portaudio';
import { CLOCK_MEMORY_FILE } from './clock/clock-memory.js';
import { ClockSource } from './clock/clock-source.js';
import { ClockSync } from './clock/clock-sync.js';
import { AudioEngine } from './audio/audio-engine.js';
import { describeAudioThreadPriority, type AudioThreadPriority } from './audio/audio-thread-priority.js';
import { CaptureSink } from './audio/capture-sink.js';
import { chooseOutputApi } from './audio/output-api.js';
import { PortAudioSink } from './audio/portaudio-sink.js';
import type { AudioSink } from './audio/sink.js';
import type { MemberConfig } from './config/member-config.js';
import type { LineLogger } from './deferred-log.js';

/** How long the start-up choice of audio library waits for a PulseAudio server to answer. */
const PULSE_PROBE_TIMEOUT_MS = 500;

export interface EarlyStart {
  clockSource: ClockSource;
  /** Its worker is not spawned yet: the daemon does that once its modules are loaded (it is needed
   *  only at the leader's welcome, and its start here slowed the sink's by ~30 ms on 2 cores). */
  clock: ClockSync;
  sink: AudioSink | null;
  engine: AudioEngine | null;
  /** The engine's start (worker, sink); rejects if it failed. Nothing runs while it is unobserved. */
  engineUp: Promise<void>;
  /** Why there is no audio output (to report to the leader), else null. */
  audioError: string | null;
}

export function startEarly(config: MemberConfig, log: LineLogger): EarlyStart {
  const clockSource = ClockSource.fromEnv();
  const runtimeDir = config.runtimeDir ?? config.stateDir;
  try {
    mkdirSync(runtimeDir, { recursive: true });
  } catch (e) {
    // Not fatal: the clock memory is not kept (a restart syncs from scratch), as logged by its writes.
    log.warn({ dir: runtimeDir, err: (e as Error).message }, 'runtime directory cannot be created');
  }
  // Its constructor only makes the shared model the engine reads; the daemon spawns its worker.
  const clock = new ClockSync({ clock: clockSource.params, mode: config.clock, memoryFile: join(runtimeDir, CLOCK_MEMORY_FILE) });
  const { sink, error } = createSink(config, log);
  let engine: AudioEngine | null = null;
  let engineUp: Promise<void> = Promise.resolve();
  if (sink) {
    engine = new AudioEngine({
      sink,
      clockShare: clock.share,
      clock: clockSource.params,
      outputRate: config.outputRate,
      targetFillMs: config.bufferMs,
      onLog: (level, message) => log[level]({ component: 'engine' }, message),
    });
    const started = engine;
    engineUp = engine.start().then(() => logThreadPriorities(started, sink, log));
    // Observed by the daemon's start later; until then a failure must not count as unhandled.
    engineUp.catch(() => {});
  }
  return { clockSource, clock, sink, engine, engineUp, audioError: error };
}

/** Logged when the engine is up (its time is in the join timeline: bench/join-timeline.ts). */
function logThreadPriorities(engine: AudioEngine, sink: AudioSink, log: LineLogger): void {
  const raised = Object.entries({ engine: engine.threadPriority, captureDac: sink instanceof CaptureSink ? sink.threadPriority : null })
    .filter((e): e is [string, AudioThreadPriority] => e[1] !== null);
  const threads = Object.fromEntries(raised.map(([name, p]) => [name, describeAudioThreadPriority(p)]));
  const allRealtime = raised.every(([, p]) => p.scheduling === 'fifo');
  log[allRealtime ? 'info' : 'warn']({ threads }, allRealtime ? 'audio threads real-time' : 'audio threads without real-time scheduling: a busy host can cause underruns (docs/audio-engine.md)');
}

function createSink(c: MemberConfig, log: LineLogger): { sink: AudioSink | null; error: string | null } {
  if (c.sink === 'none') return { sink: null, error: null };
  if (c.sink === 'capture') {
    const opts: ConstructorParameters<typeof CaptureSink>[0] = {
      sampleRate: c.outputRate,
      ratePpm: c.capturePpm,
      latencyMs: c.captureLatencyMs,
    };
    if (c.captureFile) opts.file = c.captureFile;
    return { sink: new CaptureSink(opts), error: null };
  }
  try {
    const { api, reason } = chooseOutputApi(c.audioApi, c.device, {
      hasPulse: hasPulseApi,
      pulseServer: () => pulseServerInfo(PULSE_PROBE_TIMEOUT_MS),
      portAudioDeviceNames: () => { try { return listDevices().map((d) => d.name); } catch { return []; } },
    });
    log.info({ audioApi: api }, `audio output through ${api === 'pulse' ? 'libpulse' : 'PortAudio'}: ${reason}`);
    const sink = new PortAudioSink({ api, device: c.device, sampleRate: c.outputRate, deviceRate: c.deviceRate, suggestedLatencyS: c.outputLatencyMs / 1000 });
    if (sink.sampleRate !== c.outputRate) log.warn({ deviceRate: sink.sampleRate, outputRate: c.outputRate }, `output device at ${sink.sampleRate} Hz: ${sink.rateReason}`);
    return { sink, error: null };
  } catch (err) {
    // No addon or no device: keep the daemon up (the leader sees the error) rather than exit.
    log.error({ err: (err as Error).message }, 'PortAudio output unavailable; no audio will play');
    return { sink: null, error: (err as Error).message };
  }
}
