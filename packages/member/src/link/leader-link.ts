// The member's WebSocket server: the leader connects here. Validates every frame at the boundary
// (protocol codec), answers pings, and hands welcome/timeline/settings to the daemon. A bad frame
// gets an `error` reply and the connection survives; a flood or another protocol major closes it.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';

/** Frames larger than this are refused by ws before they reach the codec. */
const MAX_FRAME_BYTES = 1024 * 1024;
/** More messages than this per second from one peer is a flood: the peer is disconnected. */
const MAX_MESSAGES_PER_S = 200;
/** Replies to bad frames are rate-limited so a broken peer cannot make us flood it back. */
const MAX_ERROR_REPLIES_PER_S = 5;

export interface DecodeResult {
  ok: boolean;
  message?: { type: string; [k: string]: unknown };
  error?: { code: string; message: string; field?: string };
}

export interface LeaderLinkCodec {
  decode(raw: RawData): DecodeResult;
  encode(msg: { type: string; [k: string]: unknown }): string;
  /** WebSocket close code for an error code, when that error ends the connection. */
  closeCodeFor(code: string): number | undefined;
}

export interface LeaderLinkEvents {
  connected: [remoteAddress: string];
  disconnected: [reason: string];
  message: [msg: { type: string; [k: string]: unknown }, remoteAddress: string];
  invalid: [error: { code: string; message: string; field?: string }, remoteAddress: string];
}

export class LeaderLink extends EventEmitter<LeaderLinkEvents> {
  private wss: WebSocketServer | null = null;
  private current: WebSocket | null = null;
  private remote = '';

  constructor(
    private readonly opts: { host: string; port: number; codec: LeaderLinkCodec; hello: () => { type: string; [k: string]: unknown } },
  ) {
    super();
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host: this.opts.host, port: this.opts.port, maxPayload: MAX_FRAME_BYTES, clientTracking: true });
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

  send(msg: { type: string; [k: string]: unknown }): boolean {
    const ws = this.current;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(this.opts.codec.encode(msg));
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
    if (this.current && this.current !== ws) this.current.close(4001, 'replaced by a newer leader connection');
    this.current = ws;
    this.remote = remote;
    let windowStart = Date.now();
    let messages = 0;
    let errorReplies = 0;
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
      const result = this.opts.codec.decode(raw);
      if (!result.ok || !result.message) {
        const error = result.error ?? { code: 'JAS_ERR_VALIDATION', message: 'invalid message' };
        this.emit('invalid', error, remote);
        const closeCode = this.opts.codec.closeCodeFor(error.code);
        if (errorReplies++ < MAX_ERROR_REPLIES_PER_S && ws.readyState === ws.OPEN) {
          ws.send(this.opts.codec.encode({ type: 'error', ...error }));
        }
        if (closeCode !== undefined) ws.close(closeCode, error.message.slice(0, 120));
        return;
      }
      if (ws !== this.current) return;
      this.emit('message', result.message, remote);
    });
    ws.on('close', (code, reason) => {
      if (ws === this.current) {
        this.current = null;
        this.emit('disconnected', `${code} ${reason.toString()}`.trim());
      }
    });
    ws.send(this.opts.codec.encode(this.opts.hello()));
    this.emit('connected', remote);
  }
}

function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
