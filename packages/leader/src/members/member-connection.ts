// One WebSocket connection from the leader to a member's daemon (ws://host:7701/): handshake
// (member `hello` -> leader `welcome`, then the whole timeline and the member's settings),
// heartbeats (`ping` each second, `pong` -> RTT), death detection, and reconnects with backoff.
// It knows nothing of the timeline's meaning: the owner supplies the messages to send on join.
// With a shared key it runs the leader side of the mutual handshake (docs/security.md).
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import {
  CHALLENGE_HEADER, createNonce, leaderProof, verifyMemberProof, type AuthKey,
} from '@jaudiosync/protocol/auth';
import { decodeMessage, encodeMessage } from '@jaudiosync/protocol/codec';
import { closeReason, errorSpec, formatErrorMessage, type JasErrorCode, type WireError } from '@jaudiosync/protocol/errors';
import type {
  HelloMessage, MessageInput, StateMessage, TrackErrorMessage, WelcomeMessage,
} from '@jaudiosync/protocol/messages';
import { Backoff, type BackoffOptions } from './backoff.js';
import { RttStats } from './rtt-stats.js';

/** One ping per second: RTT statistics and liveness without noticeable traffic. */
export const PING_INTERVAL_MS = 1_000;
/** Silence for this long (about 4 missed pongs) means the member or the path is gone. */
export const DEAD_AFTER_MS = 4_000;
/** The member sends `hello` as soon as it accepts; waiting longer means something else answered. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
/** TCP + WebSocket upgrade must finish within this. */
const CONNECT_TIMEOUT_MS = 5_000;
/** Same as the codec's default: a 10 000-track timeline is ~1 MB. */
const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** `error` replies to a misbehaving member are rate-limited. */
const MAX_ERROR_REPLIES_PER_S = 5;
/**
 * Pongs arriving closer together than this were queued behind one stall of the link (TCP delivers
 * them at once when it returns): they count as one RTT sample, the newest ping's. Counted one by
 * one, a 5 s outage left RTTs of 1-5 s in the window for a minute, and the lead time with them
 * (commands with a short delay were refused: "members need at least 4961 ms").
 */
const PONG_BURST_MS = 50;
/** Pings awaiting a pong that are remembered (older ones are lost anyway). */
const MAX_OUTSTANDING_PINGS = 16;
/**
 * A member that was connected and is lost (crash, restart, upgrade) is retried every
 * LOST_RETRY_MS (jittered) for LOST_RETRY_WINDOW_MS before the normal backoff (0.5 s growing to
 * 2 s) takes over: a restarted member is back in a second or two, and every attempt it misses
 * delays its return by the wait to the next one (issue #18: rejoin < 1 s). A refused attempt on a
 * LAN is one SYN and one RST; a host that does not answer holds one attempt open until its
 * timeout, so that is the most there is.
 */
export const LOST_RETRY_MS = 100;
export const LOST_RETRY_WINDOW_MS = 20_000;
/** After a version refusal, retry rarely: the member has to be upgraded first. */
const VERSION_RETRY_MS = 60_000;

export type ConnectionStatus = 'idle' | 'connecting' | 'handshake' | 'connected' | 'backoff' | 'refused' | 'stopped';

export interface MemberConnectionOptions {
  host: string;
  port: number;
  /** Builds the welcome; `localAddress` is the leader's address as the member sees it. */
  welcome(localAddress: string): Omit<WelcomeMessage, 'v' | 'type'>;
  /** Messages (timeline, settings) sent right after the welcome so the member joins in sync. */
  onboard(hello: HelloMessage): MessageInput[];
  /** Leader time for ping `sentUs`. */
  leaderNowUs(): number;
  /** Monotonic ms for RTT and liveness (injectable for tests). */
  monoNowMs?(): number;
  pingIntervalMs?: number;
  /** RTTs younger than this set the lead (rtt-stats.ts, RECENT_WINDOW_MS; shorter in tests). */
  rttWindowMs?: number;
  deadAfterMs?: number;
  handshakeTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Retry gap and window for a member lost after a connection (LOST_RETRY_MS, LOST_RETRY_WINDOW_MS). */
  lostRetryMs?: number;
  lostRetryWindowMs?: number;
  log?: ConnectionLog;
  /** Shared key: members must prove it in `hello`, we prove it in `welcome`. None: no authentication. */
  key?: AuthKey | undefined;
}

export interface ConnectionLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  /** Per-pong RTT samples (the lead's inputs) at --log-level debug: bench:fanout --rtt-trace reads them. */
  debug?(obj: object, msg: string): void;
}

export interface MemberConnectionEvents {
  hello: [hello: HelloMessage];
  state: [state: StateMessage];
  'track-error': [msg: TrackErrorMessage];
  'member-error': [error: WireError];
  connected: [hello: HelloMessage];
  disconnected: [reason: string];
  refused: [error: WireError];
  rtt: [rttUs: number];
  status: [status: ConnectionStatus];
}

const defaultMonoNowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const silentLog: ConnectionLog = { info: () => undefined, warn: () => undefined };

export class MemberConnection extends EventEmitter<MemberConnectionEvents> {
  readonly host: string;
  readonly port: number;
  /** RTTs stamped with `monoNowMs`, so tests with a fake clock can age them. */
  readonly rtt: RttStats;
  private ws: WebSocket | null = null;
  private statusValue: ConnectionStatus = 'idle';
  private helloValue: HelloMessage | null = null;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private lastHeardMs = 0;
  private pingSeq = 0;
  private readonly pingsSentMs = new Map<number, number>();
  private lastPongMs = -Infinity;
  private errorWindowStartMs = 0;
  private errorReplies = 0;
  private localAddress = '';
  private lastError: WireError | null = null;
  /** This attempt's nonce (sent in the upgrade request header); null without a key. */
  private leaderNonce: string | null = null;
  /** A refused handshake is a configuration error: warn once, not at every retry. */
  private authWarned = false;
  private readonly monoNowMs: () => number;
  private readonly log: ConnectionLog;
  /** When a connected member was lost (monotonic ms); null while connected or never connected. */
  private lostAtMs: number | null = null;

  constructor(private readonly options: MemberConnectionOptions) {
    super();
    this.host = options.host;
    this.port = options.port;
    this.backoff = new Backoff(options.backoff);
    this.monoNowMs = options.monoNowMs ?? defaultMonoNowMs;
    this.rtt = new RttStats(this.monoNowMs, options.rttWindowMs);
    this.log = options.log ?? silentLog;
  }

  get endpoint(): string {
    return formatEndpoint(this.host, this.port);
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  get hello(): HelloMessage | null {
    return this.helloValue;
  }

  get connected(): boolean {
    return this.statusValue === 'connected';
  }

  get reconnectAttempts(): number {
    return this.backoff.attempts;
  }

  get error(): WireError | null {
    return this.lastError;
  }

  start(): void {
    if (this.statusValue !== 'idle' && this.statusValue !== 'stopped') return;
    this.connect();
  }

  /**
   * Reconnects at once when waiting for a retry (e.g. mDNS just announced the member again), with
   * the backoff reset; false (nothing done) when connected, connecting or stopped.
   */
  retryNow(): boolean {
    if (this.statusValue !== 'backoff' && this.statusValue !== 'refused') return false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.backoff.reset();
    this.connect();
    return true;
  }

  /**
   * Closes for good (no reconnect). With an error, the member gets it as the close code and
   * reason (it logs it) and it stays in `error` for /api/members.
   */
  stop(reason = 'leader closing', error?: WireError): void {
    if (error) this.lastError = error;
    this.setStatus('stopped');
    this.clearTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.removeAllListeners('message');
      if (ws.readyState === WebSocket.OPEN) {
        if (error) ws.close(errorSpec(error.code).closeCode ?? 1011, closeReason(error.code, error.message));
        else ws.close(errorSpec('JAS_ERR_SHUTTING_DOWN').closeCode ?? 1001, reason.slice(0, 100));
      }
      else ws.terminate();
      ws.on('error', () => undefined);
    }
  }

  /** Sends when connected (after the handshake); false otherwise. */
  send(msg: MessageInput): boolean {
    if (this.statusValue !== 'connected') return false;
    return this.sendRaw(msg);
  }

  private sendRaw(msg: MessageInput): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeMessage(msg));
    return true;
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.statusValue === status) return;
    this.statusValue = status;
    this.emit('status', status);
  }

  private connect(): void {
    this.reconnectTimer = null;
    this.setStatus('connecting');
    const url = `ws://${this.endpoint}/`;
    // A fresh nonce per attempt: a recorded hello never answers a later challenge.
    this.leaderNonce = this.options.key ? createNonce() : null;
    const headers = this.leaderNonce !== null ? { [CHALLENGE_HEADER]: this.leaderNonce } : undefined;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, { handshakeTimeout: CONNECT_TIMEOUT_MS, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false, ...(headers ? { headers } : {}) });
    } catch (err) {
      this.lastError = { code: 'JAS_ERR_INTERNAL', message: `cannot connect to ${url}: ${(err as Error).message}` };
      this.scheduleReconnect(this.backoff.nextDelayMs());
      return;
    }
    this.ws = ws;
    ws.on('upgrade', (res: IncomingMessage) => {
      this.localAddress = normalizeAddress(res.socket.localAddress ?? '');
    });
    ws.on('open', () => {
      if (ws !== this.ws) return;
      this.setStatus('handshake');
      this.lastHeardMs = this.monoNowMs();
      this.handshakeTimer = setTimeout(() => {
        this.fail({ code: 'JAS_ERR_HANDSHAKE', message: `no hello from ${this.endpoint} within ${this.handshakeTimeoutMs} ms` });
      }, this.handshakeTimeoutMs);
    });
    ws.on('message', (raw) => {
      if (ws === this.ws) this.onMessage(raw);
    });
    ws.on('error', (err) => {
      if (ws === this.ws) this.lastError = { code: 'JAS_ERR_TIMEOUT', message: `${this.endpoint}: ${err.message}` };
    });
    ws.on('close', (code, reason) => {
      if (ws !== this.ws) return;
      const text = reason.toString();
      if (code === errorSpec('JAS_ERR_UNAUTHORIZED').closeCode) {
        // The member refused our proof (or our lack of one).
        this.lastError = { code: 'JAS_ERR_UNAUTHORIZED', message: `${this.endpoint} refused us: ${text.replace(/^JAS_ERR_UNAUTHORIZED: /, '')}` };
        this.warnAuthOnce(this.lastError);
      }
      this.onClosed(`${code} ${text}`.trim());
    });
  }

  private get handshakeTimeoutMs(): number {
    return this.options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  }

  private onMessage(raw: WebSocket.RawData): void {
    this.lastHeardMs = this.monoNowMs();
    const result = decodeMessage(raw, { allowed: 'member' });
    if (!result.ok) {
      this.onBadMessage(result.error);
      return;
    }
    const msg = result.message;
    if (this.statusValue === 'handshake') {
      if (msg.type !== 'hello') {
        this.fail({ code: 'JAS_ERR_HANDSHAKE', message: `expected hello from ${this.endpoint}, got ${msg.type}` });
        return;
      }
      this.onHello(msg);
      return;
    }
    if (this.statusValue !== 'connected') return;
    switch (msg.type) {
      case 'pong': {
        const sentMs = this.pingsSentMs.get(msg.seq);
        if (sentMs === undefined) return;
        this.pingsSentMs.delete(msg.seq);
        const nowMs = this.monoNowMs();
        const rttUs = Math.max(0, Math.round((nowMs - sentMs) * 1000));
        const burstMs = Math.min(PONG_BURST_MS, (this.options.pingIntervalMs ?? PING_INTERVAL_MS) / 4);
        const burst = nowMs - this.lastPongMs < burstMs;
        this.rtt.add(rttUs, burst);
        this.log.debug?.({ member: this.endpoint, rttUs, monoMs: Math.round(nowMs), ...(burst ? { burst } : {}) }, 'pong');
        this.lastPongMs = nowMs;
        this.emit('rtt', rttUs);
        return;
      }
      case 'state':
        this.emit('state', msg);
        return;
      case 'track-error':
        this.emit('track-error', msg);
        return;
      case 'error':
        this.emit('member-error', { code: msg.code as JasErrorCode, message: msg.message, ...(msg.field !== undefined ? { field: msg.field } : {}) });
        return;
      case 'hello':
        this.log.warn({ member: this.endpoint }, 'second hello ignored');
        return;
    }
  }

  private onBadMessage(error: WireError): void {
    if (error.code === 'JAS_ERR_VERSION') {
      // Another major: refuse clearly, and retry only rarely (it needs an upgrade first).
      this.sendError(error);
      this.lastError = { ...error, message: `${this.endpoint} refused: ${error.message}` };
      this.log.warn({ member: this.endpoint, error }, 'member speaks another protocol major version');
      this.emit('refused', this.lastError);
      this.closeWith(error, 'refused');
      return;
    }
    if (this.statusValue === 'handshake') {
      this.fail({ code: 'JAS_ERR_HANDSHAKE', message: `bad first message from ${this.endpoint}: ${error.message}` });
      return;
    }
    this.log.warn({ member: this.endpoint, error }, 'invalid message from member');
    this.sendError(error);
  }

  private sendError(error: WireError): void {
    const now = this.monoNowMs();
    if (now - this.errorWindowStartMs >= 1000) {
      this.errorWindowStartMs = now;
      this.errorReplies = 0;
    }
    if (this.errorReplies++ >= MAX_ERROR_REPLIES_PER_S) return;
    this.sendRaw({ type: 'error', code: error.code, message: error.message.slice(0, 1000), ...(error.field !== undefined ? { field: error.field } : {}) });
  }

  private onHello(hello: HelloMessage): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    // Verify before anything learns of this hello: an impostor must not even count as a duplicate.
    const refusal = this.checkHello(hello);
    if (refusal) {
      this.refuse(refusal);
      return;
    }
    this.helloValue = hello;
    this.lastError = null;
    this.authWarned = false;
    this.emit('hello', hello);
    if (this.statusValue !== 'handshake') return; // the owner retired this connection (duplicate)
    const welcome = this.options.welcome(this.localAddress);
    const key = this.options.key;
    const proof = key && this.leaderNonce !== null && hello.challenge !== undefined
      ? { proof: leaderProof(key, { memberNonce: hello.challenge, leaderNonce: this.leaderNonce, memberId: hello.memberId, leaderId: welcome.leaderId }) }
      : {};
    this.sendRaw({ type: 'welcome', ...welcome, ...proof });
    for (const msg of this.options.onboard(hello)) this.sendRaw(msg);
    this.setStatus('connected');
    this.backoff.reset();
    this.lostAtMs = null;
    this.rtt.clear();
    this.pingsSentMs.clear();
    this.pingTimer = setInterval(() => this.heartbeat(), this.options.pingIntervalMs ?? PING_INTERVAL_MS);
    this.log.info({ member: hello.memberId, endpoint: this.endpoint, hostname: hello.hostname }, 'member connected');
    this.emit('connected', hello);
  }

  /** Why a keyed leader refuses this hello, or null. */
  private checkHello(hello: HelloMessage): string | null {
    const key = this.options.key;
    if (!key) return null;
    if (hello.proof === undefined || hello.challenge === undefined) {
      return `member sent no proof: give it the same key (fingerprint ${key.fingerprint})`;
    }
    const ok = this.leaderNonce !== null && verifyMemberProof(key, { leaderNonce: this.leaderNonce, memberNonce: hello.challenge, memberId: hello.memberId }, hello.proof);
    return ok ? null : `member's proof does not match (key fingerprint ${key.fingerprint})`;
  }

  /** Closes with JAS_ERR_UNAUTHORIZED (4006); reconnects with the normal backoff. */
  private refuse(detail: string): void {
    const error: WireError = { code: 'JAS_ERR_UNAUTHORIZED', message: `${this.endpoint}: ${formatErrorMessage('JAS_ERR_UNAUTHORIZED', { detail })}` };
    this.lastError = error;
    this.warnAuthOnce(error);
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.close(errorSpec('JAS_ERR_UNAUTHORIZED').closeCode ?? 4006, closeReason('JAS_ERR_UNAUTHORIZED', detail));
    this.onClosed(`4006 ${detail}`);
  }

  private warnAuthOnce(error: WireError): void {
    if (this.authWarned) return;
    this.authWarned = true;
    this.log.warn({ member: this.endpoint, error }, 'member handshake not authorized (shared keys differ?)');
  }

  private heartbeat(): void {
    const now = this.monoNowMs();
    if (now - this.lastHeardMs > (this.options.deadAfterMs ?? DEAD_AFTER_MS)) {
      this.fail({ code: 'JAS_ERR_TIMEOUT', message: `${this.endpoint} silent for ${Math.round(now - this.lastHeardMs)} ms` });
      return;
    }
    const seq = ++this.pingSeq;
    this.pingsSentMs.set(seq, now);
    if (this.pingsSentMs.size > MAX_OUTSTANDING_PINGS) {
      const oldest = this.pingsSentMs.keys().next().value;
      if (oldest !== undefined) this.pingsSentMs.delete(oldest);
    }
    this.sendRaw({ type: 'ping', seq, sentUs: Math.max(0, Math.round(this.options.leaderNowUs())) });
  }

  /** Ends this attempt with an error; the close handler schedules the reconnect. */
  private fail(error: WireError): void {
    this.lastError = error;
    this.log.warn({ member: this.endpoint, error }, 'member connection failed');
    this.closeWith(error, undefined);
  }

  private closeWith(error: WireError, next: ConnectionStatus | undefined): void {
    const ws = this.ws;
    if (!ws) return;
    const code = errorSpec(error.code).closeCode ?? 1011;
    // A dead peer never completes the close handshake: terminate, then handle as closed now.
    if (error.code === 'JAS_ERR_TIMEOUT' || ws.readyState !== WebSocket.OPEN) ws.terminate();
    else ws.close(code, closeReason(error.code, error.message));
    this.onClosed(`${code} ${error.message}`, next);
  }

  private onClosed(reason: string, next?: ConnectionStatus): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.removeAllListeners('message');
      ws.on('error', () => undefined);
      if (ws.readyState !== WebSocket.CLOSED && ws.readyState !== WebSocket.CLOSING) ws.terminate();
    }
    const wasConnected = this.statusValue === 'connected';
    this.clearTimers();
    if (this.statusValue === 'stopped') return;
    if (wasConnected) {
      this.lostAtMs = this.monoNowMs();
      this.log.info({ member: this.helloValue?.memberId, endpoint: this.endpoint, reason }, 'member disconnected');
      this.emit('disconnected', reason);
    }
    if (next === 'refused') {
      this.setStatus('refused');
      this.scheduleReconnect(VERSION_RETRY_MS);
      return;
    }
    const o = this.options;
    const lostRecently = this.lostAtMs !== null && this.monoNowMs() - this.lostAtMs < (o.lostRetryWindowMs ?? LOST_RETRY_WINDOW_MS);
    // Jittered like the backoff (down only): many members lost at once do not retry in step.
    this.scheduleReconnect(lostRecently ? Math.max(1, Math.round((o.lostRetryMs ?? LOST_RETRY_MS) * (1 - 0.3 * Math.random()))) : this.backoff.nextDelayMs());
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.statusValue === 'stopped') return;
    if (this.statusValue !== 'refused') this.setStatus('backoff');
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
    this.reconnectTimer.unref?.();
  }

  private clearTimers(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.pingTimer = null;
    this.handshakeTimer = null;
    this.pingsSentMs.clear();
  }
}

export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
