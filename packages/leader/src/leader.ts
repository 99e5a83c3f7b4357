// Composition of the leader daemon: clock (timescale + NTP server), playlist catalog, timeline
// controller, member discovery and connections, persisted state, and the HTTP server (REST, SSE,
// /tracks). Wires events between them; owns start-up order and graceful shutdown.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { JasError } from '@jaudiosync/protocol/errors';
import type { MessageInput } from '@jaudiosync/protocol/messages';
import { PROTOCOL_VERSION } from '@jaudiosync/protocol/version';
import type { Timeline } from '@jaudiosync/protocol/timeline';
import { netstampUnavailableReason } from '@jaudiosync/netstamp';
// Subpaths, not the package's index: the index would load the decoders, the resampler and the
// cover codecs into the main thread, which never runs them (decoding and resizing run in workers).
import { MAX_ARTWORK_BYTES, readArtwork } from '@jaudiosync/media/track-tags';
import { resizeCover } from '@jaudiosync/media/cover-resize-worker';
import type { LeaderConfig } from './leader-config.js';
import type { LeaderClock } from './leader-clock.js';
import { createHttpServer } from './http/http-server.js';
import { registerRestRoutes, type PlaylistLoadReply } from './http/rest-routes.js';
import { registerUiRoutes } from './http/ui-routes.js';
import { registerTrackRoutes } from './http/track-routes.js';
import { calibrationRoutes } from './http/calibration-routes.js';
import { CalibrationRunner } from './calibration/calibration-runner.js';
import { Discovery } from './members/discovery.js';
import { MemberConnection } from './members/member-connection.js';
import { MemberRegistry } from './members/member-registry.js';
import { parsePlaylistBytes, parsePlaylistFile, type PlaylistProblem } from './playlist/m3u8-parser.js';
import { WorkerTrackAnalyzer, type TrackAnalyzer } from './playlist/track-analyzer.js';
import { TrackCatalog, type CatalogTrack } from './playlist/track-catalog.js';
import { loudnessSettingsProblem, trackGains, type LoudnessSettings } from './playlist/loudness-gain.js';
import type * as Rest from '@jaudiosync/protocol/rest';
import { LeaderStateStore } from './state/leader-state-store.js';
import { WallClock } from './clock/wall-clock.js';

// LeaderDeps takes one (tests give the leader a wrong clock).
export { WallClock } from './clock/wall-clock.js';
import { TimelineController, type MemberSettings } from './timeline/timeline-controller.js';
import { toTimelineMessage } from '@jaudiosync/protocol/timeline-message';

export const LEADER_VERSION = '0.1.0';
/** Covers kept in memory (each at most MAX_ARTWORK_BYTES: 2 MiB in all). */
const ARTWORK_CACHE_ENTRIES = 4;
/** Timeline titles are limited on the wire (messages.ts). */

export interface LeaderDeps {
  log: Logger;
  clock: LeaderClock;
  analyzer?: TrackAnalyzer;
  wallNowMs?(): number;
  /** The wall clock for times of day (default: the system clock, settable from a phone). */
  wallClock?: WallClock;
}

export function settingsMessage(s: MemberSettings, atUs: number): MessageInput {
  return { type: 'settings', volume: s.volume, atUs: Math.max(0, Math.round(atUs)), outputDelayUs: Math.round(s.outputDelayMs * 1000), channelMode: s.channelMode };
}

export class Leader {
  readonly events = new EventEmitter();
  readonly controller: TimelineController;
  readonly catalog: TrackCatalog;
  readonly registry: MemberRegistry;
  readonly discovery: Discovery;
  readonly app: FastifyInstance;
  readonly wallClock: WallClock;
  readonly calibration: CalibrationRunner;
  private readonly store: LeaderStateStore;
  private playlistPathValue: string | undefined;
  private problems: PlaylistProblem[] = [];
  private loading = false;
  private closed = false;
  private readonly analyzer: TrackAnalyzer;
  private httpPort: number;
  private readonly artworkCache = new Map<string, { data: Uint8Array; mime: string }>();
  private loudnessValue: LoudnessSettings;

  constructor(private readonly config: LeaderConfig, private readonly deps: LeaderDeps) {
    const log = deps.log;
    const timescale = deps.clock.timescale;
    this.httpPort = config.httpPort;
    this.wallClock = deps.wallClock ?? new WallClock({ stateDir: config.stateDir, setSystemClock: config.setSystemClock });
    const wallNowMs = deps.wallNowMs ?? (() => this.wallClock.nowMs());
    this.loudnessValue = { normalize: config.normalize, targetLufs: config.targetLufs };
    this.analyzer = deps.analyzer ?? new WorkerTrackAnalyzer();
    this.store = new LeaderStateStore(config.stateDir, log);
    this.catalog = new TrackCatalog({ analyzer: this.analyzer, outputRate: config.outputRate, stateDir: config.stateDir, log });
    this.registry = new MemberRegistry({
      createConnection: (d) => new MemberConnection({
        host: d.host,
        port: d.port,
        leaderNowUs: () => timescale.nowUs(),
        welcome: (localAddress) => ({
          leaderId: config.leaderId,
          ntpPort: config.ntpPort,
          trackBaseUrl: `http://${hostForUrl(localAddress || '127.0.0.1')}:${this.httpPort}/tracks`,
          serverTimeUs: Math.round(timescale.nowUs()),
          ...(deps.clock.timescaleId !== undefined ? { timescaleId: deps.clock.timescaleId } : {}),
        }),
        onboard: (hello) => [
          toTimelineMessage(this.controller.timeline),
          settingsMessage(this.controller.memberSettings(hello.memberId), timescale.nowUs()),
        ],
        log: log.child({ part: 'member' }),
        key: config.key,
      }),
    });
    this.controller = new TimelineController({
      timescale,
      outputRate: config.outputRate,
      minLeadMs: config.minLeadMs,
      memberRtts: () => this.registry.connectedRtts(),
      trackReady: (trackId) => this.registry.trackDecodedEverywhere(trackId),
      loop: config.loop,
      wallNowMs,
      crossfadeMs: config.crossfadeMs,
    });
    this.discovery = new Discovery({ memberPattern: config.memberPattern, explicit: config.members, mdns: config.mdns });

    // One new timeline goes to every connected member at once.
    this.controller.on('timeline', (tl) => {
      const sent = this.registry.broadcast(toTimelineMessage(tl));
      log.info({ rev: tl.rev, revision: tl.revisions[tl.revisions.length - 1], members: sent }, 'timeline sent');
    });
    this.controller.on('settings', (memberId, s, atUs) => {
      this.registry.sendTo(memberId, settingsMessage(s, atUs));
    });
    this.controller.on('change', () => {
      this.saveState();
      this.events.emit('change');
    });
    this.registry.on('change', () => this.events.emit('change'));
    this.registry.on('conflict', (memberId, endpoint, other) => log.error({ member: memberId, endpoint, other }, 'two members use one id: refused the second (give each member its own id)'));
    this.registry.on('track-error', (memberId, msg) => log.warn({ member: memberId, track: msg.trackId, reason: msg.reason }, 'member cannot use track'));
    this.discovery.on('up', (m) => {
      log.info({ key: m.key, host: m.host, port: m.port }, 'member found');
      this.registry.add(m);
    });
    this.discovery.on('down', (key) => {
      log.info({ key }, 'member forgotten (no sign of life for 10 min after an mDNS goodbye)');
      this.registry.remove(key);
    });
    this.discovery.on('ignored', (name, reason) => log.debug({ name, reason }, 'mDNS service ignored'));
    this.discovery.on('error', (err) => log.warn({ err: err.message }, 'mDNS error'));

    this.calibration = new CalibrationRunner({
      controller: this.controller,
      members: this.registry,
      sendSettings: (memberId, s, atUs) => this.registry.sendTo(memberId, settingsMessage(s, atUs)),
      nowUs: () => timescale.nowUs(),
      outputRate: config.outputRate,
      dir: config.stateDir,
      log: log.child({ part: 'calibration' }),
    });

    this.app = createHttpServer({ loggerInstance: log.child({ part: 'http' }), key: config.key });
    registerTrackRoutes(this.app, { lookup: (id) => this.catalog.byHash(id) ?? this.calibration.servedTrack(id) });
    registerRestRoutes(this.app, {
      controller: this.controller,
      members: () => this.registry.list(),
      tracks: () => this.catalog.tracks,
      playlistPath: () => this.playlistPathValue,
      playlistProblems: () => this.problems,
      loadPlaylist: (source) => this.loadPlaylist(source),
      loudness: () => this.loudnessReport(),
      loudnessSettings: () => ({ ...this.loudnessValue }),
      setLoudness: (body) => this.setLoudness(body),
      leader: () => ({
        id: config.leaderId, version: LEADER_VERSION, protocol: PROTOCOL_VERSION, nowUs: Math.round(timescale.nowUs()),
        ntpPort: config.ntpPort, outputRate: config.outputRate,
        ...(this.playlistPathValue !== undefined ? { playlistPath: this.playlistPathValue } : {}),
        wallMs: Math.round(wallNowMs()), clockSource: this.wallClock.source, clockSettable: config.key !== undefined,
      }),
      clock: {
        settable: config.key !== undefined,
        nowMs: wallNowMs,
        set: async (phoneMs) => {
          const r = await this.wallClock.set(phoneMs);
          log.warn({ method: r.method, stepMs: r.stepMs, detail: r.detail }, "wall clock set from a phone (the leader timescale does not move)");
          return r;
        },
      },
      events: this.events,
      version: LEADER_VERSION,
      artwork: (sha256) => this.artwork(sha256),
      extraRoutes: calibrationRoutes(this.calibration),
    });
    registerUiRoutes(this.app);
  }

  /** Loads saved state (or the configured playlist), then starts NTP, HTTP and discovery. */
  async start(): Promise<{ httpPort: number }> {
    const log = this.deps.log;
    const saved = await this.store.load();
    if (saved) {
      this.catalog.restore(saved.tracks);
      this.controller.restore({ timeline: saved.timeline, memberSettings: saved.memberSettings, ...(saved.order !== undefined ? { order: saved.order } : {}) });
      this.playlistPathValue = saved.playlistPath ?? undefined;
      this.problems = saved.problems;
      if (saved.loudness !== undefined && loudnessSettingsProblem(saved.loudness) === null) this.loudnessValue = { ...saved.loudness };
      log.info({ rev: saved.timeline.rev, tracks: saved.tracks.length, file: this.store.filePath }, 'resumed saved timeline (sent unchanged to members)');
    }
    await this.deps.clock.start();
    if (this.deps.clock.kernelTimestamps?.() === false) {
      log.warn({ reason: netstampUnavailableReason() ?? 'the NTP socket has no usable descriptor' },
        'NTP exchanges timed in user space, not by the kernel: members read this leader less precisely (docs/clock.md, "Kernel timestamps")');
    }
    await this.app.listen({ port: this.config.httpPort, host: this.config.host });
    const addr = this.app.server.address();
    if (typeof addr === 'object' && addr) this.httpPort = addr.port;
    log.info({ httpPort: this.httpPort, ntpPort: this.config.ntpPort, keyFingerprint: this.config.key?.fingerprint ?? null }, 'leader listening');
    if (!this.config.key) log.warn('no shared key: anyone on the network can use the REST API and pose as a member (development only; see docs/security.md)');
    this.discovery.start();
    if (!saved && this.config.playlist !== undefined) {
      try {
        const r = await this.loadPlaylist({ path: this.config.playlist });
        log.info({ tracks: r.tracks, problems: r.problems.length }, 'playlist loaded');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'cannot load the configured playlist');
      }
    }
    return { httpPort: this.httpPort };
  }

  async loadPlaylist(source: { path?: string } | { bytes: Uint8Array }): Promise<PlaylistLoadReply> {
    if (this.loading) throw new JasError('JAS_ERR_CONFLICT', { detail: 'a playlist is already loading' });
    this.loading = true;
    try {
      const baseDir = path.resolve(this.config.musicDir ?? process.cwd());
      let playlistPath: string | undefined;
      let parsed;
      if ('bytes' in source) {
        parsed = await parsePlaylistBytes(source.bytes, { baseDir });
      } else {
        if (source.path === undefined) throw new JasError('JAS_ERR_NO_PLAYLIST', {});
        playlistPath = path.resolve(baseDir, source.path);
        parsed = await parsePlaylistFile(playlistPath);
      }
      const result = await this.catalog.load(parsed);
      if (result.tracks.length === 0) {
        throw new JasError('JAS_ERR_PLAYLIST', { detail: `no playable track (${result.problems.length} entries skipped${result.problems[0] ? `, first: line ${result.problems[0].line}: ${result.problems[0].reason}` : ''})` });
      }
      this.playlistPathValue = playlistPath;
      this.problems = result.problems;
      const gains = trackGains(result.tracks, this.loudnessValue);
      this.controller.setTracks(result.tracks.map((t, i) => ({ id: t.id, frames: t.frames, title: t.title, gainDb: gains[i]!.gainDb })));
      for (const p of result.problems) this.deps.log.warn(p, 'playlist entry skipped');
      return { path: playlistPath ?? null, tracks: result.tracks.length, problems: result.problems };
    } finally {
      this.loading = false;
    }
  }

  /**
   * A cover by its hash, read again from the track's file (nothing is kept on disk; the last few
   * are kept in memory: a page asks for the same one whenever the track changes).
   */
  private async artwork(sha256: string): Promise<{ data: Uint8Array; mime: string } | undefined> {
    const hit = this.artworkCache.get(sha256);
    if (hit) return hit;
    const track = this.catalog.byArtwork(sha256);
    if (!track) return undefined;
    const original = await readArtwork(track.path, sha256);
    if (!original) return undefined;
    // Sized for a phone, in a worker (decoding a large cover takes seconds on a Pi). A cover that
    // cannot be scaled is served as it is only when it is small enough to send to a phone anyway.
    let image: { data: Uint8Array; mime: string };
    try {
      image = await resizeCover(original.data, original.mime);
    } catch (err) {
      this.deps.log.warn({ sha256, reason: (err as Error).message }, 'cover not scaled');
      if (original.data.length > MAX_ARTWORK_BYTES) return undefined;
      image = original;
    }
    this.artworkCache.set(sha256, image);
    while (this.artworkCache.size > ARTWORK_CACHE_ENTRIES) this.artworkCache.delete(this.artworkCache.keys().next().value as string);
    return image;
  }

  /** The loudness setting and what it gives each track of the playlist. */
  loudnessReport(): Rest.LoudnessReply {
    const tracks = this.catalog.tracks;
    const gains = trackGains(tracks, this.loudnessValue);
    return {
      ...this.loudnessValue,
      tracks: tracks.map((t: CatalogTrack, index) => {
        const g = gains[index]!;
        return {
          index, id: t.id,
          loudnessLufs: t.loudness?.integratedLufs ?? null,
          truePeakDbtp: t.loudness !== undefined && Number.isFinite(t.loudness.truePeakDbtp) ? t.loudness.truePeakDbtp : null,
          ...(t.replayGain?.trackGainDb !== undefined ? { replayGainDb: t.replayGain.trackGainDb } : {}),
          ...(t.album !== undefined ? { album: t.album } : {}),
          sourceLufs: g.sourceLufs, gainDb: g.gainDb, peakLimited: g.peakLimited,
        };
      }),
    };
  }

  /** Changes the loudness normalization; the playlist's new gains take effect on every member at once. */
  setLoudness(patch: Partial<LoudnessSettings>): Rest.LoudnessSetReply {
    const problem = loudnessSettingsProblem(patch);
    if (problem !== null) throw new JasError('JAS_ERR_VALIDATION', problem, { field: problem.field });
    this.loudnessValue = {
      normalize: patch.normalize ?? this.loudnessValue.normalize,
      targetLufs: patch.targetLufs ?? this.loudnessValue.targetLufs,
    };
    const tracks = this.catalog.tracks;
    const tl = this.controller.timeline;
    // The timeline holds the catalog's tracks in play order (shuffle): order[i] is tl.tracks[i]'s m3u8 place.
    const order = this.controller.orderState().order;
    const same = tracks.length === tl.tracks.length && tl.tracks.every((t, i) => t.id === tracks[order[i] ?? -1]?.id);
    if (tracks.length === 0 || !same) {
      this.saveState();
      this.events.emit('change');
      return { ...this.loudnessValue, rev: null, atUs: null, at: null };
    }
    const r = this.controller.setTrackGains(trackGains(tracks, this.loudnessValue).map((g) => g.gainDb));
    this.deps.log.info({ ...this.loudnessValue, rev: r.rev, atUs: r.atUs }, 'loudness normalization changed');
    return { ...this.loudnessValue, ...r };
  }

  private saveState(): void {
    this.store.save(() => ({
      version: LeaderStateStore.version(),
      savedAtWallMs: Date.now(),
      playlistPath: this.playlistPathValue ?? null,
      problems: this.problems,
      tracks: [...this.catalog.tracks],
      timeline: this.controller.timeline,
      memberSettings: this.controller.allMemberSettings(),
      order: this.controller.orderState(),
      loudness: { ...this.loudnessValue },
    }));
  }

  /** Graceful shutdown: members keep playing the timeline they have; state is flushed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.calibration.close();
    this.discovery.stop();
    this.controller.close();
    this.registry.close();
    await this.app.close().catch(() => undefined);
    await this.deps.clock.stop().catch(() => undefined);
    await this.analyzer.close().catch(() => undefined);
    this.saveState();
    await this.store.flush();
  }
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
