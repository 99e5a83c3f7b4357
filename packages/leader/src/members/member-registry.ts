// All members the leader knows (connected or not) with their last hello, state, RTT and errors,
// and the connections to them (one per discovered endpoint). Broadcasts go to every connected
// member at once; a second connection to an already connected member id is retired.
import { EventEmitter } from 'node:events';
import type { WireError } from '@jaudiosync/protocol/errors';
import type { HelloMessage, MessageInput, StateMessage, TrackErrorMessage } from '@jaudiosync/protocol/messages';
import type { DiscoveredMember } from './discovery.js';
import type { ConnectionStatus, MemberConnection } from './member-connection.js';
import type { RecentRtt } from './rtt-stats.js';

/** Track errors remembered per member (most recent). */
const MAX_TRACK_ERRORS = 20;

export interface MemberView {
  id: string;
  hostname: string | null;
  endpoint: string;
  source: 'mdns' | 'config';
  status: ConnectionStatus | 'duplicate';
  connected: boolean;
  rttUs: { last: number | null; p90: number | null; samples: number };
  lastSeenWallMs: number | null;
  hello: HelloMessage | null;
  state: StateMessage | null;
  trackErrors: { trackId: string; reason: string; wallMs: number }[];
  error: WireError | null;
}

interface Entry {
  discovered: DiscoveredMember;
  connection: MemberConnection;
  memberId: string | null;
  duplicate: boolean;
  state: StateMessage | null;
  lastSeenWallMs: number | null;
  trackErrors: { trackId: string; reason: string; wallMs: number }[];
}

export interface MemberRegistryEvents {
  change: [];
  connected: [memberId: string];
  /** Two different members use one id: the one at `endpoint` was refused. */
  conflict: [memberId: string, endpoint: string, otherEndpoint: string];
  'track-error': [memberId: string, msg: TrackErrorMessage];
}

export interface MemberRegistryOptions {
  createConnection(member: DiscoveredMember): MemberConnection;
  wallNowMs?(): number;
}

/** Two mDNS services (instance names are unique per advertiser), not one member reached twice. */
function advertisedApart(a: DiscoveredMember, b: DiscoveredMember): boolean {
  return a.source === 'mdns' && b.source === 'mdns' && a.key !== b.key;
}

export class MemberRegistry extends EventEmitter<MemberRegistryEvents> {
  private readonly entries = new Map<string, Entry>();
  private readonly wallNowMs: () => number;

  constructor(private readonly options: MemberRegistryOptions) {
    super();
    this.wallNowMs = options.wallNowMs ?? Date.now;
  }

  /**
   * A discovered endpoint: connect to it and keep reconnecting (capped backoff, forever) until
   * remove(). The same endpoint again (the member announced itself: it probably just restarted)
   * retries a waiting connection at once; a new address for the key replaces the old connection.
   */
  add(discovered: DiscoveredMember): void {
    const old = this.entries.get(discovered.key);
    if (old) {
      if (old.discovered.host === discovered.host && old.discovered.port === discovered.port) {
        if (!old.duplicate && old.connection.retryNow()) this.emit('change');
        return;
      }
      this.remove(discovered.key);
    }
    const connection = this.options.createConnection(discovered);
    const entry: Entry = { discovered, connection, memberId: discovered.id ?? null, duplicate: false, state: null, lastSeenWallMs: null, trackErrors: [] };
    this.entries.set(discovered.key, entry);
    connection.on('hello', (hello) => {
      entry.memberId = hello.memberId;
      entry.lastSeenWallMs = this.wallNowMs();
      const other = [...this.entries.values()].find((e) => e !== entry && e.memberId === hello.memberId && e.connection.connected);
      if (other) {
        // The member accepts one leader connection at a time; two from us would evict each other forever.
        entry.duplicate = true;
        if (advertisedApart(entry.discovered, other.discovered)) {
          // Two mDNS advertisements (each member has one): two members with one id. Refuse the
          // second visibly, here and in its own log, instead of letting one hide the other.
          const error: WireError = { code: 'JAS_ERR_CONFLICT', message: `member id "${hello.memberId}" is already used by the member at ${other.connection.endpoint}: give each member its own id` };
          connection.stop(error.message, error);
          this.emit('conflict', hello.memberId, connection.endpoint, other.connection.endpoint);
        } else {
          connection.stop(`duplicate of ${other.connection.endpoint}`);
        }
      }
      this.emit('change');
    });
    connection.on('connected', (hello) => {
      this.emit('connected', hello.memberId);
      this.emit('change');
    });
    connection.on('state', (state) => {
      entry.state = state;
      entry.lastSeenWallMs = this.wallNowMs();
      this.emit('change');
    });
    connection.on('track-error', (msg) => {
      entry.trackErrors.unshift({ trackId: msg.trackId, reason: msg.reason, wallMs: this.wallNowMs() });
      entry.trackErrors.length = Math.min(entry.trackErrors.length, MAX_TRACK_ERRORS);
      if (entry.memberId) this.emit('track-error', entry.memberId, msg);
      this.emit('change');
    });
    connection.on('disconnected', () => discovered.lost?.());
    connection.on('status', () => this.emit('change'));
    connection.on('rtt', () => {
      entry.lastSeenWallMs = this.wallNowMs();
    });
    connection.start();
    this.emit('change');
  }

  /** Forgets an endpoint (discovery gave up on it, or replaced it): stop reconnecting to it. */
  remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.connection.stop('member gone');
    entry.connection.removeAllListeners();
    this.entries.delete(key);
    // A connection retired as a duplicate of this one takes over (it is stopped, so nobody else tries).
    if (entry.memberId !== null && !entry.duplicate) {
      const standby = [...this.entries.values()].find((e) => e.duplicate && e.memberId === entry.memberId);
      if (standby) {
        standby.duplicate = false;
        standby.connection.start();
      }
    }
    this.emit('change');
  }

  /** Sends to every connected member; returns how many got it. */
  broadcast(msg: MessageInput): number {
    let sent = 0;
    for (const e of this.entries.values()) if (e.connection.send(msg)) sent++;
    return sent;
  }

  sendTo(memberId: string, msg: MessageInput): boolean {
    for (const e of this.entries.values()) {
      if (e.memberId === memberId && e.connection.connected) return e.connection.send(msg);
    }
    return false;
  }

  /** True when every connected member reports track `trackId` fully decoded (ready to play anywhere in it). */
  trackDecodedEverywhere(trackId: string): boolean {
    for (const e of this.entries.values()) {
      if (!e.connection.connected || e.duplicate) continue;
      const d = e.state?.decode.find((x) => x.trackId === trackId);
      if (!d || d.progress < 1 || d.error !== undefined) return false;
    }
    return true;
  }

  /**
   * RTT p50 and p90 (µs) over the last RECENT_WINDOW_MS of every connected member with samples in
   * it: the lead follows the path as it is now, not a congestion that has passed (rtt-stats.ts).
   */
  connectedRtts(): RecentRtt[] {
    const out: RecentRtt[] = [];
    for (const e of this.entries.values()) {
      if (!e.connection.connected) continue;
      const r = e.connection.rtt.recentUs();
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  get connectedCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.connection.connected) n++;
    return n;
  }

  list(): MemberView[] {
    return [...this.entries.values()].map((e) => {
      const c = e.connection;
      return {
        id: e.memberId ?? c.endpoint,
        hostname: c.hello?.hostname ?? e.discovered.hostname ?? null,
        endpoint: c.endpoint,
        source: e.discovered.source,
        status: e.duplicate ? 'duplicate' : c.status,
        connected: c.connected,
        rttUs: { last: c.rtt.lastUs ?? null, p90: c.rtt.percentileUs(90) ?? null, samples: c.rtt.count },
        lastSeenWallMs: e.lastSeenWallMs,
        hello: c.hello,
        state: e.state,
        trackErrors: [...e.trackErrors],
        error: c.error,
      };
    });
  }

  get(memberId: string): MemberView | undefined {
    return this.list().find((m) => m.id === memberId);
  }

  close(): void {
    for (const key of [...this.entries.keys()]) this.remove(key);
  }
}
