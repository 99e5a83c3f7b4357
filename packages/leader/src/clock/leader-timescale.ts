// The leader timescale: Unix-epoch µs that advance with CLOCK_MONOTONIC, anchored once to wall time
// at construction. It never steps, whatever the wall clock does later.

/** Longest we spin at start looking for a Date.now() millisecond edge (µs-exact anchor). */
const ANCHOR_EDGE_MAX_SPIN_NS = 5_000_000n;

export interface LeaderTimescaleOptions {
  /** Wall time of the anchor (default Date.now() * 1000, read once). */
  anchorWallUs?: number;
  /** Monotonic reading of the anchor (default process.hrtime.bigint(), read right after). */
  anchorMonoNs?: bigint;
  /** Injected monotonic clock (tests); default process.hrtime.bigint. */
  monoNs?: () => bigint;
}

export class LeaderTimescale {
  readonly anchorWallUs: number;
  readonly anchorMonoNs: bigint;
  private readonly monoNs: () => bigint;

  constructor(opts: LeaderTimescaleOptions = {}) {
    this.monoNs = opts.monoNs ?? (() => process.hrtime.bigint());
    if (opts.anchorWallUs !== undefined) {
      if (!Number.isFinite(opts.anchorWallUs)) throw new RangeError(`LeaderTimescale: bad anchorWallUs ${opts.anchorWallUs}`);
      this.anchorWallUs = Math.round(opts.anchorWallUs);
      this.anchorMonoNs = opts.anchorMonoNs ?? this.monoNs();
    } else {
      const a = anchorAtMillisecondEdge(this.monoNs);
      this.anchorWallUs = a.wallUs;
      this.anchorMonoNs = a.monoNs;
    }
  }

  /** Leader time now, fractional µs (0.25 µs resolution at present-day magnitudes). */
  nowUs(): number {
    return this.fromHostMonoNs(this.monoNs());
  }

  /** Leader time at a host CLOCK_MONOTONIC reading. */
  fromHostMonoNs(ns: bigint): number {
    return this.anchorWallUs + Number(ns - this.anchorMonoNs) / 1000;
  }

  /** Exact leader time in ns (used by the NTP server for sub-µs NTP fractions). */
  fromHostMonoNsExact(ns: bigint): bigint {
    return BigInt(this.anchorWallUs) * 1000n + (ns - this.anchorMonoNs);
  }
}

/**
 * Date.now() has millisecond resolution; the instant it ticks over is the start of that millisecond.
 * Spin (bounded) until it does, taking the monotonic reading at the edge: wall time to ~1 µs.
 */
function anchorAtMillisecondEdge(monoNs: () => bigint): { wallUs: number; monoNs: bigint } {
  const startMs = Date.now();
  const startNs = monoNs();
  for (;;) {
    const before = monoNs();
    const ms = Date.now();
    if (ms !== startMs) {
      const after = monoNs();
      return { wallUs: ms * 1000, monoNs: (before + after) / 2n };
    }
    if (before - startNs > ANCHOR_EDGE_MAX_SPIN_NS) return { wallUs: startMs * 1000 + 500, monoNs: before };
  }
}
