// bench:fanout - one leader and many members (capture sinks; several member processes per simulated
// host) receive commands (play, seek, volume). Measures when each member's host saw the timeline
// message (a packet sniffer per host on the shared CLOCK_MONOTONIC), the spread of those arrivals,
// the margin left before the command takes effect, whether every member's audio starts at the
// scheduled frame (captures vs the decoded schedule), and leader/member CPU and memory.
//   npm run bench:fanout -- --members 32 [--hosts 8] [--profile lan] [--lead-ms 250] [--out FILE]
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCapture } from '@jaudiosync/member/dist/src/audio/capture-file.js';
import { measureOffset, rmsLevel } from '@jaudiosync/testkit/helpers/capture-analysis.js';
import { Cluster, hostMonoNsAtLeaderUs, MEMBER_BIN, type ClusterMember } from '@jaudiosync/testkit/helpers/cluster.js';
import { absStats, IN_SYNC_US } from './sync-analysis.js';
import { netsimSpawner, startRestProxy } from '@jaudiosync/testkit/helpers/netsim-cluster.js';
import { decodePlaylist, ScheduleReference } from './sync-reference.js';
import { ArgError, Args } from './lib/args.js';
import { HostProcess } from './lib/host-process.js';
import { loadNetsim } from './lib/netsim-loader.js';
import { ProcSampler } from './lib/proc-sampler.js';
import { defaultOutPath, hostInfo, writeJson } from './lib/report-writer.js';
import { SeededRandom } from './lib/rng.js';
import { round, roundSummary, summarize } from './lib/stats.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const SNIFFER = path.join(REPO_DIR, 'bench/fanout-sniffer.py');
const TRACK = path.join(REPO_DIR, 'Music/01-metronome-morning.wav'); // one 20 s track: little decode work x N members
const HTTP_PORT = 7700;
const NTP_PORT = 11123;
const BASE_PORT = 7701;
const MAX_OFFSET_S = 5;
const MAX_RATE_PPM = 100;
const READY_TIMEOUT_MS = 240_000; // 32 node processes starting on 2 shared cores
const STEP_S = 5; // audio after each command
const START_WINDOW_S = 2; // audio analysed after each command's atUs
const SEEK_POSITION_MS = 7000;
const VOLUME = 0.5;
const SNIFFER_READY_MS = 15_000;
const SETTLE_MAX_S = 60; // retries of a refused play before letting the leader pick the lead
const MAX_STEP_S = 60; // bound on the wait for a command with a leader-chosen (long) lead

const USAGE = `usage: npm run bench:fanout -- [--members N(2-128, 32)] [--hosts H(1-32, 8)] [--profile lan|wifi|clean (lan)]
       [--lead-ms MS (250)] [--discovery explicit|mdns (explicit)] [--seed N] [--out FILE.json] [--keep]
       [--step-s S (5): audio after each command] [--settle-s S (60): retries of a refused play]`;

interface Arrival {
  t: number;
  out: boolean;
  dst: string;
  dport: number;
  type: string;
  rev: number | null;
}

const monoNs = (): number => Number(process.hrtime.bigint());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function log(msg: string): void {
  process.stderr.write(`[bench:fanout] ${msg}\n`);
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = new Args(process.argv.slice(2), ['members', 'hosts', 'profile', 'lead-ms', 'discovery', 'seed', 'out', 'keep', 'step-s', 'settle-s', 'help']);
  } catch (err) {
    log(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.flag('help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { Netsim, PROFILES, isProfileName, netsimUnavailableReason } = await loadNetsim();
  let members: number, hosts: number, leadMs: number, seed: number, stepS: number, settleS: number;
  const profile = args.str('profile', 'lan');
  const discovery = args.str('discovery', 'explicit');
  try {
    members = args.num('members', 32, 2, 128, true);
    hosts = Math.min(members, args.num('hosts', 8, 1, 32, true));
    leadMs = args.num('lead-ms', 250, 50, 10_000, true);
    stepS = args.num('step-s', STEP_S, 1, 60);
    settleS = args.num('settle-s', SETTLE_MAX_S, 0, 600);
    seed = args.num('seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1, true);
    if (!isProfileName(profile)) throw new ArgError(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
    if (discovery !== 'mdns' && discovery !== 'explicit') throw new ArgError('--discovery must be mdns or explicit');
  } catch (err) {
    log(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const why = netsimUnavailableReason();
  if (why !== undefined) {
    log(why);
    return 2;
  }
  if (!existsSync(MEMBER_BIN)) {
    log(`member not built: ${MEMBER_BIN}`);
    return 2;
  }
  const out = path.resolve(args.optStr('out') ?? defaultOutPath(`fanout-${profile}-${members}m`, REPO_DIR));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-fanout-'));
  const playlist = path.join(dir, 'fanout.m3u8');
  writeFileSync(playlist, `#EXTM3U\n${TRACK}\n`);
  const rng = new SeededRandom(seed);
  const params: Array<ClusterMember & { id: string; host: string; port: number }> = [];
  for (let k = 1; k <= members; k++) {
    params.push({
      id: `member${k}`,
      host: `member${((k - 1) % hosts) + 1}`,
      port: BASE_PORT + Math.floor((k - 1) / hosts),
      clockOffsetUs: Math.round(rng.uniform(-MAX_OFFSET_S, MAX_OFFSET_S) * 1e6),
      clockRatePpm: Math.round(rng.uniform(-MAX_RATE_PPM, MAX_RATE_PPM) * 1000) / 1000,
      dacPpm: Math.round(rng.uniform(-MAX_RATE_PPM, MAX_RATE_PPM) * 1000) / 1000,
      latencyMs: Math.round(rng.uniform(10, 40)),
    });
  }
  const imp = PROFILES[profile];
  log(`${members} members on ${hosts} hosts (${discovery}), profile ${profile}, lead ${leadMs} ms, seed ${seed}, dir ${dir}`);
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  const sampler = new ProcSampler();
  const arrivals: Arrival[] = [];
  const commands: Array<{ name: string; issuedNs: number; repliedNs: number; rev: number | null; atUs: number | null; refused: string | null; settleS: number | null }> = [];
  let cluster: Cluster | undefined;
  let failure: string | undefined;
  let readyS: number | null = null;
  let usage: ReturnType<ProcSampler['summary']> = [];
  const net = await Netsim.up({ members: hosts });
  try {
    const hostNames = ['leader', ...Array.from({ length: hosts }, (_, i) => `member${i + 1}`)];
    if (profile !== 'clean') for (const h of hostNames.slice(1)) await net.impair(h, imp);
    for (const h of hostNames) {
      const sn = await HostProcess.start(net, h, 'python3', [SNIFFER, String(BASE_PORT), String(BASE_PORT + 63)], { label: `sniffer-${h}` });
      await sn.lines.waitFor((l) => (l.includes('"ready"') ? true : undefined), SNIFFER_READY_MS);
      sn.lines.onLine((l) => {
        try {
          arrivals.push(JSON.parse(l) as Arrival);
        } catch {
          // a partial line: ignore
        }
      });
    }
    const proxy = await startRestProxy(net, 'leader', HTTP_PORT, path.join(dir, 'leader-rest.sock'));
    const t0 = monoNs();
    cluster = await Cluster.start({
      dir,
      members: params,
      playlist,
      spawner: netsimSpawner(net),
      memberAddress: discovery === 'mdns' ? null : (m) => `${net.ip(m.host ?? m.id)}:${m.port ?? BASE_PORT}`,
      httpPort: HTTP_PORT,
      ntpPort: NTP_PORT,
      minLeadMs: leadMs,
      leaderArgs: ['--loop'],
      request: proxy.request,
    }).catch(async (err: unknown) => {
      throw err;
    });
    const c = cluster;
    sampler.add('leader', c.leaderPid());
    for (const m of params) sampler.add(m.id, c.memberPid(m.id));
    sampler.start();
    await c.waitFor((s) => s.playlist.length > 0 && s.members.filter((m) => m.connected && m.clock?.synced && (m.decoded ?? 0) >= 1).length >= members, READY_TIMEOUT_MS, 'all members synced and decoded');
    readyS = round((monoNs() - t0) / 1e9, 1);
    log(`all ${members} ready after ${readyS} s; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const run = async (name: string, method: string, urlPath: string, body: unknown): Promise<void> => {
      const firstTryNs = monoNs();
      let issuedNs = firstTryNs;
      let r = await c.api<{ rev?: number; atUs?: number; error?: string; message?: string }>(method, urlPath, body);
      let refused: string | null = null;
      // The leader's lead follows the members' RTT p90, which is huge right after 32 nodes started
      // on 2 cores; give it SETTLE_MAX_S to come down to the requested lead before giving up.
      const settleEnd = monoNs() + (name === 'play' ? settleS * 1e9 : 0);
      while (r.status === 422 && r.body?.error === 'JAS_ERR_TIME_IN_PAST' && monoNs() < settleEnd) {
        await sleep(2000);
        issuedNs = monoNs();
        r = await c.api(method, urlPath, body);
      }
      if (r.status === 422 && r.body?.error === 'JAS_ERR_TIME_IN_PAST') {
        // the leader raises the lead to 2 x member RTT p90 + margin: let it choose, and report it
        refused = r.body.message ?? 'too soon';
        log(`${name}: ${refused}; retrying with the leader's own lead`);
        const { delayMs: _d, ...rest } = body as Record<string, unknown>;
        issuedNs = monoNs();
        r = await c.api(method, urlPath, rest);
      }
      const repliedNs = monoNs();
      if (r.status !== 200) throw new Error(`${name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      commands.push({ name, issuedNs, repliedNs, rev: r.body?.rev ?? null, atUs: r.body?.atUs ?? null, refused, settleS: round((issuedNs - firstTryNs) / 1e9, 1) });
      log(`${name}: rev ${r.body?.rev} at ${r.body?.atUs}`);
      // wait until the command took effect and START_WINDOW_S of audio after it were played
      const anchorNow = c.leaderAnchor();
      const atNs = anchorNow !== undefined && r.body?.atUs !== undefined ? hostMonoNsAtLeaderUs(anchorNow, r.body.atUs) : monoNs();
      const untilNs = Math.min(Math.max(monoNs() + stepS * 1e9, atNs + (START_WINDOW_S + 1) * 1e9), monoNs() + MAX_STEP_S * 1e9);
      await sleep(Math.max(0, (untilNs - monoNs()) / 1e6));
    };
    await run('play', 'POST', '/api/play', { delayMs: leadMs });
    await run('seek', 'POST', '/api/seek', { positionMs: SEEK_POSITION_MS, delayMs: leadMs });
    await run('volume', 'POST', '/api/volume', { volume: VOLUME, delayMs: leadMs });
    sampler.stop();
    usage = sampler.summary();
    await c.stop();
    await proxy.stop();
  } catch (err) {
    failure = (err as Error).message;
    log(`FAILED: ${failure}`);
    sampler.stop();
    usage = sampler.summary();
    await cluster?.stop().catch(() => undefined);
  } finally {
    await Promise.race([net.down(), sleep(20_000)]);
  }

  // ---- analysis ----
  log('analysing');
  const anchor = cluster?.leaderAnchor();
  const revisions = cluster?.leaderRevisions() ?? [];
  const memberOf = new Map(params.map((m) => [`${hostIpOf(m.host)}:${m.port}`, m.id]));
  function hostIpOf(h: string): string {
    return h === 'leader' ? '10.99.0.1' : `10.99.0.${Number(h.slice(6)) + 1}`;
  }
  const decoded = anchor === undefined ? undefined : await decodePlaylist(playlist);
  const caps = new Map(params.filter((m) => cluster && existsSync(cluster.capturePath(m.id))).map((m) => [m.id, readCapture(cluster!.capturePath(m.id))]));
  const perCommand = commands.map((cmd) => {
    const msgs = arrivals.filter((a) => a.type === 'timeline' && a.rev === cmd.rev && a.t >= cmd.issuedNs - 1e6);
    const firstBy = (outgoing: boolean): Map<string, number> => {
      const m = new Map<string, number>();
      for (const a of msgs) {
        if (a.out !== outgoing) continue;
        const id = memberOf.get(`${a.dst}:${a.dport}`);
        if (id !== undefined && !m.has(id)) m.set(id, a.t);
      }
      return m;
    };
    const sent = firstBy(true); // on the leader host's eth0 (leader sniffer sees its own egress)
    const recv = firstBy(false); // on each member host's eth0
    const recvTimes = [...recv.values()];
    const atNs = anchor !== undefined && cmd.atUs !== null ? hostMonoNsAtLeaderUs(anchor, cmd.atUs) : NaN;
    const rel = (ns: number): number | null => round((ns - cmd.issuedNs) / 1e6, 2);
    const lastRecv = recvTimes.length === 0 ? NaN : Math.max(...recvTimes);
    const firstRecv = recvTimes.length === 0 ? NaN : Math.min(...recvTimes);
    const sentTimes = [...sent.values()];
    // audio: does every member start at the scheduled frame?
    let audio: Record<string, unknown> = {};
    const rev = revisions.find((r) => r.rev === cmd.rev);
    if (decoded !== undefined && anchor !== undefined && rev !== undefined && (cmd.name === 'play' || cmd.name === 'seek')) {
      const ref = new ScheduleReference(decoded, anchor, rev, true, START_WINDOW_S + 5);
      const firstOffsets: Array<{ id: string; firstUs: number | null; medianUs: number | null; n: number }> = [];
      for (const m of params) {
        const cap = caps.get(m.id);
        if (cap === undefined) continue;
        const r = measureOffset(ref, cap, { fromNs: atNs + 10e6, toNs: atNs + START_WINDOW_S * 1e9 });
        const sorted = r.points.map((p) => p.offsetUs).sort((a, b) => a - b);
        firstOffsets.push({ id: m.id, firstUs: round(r.points[0]?.offsetUs ?? NaN, 1), medianUs: round(sorted[Math.floor(sorted.length / 2)] ?? NaN, 1), n: r.points.length });
      }
      const firstAbs = firstOffsets.map((f) => f.firstUs).filter((v): v is number => v !== null);
      audio = {
        members_measured: firstOffsets.length,
        first_window_offset_us: absStats(firstAbs),
        all_within_100us: firstOffsets.length === members && firstOffsets.every((f) => f.firstUs !== null && Math.abs(f.firstUs) < IN_SYNC_US),
        out_of_sync: firstOffsets.filter((f) => f.firstUs === null || Math.abs(f.firstUs) >= IN_SYNC_US),
      };
    }
    if (cmd.name === 'volume' && Number.isFinite(atNs)) {
      // level after / before the ramp, relative to the schedule's own change (metronome: not constant)
      const ratios: number[] = [];
      for (const m of params) {
        const cap = caps.get(m.id);
        if (cap === undefined) continue;
        const before = rmsLevel(cap, atNs - 2.0e9, atNs - 0.05e9);
        const after = rmsLevel(cap, atNs + 0.05e9, atNs + 2.0e9);
        if (before > 0) ratios.push(after / before);
      }
      audio = { members_measured: ratios.length, level_ratio_after_before: roundSummary(summarize(ratios), 3), note: `volume ${VOLUME}: ratio ~${VOLUME} if applied (material differs before/after)` };
    }
    return {
      command: cmd.name,
      rev: cmd.rev,
      lead_requested_ms: leadMs,
      lead_refused: cmd.refused,
      /** seconds of retrying before the leader accepted the requested lead (play only) */
      settle_s: cmd.settleS,
      /** atUs - time the command was issued (host monotonic) */
      lead_used_ms: Number.isFinite(atNs) ? rel(atNs) : null,
      rest_reply_ms: rel(cmd.repliedNs),
      members_reached: recv.size,
      first_send_ms: sentTimes.length === 0 ? null : rel(Math.min(...sentTimes)),
      last_send_ms: sentTimes.length === 0 ? null : rel(Math.max(...sentTimes)),
      first_arrival_ms: Number.isFinite(firstRecv) ? rel(firstRecv) : null,
      last_arrival_ms: Number.isFinite(lastRecv) ? rel(lastRecv) : null,
      arrival_spread_ms: Number.isFinite(lastRecv) ? round((lastRecv - firstRecv) / 1e6, 3) : null,
      send_spread_ms: sentTimes.length === 0 ? null : round((Math.max(...sentTimes) - Math.min(...sentTimes)) / 1e6, 3),
      margin_before_at_ms: Number.isFinite(lastRecv) && Number.isFinite(atNs) ? round((atNs - lastRecv) / 1e6, 2) : null,
      arrivals_ms: Object.fromEntries([...recv.entries()].map(([id, t]) => [id, rel(t)])),
      audio,
    };
  });
  const leaderUse = usage.find((u) => u.label === 'leader') ?? null;
  const memberUse = usage.filter((u) => u.label !== 'leader');
  const sum = (vs: Array<number | null>): number => vs.reduce<number>((a, v) => a + (v ?? 0), 0);
  const startCmds = perCommand.filter((p) => p.command === 'play' || p.command === 'seek');
  const allInSync = startCmds.length > 0 && startCmds.every((p) => (p.audio as { all_within_100us?: boolean }).all_within_100us === true);
  const report = {
    bench: 'fanout',
    profile,
    impairment: imp,
    members,
    hosts,
    lead_ms: leadMs,
    ready_s: readyS,
    arrival_spread_ms_max: Math.max(...perCommand.map((p) => p.arrival_spread_ms ?? NaN)),
    min_margin_ms: Math.min(...perCommand.map((p) => p.margin_before_at_ms ?? NaN)),
    all_in_sync_at_scheduled_frame: allInSync,
    commands: perCommand,
    leader: leaderUse,
    members_cpu_pct_sum: round(sum(memberUse.map((u) => u.cpuPctAvg)), 1),
    member_cpu_pct: roundSummary(summarize(memberUse.map((u) => u.cpuPctAvg ?? NaN)), 1),
    member_rss_mb: roundSummary(summarize(memberUse.map((u) => u.rssMiBMax ?? NaN)), 1),
    targets: { lead_ms: 250, all_in_sync_met: allInSync },
    params: { seed, discovery, track: path.relative(REPO_DIR, TRACK), seek_position_ms: SEEK_POSITION_MS, volume: VOLUME, members: params.map((m) => ({ id: m.id, host: m.host, port: m.port, clock_offset_us: m.clockOffsetUs, clock_rate_ppm: m.clockRatePpm, dac_ppm: m.dacPpm, latency_ms: m.latencyMs })) },
    notes: 'arrival = first TCP segment of the timeline message seen on the member host eth0 (python AF_PACKET sniffer, CLOCK_MONOTONIC at read); send = the same on the leader host; times in ms after the REST command was issued',
    host: { ...hostInfo(REPO_DIR), loadavg_before: loadBefore.map((l) => Math.round(l * 100) / 100) },
    date: startedAt,
    failure: failure ?? null,
    command: `npm run bench:fanout -- ${process.argv.slice(2).join(' ')}`.trim(),
  };
  writeJson(out, report);
  if (!args.flag('keep')) rmSync(dir, { recursive: true, force: true });
  log(`wrote ${out}`);
  process.stdout.write(`${JSON.stringify({ members, hosts, profile, ready_s: readyS, arrival_spread_ms_max: report.arrival_spread_ms_max, min_margin_ms: report.min_margin_ms, all_in_sync_at_scheduled_frame: allInSync, leader: leaderUse, members_cpu_pct_sum: report.members_cpu_pct_sum, failure: failure ?? null, out })}\n`);
  return failure === undefined ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
