// Deterministic simulation of NTP exchanges over an impaired link (the netsim profiles' delay model:
// per direction delay + normal jitter clipped at 0, FIFO, loss) driving TimeFilter, for tests and
// the estimator report (sim-report.ts). Time is the true host monotonic µs. Optional models of what
// real processes add: receive wake-up latency growing with idle time (leader and member), the
// userspace switch's forwarding latency, and the member's paired polling (warm-up + measured).

import { TimeFilter, type FitParams } from '../../src/clock/time-filter.js';
import { leaderFromLocal, type ClockModel } from '../../src/clock/clock-model.js';
import { mulberry32 } from '@jaudiosync/test-support';

export interface LinkProfile {
  delayMs: number;
  jitterMs: number;
  lossPct: number;
}

export const PROFILES: Record<string, LinkProfile> = {
  wifi: { delayMs: 5, jitterMs: 3, lossPct: 1 },
  lan: { delayMs: 0.2, jitterMs: 0.05, lossPct: 0 },
};

/**
 * What real processes on the netsim add (measured with bench/clock-path): a receiver idle for 20 ms
 * timestamps ~150 µs late, one idle for 1 ms ~20 µs less than at 2 ms; the userspace switch
 * forwards no frame sooner than ~180-600 µs (so WiFi's "zero delay" floor is smeared).
 */
export const REAL_PROCESSES: Pick<SimOptions, 'wake' | 'hub'> = {
  wake: { coldUs: 150, tauUs: 5000, jitterUs: 10 },
  hub: { minUs: 180, meanExtraUs: 150 },
};

export interface SimOptions {
  seed: number;
  profile: LinkProfile;
  durationS: number;
  offsetUs: number; // member clock offset
  ratePpm: number; // member clock rate error
  burstHz: number;
  burstS: number;
  /** Polls at this rate for the first `s` seconds, before the burst (ClockSync's fast start on a LAN). */
  fastStart?: { hz: number; s: number };
  steadyHz: number;
  timestampNoiseUs: number; // sd of each timestamp's read noise
  serverProcUs: number;
  blackhole?: { fromS: number; toS: number };
  /** Per-sample probability of a wild server timestamp (outlier test). */
  garbageProb?: number;
  /** Range of a wild timestamp's error, µs (default 200 000: +-100 ms). */
  garbageRangeUs?: number;
  /**
   * Receive wake-up latency of an endpoint idle for `idle` µs: coldUs * (1 - exp(-idle / tauUs)) +
   * exponential jitter. It delays the receive timestamp (T2 at the leader, T4 at the member).
   */
  wake?: { coldUs: number; tauUs: number; jitterUs: number };
  /** The switch forwards no frame sooner than minUs + exponential(meanExtraUs) after it arrived. */
  hub?: { minUs: number; meanExtraUs: number };
  /** 'none': one exchange per poll; 'reply': warm-up request, measured one on its reply (ClockSync). */
  pairing?: 'none' | 'reply';
  /** True time (s) the run starts at, on the same axes as a run from 0 (a restart later on); points' tS count from here. */
  startS?: number;
  /** A remembered fit given to the filter at the start (TimeFilter.seedPrior). */
  prior?: FitParams;
  evalEveryMs: number;
}

export interface SimPoint {
  tS: number;
  errUs: number;
  uncertaintyUs: number;
  synced: boolean;
  leaderEstUs: number;
}

/** Seeded uniform numbers (mulberry32), so failures reproduce. */
export const rng = mulberry32;

export function gaussian(r: () => number): () => number {
  return () => {
    const u = Math.max(r(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  };
}

const LEADER_ANCHOR_US = 1_764_000_000_000_000; // leader timescale at true t = 0

export function simulate(o: SimOptions): { points: SimPoint[]; filter: TimeFilter } {
  const r = rng(o.seed);
  const g = gaussian(r);
  const filter = new TimeFilter();
  const local = (tUs: number) => tUs * (1 + o.ratePpm / 1e6) + o.offsetUs;
  const noise = () => g() * o.timestampNoiseUs;
  const expo = (mean: number) => -mean * Math.log(Math.max(r(), 1e-12));
  const oneWay = () => {
    const d = Math.max(0, o.profile.delayMs * 1000 + g() * o.profile.jitterMs * 1000);
    return o.hub ? Math.max(d, o.hub.minUs + expo(o.hub.meanExtraUs)) : d;
  };
  const wakeUs = (idleUs: number) => (o.wake ? o.wake.coldUs * (1 - Math.exp(-Math.max(0, idleUs) / o.wake.tauUs)) + expo(o.wake.jitterUs) : 0);
  const lost = () => r() * 100 < o.profile.lossPct;
  const inBlackhole = (tUs: number) => !!o.blackhole && tUs >= o.blackhole.fromS * 1e6 && tUs < o.blackhole.toS * 1e6;
  const points: SimPoint[] = [];
  const startUs = (o.startS ?? 0) * 1e6;
  if (o.prior) filter.seedPrior(o.prior, local(startUs));
  // Events: polls (send at true time t), evaluations; replies arrive in order (FIFO per direction).
  let fifoOut = startUs;
  let fifoBack = startUs;
  let serverIdleSince = startUs; // true time the leader last finished handling a request
  let memberIdleSince = startUs; // true time the member last sent or handled a packet
  const pendingReplies: { arriveUs: number; warmup: boolean; sample: { t1: number; t2: number; t3: number } }[] = [];
  let model: ClockModel | null = null;
  const endUs = startUs + o.durationS * 1e6;
  let nextPollUs = startUs + 1000;
  let nextEvalUs = startUs;
  const send = (t: number, warmup: boolean): void => {
    const t1 = local(t) + noise();
    memberIdleSince = t;
    if (lost() || inBlackhole(t)) return;
    const arriveServer = Math.max(t + oneWay(), fifoOut);
    fifoOut = arriveServer;
    if (lost() || inBlackhole(arriveServer)) return;
    const handled = Math.max(arriveServer + wakeUs(arriveServer - serverIdleSince), serverIdleSince);
    const t2 = LEADER_ANCHOR_US + handled + noise();
    const leave = handled + o.serverProcUs;
    serverIdleSince = leave;
    let t3 = LEADER_ANCHOR_US + leave + noise();
    let t2v = t2;
    if (o.garbageProb && r() < o.garbageProb) {
      const wild = (r() - 0.5) * (o.garbageRangeUs ?? 2e5);
      t2v += wild;
      t3 += wild;
    }
    const arriveBack = Math.max(leave + oneWay(), fifoBack);
    fifoBack = arriveBack;
    pendingReplies.push({ arriveUs: arriveBack, warmup, sample: { t1, t2: t2v, t3 } });
    pendingReplies.sort((a, b) => a.arriveUs - b.arriveUs);
  };
  for (let guard = 0; guard < 10_000_000; guard++) {
    const nextReply = pendingReplies[0]?.arriveUs ?? Infinity;
    const t = Math.min(nextPollUs, nextEvalUs, nextReply);
    if (t > endUs) break;
    if (t === nextReply) {
      const rep = pendingReplies.shift();
      if (rep) {
        const handled = Math.max(t + wakeUs(t - memberIdleSince), memberIdleSince);
        memberIdleSince = handled + o.serverProcUs;
        if (rep.warmup) {
          send(memberIdleSince, false); // the measured request follows the warm-up's reply
          continue;
        }
        const s = rep.sample;
        const t4 = local(handled) + noise();
        filter.addSample({ t1LocalUs: s.t1, t2LeaderUs: s.t2, t3LeaderUs: s.t3, t4LocalUs: t4 });
        model = filter.update(local(t));
      }
    } else if (t === nextPollUs) {
      const hz = o.fastStart && t - startUs < o.fastStart.s * 1e6 ? o.fastStart.hz : t - startUs < o.burstS * 1e6 ? o.burstHz : o.steadyHz;
      nextPollUs = t + 1e6 / hz;
      model = filter.update(local(t)) ?? model; // periodic tick (holdover)
      send(t, o.pairing === 'reply');
    } else {
      nextEvalUs = t + o.evalEveryMs * 1000;
      if (model) {
        const est = leaderFromLocal(model, local(t));
        points.push({
          tS: (t - startUs) / 1e6,
          errUs: est - (LEADER_ANCHOR_US + t),
          uncertaintyUs: model.uncertaintyUs,
          synced: model.synced,
          leaderEstUs: est,
        });
      }
    }
  }
  return { points, filter };
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

export function absErrStats(points: SimPoint[], fromS: number, toS = Infinity): { p50: number; p99: number; max: number; n: number } {
  const e = points.filter((p) => p.tS >= fromS && p.tS < toS).map((p) => Math.abs(p.errUs));
  return { p50: percentile(e, 50), p99: percentile(e, 99), max: e.length ? Math.max(...e) : NaN, n: e.length };
}

/** First time after which |error| stays below limitUs. */
export function convergedAtS(points: SimPoint[], limitUs: number): number {
  let t = 0;
  for (const p of points) if (Math.abs(p.errUs) >= limitUs) t = p.tS;
  return t;
}
