// The member's WebSocket server: the leader connects here. Validates every frame at the boundary
// (protocol codec), answers pings, and hands welcome/timeline/settings to the daemon. A bad frame
// gets an `error` reply and the connection survives; a flood or another protocol major closes it.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  ERRORS,
  closeReason,
  decodeMessage,
  encodeMessage,
  type LeaderMessage,
  type MessageInput,
  type WireError,
} from '@jaudiosync/protocol';

/** More messages than this per second from one peer is a flood: the peer is disconnected. */
const MAX_MESSAGES_PER_S = 200;
/** Replies to bad frames are rate-limited so a broken peer cannot make us flood it back. */
const MAX_ERROR_REPLIES_PER_S = 5;

/** Errors that, after the handshake, get an `error` reply and leave the connection open. */
const RECOVERABLE = new Set(['JAS_ERR_BAD_JSON', 'JAS_ERR_VALIDATION', 'JAS_ERR_UNKNOWN_TYPE']);

export interface LeaderLinkEvents {
  connected: [remoteAddress: string];
  disconnected: [reason: string];
  message: [msg: LeaderMessage, remoteAddress: string];
  invalid: [error: WireError, remoteAddress: string];
}

export class LeaderLink extends EventEmitter<LeaderLinkEvents> {
  private wss: WebSocketServer | null = null;
  private current: WebSocket | null = null;
  private remote = '';

  constructor(
    private readonly opts: { host: string; port: number; hello: () => MessageInput },
  ) {
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
      wss.on('connection', (ws, req) => this.accept(ws, req));
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
    // One leader at a time: the newest connection wins (a restarted leader reconnects before the
    // old TCP connection has timed out).
    if (this.current && this.current !== ws) {
      this.current.close(ERRORS.JAS_ERR_CONFLICT.closeCode, 'JAS_ERR_CONFLICT: replaced by a newer leader connection');
    }
    this.current = ws;
    this.remote = remote;
    let windowStart = Date.now();
    let messages = 0;
    let errorReplies = 0;
    let welcomed = false;
    ws.on('error', () => undefined);
    ws.on('message', (raw) => {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        messages = 0;
        errorReplies = 0;
      }
      if (++messages > MAX_MESSAGES_PER_S) {
        ws.close(1008, 'message rate limit exceeded');
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
        ws.close(closeCode, closeReason(error.code, error.message));
        return;
      }
      const msg = result.message as LeaderMessage;
      if (!welcomed && msg.type !== 'welcome') {
        ws.close(ERRORS.JAS_ERR_HANDSHAKE.closeCode, closeReason('JAS_ERR_HANDSHAKE', `expected welcome, got ${msg.type}`));
        return;
      }
      welcomed = true;
      if (ws !== this.current) return;
      this.emit('message', msg, remote);
    });
    ws.on('close', (code, reason) => {
      if (ws === this.current) {
        this.current = null;
        this.emit('disconnected', `${code} ${reason.toString()}`.trim());
      }
    });
    ws.send(encodeMessage(this.opts.hello()));
    this.emit('connected', remote);
  }
}

function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
