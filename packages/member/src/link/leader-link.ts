// The member's WebSocket server: the leader connects here. Validates every frame at the boundary
// (protocol codec), answers pings, and hands welcome/timeline/settings to the daemon. A bad frame
// gets an `error` reply and the connection survives; a flood or another protocol major closes it.
// With a shared key it runs the member side of the mutual handshake (docs/security.md), and a new
// connection replaces the current leader only once its `welcome` has proved the key.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { WebSocket, WebSocketServer as WebSocketServerClass } from 'ws';
import {
  CHALLENGE_HEADER,
  DEFAULT_MAX_MESSAGE_BYTES,
  ERRORS,
  closeReason,
  createNonce,
  decodeMessage,
  encodeMessage,
  formatErrorMessage,
  isNonce,
  memberProof,
  verifyLeaderProof,
  type AuthKey,
  type LeaderMessage,
  type MessageInput,
  type WelcomeMessage,
  type WireError,
} from '@jaudiosync/protocol';

// ws through require, not import: imported as ESM (its wrapper.mjs over its CommonJS files) it took
// 110-140 ms of the member's start on Node 20, required 30 ms (issue #18, docs/benchmarks.md).
const { WebSocketServer } = createRequire(import.meta.url)('ws') as typeof import('ws');

/** More messages than this per second from one peer is a flood: the peer is disconnected. */
const MAX_MESSAGES_PER_S = 200;
/** Open connections at once: one leader plus a restarted one and a few strays; more is a flood. */
const MAX_CONNECTIONS = 8;
/** Replies to bad frames are rate-limited so a broken peer cannot make us flood it back. */
const MAX_ERROR_REPLIES_PER_S = 5;

/** Errors that, after the handshake, get an `error` reply and leave the connection open. */
const RECOVERABLE = new Set(['JAS_ERR_BAD_JSON', 'JAS_ERR_VALIDATION', 'JAS_ERR_UNKNOWN_TYPE']);
/** A connection that has not sent a valid `welcome` by then is closed (the leader answers hello at once). */
export const WELCOME_TIMEOUT_MS = 10_000;
/** Peers remembered for "warn once per peer" about refused handshakes (then the memory starts over). */
const MAX_WARNED_PEERS = 256;

export interface LeaderLinkOptions {
  host: string;
  port: number;
  /** The member's `hello` (without auth fields: the link adds them). */
  hello: () => MessageInput;
  /** Shared key; without one every leader is accepted (development). */
  key?: AuthKey | undefined;
  welcomeTimeoutMs?: number;
}

export interface LeaderLinkEvents {
  /** A leader's welcome was accepted (verified, with a key): it is the current leader now. */
  connected: [remoteAddress: string];
  disconnected: [reason: string];
  message: [msg: LeaderMessage, remoteAddress: string];
  /** Bad frames, and refused handshakes (those once per peer address until it succeeds). */
  invalid: [error: WireError, remoteAddress: string];
  /** Every refused handshake (JAS_ERR_UNAUTHORIZED), for tests and counters. */
  unauthorized: [error: WireError, remoteAddress: string];
  /** The leader closed before its welcome with an error of ours (e.g. our id is taken). */
  refused: [reason: string, remoteAddress: string];
}

export class LeaderLink extends EventEmitter<LeaderLinkEvents> {
  private wss: WebSocketServerClass | null = null;
  private current: WebSocket | null = null;
  private remote = '';
  private readonly warnedPeers = new Set<string>();
  /** Connections we closed ourselves (their close event is not the leader refusing us). */
  private readonly closedByUs = new WeakSet<WebSocket>();

  constructor(private readonly opts: LeaderLinkOptions) {
    super();
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host: this.opts.host, port: this.opts.port, maxPayload: DEFAULT_MAX_MESSAGE_BYTES, clientTracking: true });
      wss.once('error', reject);
      wss.once('listening', () => {
        wss.off('error', reject);
        wss.on('error', () => undefined); // runtime server errors must not crash the daemon
        const addr = wss.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.opts.port);
      });
      wss.on('connection', (ws, req) => {
        try {
          this.accept(ws, req);
        } catch {
          ws.terminate(); // a bug in one handshake must not take the daemon down
        }
      });
      this.wss = wss;
    });
  }

  get connected(): boolean {
    return this.current !== null;
  }

  get remoteAddress(): string {
    return this.remote;
  }

  send(msg: MessageInput): boolean {
    const ws = this.current;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(encodeMessage(msg));
    return true;
  }

  async close(): Promise<void> {
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    this.wss = null;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const remote = normalizeAddress(req.socket.remoteAddress ?? '');
    ws.on('error', () => undefined);
    if ((this.wss?.clients.size ?? 0) > MAX_CONNECTIONS) {
      this.closeOurs(ws, 1013, 'too many connections');
      return;
    }
    const key = this.opts.key;
    const hello = this.opts.hello() as MessageInput & { memberId: string };
    // With a key: the leader's nonce arrives in the upgrade request, ours goes out in hello.
    let auth: { leaderNonce: string; memberNonce: string } | null = null;
    if (key) {
      const header = req.headers[CHALLENGE_HEADER];
      if (!isNonce(header)) {
        this.refuse(ws, remote, `leader sent no ${CHALLENGE_HEADER}: give it the same key (fingerprint ${key.fingerprint})`);
        return;
      }
      auth = { leaderNonce: header, memberNonce: createNonce() };
    }
    let windowStart = Date.now();
    let messages = 0;
    let errorReplies = 0;
    let welcomed = false;
    // Bounded wait for the welcome: a silent connection must not stay open forever.
    const welcomeTimer = setTimeout(() => {
      if (!welcomed) this.closeOurs(ws, ERRORS.JAS_ERR_HANDSHAKE.closeCode, closeReason('JAS_ERR_HANDSHAKE', 'no welcome in time'));
    }, this.opts.welcomeTimeoutMs ?? WELCOME_TIMEOUT_MS);
    welcomeTimer.unref?.();
    ws.on('message', (raw) => {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        messages = 0;
        errorReplies = 0;
      }
      if (++messages > MAX_MESSAGES_PER_S) {
        this.closeOurs(ws, 1008, 'message rate limit exceeded');
        return;
      }
      const result = decodeMessage(raw, { allowed: 'leader' });
      if (!result.ok) {
        const error = result.error;
        this.emit('invalid', error, remote);
        // Before the handshake any bad frame ends the connection; after it, only fatal ones do.
        if (welcomed && RECOVERABLE.has(error.code)) {
          if (errorReplies++ < MAX_ERROR_REPLIES_PER_S && ws.readyState === ws.OPEN) {
            ws.send(encodeMessage({ type: 'error', ...error }));
          }
          return;
        }
        const closeCode = (ERRORS as Record<string, { closeCode?: number }>)[error.code]?.closeCode ?? ERRORS.JAS_ERR_INTERNAL.closeCode;
        this.closeOurs(ws, closeCode, closeReason(error.code, error.message));
        return;
      }
      const msg = result.message as LeaderMessage;
      if (!welcomed) {
        if (msg.type !== 'welcome') {
          this.closeOurs(ws, ERRORS.JAS_ERR_HANDSHAKE.closeCode, closeReason('JAS_ERR_HANDSHAKE', `expected welcome, got ${msg.type}`));
          return;
        }
        if (key && auth) {
          const refusal = checkWelcome(key, auth, hello.memberId, msg);
          if (refusal) {
            this.refuse(ws, remote, refusal);
            return;
          }
        }
        welcomed = true;
        clearTimeout(welcomeTimer);
        this.promote(ws, remote);
      }
      if (ws !== this.current) return;
      this.emit('message', msg, remote);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(welcomeTimer);
      // 4000-4999: our protocol's error close codes; the reason says what to fix.
      if (!welcomed && !this.closedByUs.has(ws) && code >= 4000 && code <= 4999) this.emit('refused', `${code} ${reason.toString()}`.trim(), remote);
      if (ws === this.current) {
        this.current = null;
        this.emit('disconnected', `${code} ${reason.toString()}`.trim());
      }
    });
    const authFields = key && auth
      ? { challenge: auth.memberNonce, proof: memberProof(key, { leaderNonce: auth.leaderNonce, memberNonce: auth.memberNonce, memberId: hello.memberId }) }
      : {};
    ws.send(encodeMessage({ ...hello, ...authFields } as MessageInput));
  }

  /**
   * The welcomed connection becomes the leader. One leader at a time: the newest welcomed one
   * wins (a restarted leader reconnects before the old TCP connection has timed out); with a key
   * only a leader that proved it can get here, so nobody else can cut the music by connecting.
   */
  private promote(ws: WebSocket, remote: string): void {
    const old = this.current;
    this.current = ws;
    this.remote = remote;
    this.warnedPeers.delete(remote);
    if (old && old !== ws) {
      old.close(ERRORS.JAS_ERR_CONFLICT.closeCode, 'JAS_ERR_CONFLICT: replaced by a newer leader connection');
    }
    this.emit('connected', remote);
  }

  private closeOurs(ws: WebSocket, code: number, reason: string): void {
    this.closedByUs.add(ws);
    ws.close(code, reason);
  }

  /** Closes with JAS_ERR_UNAUTHORIZED (4006); reported as `invalid` once per peer address. */
  private refuse(ws: WebSocket, remote: string, detail: string): void {
    const error: WireError = { code: 'JAS_ERR_UNAUTHORIZED', message: formatErrorMessage('JAS_ERR_UNAUTHORIZED', { detail }) };
    this.closeOurs(ws, ERRORS.JAS_ERR_UNAUTHORIZED.closeCode, closeReason('JAS_ERR_UNAUTHORIZED', detail));
    this.emit('unauthorized', error, remote);
    if (this.warnedPeers.has(remote)) return;
    if (this.warnedPeers.size >= MAX_WARNED_PEERS) this.warnedPeers.clear();
    this.warnedPeers.add(remote);
    this.emit('invalid', error, remote);
  }
}

/** Why a keyed member refuses this welcome, or null when its proof answers our nonce. */
function checkWelcome(key: AuthKey, auth: { leaderNonce: string; memberNonce: string }, memberId: string, welcome: WelcomeMessage): string | null {
  if (welcome.proof === undefined) return `leader sent no proof: give it the same key (fingerprint ${key.fingerprint})`;
  const ok = verifyLeaderProof(key, { memberNonce: auth.memberNonce, leaderNonce: auth.leaderNonce, memberId, leaderId: welcome.leaderId }, welcome.proof);
  return ok ? null : `leader's proof does not match (key fingerprint ${key.fingerprint})`;
}

function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
