// bench/clock-path: exact one-way delays leader->member and member->leader through the netsim
// impairment (all hosts share CLOCK_MONOTONIC), i.e. the floor any NTP-style clock sync can
// reach on a profile: a single exchange's offset error is (up - down) / 2.
//   node bench/dist/clock-path.js [--profile wifi] [--members 1] [--seconds 30] [--interval-ms 50]
//        [--pair none|reply|chainN|GAP_MS] [--raw] [--out FILE]
// --pair sends a second request (tag 1) after each first one (tag 0): statistics are reported per
// tag, so the effect of a woken-up ("warm") server on the path asymmetry shows directly.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ArgError, Args } from './lib/args.js';
import { HostProcess } from './lib/host-process.js';
import { benchLog, cannotRun, runBench } from './lib/bench-run.js';
import { loadNetsim } from './lib/netsim-loader.js';
import { defaultOutPath, hostInfo, writeJson } from './lib/report-writer.js';
import { percentileSorted, round, roundSummary, summarize } from './lib/stats.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = fileURLToPath(new URL('./clock-path-probe.js', import.meta.url));
const PORT = 47123;
const READY_TIMEOUT_MS = 20_000;
const MIN_FILTER_WINDOWS = [1, 8, 32, 128]; // "best of N exchanges by RTT", as NTP filters do

const log = benchLog('clock-path');

interface Exchange {
  upUs: number;
  downUs: number;
  tag: number;
}

/** Offset error of choosing, from each window of n exchanges, the one with the smallest RTT. */
function minRttFilterErrors(xs: readonly Exchange[], n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + n <= xs.length; i += n) {
    let best = xs[i] as Exchange;
    for (let j = i; j < i + n; j++) {
      const x = xs[j] as Exchange;
      if (x.upUs + x.downUs < best.upUs + best.downUs) best = x;
    }
    out.push((best.upUs - best.downUs) / 2);
  }
  return out;
}

const FLOOR_QUANTILES = [1, 5, 10]; // percent

function lowQuantile(vs: readonly number[], pct: number): number {
  return percentileSorted([...vs].sort((a, b) => a - b), pct);
}

const LOW_RTT_WINDOWS = [64, 256, 1024]; // exchanges per window for the low-RTT average
const LOW_RTT_FRACTION = 0.1; // keep this share of each window, lowest RTT first

/** Offset error of averaging the lowest-RTT tenth of each window of n exchanges. */
function lowRttMeanErrors(xs: readonly Exchange[], n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + n <= xs.length; i += n) {
    const w = xs.slice(i, i + n).sort((a, b) => a.upUs + a.downUs - (b.upUs + b.downUs));
    const keep = w.slice(0, Math.max(1, Math.round(n * LOW_RTT_FRACTION)));
    out.push(keep.reduce((acc, x) => acc + (x.upUs - x.downUs) / 2, 0) / keep.length);
  }
  return out;
}

async function main(): Promise<number> {
  let args: Args;
  let members: number, seconds: number, intervalMs: number, pair: string;
  const { Netsim, PROFILES, isProfileName, netsimUnavailableReason } = await loadNetsim();
  const profile = (() => {
    try {
      args = new Args(process.argv.slice(2), ['profile', 'members', 'seconds', 'interval-ms', 'pair', 'raw', 'out']);
      members = args.num('members', 1, 1, 32, true);
      seconds = args.num('seconds', 30, 2, 3600);
      intervalMs = args.num('interval-ms', 50, 1, 10_000, true);
      pair = args.str('pair', 'none');
      if (pair !== 'none' && pair !== 'reply' && !/^chain[2-8]$/.test(pair) && !(Number.isInteger(Number(pair)) && Number(pair) >= 1 && Number(pair) < intervalMs)) {
        throw new ArgError('--pair must be none, reply, chain2..chain8 or a gap in ms (integer, 1..interval-ms - 1)');
      }
      const p = args.str('profile', 'wifi');
      if (!isProfileName(p)) throw new ArgError(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
      return p;
    } catch (err) {
      log((err as Error).message);
      return undefined;
    }
  })();
  if (profile === undefined) return 2;
  if (cannotRun([netsimUnavailableReason()], log)) return 2;
  const out = path.resolve(args!.optStr('out') ?? defaultOutPath(`clock-path-${profile}`, REPO_DIR));
  const count = Math.floor((seconds! * 1000) / intervalMs!);
  const perMember: Record<string, Exchange[]> = {};
  const net = await Netsim.up({ members: members! });
  try {
    for (const h of net.hosts) if (h !== 'leader' && profile !== 'clean') await net.impair(h, profile);
    const server = await HostProcess.start(net, 'leader', process.execPath, [PROBE, 'server', String(PORT)]);
    await server.lines.waitFor((l) => (l === 'ready' ? true : undefined), READY_TIMEOUT_MS);
    const clients = await Promise.all(
      net.hosts.filter((h) => h !== 'leader').map(async (h) => {
        const xs: Exchange[] = (perMember[h] = []);
        const c = await HostProcess.start(net, h, process.execPath, [PROBE, 'client', net.ip('leader'), String(PORT), String(count), String(intervalMs!), pair!]);
        c.onParsed(
          (l) => {
            try {
              const j = JSON.parse(l) as Record<string, string>;
              const [t1, t2, t3, t4] = [j['t1Ns'], j['t2Ns'], j['t3Ns'], j['t4Ns']].map((v) => BigInt(v ?? 'x'));
              const tag = Number(j['tag'] ?? 0);
              return { upUs: Number((t2 as bigint) - (t1 as bigint)) / 1000, downUs: Number((t4 as bigint) - (t3 as bigint)) / 1000, tag };
            } catch {
              return undefined;
            }
          },
          (x) => xs.push(x),
        );
        return c;
      }),
    );
    await Promise.all(clients.map((c) => new Promise((r) => (c.exit !== null ? r(null) : c.child.once('exit', r)))));
  } finally {
    await net.down();
  }
  const report = {
    bench: 'clock-path',
    profile,
    impairment: PROFILES[profile],
    members: members!,
    seconds: seconds!,
    interval_ms: intervalMs!,
    pair: pair!,
    per_member: Object.entries(perMember).flatMap(([host, all]) => Array.from({ length: pair === 'none' ? 1 : pair.startsWith('chain') ? Number(pair.slice(5)) : 2 }, (_, i) => i).map((tag) => {
      const xs = all.filter((x) => x.tag === tag);
      const up = summarize(xs.map((x) => x.upUs));
      const down = summarize(xs.map((x) => x.downUs));
      return {
        host,
        exchange: pair === 'none' ? 'single' : pair.startsWith('chain') ? `#${tag + 1} of chain` : tag === 0 ? 'first of pair' : 'second of pair',
        sent: count,
        ...(args!.flag('raw') ? { raw_up_down_us: xs.map((x) => [round(x.upUs), round(x.downUs)]) } : {}),
        received: xs.length,
        up_us: roundSummary(up),
        down_us: roundSummary(down),
        median_asymmetry_us: round(up.p50 - down.p50),
        // what envelope (delay-floor) filters see: the low quantiles of each direction
        floor_asymmetry_us: FLOOR_QUANTILES.map((q) => {
          const u = lowQuantile(xs.map((x) => x.upUs), q);
          const dn = lowQuantile(xs.map((x) => x.downUs), q);
          return { quantile: q, up_us: round(u), down_us: round(dn), asymmetry_us: round(u - dn) };
        }),
        single_exchange_offset_error_us: roundSummary(summarize(xs.map((x) => (x.upUs - x.downUs) / 2))),
        min_rtt_filter: MIN_FILTER_WINDOWS.map((n) => {
          const e = minRttFilterErrors(xs, n).map(Math.abs).sort((a, b) => a - b);
          return { window: n, abs_offset_error_p50_us: round(percentileSorted(e, 50)), abs_offset_error_p99_us: round(percentileSorted(e, 99)), windows: e.length };
        }),
        low_rtt_mean_filter: LOW_RTT_WINDOWS.map((n) => {
          const e = lowRttMeanErrors(xs, n).map(Math.abs).sort((a, b) => a - b);
          return { window: n, keep_fraction: LOW_RTT_FRACTION, abs_offset_error_p50_us: round(percentileSorted(e, 50)), abs_offset_error_max_us: round(e[e.length - 1] ?? NaN), windows: e.length };
        }),
      };
    })),
    host: hostInfo(REPO_DIR),
    date: new Date().toISOString(),
  };
  writeJson(out, report);
  log(`wrote ${out}`);
  process.stdout.write(`${JSON.stringify(report.per_member)}\n`);
  return 0;
}

runBench(main, log);
