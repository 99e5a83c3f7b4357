// bench:fanout - one leader, many members on simulated hosts: light members (test/helpers/
// light-member.ts: the member's link, auth, clock sync and track cache without an audio engine, many
// per process and host) and real member daemons (capture sinks). All share one key. Once every member
// is connected, synced and has the playlist, it sends play, seek, next, volume, stop and resume, then
// lets it play (steady state), and optionally SIGKILLs and restarts the leader (reconnect storm).
// Measures the lead of each command and whether every member had it before it took effect, the
// light members' planned instants against the true ones, the real members' audio against each
// other, the leader's CPU/RSS in steady state, its NTP answers, and how the playlist spread.
//   npm run bench:fanout -- --members 100 --real-members 4 --profile lan|wifi
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey, parseKey, restToken } from '@jaudiosync/protocol';
import { readCapture, type Capture } from '@jaudiosync/member/capture-file';
import { measureOffset, rmsLevel } from '@jaudiosync/testkit/helpers/capture-analysis.js';
import { Cluster, hostMonoNsAtLeaderUs, MEMBER_BIN, type ClusterMember, type ClusterStatus, type LeaderAnchor } from '@jaudiosync/testkit/helpers/cluster.js';
import { netsimSpawner, startRestProxy } from '@jaudiosync/testkit/helpers/netsim-cluster.js';
import { arrivalsOfRev, distributionOf, plannedOfRev, samplesIn, spreadOf } from './fanout-analysis.js';
import { absStats, dropouts, IN_SYNC_US } from './sync-analysis.js';
import { decodePlaylist, playlistFiles, ScheduleReference } from './sync-reference.js';
import { ArgError, type Args } from './lib/args.js';
import { benchLog, cannotRun, parseOptions, readArgs, RunRecord, runBench, withNetwork } from './lib/bench-run.js';
import { HostProcess } from './lib/host-process.js';
import { LightFleet, type LightSpec } from './lib/light-fleet.js';
import { loadNetsim } from './lib/netsim-loader.js';
import { ProcSampler } from './lib/proc-sampler.js';
import { defaultOutPath, writeJson } from './lib/report-writer.js';
import { SeededRandom } from './lib/rng.js';
import { round, roundSummary, summarize } from './lib/stats.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const SNIFFER = path.join(REPO_DIR, 'bench/fanout-sniffer.py');
const PLAYLIST = path.join(REPO_DIR, 'Music/Playlist.m3u8'); // 5 tracks, 6 MB: next has somewhere to go
const HTTP_PORT = 7700;
const NTP_PORT = 11123;
const BASE_PORT = 7701;
/** the sniffers watch this many member ports per host */
const PORTS_PER_HOST = 64;
const MAX_HOSTS = 32; // netsim
const MAX_OFFSET_S = 5;
const MAX_RATE_PPM = 100;
const READY_TIMEOUT_MS = 300_000;
const CONNECT_TIMEOUT_MS = 120_000;
const STEP_S = 5; // after each command
const START_WINDOW_S = 2; // audio analysed after each command's atUs
const SEEK_POSITION_MS = 7000;
const VOLUME = 0.5;
const SNIFFER_READY_MS = 15_000;
/** after the audio window, a command's wait goes on this much longer for light members yet to plan it */
const PLANNED_GRACE_S = 1;
const SETTLE_MAX_S = 60; // retries of a refused play before letting the leader pick the lead
const MAX_STEP_S = 60; // bound on the wait for a command with a leader-chosen (long) lead
/** steady-state window starts this long after the resume took effect (its track started) */
const STEADY_SETTLE_S = 3;
/** the issue's bound: every member reconnected and reached by a command this soon after the kill */
const STORM_TARGET_S = 30;
const STORM_POLL_MS = 500;
/** The leader's recent RTT window (packages/leader/src/members/rtt-stats.ts RECENT_WINDOW_MS). */
const RTT_WINDOW_MS = 10_000;

const USAGE = `usage: npm run bench:fanout -- [--members N (light, 0-1000, 100)] [--real-members R (0-32, 4)]
       [--hosts H (real members' hosts, 1-31, min(R, 8))] [--light-hosts L (1-31, 8)]
       [--profile lan|wifi|clean (lan)] [--lead-ms MS (250)] [--steady-s S (120)] [--step-s S (5)]
       [--restart-leader] [--restart-gap-s S (1)] [--settle-s S (60)] [--seed N] [--playlist FILE.m3u8 (Music/Playlist.m3u8; 2+ tracks, the first 12+ s)]
       [--out FILE.json] [--keep]
       [--slow-members K (0): K more light members on a host of their own with a --slow-kbit (1000) link]
       [--rtt-trace: the leader logs every pong (--log-level debug); the report then holds, per command and
        member, the RTT p50/p90 of its last 10 s at the command and when the command reached it]`;

interface Arrival {
  t: number;
  out: boolean;
  dst: string;
  dport: number;
  type: string;
  rev: number | null;
}
interface NtpCount {
  ntp_out: number;
  t: number;
}
interface Command {
  name: string;
  issuedNs: number;
  repliedNs: number;
  rev: number | null;
  atUs: number | null;
  refused: string | null;
  settleS: number | null;
}

const monoNs = (): number => Number(process.hrtime.bigint());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const benchLine = benchLog('fanout');
const startNs = monoNs();
/** Log lines with the seconds since the start: where a run's time goes. */
const log = (msg: string): void => benchLine(`+${((monoNs() - startNs) / 1e9).toFixed(1)} s ${msg}`);

interface Options {
  light: number;
  real: number;
  hosts: number;
  lightHosts: number;
  profile: string;
  leadMs: number;
  steadyS: number;
  stepS: number;
  settleS: number;
  restartLeader: boolean;
  restartGapS: number;
  seed: number;
  slow: number;
  slowKbit: number;
  rttTrace: boolean;
}

function fanoutOptions(args: Args, profiles: readonly string[]): Options {
  const light = args.num('members', 100, 0, 1000, true);
  const real = args.num('real-members', 4, 0, 32, true);
  if (light + real < 1) throw new ArgError('no members: give --members or --real-members');
  const hosts = real === 0 ? 0 : Math.min(real, args.num('hosts', Math.min(real, 8), 1, MAX_HOSTS - 1, true));
  const lightHosts = light === 0 ? 0 : Math.min(light, args.num('light-hosts', 8, 1, MAX_HOSTS - 1, true));
  const slow = args.num('slow-members', 0, 0, PORTS_PER_HOST, true);
  if (hosts + lightHosts + (slow > 0 ? 1 : 0) > MAX_HOSTS) throw new ArgError(`--hosts + --light-hosts (+ 1 with --slow-members) must be <= ${MAX_HOSTS}`);
  if (Math.ceil(light / Math.max(1, lightHosts)) > PORTS_PER_HOST || Math.ceil(real / Math.max(1, hosts)) > PORTS_PER_HOST) {
    throw new ArgError(`at most ${PORTS_PER_HOST} members per host: give more --hosts / --light-hosts`);
  }
  const profile = args.str('profile', 'lan');
  if (!profiles.includes(profile)) throw new ArgError(`--profile must be one of ${profiles.join(', ')}`);
  return {
    light, real, hosts, lightHosts, profile,
    leadMs: args.num('lead-ms', 250, 50, 10_000, true),
    steadyS: args.num('steady-s', 120, 0, 3600),
    stepS: args.num('step-s', STEP_S, 1, 60),
    settleS: args.num('settle-s', SETTLE_MAX_S, 0, 600),
    restartLeader: args.flag('restart-leader'),
    restartGapS: args.num('restart-gap-s', 1, 0, 60),
    seed: args.num('seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1, true),
    slow,
    slowKbit: args.num('slow-kbit', 1000, 64, 1_000_000, true),
    rttTrace: args.flag('rtt-trace'),
  };
}

async function main(): Promise<number> {
  const args = readArgs(['members', 'real-members', 'hosts', 'light-hosts', 'profile', 'lead-ms', 'steady-s', 'step-s', 'settle-s', 'restart-leader', 'restart-gap-s', 'seed', 'out', 'keep', 'slow-members', 'slow-kbit', 'playlist', 'rtt-trace', 'help'], USAGE, log);
  if (typeof args === 'number') return args;
  const { Netsim, PROFILES, netsimUnavailableReason } = await loadNetsim();
  const o = parseOptions(() => fanoutOptions(args, Object.keys(PROFILES)), USAGE, log);
  if (o === undefined) return 2;
  if (cannotRun([netsimUnavailableReason(), existsSync(MEMBER_BIN) ? undefined : `member not built: ${MEMBER_BIN}`], log)) return 2;
  const out = path.resolve(args.optStr('out') ?? defaultOutPath(`fanout-${o.profile}-${o.light}l${o.real}r`, REPO_DIR));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-fanout-'));
  const playlist = path.resolve(args.str('playlist', PLAYLIST));
  const trackFiles = playlistFiles(playlist);
  const trackBytes = trackFiles.map((f) => statSync(f).size);
  const rng = new SeededRandom(o.seed);
  const clockErr = (): { clockOffsetUs: number; clockRatePpm: number } => ({
    clockOffsetUs: Math.round(rng.uniform(-MAX_OFFSET_S, MAX_OFFSET_S) * 1e6),
    clockRatePpm: Math.round(rng.uniform(-MAX_RATE_PPM, MAX_RATE_PPM) * 1000) / 1000,
  });
  const realHosts = Array.from({ length: o.hosts }, (_, i) => `member${i + 1}`);
  const lightHosts = Array.from({ length: o.lightHosts }, (_, i) => `member${o.hosts + i + 1}`);
  const reals: Array<ClusterMember & { id: string; host: string; port: number }> = [];
  for (let k = 1; k <= o.real; k++) {
    const c = clockErr();
    reals.push({
      id: `member${k}`, host: realHosts[(k - 1) % o.hosts]!, port: BASE_PORT + Math.floor((k - 1) / o.hosts),
      clockOffsetUs: c.clockOffsetUs, clockRatePpm: c.clockRatePpm,
      dacPpm: Math.round(rng.uniform(-MAX_RATE_PPM, MAX_RATE_PPM) * 1000) / 1000,
      latencyMs: Math.round(rng.uniform(10, 40)),
    });
  }
  const lights: LightSpec[] = [];
  for (let k = 1; k <= o.light; k++) {
    lights.push({ id: `light${k}`, host: lightHosts[(k - 1) % o.lightHosts]!, port: BASE_PORT + Math.floor((k - 1) / o.lightHosts), ...clockErr() });
  }
  const slowHost = o.slow > 0 ? `member${o.hosts + o.lightHosts + 1}` : null;
  const slowIds = new Set<string>();
  for (let k = 1; k <= o.slow; k++) {
    lights.push({ id: `slow${k}`, host: slowHost!, port: BASE_PORT + k - 1, ...clockErr() });
    slowIds.add(`slow${k}`);
  }
  const keyText = generateKey();
  const token = restToken(parseKey(keyText));
  const imp = PROFILES[o.profile as keyof typeof PROFILES];
  log(`${o.light} light members on ${o.lightHosts} hosts + ${o.real} real members on ${o.hosts} hosts, profile ${o.profile}, lead ${o.leadMs} ms, seed ${o.seed}, dir ${dir}`);
  const record = new RunRecord('fanout', REPO_DIR);
  const sampler = new ProcSampler();
  const steadySampler = new ProcSampler();
  const arrivals: Arrival[] = [];
  const ntpCounts: NtpCount[] = [];
  const commands: Command[] = [];
  const realCachedAtNs = new Map<string, number>();
  let cluster: Cluster | undefined;
  let fleet: LightFleet | undefined;
  // assigned inside the run below (a closure): declared types, not the initial values', for the analysis
  let readyS = null as number | null;
  let t0 = monoNs();
  let steady = null as { fromNs: number; toNs: number } | null;
  let storm = null as Record<string, unknown> | null;
  let resumeRev = null as number | null;
  let trackIds: string[] = [];
  let usage: ReturnType<ProcSampler['summary']> = [];
  let steadyUsage: ReturnType<ProcSampler['summary']> = [];
  const net = await Netsim.up({ members: o.hosts + o.lightHosts + (slowHost ? 1 : 0) });
  log('netsim up');
  const failure = await withNetwork(net, 20_000, log, async () => {
    const hostNames = ['leader', ...realHosts, ...lightHosts, ...(slowHost ? [slowHost] : [])];
    if (o.profile !== 'clean') for (const h of hostNames.slice(1)) await net.impair(h, imp);
    // Each light member stands for a device of its own: its frames must not queue behind those of
    // the others sharing its simulated host, as if they were one WiFi station.
    for (const h of lightHosts) await net.perFlowOrder(h, true);
    if (slowHost) await net.limitRate(slowHost, o.slowKbit);
    // Sniffers: the leader's sends (and NTP answers), every member host's arrivals (a light
    // member's own timestamp is when its shared, busy process got to parse the message).
    // Started together: each is independent and only has to be ready before the cluster starts.
    await Promise.all(hostNames.map(async (h) => {
      const snArgs = [SNIFFER, String(BASE_PORT), String(BASE_PORT + PORTS_PER_HOST - 1), ...(h === 'leader' ? [String(NTP_PORT)] : [])];
      const sn = await HostProcess.start(net, h, 'python3', snArgs, { label: `sniffer-${h}` });
      await sn.lines.waitFor((l) => (l.includes('"ready"') ? true : undefined), SNIFFER_READY_MS);
      sn.lines.onLine((l) => {
        try {
          const v = JSON.parse(l) as Arrival | NtpCount;
          if ('ntp_out' in v) ntpCounts.push(v);
          else arrivals.push(v);
        } catch {
          // a partial line: ignore
        }
      });
    }));
    log('sniffers ready');
    const env = { JAS_KEY: keyText };
    if (lights.length > 0) fleet = await LightFleet.start(net, lights, dir, { env, sampleEveryS: 1, sampler });
    log('light members ready');
    const proxy = await startRestProxy(net, 'leader', HTTP_PORT, path.join(dir, 'leader-rest.sock'), { authorization: `Bearer ${token}` });
    t0 = monoNs();
    cluster = await Cluster.start({
      dir,
      members: reals,
      playlist,
      spawner: netsimSpawner(net),
      memberAddress: (m) => `${net.ip(m.host ?? m.id)}:${m.port ?? BASE_PORT}`,
      extraMemberAddresses: lights.map((l) => `${net.ip(l.host)}:${l.port}`),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      httpPort: HTTP_PORT,
      ntpPort: NTP_PORT,
      minLeadMs: o.leadMs,
      leaderArgs: ['--loop', ...(o.rttTrace ? ['--log-level', 'debug'] : [])],
      env,
      request: proxy.request,
    });
    const c = cluster;
    sampler.add('leader', c.leaderPid());
    for (const m of reals) sampler.add(m.id, c.memberPid(m.id));
    sampler.start();
    const total = lights.length + o.real;
    const realIds = new Set(reals.map((m) => m.id));
    await c.waitFor((s) => {
      for (const m of s.members) if (realIds.has(m.id) && m.ready === s.playlist.length && s.playlist.length > 0 && !realCachedAtNs.has(m.id)) realCachedAtNs.set(m.id, monoNs());
      fleet?.assertAlive();
      return s.playlist.length > 0 && s.members.filter((m) => m.connected && m.clock?.synced && m.ready === s.playlist.length && (m.decoded ?? 0) >= 1).length >= total;
    }, READY_TIMEOUT_MS, 'all members synced with the playlist cached');
    readyS = round((monoNs() - t0) / 1e9, 1);
    trackIds = (await c.status()).playlist.map((t) => t.id ?? '');
    log(`all ${total} ready after ${readyS} s; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

    const run = async (name: string, method: string, urlPath: string, body: Record<string, unknown>, stepS = o.stepS): Promise<Command> => {
      const firstTryNs = monoNs();
      let issuedNs = firstTryNs;
      let r = await c.api<{ rev?: number; atUs?: number; error?: string; message?: string }>(method, urlPath, body);
      let refused: string | null = null;
      // The leader's lead follows the members' RTT p90, which is large right after many members
      // started on 2 cores; give it settle-s to come down to the requested lead before giving up.
      const settleEnd = monoNs() + (name === 'play' ? o.settleS * 1e9 : 0);
      while (r.status === 422 && r.body?.error === 'JAS_ERR_TIME_IN_PAST' && monoNs() < settleEnd) {
        await sleep(2000);
        issuedNs = monoNs();
        r = await c.api(method, urlPath, body);
      }
      if (r.status === 422 && r.body?.error === 'JAS_ERR_TIME_IN_PAST') {
        refused = r.body.message ?? 'too soon';
        log(`${name}: ${refused}; retrying with the leader's own lead`);
        const { delayMs: _d, ...rest } = body;
        issuedNs = monoNs();
        r = await c.api(method, urlPath, rest);
      }
      const repliedNs = monoNs();
      if (r.status !== 200) throw new Error(`${name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      const cmd: Command = { name, issuedNs, repliedNs, rev: r.body?.rev ?? null, atUs: r.body?.atUs ?? null, refused, settleS: round((issuedNs - firstTryNs) / 1e9, 1) };
      commands.push(cmd);
      log(`${name}: rev ${cmd.rev} at ${cmd.atUs}`);
      const anchorNow = c.leaderAnchor();
      const atNs = anchorNow !== undefined && cmd.atUs !== null ? hostMonoNsAtLeaderUs(anchorNow, cmd.atUs) : monoNs();
      // Until the audio window after the instant has played (the analysis reads it), then on
      // while light members have yet to plan the instant, for at most PLANNED_GRACE_S (one may
      // never: a timer late in a process shared by many).
      const untilNs = Math.min(Math.max(monoNs() + stepS * 1e9, atNs + START_WINDOW_S * 1e9), monoNs() + MAX_STEP_S * 1e9);
      await sleep(Math.max(0, (untilNs - monoNs()) / 1e6));
      const graceEndNs = monoNs() + PLANNED_GRACE_S * 1e9;
      while (fleet !== undefined && cmd.rev !== null && plannedOfRev(fleet.events, cmd.rev).length < lights.length && monoNs() < graceEndNs) await sleep(100);
      fleet?.assertAlive();
      return cmd;
    };
    const lead = { delayMs: o.leadMs };
    await run('play', 'POST', '/api/play', { index: 0, positionMs: 0, ...lead });
    await run('seek', 'POST', '/api/seek', { positionMs: SEEK_POSITION_MS, ...lead });
    await run('next', 'POST', '/api/next', lead);
    await run('volume', 'POST', '/api/volume', { volume: VOLUME, ...lead });
    await run('stop', 'POST', '/api/stop', lead);
    const resume = await run('resume', 'POST', '/api/resume', lead, STEADY_SETTLE_S);
    resumeRev = resume.rev;
    if (o.steadyS > 0) {
      steadySampler.add('leader', c.leaderPid());
      steadySampler.start();
      const fromNs = monoNs();
      await sleep(o.steadyS * 1000);
      steadySampler.stop();
      steadyUsage = steadySampler.summary();
      steady = { fromNs, toNs: monoNs() };
      log(`steady ${o.steadyS} s done; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    }
    if (o.restartLeader) storm = await reconnectStorm(c, o, total, run, sampler);
    sampler.stop();
    usage = sampler.summary();
    await fleet?.stop();
    await c.stop();
    await proxy.stop();
  }, async () => {
    sampler.stop();
    usage = sampler.summary();
    await fleet?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
  });

  // ---- analysis ----
  log('analysing');
  const anchor = cluster?.leaderAnchor();
  const truth = (atUs: number): number => (anchor === undefined ? NaN : hostMonoNsAtLeaderUs(anchor, atUs));
  const revisions = cluster?.leaderRevisions() ?? [];
  const events = fleet?.events ?? [];
  const memberOf = new Map([...reals.map((m) => [`${net.ip(m.host)}:${m.port}`, m.id] as const), ...lights.map((l) => [`${net.ip(l.host)}:${l.port}`, l.id] as const)]);
  const decoded = anchor === undefined || o.real === 0 ? undefined : await decodePlaylist(playlist);
  const caps = new Map(reals.filter((m) => cluster && existsSync(cluster.capturePath(m.id))).map((m) => [m.id, readCapture(cluster!.capturePath(m.id))]));
  const perCommand = commands.map((cmd) => analyseCommand(cmd, { o, anchor, truth, revisions, events, arrivals, memberOf, reals, decoded, caps }));
  const pongs = o.rttTrace && cluster !== undefined ? pongsOf(cluster.readLog('leader'), memberOf) : undefined;
  const leadEvidence = pongs === undefined ? null : commands.map((cmd) => leadEvidenceOf(cmd, perCommand.find((p) => p.rev === cmd.rev)?.leader_lead_ms ?? NaN, { truth, arrivals, memberOf, pongs }));

  const allPlanned = commands.flatMap((cmd) => (cmd.rev === null ? [] : plannedOfRev(events, cmd.rev).map((p) => ({ key: p.rev, atUs: p.atUs, plannedNs: p.plannedNs, synced: p.synced }))));
  const steadySamples = steady === null ? [] : samplesIn(events, truth, steady.fromNs, steady.toNs).map((s) => ({ key: s.atUs, atUs: s.atUs, plannedNs: s.plannedNs }));
  const plannedCommands = spreadOf(allPlanned, truth);
  const plannedSteady = spreadOf(steadySamples, truth);
  const plannedAll = spreadOf([...allPlanned, ...steadySamples], truth);

  const audioOffset = steady === null ? null : realAudio(reals, caps, steady, { anchor, decoded, revisions, resumeRev });
  const ntpRate = steady === null ? null : ntpAnswersPerS(ntpCounts, steady.fromNs, steady.toNs);
  const leaderSteady = steadyUsage.find((u) => u.label === 'leader') ?? null;
  const leaderUse = usage.find((u) => u.label === 'leader') ?? null;
  const lightUse = usage.filter((u) => u.label.startsWith('light-'));
  const realUse = usage.filter((u) => u.label !== 'leader' && !u.label.startsWith('light-'));
  const lightDist = trackIds.length === 0 || o.light === 0 ? null : distributionOf(events, lights.filter((l) => !slowIds.has(l.id)).map((l) => l.id), trackIds, trackBytes, t0);
  const slowDist = trackIds.length === 0 || slowIds.size === 0 ? null : distributionOf(events, [...slowIds], trackIds, trackBytes, t0);
  const realDistS = [...realCachedAtNs.values()].map((ns) => (ns - t0) / 1e9);
  const stormReport = storm === null ? null : stormOutcome(storm, perCommand.find((p) => p.command === 'volume-after-restart'), commands.find((p) => p.name === 'volume-after-restart'), lights.length + o.real, {
    events, truth, reals, caps, anchor, decoded, revisions, resumeRev,
  });
  const timedCommands = perCommand.filter((p) => p.command !== 'volume-after-restart');
  const maxLead = Math.max(...timedCommands.map((p) => (Number.isFinite(p.leader_lead_ms) ? p.leader_lead_ms : Infinity)));
  const leadTarget = o.profile === 'wifi' ? 500 : 250;
  const allBefore = timedCommands.length > 0 && timedCommands.every((p) => p.all_before_at === true);
  const report = {
    bench: 'fanout',
    profile: o.profile,
    impairment: imp,
    members: { light: o.light, real: o.real, light_hosts: o.lightHosts, real_hosts: o.hosts, ...(o.slow > 0 ? { slow: o.slow, slow_kbit: o.slowKbit } : {}) },
    lead_ms_requested: o.leadMs,
    all_ready_s: readyS,
    lead_ms: Object.fromEntries(perCommand.map((p) => [p.command, { lead_ms: p.leader_lead_ms, all_before_at: p.all_before_at, margin_ms: p.margin_before_at_ms, issue_to_at_ms: p.lead_used_ms }])),
    planned_spread_us: {
      p99: plannedAll.errorUs.p99,
      note: 'each light member\'s planned instant minus the true instant of the same leader time (commands\' atUs and one steady-state sample a second); range = largest minus smallest across members at one instant',
      all: plannedAll,
      commands: plannedCommands,
      steady: plannedSteady,
    },
    audio_offset_us: audioOffset,
    leader: {
      cpu_pct: leaderSteady?.cpuPctAvg ?? null,
      cpu_pct_max: leaderSteady?.cpuPctMax ?? null,
      rss_mb: leaderSteady?.rssMiBMax ?? null,
      whole_run: leaderUse,
    },
    ntp_answers_per_s: ntpRate,
    distribution: { light: lightDist, slow: slowDist === null ? null : { kbit: o.slowKbit, ...slowDist }, real_all_cached_s: roundSummary(summarize(realDistS), 2), playlist_bytes: trackBytes },
    reconnect_storm: stormReport,
    targets: {
      lead_ms: { target: leadTarget, max_leader_lead: Number.isFinite(maxLead) ? maxLead : null, all_before_at: allBefore, met: Number.isFinite(maxLead) && maxLead <= leadTarget && allBefore },
      planned_spread_p99_lt_100us: plannedAll.errorUs.p99 === null ? null : plannedAll.errorUs.p99 < IN_SYNC_US,
      real_members_p99_lt_100us: audioOffset?.worst_pair_p99_us !== null && audioOffset?.worst_pair_p99_us !== undefined && audioOffset.worst_pair_p99_us < IN_SYNC_US,
      leader_cpu_lt_25pct: leaderSteady?.cpuPctAvg !== null && leaderSteady?.cpuPctAvg !== undefined && leaderSteady.cpuPctAvg < 25,
      leader_rss_lt_120mb: leaderSteady?.rssMiBMax !== null && leaderSteady?.rssMiBMax !== undefined && leaderSteady.rssMiBMax < 120,
      storm_within_30s: stormReport === null ? null : stormReport.within_30s,
    },
    commands: perCommand,
    ...(leadEvidence === null ? {} : { lead_evidence: leadEvidence }),
    processes: {
      light_hosts: lightUse,
      real_members_cpu_pct: roundSummary(summarize(realUse.map((u) => u.cpuPctAvg ?? NaN)), 1),
      real_members_rss_mb: roundSummary(summarize(realUse.map((u) => u.rssMiBMax ?? NaN)), 1),
      light_events_rejected: fleet?.rejected ?? 0,
    },
    params: { seed: o.seed, playlist: path.relative(REPO_DIR, playlist), seek_position_ms: SEEK_POSITION_MS, volume: VOLUME, steady_s: o.steadyS, step_s: o.stepS, restart_leader: o.restartLeader },
    notes: 'arrival = first TCP segment of the timeline on the member host eth0 (sniffer, every host); light_parsed = when the light member process had parsed it (its own CLOCK_MONOTONIC); send = first segment on the leader host. leader_lead_ms = atUs - the leader\'s time when it took the command; lead_used_ms = atUs - REST command issued here.',
    ...record.fields(failure),
  };
  writeJson(out, report);
  if (!args.flag('keep')) rmSync(dir, { recursive: true, force: true });
  log(`wrote ${out}`);
  process.stdout.write(`${JSON.stringify({ all_ready_s: readyS, lead_ms: report.lead_ms, planned_p99_us: plannedAll.errorUs.p99, audio_worst_pair_p99_us: audioOffset?.worst_pair_p99_us ?? null, leader: { cpu_pct: report.leader.cpu_pct, rss_mb: report.leader.rss_mb }, ntp_answers_per_s: ntpRate, distribution_all_s: lightDist?.all_s ?? null, storm: stormReport, failure: failure ?? null, out })}\n`);
  return failure === undefined ? 0 : 1;
}

interface CommandContext {
  o: Options;
  anchor: LeaderAnchor | undefined;
  truth: (atUs: number) => number;
  revisions: ReturnType<Cluster['leaderRevisions']>;
  events: LightFleet['events'];
  arrivals: Arrival[];
  memberOf: Map<string, string>;
  reals: Array<{ id: string }>;
  decoded: Awaited<ReturnType<typeof decodePlaylist>> | undefined;
  caps: Map<string, Capture>;
}

function analyseCommand(cmd: Command, x: CommandContext) {
  const msgs = x.arrivals.filter((a) => a.type === 'timeline' && a.rev === cmd.rev && a.t >= cmd.issuedNs - 1e6);
  const firstBy = (outgoing: boolean): Map<string, number> => {
    const m = new Map<string, number>();
    for (const a of msgs) {
      if (a.out !== outgoing) continue;
      const id = x.memberOf.get(`${a.dst}:${a.dport}`);
      if (id !== undefined && !m.has(id)) m.set(id, a.t);
    }
    return m;
  };
  const sent = firstBy(true);
  const recv = firstBy(false); // on each member host's eth0
  const lightParsed = cmd.rev === null ? new Map<string, number>() : arrivalsOfRev(x.events, cmd.rev);
  const realIds = new Set(x.reals.map((m) => m.id));
  const recvTimes = [...recv.values()];
  const atNs = cmd.atUs !== null ? x.truth(cmd.atUs) : NaN;
  const rel = (ns: number): number | null => round((ns - cmd.issuedNs) / 1e6, 2);
  const lastRecv = recvTimes.length === 0 ? NaN : Math.max(...recvTimes);
  const firstRecv = recvTimes.length === 0 ? NaN : Math.min(...recvTimes);
  const sentTimes = [...sent.values()];
  const total = x.o.light + x.o.slow + x.o.real;
  const planned = cmd.rev === null ? [] : plannedOfRev(x.events, cmd.rev);
  let audio: Record<string, unknown> = {};
  const rev = x.revisions.find((r) => r.rev === cmd.rev);
  if (x.decoded !== undefined && x.anchor !== undefined && rev !== undefined && rev.playing && cmd.name !== 'volume') {
    const ref = new ScheduleReference(x.decoded, x.anchor, rev, true, START_WINDOW_S + 5);
    const first: Array<{ id: string; firstUs: number | null; n: number }> = [];
    for (const m of x.reals) {
      const cap = x.caps.get(m.id);
      if (cap === undefined) continue;
      const r = measureOffset(ref, cap, { fromNs: atNs + 10e6, toNs: atNs + START_WINDOW_S * 1e9 });
      first.push({ id: m.id, firstUs: round(r.points[0]?.offsetUs ?? NaN, 1), n: r.points.length });
    }
    audio = {
      members_measured: first.length,
      first_window_offset_us: absStats(first.map((f) => f.firstUs).filter((v): v is number => v !== null)),
      all_within_100us: first.length === x.o.real && first.every((f) => f.firstUs !== null && Math.abs(f.firstUs) < IN_SYNC_US),
      out_of_sync: first.filter((f) => f.firstUs === null || Math.abs(f.firstUs) >= IN_SYNC_US),
    };
  }
  if (cmd.name === 'volume' && Number.isFinite(atNs)) {
    const ratios: number[] = [];
    for (const m of x.reals) {
      const cap = x.caps.get(m.id);
      if (cap === undefined) continue;
      const before = rmsLevel(cap, atNs - 2.0e9, atNs - 0.05e9);
      const after = rmsLevel(cap, atNs + 0.05e9, atNs + 2.0e9);
      if (before > 0) ratios.push(after / before);
    }
    audio = { members_measured: ratios.length, level_ratio_after_before: roundSummary(summarize(ratios), 3), note: `volume ${VOLUME}: ratio ~${VOLUME} if applied (material differs before/after)` };
  }
  const late = [...recv.entries()].filter(([, t]) => !(t < atNs)).map(([id]) => id);
  const parsedLate = [...lightParsed.entries()].filter(([, t]) => !(t < atNs)).map(([id]) => id);
  const lastParsed = lightParsed.size === 0 ? NaN : Math.max(...lightParsed.values());
  return {
    command: cmd.name,
    rev: cmd.rev,
    lead_refused: cmd.refused,
    settle_s: cmd.settleS,
    /** the leader's own lead: atUs minus its time when it took the command (the requested delay
     *  when it accepted it; else the least lead it said it needs, which it then used) */
    leader_lead_ms: cmd.refused === null ? x.o.leadMs : Number(/at least ([0-9]+) ms/.exec(cmd.refused)?.[1] ?? NaN),
    /** atUs - time the REST command was issued here (host monotonic): the lead plus the REST path */
    lead_used_ms: Number.isFinite(atNs) ? rel(atNs) : null,
    rest_reply_ms: rel(cmd.repliedNs),
    members_reached: recv.size,
    all_before_at: recv.size === total && late.length === 0,
    late_members: late.slice(0, 20),
    /** light members: when their process had parsed it (all light members, and those after atUs) */
    light_parsed: lightParsed.size,
    light_parsed_last_ms: Number.isFinite(lastParsed) ? rel(lastParsed) : null,
    light_parsed_late: parsedLate.slice(0, 20),
    first_send_ms: sentTimes.length === 0 ? null : rel(Math.min(...sentTimes)),
    last_send_ms: sentTimes.length === 0 ? null : rel(Math.max(...sentTimes)),
    first_arrival_ms: Number.isFinite(firstRecv) ? rel(firstRecv) : null,
    last_arrival_ms: Number.isFinite(lastRecv) ? rel(lastRecv) : null,
    arrival_spread_ms: Number.isFinite(lastRecv) ? round((lastRecv - firstRecv) / 1e6, 3) : null,
    margin_before_at_ms: Number.isFinite(lastRecv) && Number.isFinite(atNs) ? round((atNs - lastRecv) / 1e6, 2) : null,
    planned: spreadOf(planned.map((p) => ({ key: p.rev, atUs: p.atUs, plannedNs: p.plannedNs, synced: p.synced })), x.truth),
    real_arrivals_ms: Object.fromEntries([...recv.entries()].filter(([id]) => realIds.has(id)).map(([id, t]) => [id, rel(t)])),
    audio,
  };
}

/** The leader's pongs from its debug log (--rtt-trace), per member id, in arrival order. */
function pongsOf(lines: string[], memberOf: Map<string, string>): Map<string, Array<{ monoMs: number; rttUs: number; burst: boolean }>> {
  const out = new Map<string, Array<{ monoMs: number; rttUs: number; burst: boolean }>>();
  for (const line of lines) {
    if (!line.includes('"pong"')) continue;
    try {
      const v = JSON.parse(line) as { msg?: string; member?: string; rttUs?: number; monoMs?: number; burst?: boolean };
      if (v.msg !== 'pong' || v.member === undefined || v.rttUs === undefined || v.monoMs === undefined) continue;
      const id = memberOf.get(v.member) ?? v.member;
      let list = out.get(id);
      if (list === undefined) out.set(id, (list = []));
      list.push({ monoMs: v.monoMs, rttUs: v.rttUs, burst: v.burst === true });
    } catch {
      // not a JSON line
    }
  }
  return out;
}

/**
 * Per member, the RTTs the leader's lead rule saw when it took the command (its last 10 s of pongs,
 * a burst counted as its newest pong, as RttStats does) beside when the command was sent to it and
 * reached its host, both from the leader's "now" of the command (atUs - its lead): the data a lead
 * rule must cover (issue #14).
 */
function leadEvidenceOf(
  cmd: Command,
  leaderLeadMs: number,
  x: { truth: (atUs: number) => number; arrivals: Arrival[]; memberOf: Map<string, string>; pongs: ReturnType<typeof pongsOf> },
) {
  if (cmd.atUs === null || !Number.isFinite(leaderLeadMs)) return { command: cmd.name, members: [] };
  const nowNs = x.truth(cmd.atUs) - leaderLeadMs * 1e6;
  const sent = new Map<string, number>();
  const recv = new Map<string, number>();
  for (const a of x.arrivals) {
    if (a.type !== 'timeline' || a.rev !== cmd.rev || a.t < cmd.issuedNs - 1e6) continue;
    const id = x.memberOf.get(`${a.dst}:${a.dport}`);
    if (id === undefined) continue;
    const m = a.out ? sent : recv;
    if (!m.has(id)) m.set(id, a.t);
  }
  const pct = (v: number[], p: number): number | null => {
    if (v.length === 0) return null;
    const s = [...v].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  };
  const ms = (ns: number | undefined): number | null => (ns === undefined ? null : round((ns - nowNs) / 1e6, 1));
  const members = [...new Set([...x.pongs.keys(), ...recv.keys()])].sort().map((id) => {
    const recent: number[] = [];
    for (const p of x.pongs.get(id) ?? []) {
      if (p.monoMs * 1e6 > nowNs || p.monoMs * 1e6 < nowNs - RTT_WINDOW_MS * 1e6) continue;
      if (p.burst && recent.length > 0) recent[recent.length - 1] = p.rttUs;
      else recent.push(p.rttUs);
    }
    const q = (p: number): number | null => { const v = pct(recent, p); return v === null ? null : round(v / 1000, 1); };
    return {
      id, n: recent.length, p50_ms: q(50), p90_ms: q(90), max_ms: q(100), send_ms: ms(sent.get(id)), arrival_ms: ms(recv.get(id)),
      rtts_ms: recent.map((us) => round(us / 1000, 1)),
    };
  });
  return { command: cmd.name, rev: cmd.rev, leader_lead_ms: leaderLeadMs, members };
}

/** Real members against each other (pairs of captures) and against the schedule in the steady window. */
function realAudio(
  reals: Array<{ id: string }>,
  caps: Map<string, Capture>,
  steady: { fromNs: number; toNs: number },
  x: { anchor: LeaderAnchor | undefined; decoded: CommandContext['decoded']; revisions: CommandContext['revisions']; resumeRev: number | null },
) {
  const ids = reals.map((m) => m.id).filter((id) => caps.has(id));
  const pairs: Array<{ a: string; b: string; stats: ReturnType<typeof absStats> }> = [];
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const r = measureOffset(caps.get(ids[i]!)!, caps.get(ids[j]!)!, { fromNs: steady.fromNs, toNs: steady.toNs });
      pairs.push({ a: ids[i]!, b: ids[j]!, stats: absStats(r.points.map((p) => p.offsetUs)) });
    }
  }
  const rev = x.revisions.find((r) => r.rev === x.resumeRev);
  const vsSchedule: Record<string, unknown> = {};
  if (x.decoded !== undefined && x.anchor !== undefined && rev !== undefined) {
    const ref = new ScheduleReference(x.decoded, x.anchor, rev, true, (steady.toNs - hostMonoNsAtLeaderUs(x.anchor, rev.atUs)) / 1e9 + 120);
    for (const id of ids) {
      const cap = caps.get(id)!;
      const r = measureOffset(ref, cap, { fromNs: steady.fromNs, toNs: steady.toNs });
      vsSchedule[id] = { ...absStats(r.points.map((p) => p.offsetUs)), dropouts: dropouts(cap, ref, steady.fromNs, steady.toNs).count };
    }
  }
  const worst = pairs.reduce<number | null>((w, p) => (p.stats.p99 === null ? w : Math.max(w ?? -Infinity, p.stats.p99)), null);
  return { window_s: round((steady.toNs - steady.fromNs) / 1e9, 1), worst_pair_p99_us: worst, pairs, vs_schedule: vsSchedule };
}

/** Mean rate of the leader's NTP answers between two instants (running totals once a second). */
function ntpAnswersPerS(counts: readonly NtpCount[], fromNs: number, toNs: number): number | null {
  const inside = counts.filter((c) => c.t >= fromNs && c.t <= toNs);
  const a = inside[0];
  const b = inside[inside.length - 1];
  if (a === undefined || b === undefined || b.t <= a.t) return null;
  return round((b.ntp_out - a.ntp_out) / ((b.t - a.t) / 1e9), 1);
}

/** The storm's outcome: reconnected and reached by the next command within STORM_TARGET_S of the
 *  kill, and whether members played on meanwhile (real: dropouts; light: planned instants). */
function stormOutcome(
  storm: Record<string, unknown>,
  cmd: ReturnType<typeof analyseCommand> | undefined,
  issued: Command | undefined,
  total: number,
  x: { events: LightFleet['events']; truth: (atUs: number) => number; reals: Array<{ id: string }>; caps: Map<string, Capture>; anchor: LeaderAnchor | undefined; decoded: CommandContext['decoded']; revisions: CommandContext['revisions']; resumeRev: number | null },
) {
  const { kill_ns: killNs, reconnected_ns: reconnectedNs, ...rest } = storm as { kill_ns: number; reconnected_ns: number | null };
  const reachedS = cmd !== undefined && issued !== undefined && cmd.last_arrival_ms !== null && cmd.members_reached === total
    ? round((issued.issuedNs - killNs) / 1e9 + cmd.last_arrival_ms / 1000, 2) : null;
  const outageEnd = reconnectedNs ?? killNs + STORM_TARGET_S * 1e9;
  const duringOutage = spreadOf(samplesIn(x.events, x.truth, killNs, outageEnd).map((s) => ({ key: s.atUs, atUs: s.atUs, plannedNs: s.plannedNs })), x.truth);
  const realDropouts: Record<string, number> = {};
  const rev = x.revisions.find((r) => r.rev === x.resumeRev);
  if (x.decoded !== undefined && x.anchor !== undefined && rev !== undefined) {
    const ref = new ScheduleReference(x.decoded, x.anchor, rev, true, (outageEnd - hostMonoNsAtLeaderUs(x.anchor, rev.atUs)) / 1e9 + 120);
    for (const m of x.reals) {
      const cap = x.caps.get(m.id);
      if (cap !== undefined) realDropouts[m.id] = dropouts(cap, ref, killNs, outageEnd).count;
    }
  }
  return {
    ...rest,
    all_reached_by_command_s: reachedS,
    within_30s: reachedS !== null && reachedS <= STORM_TARGET_S,
    light_planned_during_outage_us: duringOutage,
    real_dropouts_during_outage: realDropouts,
  };
}

/**
 * SIGKILL the leader mid-play, restart it on the same state, and time until every member is
 * connected again and has a new command; the members play on meanwhile (their timeline holds).
 */
async function reconnectStorm(
  c: Cluster,
  o: Options,
  total: number,
  run: (name: string, method: string, urlPath: string, body: Record<string, unknown>, stepS?: number) => Promise<Command>,
  sampler: ProcSampler,
): Promise<Record<string, unknown>> {
  const before = await c.status();
  const killNs = monoNs();
  await c.killLeader('SIGKILL');
  log('leader SIGKILLed');
  await sleep(o.restartGapS * 1000);
  c.startLeader();
  sampler.add('leader-restarted', c.leaderPid());
  let after: ClusterStatus | null = null;
  let reconnectedNs: number | null = null;
  const deadline = killNs + (STORM_TARGET_S + 30) * 1e9;
  while (monoNs() < deadline) {
    try {
      const s = await c.status();
      after ??= s;
      if (s.members.filter((m) => m.connected).length >= total) {
        reconnectedNs = monoNs();
        after = s;
        break;
      }
    } catch {
      // not listening yet
    }
    await sleep(STORM_POLL_MS);
  }
  log(`reconnected: ${reconnectedNs === null ? 'not all' : `${((reconnectedNs - killNs) / 1e9).toFixed(1)} s after the kill`}`);
  const cmd = await run('volume-after-restart', 'POST', '/api/volume', { volume: 0.8, delayMs: o.leadMs });
  const reachedS = (cmd.repliedNs - killNs) / 1e9;
  const same = after !== null && before.position !== null && after.position !== null
    && before.position.rev === after.position.rev && before.playing === after.playing && before.position.index === after.position.index
    && before.playlist.map((t) => t.id).join() === after.playlist.map((t) => t.id).join();
  return {
    kill_ns: killNs,
    reconnected_ns: reconnectedNs,
    restart_gap_s: o.restartGapS,
    all_reconnected_s: reconnectedNs === null ? null : round((reconnectedNs - killNs) / 1e9, 2),
    command_rev: cmd.rev,
    /** the command's reply came this long after the kill; its arrivals are in commands[] */
    command_issued_s: round(reachedS, 2),
    state_unchanged: same,
    before: before.position,
    after: after?.position ?? null,
  };
}

runBench(main, log);
