// A light member for load tests and benchmarks: the real member's code for everything but the
// audio engine. It listens for the leader with the member's LeaderLink (handshake and shared-key
// auth included), syncs its clock through the member's ClockSync (worker thread, NTP client, time
// filter), reports state at the member's cadence and caches the playlist with the member's
// TrackCache (download, sha256 check) in the member's order (track-plan.ts). Instead of playing, it
// records for every timeline revision the local instant at which it would have played the
// revision's frame and converts it to true host time (CLOCK_MONOTONIC) through its injected clock
// error: how far those instants are from the leader's is the fan-out sync. Many may share a process:
// each keeps its own socket, clock filter, cache and state.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { restToken, type AuthKey, type LeaderMessage, type MessageInput, type MessageOf, type Timeline } from '@jaudiosync/protocol';
import { localFromLeader } from '@jaudiosync/member/clock-model';
import { ClockSource, type ClockSourceParams } from '@jaudiosync/member/clock-source';
import { ClockSync } from '@jaudiosync/member/clock-sync';
import { LeaderLink } from '@jaudiosync/member/leader-link';
import { SOFTWARE_VERSION, STATE_REPORT_MS, TRACK_PLAN_MS, trackUrlFor } from '@jaudiosync/member/member-daemon';
import { TrackCache } from '@jaudiosync/member/track-cache';
import { LOAD_RETRY_MS, PREFETCH_BYTES_PER_S } from '@jaudiosync/member/track-manager';
import { planningNowUs, planTracks, type WelcomeTime } from '@jaudiosync/member/track-plan';
import { fromTimelineMessage } from '@jaudiosync/protocol/timeline-message';

const OUTPUT_RATE = 48_000;
const CACHE_MAX_BYTES = 512 * 1024 * 1024;
/** A failed fetch (leader restarting, link down) is tried again after this long, as the member does. */
const FETCH_RETRY_MS = LOAD_RETRY_MS;

/** What a light member reports; times are host CLOCK_MONOTONIC ns (the same in every namespace). */
export type LightEvent =
  | { e: 'link'; id: string; ns: number; up: boolean }
  /** a timeline revision arrived (`atUs`: the instant it changes, newest revision or volume ramp) */
  | { e: 'timeline'; id: string; ns: number; rev: number; atUs: number; synced: boolean }
  /** the host instant it would play leader time `atUs` at, per its clock model when that came */
  | { e: 'planned'; id: string; rev: number; atUs: number; plannedNs: number; synced: boolean; uncertaintyUs: number }
  /** a periodic sample of the same in steady play (leader time `atUs` on a whole second) */
  | { e: 'sample'; id: string; atUs: number; plannedNs: number; uncertaintyUs: number }
  | { e: 'cached'; id: string; ns: number; trackId: string; bytes: number; paced: boolean }
  | { e: 'fetch-failed'; id: string; ns: number; trackId: string; reason: string };

export interface LightMemberOptions {
  id: string;
  port: number;
  listenHost?: string;
  /** injected clock error, as JAS_CLOCK_OFFSET_US / JAS_CLOCK_RATE_PPM of a real member */
  clock: Partial<ClockSourceParams>;
  cacheDir: string;
  key?: AuthKey | undefined;
  /** seconds between steady-state `sample` events (0: none) */
  sampleEveryS?: number;
  onEvent: (e: LightEvent) => void;
}

const monoNs = (): number => Number(process.hrtime.bigint());

export class LightMember {
  private readonly source: ClockSource;
  private readonly clock: ClockSync;
  private readonly cache: TrackCache;
  private readonly link: LeaderLink;
  private timeline: Timeline | null = null;
  private baseUrl: string | null = null;
  private welcomeTime: WelcomeTime | null = null;
  private timers: NodeJS.Timeout[] = [];
  private readonly planTimers = new Set<NodeJS.Timeout>();
  private fetching: string | null = null;
  private readonly cached = new Set<string>();
  private readonly failedAtMs = new Map<string, number>();
  private wanted: string[] = [];
  private stopped = false;

  constructor(private readonly opts: LightMemberOptions) {
    this.source = new ClockSource(opts.clock);
    this.clock = new ClockSync({ clock: this.source.params, mode: 'leader' });
    this.cache = new TrackCache({ dir: opts.cacheDir, maxBytes: CACHE_MAX_BYTES, bearerToken: opts.key ? restToken(opts.key) : undefined });
    this.link = new LeaderLink({ host: opts.listenHost ?? '0.0.0.0', port: opts.port, hello: () => this.hello(), key: opts.key });
  }

  async start(): Promise<void> {
    this.link.on('connected', () => this.opts.onEvent({ e: 'link', id: this.opts.id, ns: monoNs(), up: true }));
    this.link.on('disconnected', () => this.opts.onEvent({ e: 'link', id: this.opts.id, ns: monoNs(), up: false }));
    this.link.on('message', (msg, remote) => this.onMessage(msg, remote));
    await this.link.listen();
    this.timers.push(setInterval(() => this.sendState(), STATE_REPORT_MS));
    this.timers.push(setInterval(() => this.plan(), TRACK_PLAN_MS));
    const everyS = this.opts.sampleEveryS ?? 0;
    if (everyS > 0) this.timers.push(setInterval(() => this.sample(), everyS * 1000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const t of this.planTimers) clearTimeout(t);
    this.timers = [];
    await this.link.close();
    await this.clock.stop();
  }

  /** True host ns at which this member would play leader time `leaderUs` (null: no model yet). */
  plannedHostNs(leaderUs: number): { ns: number; synced: boolean; uncertaintyUs: number } | null {
    const m = this.clock.model();
    if (!m) return null;
    return { ns: this.source.toHostMonoUs(localFromLeader(m, leaderUs)) * 1000, synced: m.synced, uncertaintyUs: m.uncertaintyUs };
  }

  private hello(): MessageInput {
    return {
      type: 'hello', memberId: this.opts.id, hostname: hostname().slice(0, 253), version: SOFTWARE_VERSION,
      outputRate: OUTPUT_RATE, channels: 2, sink: 'none', clockMode: 'leader',
    } as MessageInput;
  }

  private onMessage(msg: LeaderMessage, remote: string): void {
    switch (msg.type) {
      case 'welcome':
        this.welcomeTime = { leaderUs: msg.serverTimeUs, localUs: this.source.nowUs() };
        this.clock.setServer({ host: remote, port: msg.ntpPort, ...(msg.timescaleId !== undefined ? { timescaleId: msg.timescaleId } : {}) });
        this.baseUrl = trackUrlFor(msg.trackBaseUrl, remote);
        break;
      case 'timeline':
        this.onTimeline(msg);
        break;
      case 'ping':
        this.link.send({ type: 'pong', seq: msg.seq, echoUs: msg.sentUs } as MessageInput);
        break;
      default:
        break; // settings and errors change nothing a light member does
    }
  }

  private onTimeline(msg: MessageOf<'timeline'>): void {
    const ns = monoNs();
    const tl = fromTimelineMessage(msg);
    const isNew = this.timeline === null || tl.rev > this.timeline.rev;
    this.timeline = tl;
    this.plan();
    if (!isNew) return;
    const last = tl.revisions[tl.revisions.length - 1];
    const atUs = Math.max(last?.atUs ?? 0, tl.volume?.atUs ?? 0);
    const m = this.clock.model();
    this.opts.onEvent({ e: 'timeline', id: this.opts.id, ns, rev: tl.rev, atUs, synced: m?.synced ?? false });
    // The engine maps leader time through the model it has when the instant comes: read it then.
    const local = m ? localFromLeader(m, atUs) : this.source.nowUs();
    const waitMs = Math.min(Math.max(0, (local - this.source.nowUs()) / 1000), 60_000);
    const timer = setTimeout(() => {
      this.planTimers.delete(timer);
      const p = this.plannedHostNs(atUs);
      if (p) this.opts.onEvent({ e: 'planned', id: this.opts.id, rev: tl.rev, atUs, plannedNs: p.ns, synced: p.synced, uncertaintyUs: p.uncertaintyUs });
    }, waitMs);
    this.planTimers.add(timer);
  }

  private sample(): void {
    const now = this.clock.leaderNowUs();
    if (now === null) return;
    const atUs = Math.ceil(now / 1e6) * 1e6; // a whole second of leader time: the same instant for every member
    const p = this.plannedHostNs(atUs);
    if (p) this.opts.onEvent({ e: 'sample', id: this.opts.id, atUs, plannedNs: p.ns, uncertaintyUs: p.uncertaintyUs });
  }

  /** The member's plan (track-plan.ts): the tracks it would decode first, unpaced, then the rest paced. */
  private plan(): void {
    const tl = this.timeline;
    const nowUs = planningNowUs(this.clock.leaderNowUs(), this.welcomeTime, this.source.nowUs());
    if (!tl || tl.tracks.length === 0 || nowUs === null) return;
    const plan = planTracks(tl, nowUs);
    this.wanted = plan.indices.map((i) => tl.tracks[i]?.id).filter((id): id is string => id !== undefined);
    if (this.fetching !== null || this.baseUrl === null || this.stopped) return;
    const due = (id: string): boolean => !this.cached.has(id) && !(Date.now() - (this.failedAtMs.get(id) ?? -Infinity) < FETCH_RETRY_MS);
    const urgent = this.wanted.find(due);
    const id = urgent ?? plan.prefetchOrder.find(due);
    if (id === undefined) return;
    const paced = urgent === undefined;
    this.fetching = id;
    this.cache.input(id, this.baseUrl, paced ? { maxBytesPerS: PREFETCH_BYTES_PER_S } : {}).then(
      () => {
        this.cached.add(id);
        this.opts.onEvent({ e: 'cached', id: this.opts.id, ns: monoNs(), trackId: id, bytes: this.cache.knownSize(id) ?? 0, paced });
      },
      (err: unknown) => {
        this.failedAtMs.set(id, Date.now());
        this.opts.onEvent({ e: 'fetch-failed', id: this.opts.id, ns: monoNs(), trackId: id, reason: (err as Error).message.slice(0, 200) });
      },
    ).finally(() => {
      this.fetching = null;
      this.plan();
    });
  }

  private sendState(): void {
    if (!this.link.connected) return;
    const m = this.clock.model();
    const nowLocal = this.source.nowUs();
    // A light member "decodes" a track the moment it is cached: it has no decoder to wait for.
    const decode = this.wanted.map((trackId) => ({ trackId, progress: this.cached.has(trackId) ? 1 : 0 }));
    const state = {
      type: 'state',
      memberId: this.opts.id,
      clock: {
        mode: 'leader',
        synced: m?.synced ?? false,
        offsetUs: m ? Math.round(m.leaderRefUs + (nowLocal - m.localRefUs) * (1 + m.rate) - nowLocal) : 0,
        uncertaintyUs: Math.round(m?.uncertaintyUs ?? 1e9),
        rttUs: Math.round(m?.rttUs ?? 0),
        ratePpm: (m?.rate ?? 0) * 1e6,
        samples: m?.samples ?? 0,
      },
      cache: { trackIds: [...this.cached].slice(0, 1000), bytes: [...this.cached].reduce((a, id) => a + (this.cache.knownSize(id) ?? 0), 0) },
      decode,
      audio: { sink: 'none', underruns: 0, driftPpm: 0, correctionPpm: 0, dropped: 0, duplicated: 0, dacLatencyUs: 0, dacResyncs: 0 },
      errors: [],
    };
    this.link.send(state as unknown as MessageInput);
  }
}

/** Cache directory of light member `id` under `dir`. */
export function lightCacheDir(dir: string, id: string): string {
  return join(dir, `${id}-cache`);
}
