// Round-trip times of one member connection (from ping/pong): a window of recent samples and its
// 90th percentile, which sets how far ahead commands are scheduled.

/** 60 samples = the last minute at one ping per second: recent enough to follow WiFi changes. */
const WINDOW_SAMPLES = 60;

export class RttStats {
  private readonly samplesUs: number[] = [];

  /**
   * One sample. `supersedesLast`: it arrived in the same burst as the previous one (pongs queued
   * behind a stalled link arrive together): the burst is one event, measured by its newest ping.
   */
  add(rttUs: number, supersedesLast = false): void {
    if (!Number.isFinite(rttUs) || rttUs < 0) return;
    if (supersedesLast && this.samplesUs.length > 0) {
      this.samplesUs[this.samplesUs.length - 1] = rttUs;
      return;
    }
    this.samplesUs.push(rttUs);
    if (this.samplesUs.length > WINDOW_SAMPLES) this.samplesUs.shift();
  }

  get count(): number {
    return this.samplesUs.length;
  }

  get lastUs(): number | undefined {
    return this.samplesUs[this.samplesUs.length - 1];
  }

  /** p-th percentile (0..100, nearest rank); undefined without samples. */
  percentileUs(p: number): number | undefined {
    if (this.samplesUs.length === 0) return undefined;
    const sorted = [...this.samplesUs].sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank];
  }

  clear(): void {
    this.samplesUs.length = 0;
  }
}
