// Pure analysis of bench:sync offset series: steady statistics, "in sync from" times (late join,
// rejoin after a restart), and decimation for plots.
import type { Capture } from '@jaudiosync/member/capture-file';
import type { CaptureView, OffsetPoint } from '@jaudiosync/testkit/helpers/capture-analysis.js';
import { percentileSorted, round } from './lib/stats.js';

/** A member is "in sync" once a window is within this of the reference and stays so. */
export const IN_SYNC_US = 100;
/** ...for this many consecutive measured windows (one outlier right after the start does not count as joined). */
export const IN_SYNC_CONFIRM = 5;

export interface AbsStats {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** signed mean (bias) */
  mean: number | null;
}

export function absStats(offsetsUs: readonly number[]): AbsStats {
  const abs = offsetsUs.map(Math.abs).sort((a, b) => a - b);
  const n = abs.length;
  return {
    n,
    p50: round(percentileSorted(abs, 50), 1),
    p99: round(percentileSorted(abs, 99), 1),
    max: n === 0 ? null : round(abs[n - 1]!, 1),
    mean: n === 0 ? null : round(offsetsUs.reduce((a, b) => a + b, 0) / n, 1),
  };
}

export function pointsIn(points: readonly OffsetPoint[], fromNs: number, toNs = Infinity): OffsetPoint[] {
  return points.filter((p) => p.trueTimeNs >= fromNs && p.trueTimeNs < toNs);
}

/**
 * True time of the first window at or after fromNs that is within thresholdUs and followed by
 * confirm - 1 more such windows; null if never.
 */
export function inSyncFromNs(points: readonly OffsetPoint[], fromNs: number, thresholdUs = IN_SYNC_US, confirm = IN_SYNC_CONFIRM): number | null {
  const ps = points.filter((p) => p.trueTimeNs >= fromNs);
  let run = 0;
  for (let i = 0; i < ps.length; i++) {
    run = Math.abs(ps[i]!.offsetUs) < thresholdUs ? run + 1 : 0;
    if (run >= confirm) return ps[i - confirm + 1]!.trueTimeNs;
  }
  return null;
}

/** Worst of several stats by p99 (then max); null when none has data. */
export function worstByP99<T extends { stats: AbsStats }>(items: readonly T[]): T | null {
  let worst: T | null = null;
  for (const it of items) {
    if (it.stats.p99 === null) continue;
    if (worst === null || it.stats.p99 > (worst.stats.p99 ?? -1) || (it.stats.p99 === worst.stats.p99 && (it.stats.max ?? 0) > (worst.stats.max ?? 0))) worst = it;
  }
  return worst;
}

/** Reference RMS above this during a silent capture block = the member dropped audio it should have played. */
export const DROPOUT_MIN_REF_RMS = 0.003;
/** Onsets: the level must have stayed below the threshold this long before (a rising edge, not mid-note). */
export const ONSET_QUIET_MS = 5;

function rmsOf(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return x.length === 0 ? 0 : Math.sqrt(s / x.length);
}

/**
 * Silent (zero-filled: underrun or engine silence) capture blocks in [fromNs, toNs) during which the
 * schedule has audio: count and total ms.
 */
export function dropouts(cap: Capture, ref: CaptureView, fromNs: number, toNs: number): { count: number; totalMs: number; firstS: number[] } {
  let count = 0;
  let totalMs = 0;
  const firstS: number[] = [];
  for (const b of cap.blocks) {
    if (!b.silent) continue;
    const t0 = cap.trueTimeOfFrame(b.deviceFrame);
    const t1 = cap.trueTimeOfFrame(b.deviceFrame + b.frames);
    if (t1 <= fromNs || t0 >= toNs) continue;
    const r0 = Math.round(ref.frameAtTrueTime(Math.max(t0, fromNs)));
    const r1 = Math.round(ref.frameAtTrueTime(Math.min(t1, toNs)));
    if (r1 <= r0 || rmsOf(ref.monoSamples(r0, Math.min(r1 - r0, 48_000 * 10))) < DROPOUT_MIN_REF_RMS) continue;
    count++;
    totalMs += (t1 - t0) / 1e6;
    if (firstS.length < 20) firstS.push(t0);
  }
  return { count, totalMs: Math.round(totalMs * 10) / 10, firstS };
}

/**
 * True time of the first rising edge at or after fromNs (mono level reaching threshold after at
 * least ONSET_QUIET_MS below it), interpolated between frames; null if none within maxS.
 */
export function risingOnsetNs(v: CaptureView, fromNs: number, threshold: number, maxS = 10): number | null {
  const quiet = Math.round((ONSET_QUIET_MS / 1000) * v.sampleRate);
  const start = Math.ceil(v.frameAtTrueTime(fromNs));
  const x = v.monoSamples(start, Math.round(maxS * v.sampleRate));
  let below = 0;
  for (let i = 0; i < x.length; i++) {
    const level = Math.abs(x[i]!);
    if (level >= threshold && below >= quiet) {
      const prev = Math.abs(x[i - 1]!);
      const frac = level > prev ? (level - threshold) / (level - prev) : 0;
      return v.trueTimeOfFrame(start + i - frac);
    }
    below = level < threshold ? below + 1 : 0;
  }
  return null;
}
