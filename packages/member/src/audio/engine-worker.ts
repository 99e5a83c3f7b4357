// The audio engine's worker thread: every few ms tops the PCM ring up to a target fill, reading
// the DAC timing ring (DacClock), the clock model (ClockModelShare) and the decoded tracks (shared
// memory) so the real-time path never waits for the main event loop. Never throws out of its loop.
import { parentPort, workerData } from 'node:worker_threads';
import { positionAt, type Timeline } from '@jaudiosync/protocol/timeline';
import { ClockModelShare } from '../clock/clock-model.js';
import { isChannelMode } from './channel-mixer.js';
import { DacClock, type HostToLocalClock } from './dac-clock.js';
import { noisyReportsWarning } from './dac-report-quality.js';
import { DacTimingLog } from './dac-timing-log.js';
import { DacTimingRing } from './dac-timing-ring.js';
import { PcmRing } from './pcm-ring.js';
import { JUMP_THRESHOLD_US, Scheduler, type SchedulerSettings } from './scheduler.js';
import { ENGINE_WORKER_MARKER } from './engine-worker-marker.js';
import { PlaylistReader, TrackStore, type TrackSource } from './track-store.js';
import { currentKernelThreadId } from './audio-thread-priority.js';
import { scheduleGarbageCollection } from './collect-garbage.js';

/** Marks our workerData (the module is only a worker entry point). */
export { ENGINE_WORKER_MARKER };
/** Stats are posted this often: the member reports its state to the leader once a second
 *  (member-daemon.ts), and each message wakes the main thread (4 a second until 2026-12-07). */
export const ENGINE_STATS_INTERVAL_MS = 1000;
/** At most one log line per this interval per kind of message (an error every tick must not flood). */
const LOG_INTERVAL_MS = 5_000;

export interface EngineClockParams {
  /** Injected offset/rate of the member's ClockSource: localUs = hostMonoUs * (1 + ratePpm/1e6) + offsetUs. */
  offsetUs: number;
  ratePpm: number;
}

export interface EngineWorkerData {
  marker: typeof ENGINE_WORKER_MARKER;
  pcmRing: SharedArrayBuffer;
  timingRing: SharedArrayBuffer;
  clockShare: SharedArrayBuffer;
  clock: EngineClockParams;
  outputRate: number;
  targetFillFrames: number;
  tickMs: number;
  /** null: the scheduler's JUMP_THRESHOLD_US. */
  jumpThresholdUs: number | null;
  rejectZeroDelay: boolean;
  trustedReports: boolean;
  /** The timing ring's count when this engine started its sink: its entries from there on are this stream's. */
  firstTimingIndex: number;
}

export type EngineWorkerCommand =
  | { type: 'timeline'; timeline: Timeline | null }
  | { type: 'settings'; settings: SchedulerSettings }
  | { type: 'addTrack'; id: string; source: TrackSource; frames: number }
  | { type: 'removeTrack'; id: string }
  | { type: 'resync' }
  /** The output was lost and is being reopened: a new stream is a new DAC timeline. */
  | { type: 'outputRestart' }
  | { type: 'stop' };

export interface EngineStats {
  running: boolean;
  underruns: number;
  underrunFrames: number;
  /** DAC (and local clock) vs leader timescale, ppm; + = the DAC consumes frames faster. */
  driftPpm: number;
  /** Current PI correction on top of the measured ratio, ppm. */
  correctionPpm: number;
  /** Frames rendered with a ratio other than exactly 1 (resampled instead of dropped/duplicated). */
  resampledFrames: number;
  jumps: number;
  /** Engine position minus wanted position at the last chunk, µs (+: ahead). */
  lastErrorUs: number;
  locked: boolean;
  position: { rev: number; index: number; frame: number; playing: boolean; leaderUs: number } | null;
  /** From now to the DAC time of the next frame the sink reads, µs (>= 0); NaN until the DAC fit is ready. */
  dacLatencyUs: number;
  dacRatePpm: number;
  dacResidualUs: number;
  dacReady: boolean;
  /** DAC clock re-anchors: phase steps while locked (device xruns) + fit restarts (start-up stall). */
  dacResyncs: number;
  /** Of those, the phase steps while locked. */
  dacDiscontinuities: number;
  ringFillFrames: number;
  renderedFrames: number;
  silentFrames: number;
  tracks: number;
  errors: number;
}

export type EngineWorkerMessage =
  | { type: 'started'; tid: number }
  | { type: 'stats'; stats: EngineStats }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'stopped' };

/** Taken once: in a worker, `process` is a global accessor, and looking it up on every tick's cold
 *  caches cost more than the clock read itself (~5 % of this thread, perf, issue #18). */
const hrtimeNs = process.hrtime.bigint;

function hostMonoUs(): number {
  return Number(hrtimeNs()) / 1000;
}

function localClockOf(p: EngineClockParams): HostToLocalClock & { nowUs(): number } {
  const k = 1 + p.ratePpm / 1e6;
  return {
    fromHostMonoUs: (us) => us * k + p.offsetUs,
    toHostMonoUs: (us) => (us - p.offsetUs) / k,
    nowUs: () => hostMonoUs() * k + p.offsetUs,
  };
}

class EngineLoop {
  private readonly ring: PcmRing;
  private readonly timing: DacTimingRing;
  private readonly share: ClockModelShare;
  private readonly clock: HostToLocalClock & { nowUs(): number };
  private readonly dac: DacClock;
  private readonly store = new TrackStore();
  private readonly sched: Scheduler;
  private readonly reader: PlaylistReader;
  private timeline: Timeline | null = null;
  private nextTimingIndex = 0;
  private modelSeq = -1;
  private running = true;
  private timer: NodeJS.Timeout | null = null;
  private lastStatsUs = 0;
  private lastTickUs = 0;
  /** The PCM ring's target fill, µs. */
  private readonly ringUs: number;
  private errors = 0;
  private dacSteps = 0;
  private noisyReportsWarned = false;
  /** The start-up milestones were logged (once per engine: the member's join timeline). */
  private dacReadyLogged = false;
  private firstAudioLogged = false;
  /** Host ns of the first sink callback this engine saw (the start-up log measures from it). */
  private firstCallbackNs: bigint | null = null;
  private readonly lastLogUs = new Map<string, number>();
  /** JAS_DAC_TIMING_LOG (diagnosis): every timing entry read, for replaying a DAC model. */
  private readonly timingLog: DacTimingLog | null;
  private timingLogError: string | null;

  constructor(private readonly d: EngineWorkerData) {
    this.ring = new PcmRing(d.pcmRing);
    this.ringUs = (d.targetFillFrames / this.ring.sampleRate) * 1e6;
    this.timing = new DacTimingRing(d.timingRing);
    this.share = new ClockModelShare(d.clockShare);
    this.clock = localClockOf(d.clock);
    this.dac = new DacClock({ nominalRate: this.ring.sampleRate, clock: this.clock, rejectZeroDelay: d.rejectZeroDelay, trustedReports: d.trustedReports });
    ({ log: this.timingLog, error: this.timingLogError } = DacTimingLog.open(process.env['JAS_DAC_TIMING_LOG']));
    this.reader = new PlaylistReader(this.store);
    this.sched = new Scheduler(
      { outputRate: d.outputRate, deviceRate: this.ring.sampleRate, clock: this.clock, jumpThresholdUs: d.jumpThresholdUs ?? JUMP_THRESHOLD_US },
      this.dac,
      this.reader,
    );
    if (this.ring.channels !== 2) throw new Error(`engine: the PCM ring must be stereo, has ${this.ring.channels} channels`);
    // The entries since our sink started (it starts beside this worker), or the newest ones of a
    // sink that was already running (a restarted engine).
    this.nextTimingIndex = Math.max(0, Math.min(d.firstTimingIndex, this.timing.count - 64));
  }

  start(): void {
    this.tick();
  }

  command(c: EngineWorkerCommand): void {
    try {
      switch (c.type) {
        case 'timeline': {
          // Validated where it entered: the codec (network) and AudioEngine.setTimeline (this thread's only source).
          this.timeline = c.timeline;
          this.sched.setTimeline(c.timeline);
          return;
        }
        case 'settings': {
          const s = c.settings;
          if (!(s.volume >= 0 && s.volume <= 1) || !Number.isFinite(s.atUs) || !Number.isFinite(s.outputDelayUs) || !isChannelMode(s.channelMode)) {
            return this.log('warn', 'settings', 'settings refused: bad values');
          }
          this.sched.setSettings(s);
          return;
        }
        case 'addTrack': {
          const err = this.store.addSource(c.id, c.source, c.frames);
          if (err !== null) this.log('warn', 'track', err);
          return;
        }
        case 'removeTrack':
          // Between ticks, the ring 100+ ms ahead: return the track's memory now (collect-garbage.ts).
          // The reader lets go of the dropped track's view first, or the collection would keep it.
          if (this.store.remove(c.id)) {
            this.reader.sync();
            scheduleGarbageCollection();
          }
          return;
        case 'resync':
          this.sched.resync();
          return;
        case 'outputRestart':
          // Entries of the lost stream still in the ring belong to the old timeline: skip them. The
          // DAC clock relocks on the new stream's entries (1.5 s), the scheduler writes silence until
          // then and fades in at the frame the timeline wants.
          this.nextTimingIndex = this.timing.count;
          this.dac.reset();
          this.sched.resync();
          return;
        case 'stop':
          this.stop();
          return;
      }
    } catch (e) {
      this.errors++;
      this.log('error', 'command', `engine command ${c.type} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private stop(): void {
    this.running = false;
    this.timingLog?.close();
    if (this.timer !== null) clearTimeout(this.timer);
    this.postStats();
    parentPort?.postMessage({ type: 'stopped' } satisfies EngineWorkerMessage);
    parentPort?.close();
  }

  private tick(): void {
    if (!this.running) return;
    const now = hostMonoUs();
    const gapUs = now - this.lastTickUs;
    // A stall over half the ring is the first sign of an underrun to come: say so, with its size.
    if (this.lastTickUs > 0 && gapUs > this.ringUs / 2) {
      this.log('warn', 'stall', `engine thread stalled ${(gapUs / 1000).toFixed(1)} ms (the PCM ring holds ${(this.ringUs / 1000).toFixed(0)} ms): a busy host or a priority problem (docs/audio-engine.md, "Thread priorities")`);
    }
    this.lastTickUs = now;
    try {
      this.step(now);
    } catch (e) {
      // Never let an error stop the audio: silence is written by the next step, resync now.
      this.errors++;
      this.sched.resync();
      this.log('error', 'tick', `engine step failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    // One Timeout re-armed each tick instead of a new one (less garbage per tick).
    if (this.timer === null) this.timer = setTimeout(() => this.tick(), this.d.tickMs);
    else this.timer.refresh();
  }

  private step(now: number): void {
    const seq = this.share.sequence();
    if (seq !== this.modelSeq) {
      const m = this.share.read();
      if (m !== null || (seq & 1) === 0) {
        this.modelSeq = seq;
        this.sched.setClockModel(m);
      }
    }
    const entries = this.timing.since(this.nextTimingIndex);
    for (const e of entries) {
      this.dac.add(e);
      this.timingLog?.add(e);
    }
    const last = entries[entries.length - 1];
    if (last !== undefined) this.nextTimingIndex = last.index + 1;
    if (this.firstCallbackNs === null && entries[0] !== undefined) this.firstCallbackNs = entries[0].callbackTimeNs;
    if (this.dac.discontinuityCount !== this.dacSteps) {
      this.dacSteps = this.dac.discontinuityCount;
      this.log('warn', 'dac-step', `DAC timeline stepped by ${(this.dac.lastStepUs / 1000).toFixed(2)} ms (device xrun?): re-anchored, rate kept (${this.dacSteps} so far)`);
    }

    if (!this.dacReadyLogged && this.dac.ready) {
      this.dacReadyLogged = true;
      const sinceFirstMs = this.firstCallbackNs === null ? Number.NaN : Number(process.hrtime.bigint() - this.firstCallbackNs) / 1e6;
      this.log('info', 'dac-ready', `DAC clock locked, ${sinceFirstMs.toFixed(0)} ms after the sink's first buffer`);
    }
    const want = this.d.targetFillFrames - this.ring.fillFrames;
    if (want > 0) {
      const pos = this.ring.writePos;
      const region = this.ring.reserve(want);
      const firstFrames = region.first.length / 2;
      this.sched.render(pos, region.first, firstFrames);
      if (region.second.length > 0) this.sched.render(pos + firstFrames, region.second, region.second.length / 2);
      this.ring.commit(region.frames);
    }
    if (!this.firstAudioLogged && this.sched.stats.renderedFrames > 0) {
      this.firstAudioLogged = true;
      this.log('info', 'first-audio', `first audio placed, ${((this.ring.fillFrames / this.ring.sampleRate) * 1000).toFixed(0)} ms ahead of the sink`);
    }
    const err = this.sched.takeError();
    if (err !== null) {
      this.errors++;
      this.log('error', 'render', `render failed (resyncing): ${err}`);
    }
    // The tick's start time: stats are once a second, a few ms either way do not matter.
    if (now - this.lastStatsUs >= ENGINE_STATS_INTERVAL_MS * 1000) {
      this.lastStatsUs = now;
      this.postStats();
    }
  }

  private postStats(): void {
    this.timingLog?.flush();
    if (!this.noisyReportsWarned && this.dac.ready) {
      const warning = noisyReportsWarning(this.dac.sources, this.dac.counters().window);
      if (warning !== null) {
        this.noisyReportsWarned = true; // once per engine: the device does not change
        this.log('warn', 'dac-reports', warning);
      }
    }
    if (this.timingLogError !== null) {
      this.log('warn', 'timing-log', this.timingLogError); // once: the log is for diagnosis only
      this.timingLogError = null;
    }
    const s = this.sched.stats;
    const readPos = this.ring.readPos;
    let position: EngineStats['position'] = null;
    const L = this.sched.leaderUsOfRingPos(readPos);
    if (this.timeline !== null && Number.isFinite(L)) {
      const p = positionAt(this.timeline, Math.floor(L));
      position = p.ended
        ? { rev: this.timeline.rev, index: -1, frame: 0, playing: false, leaderUs: Math.floor(L) }
        : { rev: this.timeline.rev, index: p.index, frame: p.frame, playing: p.playing, leaderUs: Math.floor(L) };
    }
    // Before the first lock the fit may hold start-up garbage: no figure rather than a wrong one.
    // The sink reads ahead of the DAC, so its next frame is never in the past (clamp fit noise).
    const dacAt = this.dac.ready ? this.dac.dacTimeOfRingPos(readPos) : Number.NaN;
    const stats: EngineStats = {
      running: this.running,
      underruns: this.ring.underrunEvents,
      underrunFrames: this.ring.underrunFrames,
      driftPpm: s.driftPpm,
      correctionPpm: s.correctionPpm,
      resampledFrames: s.resampledFrames,
      jumps: s.jumps,
      lastErrorUs: s.lastErrorUs,
      locked: s.locked,
      position,
      dacLatencyUs: Number.isFinite(dacAt) ? Math.max(0, dacAt - this.clock.nowUs()) : Number.NaN,
      dacRatePpm: this.dac.ratePpm,
      dacResidualUs: this.dac.residualRmsUs,
      dacReady: this.dac.ready,
      dacResyncs: this.dac.discontinuityCount + this.dac.resetCount,
      dacDiscontinuities: this.dac.discontinuityCount,
      ringFillFrames: this.ring.fillFrames,
      renderedFrames: s.renderedFrames,
      silentFrames: s.silentFrames,
      tracks: this.store.size,
      errors: this.errors,
    };
    parentPort?.postMessage({ type: 'stats', stats } satisfies EngineWorkerMessage);
  }

  private log(level: 'info' | 'warn' | 'error', kind: string, message: string): void {
    const now = hostMonoUs();
    const last = this.lastLogUs.get(kind);
    if (last !== undefined && now - last < LOG_INTERVAL_MS * 1000) return;
    this.lastLogUs.set(kind, now);
    parentPort?.postMessage({ type: 'log', level, message } satisfies EngineWorkerMessage);
  }
}

const data = workerData as EngineWorkerData | undefined;
if (parentPort !== null && data?.marker === ENGINE_WORKER_MARKER) {
  const loop = new EngineLoop(data);
  parentPort.on('message', (c: EngineWorkerCommand) => loop.command(c));
  parentPort.postMessage({ type: 'started', tid: currentKernelThreadId() } satisfies EngineWorkerMessage);
  loop.start();
}
