// bench:sync - a real leader and N real members (capture sinks) on simulated hosts play a playlist;
// measures from what the simulated DACs really played (capture files on the true time axis) the
// offset between members and against the schedule itself, underruns, the drift loop's corrections,
// late-join and restart times, and member CPU/RSS. Writes a JSON report and an SVG plot beside it.
//   npm run bench:sync -- --members 3 --seconds 60 --profile wifi [--out FILE] [--kill-restart] [--long-tracks]
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCapture, type Capture } from '@jaudiosync/member/capture-file';
import { measureOffset, type OffsetPoint, type OffsetSeries } from '@jaudiosync/testkit/helpers/capture-analysis.js';
import { Cluster, EXAMPLE_PLAYLIST, hostMonoNsAtLeaderUs, MEMBER_BIN, type ClusterMember, type ClusterStatus } from '@jaudiosync/testkit/helpers/cluster.js';
import { absStats, dropouts, inSyncFromNs, IN_SYNC_US, pointsIn, risingOnsetNs, worstByP99, type AbsStats } from './sync-analysis.js';
import { writeLongPlaylist } from './sync-long-tracks.js';
import { netsimSpawner, startRestProxy } from '@jaudiosync/testkit/helpers/netsim-cluster.js';
import { decodePlaylist, ScheduleReference } from './sync-reference.js';
import { ArgError } from './lib/args.js';
import { benchLog, cannotRun, parseOptions, readArgs, RunRecord, runBench, withNetwork } from './lib/bench-run.js';
import { loadNetsim } from './lib/netsim-loader.js';
import { ProcSampler, type ProcUsage } from './lib/proc-sampler.js';
import { defaultOutPath, sidecarPath, writeFileAtomic, writeJson } from './lib/report-writer.js';
import { SeededRandom } from './lib/rng.js';
import { round, summarize, roundSummary } from './lib/stats.js';
import { renderSvg, type Series } from './lib/svg-plot.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url)); // bench/dist/sync.js -> repo
const HTTP_PORT = 7700;
const NTP_PORT = 11123;
const MAX_OFFSET_S = 5; // member clocks start up to +-5 s off
const MAX_RATE_PPM = 100; // crystal-grade clock and DAC rate errors
const PLAY_DELAY_MS = 2000; // play command lead: members have synced and decoded track 1 by then
const READY_TIMEOUT_MS = 90_000; // clock sync + first decode on a loaded 2-core box over wifi
const STATUS_EVERY_MS = 1000;
const RESTART_DELAY_MS = 1000; // SIGKILL -> restart gap (a crashed service restarted by systemd)
const STEADY_SKIP_S = 0.5; // the first fade-in after play is not steady state
// Search range of the correlation: offsets beyond it are counted as `beyond_max_lag` windows (an
// underrun can put a member milliseconds off); the normalised, ambiguity-checked correlation does
// not lock to bass periods inside it (docs/benchmarks.md, "the 9 ms artefact").
const ANALYSIS_MAX_LAG_US = 10_000;
const ONSET_THRESHOLD = 0.05;
const ONSET_AFTER_FADE_MS = 10; // the stream-start fade-in (6 ms) would delay the member's edge, not the schedule's
const LONG_TRACK_S = 300;
const TARGETS = { p99_us: 100, max_us: 500, rejoin_s: 5, member_rss_mb: 200, member_cpu_pct: 5 } as const;

const USAGE = `usage: npm run bench:sync -- [--members N(1-32, 3)] [--seconds S(10-3600, 60)] [--profile wifi|lan|clean (wifi)]
       [--out FILE.json] [--seed N] [--kill-restart] [--long-tracks] [--late-join-s S (5; 0 = off)]
       [--discovery mdns|explicit (mdns)] [--playlist FILE.m3u8] [--keep]`;

interface MemberParams extends ClusterMember {
  id: string;
  host: string;
  clockOffsetUs: number;
  clockRatePpm: number;
  dacPpm: number;
  latencyMs: number;
  late: boolean;
}

/** One member process lifetime and its capture file (a restarted member has two). */
interface Instance {
  label: string;
  member: MemberParams;
  capture: string;
  kind: 'initial' | 'late' | 'restart';
  spawnNs: number;
  endNs: number | null;
  pid?: number;
}

interface StatusSample {
  tNs: number;
  member: string;
  underruns: number;
  correctionPpm: number;
  driftPpm: number;
  connected: boolean;
}

const monoNs = (): number => Number(process.hrtime.bigint());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = benchLog('sync');

async function main(): Promise<number> {
  const args = readArgs(['members', 'seconds', 'profile', 'out', 'seed', 'kill-restart', 'long-tracks', 'late-join-s', 'discovery', 'playlist', 'keep', 'help'], USAGE, log);
  if (typeof args === 'number') return args;
  const { Netsim, PROFILES, isProfileName, netsimUnavailableReason } = await loadNetsim();
  const profileArg = args.str('profile', 'wifi');
  const discovery = args.str('discovery', 'mdns');
  const killRestart = args.flag('kill-restart');
  const longTracks = args.flag('long-tracks');
  const opts = parseOptions(() => {
    const members = args.num('members', 3, 1, 32, true);
    const seconds = args.num('seconds', 60, 10, 3600);
    const seed = args.num('seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1, true);
    const lateJoinS = args.num('late-join-s', members >= 2 ? 5 : 0, 0, 3600);
    const profile = profileArg;
    if (!isProfileName(profile)) throw new ArgError(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
    if (discovery !== 'mdns' && discovery !== 'explicit') throw new ArgError('--discovery must be mdns or explicit');
    if (lateJoinS > 0 && members < 2) throw new ArgError('--late-join-s needs at least 2 members');
    if (lateJoinS > 0 && lateJoinS > seconds - 8) throw new ArgError('--late-join-s must leave at least 8 s of the run');
    if (killRestart && seconds < 20) throw new ArgError('--kill-restart needs --seconds >= 20');
    return { members, seconds, seed, lateJoinS, profile };
  }, USAGE, log);
  if (opts === undefined) return 2;
  const { members, seconds, seed, lateJoinS, profile } = opts;
  if (cannotRun([netsimUnavailableReason(), existsSync(MEMBER_BIN) ? undefined : `member not built: ${MEMBER_BIN} (run npx tsc -b)`], log)) return 2;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-sync-'));
  const keep = args.flag('keep');
  const playlist = longTracks
    ? writeLongPlaylist(path.join(REPO_DIR, 'Music/01-metronome-morning.wav'), dir, LONG_TRACK_S)
    : path.resolve(args.str('playlist', EXAMPLE_PLAYLIST));
  const out = path.resolve(args.optStr('out') ?? defaultOutPath(`sync-${profile}-${members}m${killRestart ? '-kill' : ''}${longTracks ? '-long' : ''}`, REPO_DIR));
  const rng = new SeededRandom(seed);
  const params: MemberParams[] = [];
  for (let k = 1; k <= members; k++) {
    params.push({
      id: `member${k}`,
      host: `member${k}`,
      clockOffsetUs: Math.round(rng.uniform(-MAX_OFFSET_S, MAX_OFFSET_S) * 1e6),
      clockRatePpm: Math.round(rng.uniform(-MAX_RATE_PPM, MAX_RATE_PPM) * 1000) / 1000,
      dacPpm: Math.round(rng.uniform(-MAX_RATE_PPM, MAX_RATE_PPM) * 1000) / 1000,
      latencyMs: Math.round(rng.uniform(10, 40)),
      late: lateJoinS > 0 && k === members,
    });
  }
  const killed = killRestart ? params.find((p) => !p.late) : undefined;
  const killAtS = killRestart ? Math.max(lateJoinS + 8, seconds * 0.5) : Infinity;
  const imp = PROFILES[profile];
  log(`profile ${profile} (${JSON.stringify(imp)}), ${members} members (${discovery}), ${seconds} s, seed ${seed}${lateJoinS > 0 ? `, ${params[members - 1]!.id} joins at ${lateJoinS} s` : ''}${killed ? `, ${killed.id} SIGKILLed at ${killAtS} s` : ''}, dir ${dir}`);

  const record = new RunRecord('sync', REPO_DIR);
  const sampler = new ProcSampler();
  const instances: Instance[] = [];
  const statuses: StatusSample[] = [];
  let cluster: Cluster | undefined;
  let play: { rev: number; atUs: number } | undefined;
  let playHostNs = NaN;
  let endNs = NaN;
  let leaderUsage: ReturnType<ProcSampler['summary']> = [];

  const net = await Netsim.up({ members });
  let failure = await withNetwork(net, 15_000, log, async () => {
    if (profile !== 'clean') for (const p of params) await net.impair(p.host, imp);
    const proxy = await startRestProxy(net, 'leader', HTTP_PORT, path.join(dir, 'leader-rest.sock'));
    const initial = params.filter((p) => !p.late);
    const late = params.find((p) => p.late);
    const explicitAddr = (m: ClusterMember): string => `${net.ip(m.host ?? m.id)}:7701`;
    cluster = await Cluster.start({
      dir,
      members: initial,
      playlist,
      spawner: netsimSpawner(net),
      memberAddress: discovery === 'mdns' ? null : explicitAddr,
      httpPort: HTTP_PORT,
      ntpPort: NTP_PORT,
      leaderArgs: ['--loop', ...(discovery === 'explicit' && late ? ['--member', explicitAddr(late)] : [])],
      request: proxy.request,
    });
    const c = cluster;
    sampler.add('leader', c.leaderPid());
    for (const m of initial) {
      const inst: Instance = { label: m.id, member: m, capture: c.capturePath(m.id), kind: 'initial', spawnNs: monoNs(), endNs: null, pid: c.memberPid(m.id) };
      instances.push(inst);
      sampler.add(inst.label, inst.pid);
    }
    sampler.start();
    await c.waitFor((s) => s.playlist.length > 0 && s.members.filter((m) => m.connected && m.clock?.synced && (m.decoded ?? 0) >= 1).length >= initial.length, READY_TIMEOUT_MS, 'members synced and track 1 decoded');
    const reply = await c.api<{ rev: number; atUs: number }>('POST', '/api/play', { delayMs: PLAY_DELAY_MS });
    if (reply.status !== 200) throw new Error(`play refused: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
    play = reply.body;
    let anchor = c.leaderAnchor();
    for (let i = 0; anchor === undefined && i < 20; i++) {
      await sleep(250);
      anchor = c.leaderAnchor();
    }
    if (anchor === undefined) throw new Error('leader did not log its timescale anchor');
    playHostNs = hostMonoNsAtLeaderUs(anchor, play.atUs);
    log(`play at leader ${play.atUs} (rev ${play.rev})`);
    endNs = playHostNs + seconds * 1e9;
    let lateDone = late === undefined;
    let killState: 'pending' | 'killed' | 'done' = killed ? 'pending' : 'done';
    let nextStatusNs = monoNs();
    let nextProgressNs = playHostNs + 10e9;
    while (monoNs() < endNs) {
      await sleep(100);
      const now = monoNs();
      const tS = (now - playHostNs) / 1e9;
      if (!lateDone && late && tS >= lateJoinS) {
        lateDone = true;
        c.startMember(late, params.indexOf(late));
        const inst: Instance = { label: late.id, member: late, capture: c.capturePath(late.id), kind: 'late', spawnNs: monoNs(), endNs: null, pid: c.memberPid(late.id) };
        instances.push(inst);
        sampler.add(inst.label, inst.pid);
        log(`t=${tS.toFixed(1)} s: ${late.id} started (late join)`);
      }
      if (killed && killState === 'pending' && tS >= killAtS) {
        await c.killMember(killed.id, 'SIGKILL');
        const inst = instances.find((i) => i.member === killed && i.endNs === null);
        if (inst) inst.endNs = monoNs();
        killState = 'killed';
        log(`t=${tS.toFixed(1)} s: ${killed.id} SIGKILLed`);
      }
      if (killed && killState === 'killed' && tS >= killAtS + RESTART_DELAY_MS / 1000) {
        c.startMember(killed, params.indexOf(killed), `${killed.id}-restart`);
        const inst: Instance = { label: `${killed.id}-restart`, member: killed, capture: c.capturePath(`${killed.id}-restart`), kind: 'restart', spawnNs: monoNs(), endNs: null, pid: c.memberPid(killed.id) };
        instances.push(inst);
        sampler.add(inst.label, inst.pid);
        killState = 'done';
        log(`t=${tS.toFixed(1)} s: ${killed.id} restarted`);
      }
      if (now >= nextStatusNs) {
        nextStatusNs = now + STATUS_EVERY_MS * 1e6;
        const s = await c.status().catch(() => null);
        if (s) recordStatus(statuses, s, monoNs());
      }
      if (now >= nextProgressNs) {
        nextProgressNs += 10e9;
        const last = statuses.slice(-members);
        log(`t=${tS.toFixed(0)} s: ${last.map((x) => `${x.member} corr ${x.correctionPpm.toFixed(1)} ppm, underruns ${x.underruns}`).join('; ')}`);
      }
    }
    sampler.stop();
    leaderUsage = sampler.summary();
    await c.stop();
    for (const inst of instances) inst.endNs ??= monoNs();
    await proxy.stop();
  }, async () => {
    sampler.stop();
    leaderUsage = sampler.summary();
    await cluster?.stop().catch(() => undefined);
  });

  // ---- analysis ----
  log('analysing captures');
  const anchor = cluster?.leaderAnchor();
  const revision = cluster?.leaderRevisions().find((r) => r.rev === play?.rev);
  let report: Record<string, unknown>;
  const pairs: Array<{ a: string; b: string; stats: AbsStats; points: OffsetPoint[]; fromS: number; rejected: Record<string, number> }> = [];
  const perInstance: Array<Record<string, unknown> & { label: string; schedule: OffsetPoint[] }> = [];
  if (anchor !== undefined && revision !== undefined && play !== undefined) {
    const decoded = await decodePlaylist(playlist);
    const ref = new ScheduleReference(decoded, anchor, revision, true, seconds + 30);
    const caps = new Map<string, Capture>();
    for (const inst of instances) if (existsSync(inst.capture)) caps.set(inst.label, readCapture(inst.capture));
    const steadyFromNs = playHostNs + STEADY_SKIP_S * 1e9;
    const syncFrom = new Map<string, number>(); // label -> true ns from which the instance counts as steady
    for (const inst of instances) {
      const cap = caps.get(inst.label);
      if (cap === undefined) {
        perInstance.push({ label: inst.label, schedule: [], error: 'no capture' });
        continue;
      }
      const capEndNs = cap.trueTimeOfFrame(cap.endFrame);
      const fromNs = Math.max(steadyFromNs, inst.spawnNs);
      const series = measureOffset(ref, cap, { fromNs, toNs: Math.min(capEndNs, endNs), maxLagUs: ANALYSIS_MAX_LAG_US });
      const inSyncNs = inSyncFromNs(series.points, fromNs);
      const steadyNs = inst.kind === 'initial' ? steadyFromNs : inSyncNs;
      if (steadyNs !== null) syncFrom.set(inst.label, steadyNs);
      const steadyPts = steadyNs === null ? [] : pointsIn(series.points, steadyNs);
      // only once playing in sync: a member that is still starting (late join, restart) plays silence
      const drop = steadyNs === null ? { count: 0, totalMs: 0, firstS: [] } : dropouts(cap, ref, steadyNs, Math.min(capEndNs, endNs));
      const onset = risingOnsetNs(cap, Math.max(playHostNs, inst.spawnNs) + ONSET_AFTER_FADE_MS * 1e6, ONSET_THRESHOLD);
      const refOnsetNs = onset === null ? null : risingOnsetNs(ref, onset - 5e6, ONSET_THRESHOLD, 0.01);
      const firstAudio = risingOnsetNs(cap, inst.spawnNs, ONSET_THRESHOLD, (endNs - inst.spawnNs) / 1e9);

      const us = statuses.filter((s) => s.member === inst.member.id && s.tNs >= Math.max(playHostNs, inst.spawnNs) && s.tNs <= (inst.endNs ?? Infinity));
      const underruns = us.length < 2 ? null : Math.max(0, us[us.length - 1]!.underruns - us[0]!.underruns);
      const corr = us.filter((s) => s.connected).map((s) => s.correctionPpm);
      const usage = leaderUsage.find((u) => u.label === inst.label);
      perInstance.push({
        label: inst.label,
        member: inst.member.id,
        kind: inst.kind,
        params: { clock_offset_us: inst.member.clockOffsetUs, clock_rate_ppm: inst.member.clockRatePpm, dac_ppm: inst.member.dacPpm, latency_ms: inst.member.latencyMs },
        spawn_s: round((inst.spawnNs - playHostNs) / 1e9, 2),
        end_s: inst.endNs === null ? null : round((inst.endNs - playHostNs) / 1e9, 2),
        schedule_offset_us: absStats(steadyPts.map((p) => p.offsetUs)),
        schedule_windows: windowCounts(series, steadyNs),
        // every measured window of the last 10 s, in sync or not (shows how far off a member that never joined was)
        schedule_offset_last10s_us: absStats(pointsIn(series.points, Math.min(capEndNs, endNs) - 10e9).map((p) => p.offsetUs)),
        // A late or restarted member: its first 2 s in sync (the clock and DAC fits are youngest then),
        // and every window from 3 s after its spawn on (the same span of its life for a start that
        // takes 0.8 s or 2 s: compares how well it plays whatever its join time).
        ...(inst.kind === 'initial' ? {} : {
          schedule_offset_first2s_us: absStats((steadyNs === null ? [] : pointsIn(series.points, steadyNs, steadyNs + 2e9)).map((p) => p.offsetUs)),
          schedule_offset_from_spawn_3s_us: absStats(pointsIn(series.points, inst.spawnNs + 3e9).map((p) => p.offsetUs)),
        }),
        ...(inst.kind === 'initial' ? {} : { [inst.kind === 'late' ? 'join_s' : 'rejoin_s']: inSyncNs === null ? null : round((inSyncNs - inst.spawnNs) / 1e9, 2) }),
        first_audio_s: firstAudio === null ? null : round((firstAudio - inst.spawnNs) / 1e9, 2),
        // first rising edge after the start fade in the capture vs the same edge in the schedule
        onset_vs_schedule_us: onset !== null && refOnsetNs !== null ? round((onset - refOnsetNs) / 1000, 1) : null,
        dropouts: { count: drop.count, total_ms: drop.totalMs, first_at_s: drop.firstS.map((t) => round((t - playHostNs) / 1e9, 2)) },
        underruns,
        correction_ppm: corr.length === 0 ? null : roundSummary(summarize(corr.map(Math.abs)), 2),
        correction_ppm_signed_mean: corr.length === 0 ? null : round(corr.reduce((a, b) => a + b, 0) / corr.length, 2),
        drift_ppm_mean: us.length === 0 ? null : round(us.reduce((a, s) => a + s.driftPpm, 0) / us.length, 2),
        rss_mb_max: usage?.rssMiBMax ?? null,
        ...diskWrites(usage, inst.capture),
        cpu_pct: usage?.cpuPctAvg ?? null,
        cpu_pct_max_1s: usage?.cpuPctMax ?? null,
        schedule: series.points,
      });
    }
    const labels = instances.map((i) => i.label);
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        const la = labels[i]!, lb = labels[j]!;
        const ca = caps.get(la), cb = caps.get(lb);
        const fa = syncFrom.get(la), fb = syncFrom.get(lb);
        if (ca === undefined || cb === undefined || fa === undefined || fb === undefined) continue;
        const fromNs = Math.max(fa, fb);
        const toNs = Math.min(ca.trueTimeOfFrame(ca.endFrame), cb.trueTimeOfFrame(cb.endFrame), endNs);
        if (toNs - fromNs < 1e9) continue;
        const r = measureOffset(ca, cb, { fromNs, toNs, maxLagUs: ANALYSIS_MAX_LAG_US });
        pairs.push({ a: la, b: lb, stats: absStats(r.points.map((p) => p.offsetUs)), points: r.points, fromS: round((fromNs - playHostNs) / 1e9, 2) ?? 0, rejected: windowCounts(r, fromNs) });
      }
    }
  } else if (failure === undefined) {
    failure = 'no leader anchor or play revision in the leader log';
  }

  const worstPair = worstByP99(pairs);
  const memberUsage = leaderUsage.filter((u) => u.label !== 'leader');
  const leaderUse = leaderUsage.find((u) => u.label === 'leader');
  const maxOf = (vs: Array<number | null | undefined>): number | null => {
    const k = vs.filter((v): v is number => typeof v === 'number');
    return k.length === 0 ? null : Math.max(...k);
  };
  const underrunsTotal = perInstance.reduce((a, p) => a + (typeof p['underruns'] === 'number' ? (p['underruns'] as number) : 0), 0);
  const sched = perInstance.map((p) => ({ label: p.label, stats: p['schedule_offset_us'] as AbsStats | undefined })).filter((p): p is { label: string; stats: AbsStats } => p.stats !== undefined);
  const worstSched = worstByP99(sched);
  const joinS = perInstance.find((p) => p['kind'] === 'late')?.['join_s'] as number | null | undefined;
  const rejoinS = perInstance.find((p) => p['kind'] === 'restart')?.['rejoin_s'] as number | null | undefined;
  const offsetUs = worstPair === null ? { p50: null, p99: null, max: null } : { p50: worstPair.stats.p50, p99: worstPair.stats.p99, max: worstPair.stats.max };
  const rssMax = maxOf(memberUsage.map((u) => u.rssMiBMax));
  const beyondMaxLag = pairs.reduce((a, p) => a + (p.rejected['beyond_max_lag'] ?? 0), 0);
  const cpuMax = maxOf(memberUsage.map((u) => u.cpuPctAvg));
  const writesPerH = maxOf(perInstance.map((p) => (p['disk_write_mb_per_h_without_capture'] as number | null | undefined) ?? null));
  report = {
    bench: 'sync',
    profile,
    impairment: imp,
    members,
    seconds,
    offset_us: offsetUs,
    worst_pair: worstPair === null ? null : `${worstPair.a}/${worstPair.b}`,
    /** pair windows whose offset was beyond the ±10 ms search (or unmeasurable there): not in offset_us */
    beyond_max_lag_windows: beyondMaxLag,
    schedule_offset_us: worstSched === null ? null : { member: worstSched.label, p50: worstSched.stats.p50, p99: worstSched.stats.p99, max: worstSched.stats.max },
    underruns: underrunsTotal,
    /** silent capture blocks while the schedule had audio (what underruns sound like), all members */
    dropouts: perInstance.reduce((a, p) => a + ((p['dropouts'] as { count: number } | undefined)?.count ?? 0), 0),
    rss_mb_max: rssMax,
    /** storage writes of the busiest member per hour, its capture file (a bench artefact) left out */
    disk_write_mb_per_h: writesPerH,
    cpu_pct: cpuMax,
    join_s: joinS ?? null,
    rejoin_s: killRestart ? (rejoinS ?? null) : undefined,
    targets: {
      p99_us: TARGETS.p99_us,
      max_us: TARGETS.max_us,
      p99_met: offsetUs.p99 === null ? null : offsetUs.p99 < TARGETS.p99_us,
      max_met: offsetUs.max === null ? null : offsetUs.max < TARGETS.max_us && beyondMaxLag === 0,
      ...(killRestart ? { rejoin_s: TARGETS.rejoin_s, rejoin_met: rejoinS === null || rejoinS === undefined ? false : rejoinS <= TARGETS.rejoin_s } : {}),
      member_rss_mb: TARGETS.member_rss_mb,
      member_cpu_pct: TARGETS.member_cpu_pct,
      rss_met: rssMax === null ? null : rssMax < TARGETS.member_rss_mb,
      cpu_met: cpuMax === null ? null : cpuMax < TARGETS.member_cpu_pct,
    },
    pairs: pairs.map((p) => ({ a: p.a, b: p.b, from_s: p.fromS, offset_us: p.stats, windows: p.rejected })),
    per_member: perInstance.map(({ schedule: _s, ...rest }) => rest),
    leader_process: leaderUse ?? null,
    params: {
      seed,
      discovery,
      late_join_s: lateJoinS,
      kill_restart: killRestart ? { member: killed?.id ?? null, at_s: killAtS, restart_delay_ms: RESTART_DELAY_MS } : null,
      long_tracks: longTracks,
      playlist: longTracks ? `${LONG_TRACK_S} s tracks generated from Music/01-metronome-morning.wav` : path.relative(REPO_DIR, playlist),
      play_delay_ms: PLAY_DELAY_MS,
      analysis: { max_lag_us: ANALYSIS_MAX_LAG_US, window_ms: 30, step_ms: 100, steady_skip_s: STEADY_SKIP_S, in_sync_us: IN_SYNC_US },
      members: params.map((p) => ({ id: p.id, host: p.host, clock_offset_us: p.clockOffsetUs, clock_rate_ppm: p.clockRatePpm, dac_ppm: p.dacPpm, latency_ms: p.latencyMs, late: p.late })),
      play: play ?? null,
      leader_anchor: anchor === undefined ? null : { anchorWallUs: anchor.anchorWallUs, anchorMonoNs: String(anchor.anchorMonoNs) },
    },
    ...record.fields(failure),
  };
  writeJson(out, report);
  const svgFile = sidecarPath(out, '.svg');
  writeFileAtomic(svgFile, plot(profile, seconds, playHostNs, pairs, perInstance, statuses));
  if (!keep) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
  log(`wrote ${out} and ${svgFile}`);
  process.stdout.write(`${JSON.stringify({ profile, members, seconds, offset_us: offsetUs, worst_pair: report['worst_pair'], schedule_offset_us: report['schedule_offset_us'], underruns: underrunsTotal, rss_mb_max: rssMax, cpu_pct: cpuMax, join_s: report['join_s'], rejoin_s: report['rejoin_s'] ?? null, failure: failure ?? null, out })}\n`);
  return failure === undefined && pairs.length > 0 ? 0 : 1;
}

/** Window counts of a series; `beyond_max_lag` = correlation peak at the search edge (offset >= max lag, or garbage). */
function windowCounts(s: OffsetSeries, steadyFromNs: number | null): Record<string, number> {
  return { measured: s.points.length, steady: steadyFromNs === null ? 0 : pointsIn(s.points, steadyFromNs).length, quiet: s.rejected.quiet, uncorrelated: s.rejected.uncorrelated, ambiguous: s.rejected.ambiguous, beyond_max_lag: s.rejected.edge };
}

function recordStatus(out: StatusSample[], s: ClusterStatus, tNs: number): void {
  for (const m of s.members) {
    if (m.audio === null) continue;
    out.push({ tNs, member: m.id, underruns: m.audio.underruns, correctionPpm: m.audio.correctionPpm, driftPpm: m.audio.driftPpm, connected: m.connected });
  }
}

function plot(profile: string, seconds: number, playHostNs: number, pairs: Array<{ a: string; b: string; points: OffsetPoint[] }>, perInstance: Array<{ label: string; schedule: OffsetPoint[] }>, statuses: StatusSample[]): string {
  const t = (ns: number): number => (ns - playHostNs) / 1e9;
  const lim = 250;
  const clip = (v: number): number => Math.max(-lim * 4, Math.min(lim * 4, v));
  const pairSeries: Series[] = pairs.map((p) => ({ name: `${p.b} - ${p.a}`, points: p.points.map((q) => [t(q.trueTimeNs), round(clip(q.offsetUs), 2) ?? 0] as const) }));
  const schedSeries: Series[] = perInstance.map((p) => ({ name: p.label, points: p.schedule.map((q) => [t(q.trueTimeNs), round(clip(q.offsetUs), 2) ?? 0] as const) }));
  const ids = [...new Set(statuses.map((s) => s.member))];
  return renderSvg({
    title: `bench:sync ${profile}: audio offsets measured from the captures (true time axis)`,
    xLabel: 'seconds since the play revision took effect',
    xRange: [0, seconds],
    panels: [
      { title: 'member vs member (µs, B later > 0)', yLabel: 'µs', yRange: [-lim, lim], hLines: [{ y: 100, label: '+100 µs' }, { y: -100, label: '-100 µs' }], series: pairSeries },
      { title: 'member vs schedule (µs, late > 0)', yLabel: 'µs', yRange: [-lim, lim], hLines: [{ y: 100, label: '+100 µs' }, { y: -100, label: '-100 µs' }], series: schedSeries },
      { title: 'drift loop correction (ppm)', yLabel: 'ppm', series: ids.map((id) => ({ name: id, points: statuses.filter((s) => s.member === id).map((s) => [t(s.tNs), s.correctionPpm] as const) })) },
    ],
  });
}

runBench(main, log);


/** A member's storage writes over its sampled life: all of them, and without its capture file
 *  (the simulated DAC's recording, which a real member does not write). MiB. */
function diskWrites(usage: ProcUsage | undefined, capture: string): Record<string, number | null> {
  const all = usage?.diskWriteMiB ?? null;
  let captureMiB: number | null = null;
  try {
    captureMiB = statSync(capture).size / 2 ** 20;
  } catch {
    // no capture file: nothing to leave out
  }
  const without = all === null ? null : Math.max(0, all - (captureMiB ?? 0));
  const perH = all === null || usage?.diskWriteMiBPerH == null || all === 0 ? null : (usage.diskWriteMiBPerH * (without ?? 0)) / all;
  return {
    disk_write_mb: all,
    capture_file_mb: captureMiB === null ? null : round(captureMiB, 1),
    disk_write_mb_without_capture: without === null ? null : round(without, 1),
    disk_write_mb_per_h_without_capture: perH === null ? (all === 0 ? 0 : null) : round(perH, 1),
  };
}
