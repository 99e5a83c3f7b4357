// Reconnect delays: exponential growth with random jitter, capped, reset after a good connection.
// Jitter spreads the reconnects of many members after a leader or WiFi hiccup.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** 0..1: each delay is scaled by a random factor in [1 - jitter, 1]. */
  jitter?: number;
  random?: () => number;
}

/** First retry soon: a member that restarts is back within a second. */
export const DEFAULT_BACKOFF_INITIAL_MS = 500;
/**
 * A member gone for long is still retried every 1.4-2 s (forever): a restarted member is back
 * within ~2 s of listening. On a LAN a refused attempt costs one SYN and one RST.
 */
export const DEFAULT_BACKOFF_MAX_MS = 2_000;

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    this.factor = options.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.3));
    this.random = options.random ?? Math.random;
  }

  /** Delay before the next attempt; grows with each call until reset(). */
  nextDelayMs(): number {
    const raw = Math.min(this.maxMs, this.initialMs * this.factor ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(1, Math.round(raw * (1 - this.jitter * this.random())));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
