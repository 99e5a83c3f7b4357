// Round-trip times of one member connection (from ping/pong), each with the instant it arrived:
// the minute's window for display, and the recent window's median and 90th percentile, which set
// how far ahead commands are scheduled (timeline-controller.ts leadTimeUs).

/** 60 samples = the last minute at one ping per second: the view shown in the member list. */
const WINDOW_SAMPLES = 60;

/**
 * The lead follows the RTTs of the last 10 s only. Over the minute's window, the congestion of a
 * busy phase (100 members fetching the playlist) stayed in the p90 for up to a minute after it had
 * passed, and commands with a 250 ms delay were refused for 53 s (docs/benchmarks.md, "Fanout").
 * 10 samples is still enough for the p90 to pass over one stray slow pong (nearest rank: the
 * second largest), and onset of congestion shows after two slow pongs, sooner than over 60.
 */
export const RECENT_WINDOW_MS = 10_000;

/** A member's recent RTTs: what the lead is computed from (timeline-controller.ts leadTimeUs). */
export interface RecentRtt {
  p50Us: number;
  p90Us: number;
}

interface Sample {
  rttUs: number;
  /** Monotonic ms at which the pong arrived. */
  atMs: number;
}

const defaultMonoNowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export class RttStats {
  private readonly samples: Sample[] = [];

  /**
   * `monoNowMs`: the clock that stamps samples and ages them; `windowMs`: what counts as recent
   * (both injectable for tests, which ping faster than once a second).
   */
  constructor(
    private readonly monoNowMs: () => number = defaultMonoNowMs,
    private readonly windowMs = RECENT_WINDOW_MS,
  ) {}

  /**
   * One sample. `supersedesLast`: it arrived in the same burst as the previous one (pongs queued
   * behind a stalled link arrive together): the burst is one event, measured by its newest ping.
   */
  add(rttUs: number, supersedesLast = false): void {
    if (!Number.isFinite(rttUs) || rttUs < 0) return;
    const sample = { rttUs, atMs: this.monoNowMs() };
    if (supersedesLast && this.samples.length > 0) {
      this.samples[this.samples.length - 1] = sample;
      return;
    }
    this.samples.push(sample);
    if (this.samples.length > WINDOW_SAMPLES) this.samples.shift();
  }

  get count(): number {
    return this.samples.length;
  }

  get lastUs(): number | undefined {
    return this.samples[this.samples.length - 1]?.rttUs;
  }

  /** p-th percentile (0..100, nearest rank) of the minute's window; undefined without samples. */
  percentileUs(p: number): number | undefined {
    return percentile(this.samples.map((s) => s.rttUs), p);
  }

  /**
   * p-th percentile of the samples that arrived in the last `windowMs`; undefined when none did
   * (a member whose pongs are all old tells nothing about the path now, and must not hold
   * everyone's lead up with them; one that stops answering is dropped after DEAD_AFTER_MS anyway).
   */
  recentPercentileUs(p: number, windowMs = this.windowMs): number | undefined {
    return percentile(this.recent(windowMs), p);
  }

  /**
   * The recent window's median and 90th percentile (the lead's inputs); undefined without recent
   * pongs. The p90 of 5-9 pongs is their second largest, not the largest (nearest rank, the same
   * from 10 on): the window often holds 9 pongs (ping timers and RTTs jitter against its edge;
   * 1-20 % of members at a command in bench:fanout runs, more under load), and then one stray slow
   * pong (one TCP retransmission on a 1 %-loss link) set the lead as if the path were slow. Fewer
   * than 5: the largest (a new connection's few pongs are all there is to go by).
   */
  recentUs(windowMs = this.windowMs): RecentRtt | undefined {
    const sorted = this.recent(windowMs).sort((a, b) => a - b);
    const p50Us = percentileOfSorted(sorted, 50);
    const n = sorted.length;
    const p90Us = n >= 5 && n < 10 ? sorted[n - 2] : percentileOfSorted(sorted, 90);
    return p50Us === undefined || p90Us === undefined ? undefined : { p50Us, p90Us };
  }

  private recent(windowMs: number): number[] {
    const since = this.monoNowMs() - windowMs;
    const recent: number[] = [];
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i];
      if (!s || s.atMs < since) break; // samples are in arrival order
      recent.push(s.rttUs);
    }
    return recent;
  }

  clear(): void {
    this.samples.length = 0;
  }
}

function percentile(values: number[], p: number): number | undefined {
  return percentileOfSorted([...values].sort((a, b) => a - b), p);
}

function percentileOfSorted(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
