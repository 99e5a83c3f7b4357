// The member daemon: composes clock sync, the audio engine and its sink, the track cache/decoder
// and the leader link. Owns no timing itself: the clock worker and the engine worker do. Every
// message from the leader is already validated by the link; here it becomes engine state.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { netstampUnavailableReason } from '@jaudiosync/netstamp';
import {
  PROTOCOL_VERSION,
  restToken,
  type LeaderMessage,
  type MessageOf,
  type MessageInput,
  type Timeline,
} from '@jaudiosync/protocol';
// The decoder's front only: the decoders themselves load in its worker (not at every start).
import { TrackDecoder } from '@jaudiosync/media/track-decoder';
import type { ClockSync } from './clock/clock-sync.js';
import type { ClockSource } from './clock/clock-source.js';
import type { PriorContradiction, PriorState } from './clock/time-filter.js';
import type { AudioEngine } from './audio/audio-engine.js';
import type { AudioSink } from './audio/sink.js';
import type { EarlyStart } from './early-start.js';
import type { MemberConfig } from './config/member-config.js';
import { SettingsStore, type MemberSettings } from './config/settings-store.js';
import { LeaderLink } from './link/leader-link.js';
import type { MdnsAdvertiser } from './link/mdns-advertiser.js';
import { TrackCache } from './tracks/track-cache.js';
import { TrackManager } from './tracks/track-manager.js';
import { startMallocTrim, trimMemory } from './memory-tuning.js';
import { fromTimelineMessage } from '@jaudiosync/protocol/timeline-message';
import { planningNowUs, planTracks, type WelcomeTime } from './tracks/track-plan.js';

export const SOFTWARE_VERSION = '0.1.0';
/** State reports to the leader: often enough for live plots, cheap enough for 32 members. */
export const STATE_REPORT_MS = 1000;
/** How often the set of tracks to keep decoded is re-evaluated against the timeline. */
export const TRACK_PLAN_MS = 500;
const MAX_REPORTED_ERRORS = 10;
/** The decode worker exits this long after its last job: its isolate, wasm decoders and heap
 *  (~40 MB) are not needed between tracks minutes apart; a respawn costs ~50 ms. */
const DECODER_IDLE_MS = 2000;
/** Subdirectory of the cache directory for decoded tracks being streamed (not cached files). */
const DECODED_DIR = 'decoded';

interface ReportedError {
  code: string;
  message: string;
  atUs?: number;
}

export class MemberDaemon {
  private readonly clockSource: ClockSource;
  private readonly clock: ClockSync;
  private readonly sink: AudioSink | null;
  private readonly engine: AudioEngine | null;
  private readonly engineUp: Promise<void>;
  private readonly decoder: TrackDecoder;
  private readonly cache: TrackCache;
  private readonly tracks: TrackManager;
  private readonly link: LeaderLink;
  private advertiser: MdnsAdvertiser | null = null;
  private readonly store: SettingsStore;
  private settings: MemberSettings;
  private timeline: Timeline | null = null;
  private errors: ReportedError[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopMallocTrim: (() => void) | null = null;
  private port = 0;
  /** Leader time in the last welcome and our local time then: a rough clock before NTP sync. */
  private welcomeTime: WelcomeTime | null = null;

  /** `early`: the audio output and clock worker, started before this module loaded (early-start.ts). */
  constructor(private readonly config: MemberConfig, private readonly log: Logger, early: EarlyStart) {
    this.clockSource = early.clockSource;
    this.clock = early.clock;
    this.sink = early.sink;
    this.engine = early.engine;
    this.engineUp = early.engineUp;
    if (early.audioError !== null) this.pushError('JAS_ERR_AUDIO_DEVICE', early.audioError);
    this.store = new SettingsStore(config.stateDir);
    const saved = this.store.load();
    this.settings = saved.settings;
    // Low-priority decode thread (nice 19 by default) that exits once idle, returning its heap.
    this.decoder = new TrackDecoder({ idleMs: DECODER_IDLE_MS });
    this.cache = new TrackCache({
      dir: config.cacheDir, maxBytes: config.cacheMaxMb * 1024 * 1024, bearerToken: config.key ? restToken(config.key) : undefined,
      releaseMemory: () => void trimMemory(), // a failure is logged once by the periodic trim
    });
    this.tracks = new TrackManager(this.cache, {
      decode: (input, opts, cb) => this.decoder.decode(input, {
        outputRate: opts.outputRate, channels: 2,
        ...(opts.target ? { target: opts.target } : {}), ...(opts.targetFile ? { targetFile: opts.targetFile } : {}),
      }, {
        onProgress: (p) => cb?.onProgress?.(p.totalBytes > 0 ? p.bytesRead / p.totalBytes : 0),
        ...(cb?.signal ? { signal: cb.signal } : {}),
      }),
    }, {
      addTrack: (id, source, frames) => {
        this.log.info({ trackId: id.slice(0, 12), source: source.kind }, 'track handed to the engine');
        this.reportRejection('track', this.engine?.addTrack(id, source, frames) ?? null);
      },
      removeTrack: (id) => this.engine?.removeTrack(id),
    }, config.outputRate, (trackId, reason) => this.onTrackError(trackId, reason), {
      // Decoded tracks stream from disk beside the cache (docs/media.md): ~5 MB each in memory.
      dir: join(config.cacheDir, DECODED_DIR),
      tag: `${SOFTWARE_VERSION}/${config.outputRate}`,
      onError: (message) => this.log.warn({ component: 'tracks' }, message),
    });
    this.link = new LeaderLink({ host: config.listenHost, port: config.port, hello: () => this.hello(), key: config.key });
  }

  async start(): Promise<void> {
    if (this.engine) this.reportRejection('settings', this.engine.setSettings(this.settings));
    // The clock worker loads its modules now, not when the leader's welcome names the server (and
    // not before this module loaded: the audio output's start comes first, early-start.ts).
    if (this.config.clock === 'leader') this.clock.prepare();
    if (this.config.leader && this.config.clock === 'leader') this.clock.start({ host: this.config.leader, port: this.config.ntpPort });
    if (this.config.clock === 'system') this.clock.start({ host: 'localhost', port: 0 });

    this.clock.on('timestamps', (kernel: boolean) => {
      if (kernel) this.log.info('NTP exchanges timed by the kernel');
      else this.log.warn({ reason: netstampUnavailableReason() ?? 'the NTP socket has no usable descriptor' }, 'NTP exchanges timed in user space, not by the kernel: the clock is less precise (docs/clock.md, "Kernel timestamps")');
    });
    // The memory's 'in use' can be over (superseded by a fresh fit, which the fast first sync makes
    // take well under a second) before the worker's next stats message: the synced event tells too.
    let memoryLogged = false;
    const logMemoryInUse = (): void => {
      if (!memoryLogged) this.log.info('clock synced at once from the clock memory (restarted on the same boot)');
      memoryLogged = true;
    };
    this.clock.on('synced', (s: { samples: number; uncertaintyUs: number; prior: PriorState }) => {
      this.log.info({ samples: s.samples, uncertaintyUs: Math.round(s.uncertaintyUs), fromMemory: s.prior === 'in use' }, 'clock synced');
      if (s.prior === 'in use') logMemoryInUse();
    });
    this.clock.on('prior', (state: PriorState, why: PriorContradiction | null) => {
      if (state === 'in use') logMemoryInUse();
      else if (state === 'rejected') {
        const detail = why === null ? {} : { missUs: Math.round(why.missUs), boundUs: Math.round(why.boundUs), agreedSamples: why.agreed };
        this.log.warn(detail, 'clock memory contradicted by the leader: syncing from scratch');
      }
    });
    this.link.on('connected', (addr) => this.log.info({ leader: addr }, 'leader connected'));
    this.link.on('disconnected', (reason) => this.log.warn({ reason }, 'leader disconnected; playing on from the last timeline'));
    this.link.on('invalid', (error, addr) => {
      this.log.warn({ from: addr, code: error.code, field: error.field }, error.message);
      this.pushError(error.code, error.message);
    });
    this.link.on('refused', (reason, addr) => this.log.error({ leader: addr, reason }, `leader refused this member: ${reason}`));
    this.link.on('message', (msg, addr) => this.onMessage(msg, addr));
    // The audio engine started before this module loaded (early-start.ts: the DAC clock's first lock
    // counts from its sink's start); discovery, the leader's connection and the clock's first sync
    // run beside it. The engine keeps what it is given before it runs (timeline, tracks, settings).
    this.port = await this.link.listen();
    this.log.info({ port: this.port }, 'member listening');
    // Advertise the port really bound (`--port 0` picks one). mDNS (multicast-dns and the responder:
    // 10-30 ms to load) is loaded only by a member that advertises, and after the listen: the
    // leader's retries reach a restarted member without it.
    if (this.config.mdns) {
      const { MdnsAdvertiser } = await import('./link/mdns-advertiser.js');
      this.advertiser = new MdnsAdvertiser({ id: this.config.id, port: this.port, log: this.log, avahiServiceFile: this.config.avahiServiceFile });
      await this.advertiser.start();
    }
    // Started (and its thread priorities logged) by early-start.ts; a failed start fails the daemon's.
    await this.engineUp;
    this.timers.push(setInterval(() => this.sendState(), STATE_REPORT_MS));
    this.timers.push(setInterval(() => this.applyTrackPlan(), TRACK_PLAN_MS));
    // Free heap pages go back to the kernel now and then (memory-tuning.ts); stops if it cannot.
    this.stopMallocTrim = startMallocTrim((reason) => this.log.info({ reason }, 'free heap pages are not returned to the kernel (no malloc_trim)'));
    this.log.info({ id: this.config.id, port: this.port, sink: this.sink?.kind ?? 'none', clock: this.config.clock, keyFingerprint: this.config.key?.fingerprint ?? null }, 'member ready');
    if (!this.config.key) this.log.warn('no shared key: any host on the network can act as this member\'s leader (development only; see docs/security.md)');
  }

  get listenPort(): number {
    return this.port;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.stopMallocTrim?.();
    this.stopMallocTrim = null;
    await this.advertiser?.stop();
    await this.link.close();
    await this.engine?.stop(); // stops the sink too
    await this.clock.stop();
    await this.decoder.close();
    await this.tracks.close();
  }

  private hello(): MessageInput {
    return {
      type: 'hello',
      memberId: this.config.id,
      hostname: hostname().slice(0, 253),
      version: SOFTWARE_VERSION,
      outputRate: this.config.outputRate,
      channels: 2,
      sink: this.sink?.kind ?? 'none',
      clockMode: this.config.clock,
    } as MessageInput;
  }

  private onMessage(msg: LeaderMessage, remote: string): void {
    switch (msg.type) {
      case 'welcome':
        this.onWelcome(msg, remote);
        break;
      case 'timeline':
        this.onTimeline(msg);
        break;
      case 'settings':
        this.settings = { volume: msg.volume, atUs: msg.atUs, outputDelayUs: msg.outputDelayUs, channelMode: msg.channelMode };
        this.reportRejection('settings', this.engine?.setSettings(this.settings) ?? null);
        this.persist();
        break;
      case 'ping':
        this.link.send({ type: 'pong', seq: msg.seq, echoUs: msg.sentUs } as MessageInput);
        break;
      case 'error':
        this.log.warn({ code: msg.code, field: msg.field }, `leader reported: ${msg.message}`);
        break;
    }
  }

  private onWelcome(msg: MessageOf<'welcome'>, remote: string): void {
    this.welcomeTime = { leaderUs: msg.serverTimeUs, localUs: this.clockSource.nowUs() };
    if (this.config.clock === 'leader') this.clock.setServer({ host: remote, port: msg.ntpPort, ...(msg.timescaleId !== undefined ? { timescaleId: msg.timescaleId } : {}) });
    this.tracks.setBaseUrl(trackUrlFor(msg.trackBaseUrl, remote));
    this.log.info({ leaderId: msg.leaderId, ntpPort: msg.ntpPort }, 'welcomed by leader');
  }

  private onTimeline(msg: MessageOf<'timeline'>): void {
    const tl = fromTimelineMessage(msg);
    const rejected = this.engine?.setTimeline(tl) ?? null;
    if (rejected) {
      this.reportRejection('timeline', rejected);
      return;
    }
    this.timeline = tl;
    this.persist();
    this.applyTrackPlan();
  }

  /** Keeps decoded what plays now and next for every revision not yet superseded. */
  private applyTrackPlan(): void {
    const tl = this.timeline;
    const nowUs = planningNowUs(this.clock.leaderNowUs(), this.welcomeTime, this.clockSource.nowUs());
    if (!tl || tl.tracks.length === 0 || nowUs === null) return;
    const plan = planTracks(tl, nowUs);
    this.tracks.want(tl, plan.indices, plan.startFrames);
    // The rest of the playlist, in playing order from the current track, into the disk cache.
    this.tracks.prefetch(plan.prefetchOrder);
  }

  private sendState(): void {
    if (!this.link.connected) return;
    void this.cache.list().then((cached) => {
      const m = this.clock.model();
      const nowLocal = this.clockSource.nowUs();
      const e = this.engine?.stats();
      const output = this.engine?.outputStatus() ?? null;
      const warning = this.cache.warning();
      const errors = warning ? [...this.errors, warning] : this.errors;
      const state = {
        type: 'state',
        memberId: this.config.id,
        clock: {
          mode: this.config.clock,
          synced: m?.synced ?? false,
          offsetUs: m ? Math.round(m.leaderRefUs + (nowLocal - m.localRefUs) * (1 + m.rate) - nowLocal) : 0,
          uncertaintyUs: Math.round(m?.uncertaintyUs ?? 1e9),
          rttUs: Math.round(m?.rttUs ?? 0),
          ratePpm: (m?.rate ?? 0) * 1e6,
          samples: m?.samples ?? 0,
        },
        cache: { trackIds: cached.ids.slice(0, 1000), bytes: cached.bytes },
        decode: this.tracks.statuses().map((s) => (s.error ? { trackId: s.trackId, progress: s.progress, error: s.error.slice(0, 500) } : { trackId: s.trackId, progress: s.progress })),
        // The engine reports index -1 before any revision applies: nothing to report then.
        ...(e?.position && e.position.index >= 0 && e.position.rev >= 0 ? { position: { rev: e.position.rev, index: e.position.index, frame: e.position.frame, leaderUs: Math.max(0, Math.round(e.position.leaderUs)) } } : {}),
        audio: {
          sink: this.sink?.kind ?? 'none',
          underruns: e?.underruns ?? 0,
          driftPpm: e?.driftPpm ?? 0,
          correctionPpm: e?.correctionPpm ?? 0,
          // We resample fractionally instead of dropping/duplicating frames.
          dropped: 0,
          duplicated: 0,
          // A DAC fit still settling can put it below 0 for a moment; the wire type is a duration,
          // and one out-of-range field would get the whole report refused by the leader.
          // The engine reports NaN until its DAC fit is ready; the schema wants an integer >= 0.
          dacLatencyUs: e && Number.isFinite(e.dacLatencyUs) ? Math.max(0, Math.round(e.dacLatencyUs)) : 0,
          dacResyncs: e?.dacResyncs ?? 0,
          // Only while the drift loop follows a playing stream: otherwise there is no error to tell.
          ...(e && e.locked && e.position?.playing === true && Number.isFinite(e.lastErrorUs) ? { syncErrorUs: Math.round(e.lastErrorUs * 10) / 10 } : {}),
          ...(output ? { output: { lost: output.lost, restarts: output.restarts, ...(output.reason !== null ? { reason: output.reason.slice(0, 500) } : {}), ...(output.lastGapMs !== null ? { lastGapMs: output.lastGapMs } : {}) } } : {}),
        },
        errors: errors.slice(-MAX_REPORTED_ERRORS).map((x) => ({ code: x.code, message: x.message.slice(0, 500) })),
      };
      this.link.send(state as unknown as MessageInput);
    }).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'state report failed'));
  }

  private onTrackError(trackId: string, reason: string): void {
    this.log.error({ trackId, reason }, 'track unavailable; playing silence for its slot');
    this.pushError('JAS_ERR_TRACK', `${trackId.slice(0, 12)}: ${reason}`);
    this.link.send({ type: 'track-error', trackId, reason: reason.slice(0, 500) } as MessageInput);
  }

  private reportRejection(what: string, error: string | null): void {
    if (error === null) return;
    this.log.error({ what }, `engine refused ${what}: ${error}`);
    this.pushError('JAS_ERR_VALIDATION', `${what}: ${error}`);
  }

  private pushError(code: string, message: string): void {
    this.errors.push({ code, message });
    if (this.errors.length > MAX_REPORTED_ERRORS) this.errors.shift();
  }

  private persist(): void {
    const err = this.store.save(this.settings, this.timeline);
    if (err) this.pushError('JAS_ERR_INTERNAL', err);
  }
}

/** The leader may not know which of its addresses we reach it by: use the one we saw. */
export function trackUrlFor(advertised: string, remote: string): string {
  try {
    const url = new URL(advertised);
    const unspecified = ['0.0.0.0', '::', '[::]', 'localhost', '127.0.0.1'].includes(url.hostname);
    if (unspecified && remote && remote !== '127.0.0.1' && remote !== '::1') url.hostname = remote.includes(':') ? `[${remote}]` : remote;
    return url.toString();
  } catch {
    return advertised;
  }
}

export { PROTOCOL_VERSION };
