// bench:clock - runs the clock-sync probes of a leader and N members on simulated hosts with
// injected member clock offsets/rates and WiFi-like impairment, and measures each member's error
// against the true leader time. Writes a JSON report and an SVG plot beside it.
//   npm run bench:clock -- --members 3 --seconds 120 --profile wifi [--blackhole-s 60] [--out FILE]
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AFTER_OUTAGE_S,
  analyzeMember,
  analyzeOutage,
  clockErrorUs,
  CONVERGE_THRESHOLD_US,
  parseLeaderAnchor,
  hostMonoUsOf,
  parseProbeReport,
  steadyStartS,
  type ClockSample,
  type LeaderAnchor,
  type MemberAnalysis,
  type MemberClockParams,
  type Window,
} from './clock-analysis.js';
import { MEMBER_NODE_FLAGS } from '@jaudiosync/member/node-flags';
import { ArgError } from './lib/args.js';
import { benchCommand, benchLog, cannotRun, parseOptions, readArgs, runBench, withNetwork } from './lib/bench-run.js';
import { HostProcess } from './lib/host-process.js';
import { loadNetsim } from './lib/netsim-loader.js';
import { ProcSampler } from './lib/proc-sampler.js';
import { defaultOutPath, hostInfo, sidecarPath, writeFileAtomic, writeJson } from './lib/report-writer.js';
import { SeededRandom } from './lib/rng.js';
import { round } from './lib/stats.js';
import { renderSvg } from './lib/svg-plot.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url)); // bench/dist/clock.js -> repo
const LEADER_PROBE = 'packages/leader/dist/src/bin/clock-leader-probe.js';
const MEMBER_PROBE = 'packages/member/dist/src/bin/clock-member-probe.js';
const NTP_PORT = 11123; // development NTP port (docs/architecture.md)
const LEADER_ANCHOR_TIMEOUT_MS = 20_000; // node start on a loaded 2-core box can take seconds
const MAX_OFFSET_S = 5; // member clocks start up to +-5 s off
const MAX_RATE_PPM = 100; // crystal-grade rate errors
const PROGRESS_EVERY_S = 10;
const SHUTDOWN_GRACE_MS = 3_000;
const MAX_PLOT_ERROR_US = 5000; // beyond this the plot shows only clipping
const TARGETS = { wifi_p99_us: 100, lan_p99_us: 20, converge_s: 5, blackhole_max_us: 500, uncertainty_coverage: 0.95 } as const;

const USAGE = `usage: npm run bench:clock -- [--members N(1-32, 3)] [--seconds S(5-3600, 120)]
       [--profile wifi|lan|clean (wifi)] [--blackhole-s D (0 = off)] [--out FILE.json]
       [--seed N] [--report-ms MS (100)] [--leader-probe JS] [--member-probe JS]
       [--no-kernel-stamps (leader and members time the NTP exchange in user space)]
       [--series (per member: every report as [t_s, error_us, uncertainty_us, synced 0/1])]
       [--sample-log DIR (per member: every NTP exchange to DIR/<host>.samples, for bench/clock-replay)]`;

interface MemberRun {
  params: MemberClockParams;
  proc?: HostProcess;
  spawnMonoUs: number;
  samples: ClockSample[];
  rejected: { rejected: number };
  /** What the probe last said about its socket (null: it never said). */
  kernelTimestamps: boolean | null;
  /** The last reported midpoint share of the member's fit. */
  midpointShare: number | null;
}

function monoUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

const log = benchLog('clock');

async function main(): Promise<number> {
  const args = readArgs(['members', 'seconds', 'profile', 'blackhole-s', 'out', 'seed', 'report-ms', 'leader-probe', 'member-probe', 'no-kernel-stamps', 'series', 'sample-log', 'help'], USAGE, log);
  if (typeof args === 'number') return args;
  const { Netsim, PROFILES, isProfileName, netsimUnavailableReason } = await loadNetsim();
  const profileArg = args.str('profile', 'wifi');
  const opts = parseOptions(() => {
    const members = args.num('members', 3, 1, 32, true);
    const seconds = args.num('seconds', 120, 5, 3600);
    const blackholeS = args.num('blackhole-s', 0, 0, 3600);
    const seed = args.num('seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1, true);
    const reportMs = args.num('report-ms', 100, 10, 10_000, true);
    const profile = profileArg;
    if (!isProfileName(profile)) throw new ArgError(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
    if (blackholeS > 0 && blackholeS >= seconds - 10) throw new ArgError(`--blackhole-s must leave at least 10 s of the run (--seconds ${seconds})`);
    return { members, seconds, blackholeS, seed, reportMs, profile };
  }, USAGE, log);
  if (opts === undefined) return 2;
  const { members, seconds, blackholeS, seed, reportMs, profile } = opts;
  if (cannotRun([netsimUnavailableReason()], log)) return 2;
  const leaderProbe = path.resolve(REPO_DIR, args.str('leader-probe', LEADER_PROBE));
  const memberProbe = path.resolve(REPO_DIR, args.str('member-probe', MEMBER_PROBE));
  for (const p of [leaderProbe, memberProbe]) {
    if (!existsSync(p)) {
      log(`probe not found: ${p} (not built yet? run npx tsc -b)`);
      return 2;
    }
  }
  const out = path.resolve(args.optStr('out') ?? defaultOutPath(`clock-${profile}-${members}m`, REPO_DIR));
  const rng = new SeededRandom(seed);
  const params: MemberClockParams[] = [];
  for (let k = 1; k <= members; k++) {
    params.push({
      host: `member${k}`,
      offsetUs: Math.round(rng.uniform(-MAX_OFFSET_S, MAX_OFFSET_S) * 1e6),
      ratePpm: Math.round(rng.uniform(-MAX_RATE_PPM, MAX_RATE_PPM) * 1000) / 1000,
    });
  }
  const imp = PROFILES[profile];
  log(`profile ${profile} (${JSON.stringify(imp)}), ${members} members, ${seconds} s, seed ${seed}${blackholeS > 0 ? `, blackhole member1 ${blackholeS} s` : ''}`);

  const startedAt = new Date().toISOString();
  const host = hostInfo(REPO_DIR);
  const sampler = new ProcSampler();
  const runs: MemberRun[] = params.map((p) => ({ params: p, spawnMonoUs: NaN, samples: [], rejected: { rejected: 0 }, kernelTimestamps: null, midpointShare: null }));
  const kernelStamps = !args.flag('no-kernel-stamps');
  const stampEnv: Record<string, string> = kernelStamps ? {} : { JAS_NETSTAMP_DISABLE: '1' };
  const sampleLogOpt = args.optStr('sample-log');
  const sampleLogDir = sampleLogOpt === undefined ? null : path.resolve(sampleLogOpt);
  if (sampleLogDir !== null) mkdirSync(sampleLogDir, { recursive: true });
  let anchor: LeaderAnchor | undefined;
  let runStartMonoUs = NaN;
  let outage: Window | undefined; // run time (s since run start)

  const net = await Netsim.up({ members });
  const failure = await withNetwork(net, SHUTDOWN_GRACE_MS * 5, log, async () => {
    if (profile !== 'clean') for (const p of params) await net.impair(p.host, imp);
    const leader = await HostProcess.start(net, 'leader', process.execPath, [leaderProbe, '--port', String(NTP_PORT), '--host', net.ip('leader')], { sampler, env: stampEnv });
    anchor = await leader.lines.waitFor(parseLeaderAnchor, LEADER_ANCHOR_TIMEOUT_MS);
    leader.lines.onLine(() => undefined); // drain

    runStartMonoUs = monoUs();
    const a = anchor;
    for (const run of runs) {
      const proc = await HostProcess.start(net, run.params.host, process.execPath, [...MEMBER_NODE_FLAGS, memberProbe, '--leader', net.ip('leader'), '--port', String(NTP_PORT), '--report-ms', String(reportMs)], {
        env: {
          JAS_CLOCK_OFFSET_US: String(run.params.offsetUs),
          JAS_CLOCK_RATE_PPM: String(run.params.ratePpm),
          ...stampEnv,
          ...(sampleLogDir === null ? {} : { JAS_CLOCK_SAMPLE_LOG: path.join(sampleLogDir, `${run.params.host}.samples`) }),
        },
        sampler,
      });
      run.proc = proc;
      run.spawnMonoUs = proc.spawnMonoUs;
      run.rejected = proc.onParsed(parseProbeReport, (r) => {
        const hostMonoUs = hostMonoUsOf(r.localUs, run.params);
        if (r.kernelTimestamps !== undefined) run.kernelTimestamps = r.kernelTimestamps;
        if (r.midpointShare !== undefined) run.midpointShare = r.midpointShare;
        run.samples.push({ tS: (hostMonoUs - run.spawnMonoUs) / 1e6, errUs: clockErrorUs(r, run.params, a), synced: r.synced, uncertaintyUs: r.uncertaintyUs, rttUs: r.rttUs });
      });
    }
    sampler.start();

    if (blackholeS > 0) outage = { fromS: seconds / 2 - blackholeS / 2, toS: seconds / 2 + blackholeS / 2 };
    let bhState: 'pending' | 'on' | 'done' = 'pending';
    let nextProgressS = PROGRESS_EVERY_S;
    const endUs = runStartMonoUs + seconds * 1e6;
    while (monoUs() < endUs) {
      await new Promise((r) => setTimeout(r, 100));
      const tS = (monoUs() - runStartMonoUs) / 1e6;
      if (outage !== undefined && bhState === 'pending' && tS >= outage.fromS) {
        outage.fromS = tS; // actual switch time (the hub applies it within ~0.2 s)
        await net.blackhole('member1', true);
        bhState = 'on';
        log(`t=${tS.toFixed(1)} s: member1 blackholed`);
      }
      if (outage !== undefined && bhState === 'on' && tS >= outage.toS) {
        outage.toS = tS; // actual switch time (the hub applies it within ~0.2 s)
        await net.blackhole('member1', false);
        bhState = 'done';
        log(`t=${tS.toFixed(1)} s: member1 back`);
      }
      if (tS >= nextProgressS) {
        nextProgressS += PROGRESS_EVERY_S;
        const now = runs.map((r) => {
          const last = r.samples[r.samples.length - 1];
          return `${r.params.host} ${last === undefined ? '-' : `${last.synced ? '' : '(unsynced) '}${last.errUs.toFixed(1)} us`}`;
        });
        log(`t=${tS.toFixed(0)} s: ${now.join(', ')}`);
      }
      leader.assertAlive();
      for (const r of runs) r.proc?.assertAlive();
    }
    sampler.stop();
  });

  // ---- analysis (member time = run time - member spawn offset) ----
  const withSeries = args.flag('series');
  const perMember: Array<MemberAnalysis & { host: string; offset_us: number; rate_ppm: number; bad_lines: number; kernel_timestamps: boolean | null; midpoint_share: number | null; blackhole?: ReturnType<typeof analyzeOutage>; series?: Array<Array<number | null>> }> = [];
  for (const run of runs) {
    const spawnS = (run.spawnMonoUs - runStartMonoUs) / 1e6;
    const w = run.params.host === 'member1' && outage !== undefined ? { fromS: outage.fromS - spawnS, toS: outage.toS - spawnS } : undefined;
    const exclude = w === undefined ? [] : [{ fromS: w.fromS, toS: w.toS + AFTER_OUTAGE_S }];
    const a = analyzeMember(run.samples, { runSeconds: seconds, exclude });
    perMember.push({ host: run.params.host, offset_us: run.params.offsetUs, rate_ppm: run.params.ratePpm, bad_lines: run.rejected.rejected, kernel_timestamps: run.kernelTimestamps, midpoint_share: run.midpointShare === null ? null : round(run.midpointShare, 3), ...a, ...(w === undefined ? {} : { blackhole: analyzeOutage(run.samples, w) }),
      ...(withSeries ? { series: run.samples.map((x) => [round(x.tS, 2), round(x.errUs, 1), round(x.uncertaintyUs, 1), x.synced ? 1 : 0]) } : {}) });
  }
  // worst member: error figures over members that have steady samples; convergence over all
  const maxOf = (f: (m: MemberAnalysis) => number | null, nullIfAnyNull: boolean): number | null => {
    const vs = perMember.map(f);
    const known = vs.filter((v): v is number => v !== null);
    return known.length === 0 || (nullIfAnyNull && known.length < vs.length) ? null : Math.max(...known);
  };
  const worst = { p50: maxOf((m) => m.error_us.p50, false), p99: maxOf((m) => m.error_us.p99, false), max: maxOf((m) => m.error_us.max, false) };
  const convergeS = maxOf((m) => m.converge_s, true);
  // honesty of the members' own uncertainty: the worst member's share of steady samples it covers
  const coverages = perMember.map((m) => m.uncertainty_coverage).filter((v): v is number => v !== null);
  const coverage = coverages.length === 0 ? null : Math.min(...coverages);
  const bh = perMember.find((m) => m.blackhole !== undefined)?.blackhole;
  const p99Target = profile === 'wifi' ? TARGETS.wifi_p99_us : profile === 'lan' ? TARGETS.lan_p99_us : null;
  const report = {
    bench: 'clock',
    profile,
    impairment: imp,
    members,
    seconds,
    kernel_timestamps: kernelStamps,
    error_us: worst,
    converge_s: convergeS,
    uncertainty_coverage: coverage,
    ...(bh === undefined ? {} : { blackhole: { member: 'member1', duration_s: blackholeS, ...bh } }),
    targets: {
      p99_us: p99Target,
      converge_s: TARGETS.converge_s,
      blackhole_max_us: bh === undefined ? null : TARGETS.blackhole_max_us,
      uncertainty_coverage: TARGETS.uncertainty_coverage,
      p99_met: p99Target === null || worst.p99 === null ? null : worst.p99 < p99Target,
      converge_met: convergeS === null ? false : convergeS <= TARGETS.converge_s,
      coverage_met: coverage === null ? null : coverage >= TARGETS.uncertainty_coverage,
      blackhole_met: bh === undefined ? null : Math.max(bh.max_error_during_us ?? Infinity, bh.max_error_after_us ?? Infinity) < TARGETS.blackhole_max_us,
    },
    per_member: perMember,
    params: {
      seed,
      report_ms: reportMs,
      ntp_port: NTP_PORT,
      converge_threshold_us: CONVERGE_THRESHOLD_US,
      offsets_us: params.map((p) => p.offsetUs),
      rates_ppm: params.map((p) => p.ratePpm),
      sample_log_dir: sampleLogDir,
      leader_probe: path.relative(REPO_DIR, leaderProbe),
      member_probe: path.relative(REPO_DIR, memberProbe),
      leader_anchor: anchor === undefined ? null : { anchorWallUs: anchor.anchorWallUs, anchorMonoNs: String(anchor.anchorMonoNs) },
    },
    processes: sampler.summary(),
    host,
    date: startedAt,
    failure: failure ?? null,
    command: benchCommand('clock'),
  };
  writeJson(out, report);
  const svgFile = sidecarPath(out, '.svg');
  writeFileAtomic(svgFile, plot(profile, seconds, runs, runStartMonoUs, outage));
  log(`wrote ${out} and ${svgFile}`);
  process.stdout.write(`${JSON.stringify({ profile, members, seconds, error_us: worst, converge_s: convergeS, uncertainty_coverage: coverage, blackhole: report.blackhole ?? null, targets: report.targets, out })}\n`);
  return failure === undefined && runs.every((r) => r.samples.length > 0) ? 0 : 1;
}

function plot(profile: string, seconds: number, runs: MemberRun[], runStartMonoUs: number, outage: Window | undefined): string {
  const toRun = (r: MemberRun, s: ClockSample): number => s.tS + (r.spawnMonoUs - runStartMonoUs) / 1e6;
  // y range: errors after the steady start (not the seconds-large ones before the first sync)
  const start = steadyStartS(seconds);
  const steadyAbs = runs.flatMap((r) => r.samples.filter((s) => s.synced && s.tS >= start).map((s) => Math.abs(s.errUs)));
  const steadyMax = steadyAbs.length === 0 ? 200 : Math.max(...steadyAbs);
  const lim = Math.min(MAX_PLOT_ERROR_US, Math.max(2 * CONVERGE_THRESHOLD_US, Math.ceil((steadyMax * 1.2) / 50) * 50));
  return renderSvg({
    title: `bench:clock ${profile}: member estimate of leader time minus truth`,
    xLabel: 'seconds since start',
    xRange: [0, seconds],
    bands: outage === undefined ? [] : [{ from: outage.fromS, to: outage.toS, label: 'member1 blackholed' }],
    panels: [
      {
        title: 'error (µs); values beyond the axis are clipped',
        yLabel: 'error µs',
        yRange: [-lim, lim],
        hLines: [
          { y: CONVERGE_THRESHOLD_US, label: `+${CONVERGE_THRESHOLD_US} µs` },
          { y: -CONVERGE_THRESHOLD_US, label: `-${CONVERGE_THRESHOLD_US} µs` },
        ],
        series: runs.map((r) => ({ name: r.params.host, points: r.samples.filter((s) => s.synced).map((s) => [toRun(r, s), round(s.errUs, 2) ?? 0] as const) })),
      },
      {
        title: 'RTT reported by the member (ms)',
        yLabel: 'RTT ms',
        series: runs.map((r) => ({ name: r.params.host, points: r.samples.filter((s) => Number.isFinite(s.rttUs)).map((s) => [toRun(r, s), s.rttUs / 1000] as const) })),
      },
    ],
  });
}

runBench(main, log);
