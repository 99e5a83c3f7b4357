// bench:realpath - how far apart two real members are AS A LISTENER HEARS THEM through a real audio
// server, from one recording. A private PulseAudio or PipeWire (bench/lib/audio-server.ts) has one
// stereo null sink `jas`; member1 plays into the mono remap sink on its LEFT channel, member2 into
// the one on its RIGHT channel (PortAudio -> ALSA `pulse` -> server), and parec records the sink's
// monitor once. Both channels share one clock and one recording, so the L/R offset needs no time
// map: it is read per window by a sub-sample cross-correlation (bench/realpath-analysis.ts).
// Sign convention: offset_us > 0 means the RIGHT channel (member2) is heard LATER than the left
// (member1).
//   npm run bench:realpath -- --seconds 600 --server pulse|pipewire [--fake-clocks [all|leader]] [--load]
//       [--latency-ms A,B] [--settle-s 20] [--out FILE.json] [--seed N] [--keep] [--control]
//       [--fault server-restart|sink-unload|suspend|stress|rate-44100 [--fault-at-s 20] [--fault-down-s 2]]
// --fault server-restart SIGKILLs the audio server at --fault-at-s of music and starts it again
// --fault-down-s later; --fault suspend suspends the sink for that long (`pactl suspend-sink`). The
// figures above then cover the music before the fault, and `fault` (bench/realpath-fault.ts) the
// recovery, from a second recording made after the return. --fault rate-44100 gives member1 a
// device that cannot do the timeline's 48 kHz (on PipeWire's plugin one that only opens at 44.1 kHz,
// elsewhere --device-rate 44100): the member resamples to it, and the usual figures say how in sync.
// --control checks the harness instead of the members: (a) one stereo stream into `jas` directly
// (must read exactly 0), (b) one stream split into both remap sinks by module-combine-sink (must
// read ~0 after its first 2 s).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAvailable as portAudioAvailable, getLoadError as portAudioLoadError, hasPulseApi } from '@jaudiosync/portaudio';
import { Cluster, LEADER_BIN, MEMBER_BIN, type ClusterMember, type LeaderAnchor, type Spawner } from '@jaudiosync/testkit/helpers/cluster.js';
import {
  absSummary, ArrivalTimeMap, dropouts, firstSoundFrame, frameCount, IN_SYNC_US, lineAt, lrOffsetSeries, scheduleErrors, scheduleStats, summarizeOffsets, windowCounts,
  type DropoutReport, type ScheduleStats, type StereoRecording, type WindowResult,
} from './realpath-analysis.js';
import { makeTestTrack, writeTestTrack, type TestTrack } from './realpath-signal.js';
import { analyseFault, analyseStress, FAULTS, isFault, isTimedFault, ODD_DEVICE_RATE, STRESS_DEFAULT_S, type AnyFault, type FaultTimes, type MemberFaultView } from './realpath-fault.js';
import { audioServerMissing, LEFT_SINK, RIGHT_SINK, SINK, startAudioServer, type AudioServer, type AudioServerKind, type Recorder, type RecordingInfo } from './lib/audio-server.js';
import { ArgError, Args } from './lib/args.js';
import { pipewireAlsa, rateLimitedPipewirePcm } from '@jaudiosync/testkit/helpers/pipewire-alsa.js';
import { defaultOutPath, hostInfo, sidecarPath, writeFileAtomic, writeJson } from './lib/report-writer.js';
import { round } from './lib/stats.js';
import { renderSvg, type Series } from './lib/svg-plot.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url)); // bench/dist/realpath.js -> repo
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
/** --fake-clocks: wall offset (s) and rate of each daemon's clocks (libfaketime `x` syntax; monotonic
 *  clocks are faked too, which is what the member times everything with). Rates within +-100 ppm. */
const FAKE_CLOCKS: Record<string, { offsetS: number; rate: number }> = {
  leader: { offsetS: 1.3, rate: 1.00004 },
  member1: { offsetS: -2.7, rate: 0.99995 },
  member2: { offsetS: 40, rate: 1.00007 },
};
const MEMBERS = [
  { id: 'member1', sink: LEFT_SINK, channel: 'left' },
  { id: 'member2', sink: RIGHT_SINK, channel: 'right' },
] as const;
/** Members (and the leader) run at the priority systemd/jaudiosync-member.service gives them. */
const DAEMON_NICE = -10;
const PLAY_DELAY_MS = 2000;
const READY_TIMEOUT_MS = 90_000;
const STATUS_EVERY_MS = 1000;
const PROGRESS_EVERY_S = 10;
/** Recording tail cut before the analysis (parec's last partial chunk). */
const END_GUARD_S = 0.1;
/** The member fades in over 6 ms at the play: the dropout search starts after that. */
const FADE_IN_GUARD_MS = 10;
const FINE_WINDOW_S = 0.1;
/** Control (b): module-combine-sink settles its two slaves in its first ~2 s. */
const COMBINE_SETTLE_S = 2;
/** Control (c): two pacat streams start a few ms to a few 100 ms apart; search that far. */
const CONTROL_C_MAX_LAG_MS = 500;
/** Bounds on how much of a log goes into the report. */
const MAX_WARNINGS_PER_MEMBER = 100;
const CLEANUP_TIMEOUT_MS = 20_000;
/** reported_vs_measured: a member's syncErrorUs is from its last state report (every 1 s), so it is
 *  compared with the mean measured offset over the second before the poll. */
const REPORT_WINDOW_S = 1;
/** Members' `audio.syncErrorUs` is + = ahead of the timeline (protocol 1.3), so member1 - member2
 *  = (S - H1) - (S - H2) = H2 - H1: the same sign as offset_us (right later > 0). The report also
 *  carries the residual with the other sign, so a future change of convention shows at once. */
const SYNC_ERROR_SIGN = 1;

const USAGE = `usage: npm run bench:realpath -- [--seconds S (10-1800, 600; --control: 30)] [--server pulse|pipewire (pulse)]
       [--device auto|pulse|pipewire|native (auto)] [--fake-clocks [all|leader]] [--load] [--latency-ms A,B] [--settle-s S (5-600, 20)] [--out FILE.json] [--seed N] [--keep] [--control]
       [--fault server-restart|sink-unload|suspend|stress|rate-44100 [--fault-at-s S (20)] [--fault-down-s S (2)]]`;

interface Params {
  server: AudioServerKind;
  seconds: number;
  fakeClocks: boolean;
  /** with fakeClocks: the members too (`all`), or the leader alone (`leader`: members and their audio server share the host's real clock, as on a Pi) */
  fakeMembers: boolean;
  load: boolean;
  latencyMs: [number, number] | null;
  /**
   * the members' output: the ALSA `pulse` device (the pulse plugin) or `pipewire` (PipeWire's own
   * plugin) through PortAudio, or `native`: libpulse itself (`--audio-api pulse`, raw server timing)
   */
  device: 'auto' | 'pulse' | 'pipewire' | 'native';
  settleS: number;
  seed: number;
  keep: boolean;
  control: boolean;
  out: string;
  /** --fault: what happens to the audio path at `faultAtS` of music (realpath-fault.ts) */
  fault: AnyFault | null;
  faultAtS: number;
  faultDownS: number;
}

interface StatusSample {
  /** host CLOCK_MONOTONIC ns before the request and after the reply */
  sendNs: number;
  recvNs: number;
  /** host wall ms at the reply */
  wallMs: number;
  leaderNowUs: number | null;
  members: Record<string, { audio: Record<string, unknown> | null; clock: Record<string, unknown> | null; connected: boolean }>;
}

const monoNs = (): number => Number(process.hrtime.bigint());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function log(msg: string): void {
  process.stderr.write(`[bench:realpath] ${msg}\n`);
}

// ---- cleanup on every path ----
const cleanups: Array<() => Promise<void>> = [];
async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    await fn().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
  }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping everything`);
    void Promise.race([runCleanups(), sleep(CLEANUP_TIMEOUT_MS)]).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

function parseParams(argv: string[]): Params | 'help' {
  const args = new Args(argv, ['seconds', 'server', 'device', 'fake-clocks', 'load', 'latency-ms', 'settle-s', 'out', 'seed', 'keep', 'control', 'fault', 'fault-at-s', 'fault-down-s', 'help']);
  if (args.flag('help')) return 'help';
  const server = args.str('server', 'pulse');
  if (server !== 'pulse' && server !== 'pipewire') throw new ArgError('--server must be pulse or pipewire');
  const control = args.flag('control');
  const device = args.str('device', 'auto');
  if (device !== 'auto' && device !== 'pulse' && device !== 'pipewire' && device !== 'native') throw new ArgError('--device must be auto, pulse, pipewire or native');
  if (device === 'pipewire' && server !== 'pipewire') throw new ArgError('--device pipewire needs --server pipewire');
  const seconds = args.num('seconds', control ? 30 : 600, 10, 1800);
  const settleS = args.num('settle-s', 20, 5, 600);
  const seed = args.num('seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1, true);
  let latencyMs: [number, number] | null = null;
  const lat = args.optStr('latency-ms');
  if (lat !== undefined) {
    const parts = lat.split(',').map((x) => Number(x.trim()));
    if (parts.length !== 2 || parts.some((x) => !Number.isInteger(x) || x < 5 || x > 1000)) throw new ArgError('--latency-ms must be A,B: two integers in 5..1000 (member1, member2)');
    latencyMs = [parts[0]!, parts[1]!];
  }
  const fakeArg = args.optStr('fake-clocks');
  if (fakeArg !== undefined && !['true', 'all', 'leader', 'false'].includes(fakeArg)) throw new ArgError('--fake-clocks takes no value, all, or leader');
  const fakeClocks = fakeArg !== undefined && fakeArg !== 'false';
  const fakeMembers = fakeClocks && fakeArg !== 'leader';
  const load = args.flag('load');
  if (control && (fakeClocks || load || latencyMs)) throw new ArgError('--control runs no members: --fake-clocks, --load and --latency-ms do not apply');
  const faultArg = args.optStr('fault');
  if (faultArg !== undefined && !isFault(faultArg)) throw new ArgError(`--fault must be one of ${FAULTS.join(', ')}`);
  const fault = faultArg ?? null;
  if (control && fault) throw new ArgError('--control runs no members: --fault does not apply');
  const faultAtS = args.num('fault-at-s', 20, 5, 1700);
  const faultDownS = args.num('fault-down-s', fault === 'stress' ? STRESS_DEFAULT_S : 2, 0, 60);
  if (fault === 'stress' && faultAtS + faultDownS > seconds - 10) throw new ArgError('--fault-at-s + --fault-down-s must leave at least 10 s of music after the stress');
  if (fault === 'stress' && load) throw new ArgError('--fault stress is load for a while: not with --load');
  if (fault && isTimedFault(fault) && faultAtS > seconds - 10) throw new ArgError('--fault-at-s must leave at least 10 s of music after the fault');
  const name = control ? `realpath-control-${server}` : `realpath-${server}${fakeClocks ? '-fake' : ''}${load ? '-load' : ''}${fault ? `-${fault}` : ''}`;
  const out = path.resolve(args.optStr('out') ?? defaultOutPath(name, REPO_DIR));
  return { server, seconds, fakeClocks, fakeMembers, load, latencyMs, device, settleS, seed, keep: args.flag('keep'), control, out, fault, faultAtS, faultDownS };
}

/** Why this run cannot happen here (missing tools, addon, build), or undefined. */
function unavailable(p: Params): string | undefined {
  const missing = audioServerMissing(p.server);
  if (missing) return missing;
  if (p.control) return undefined;
  if (!existsSync(LEADER_BIN) || !existsSync(MEMBER_BIN)) return `daemons not built (${LEADER_BIN}, ${MEMBER_BIN}): run npx tsc -b`;
  if (!portAudioAvailable()) return `PortAudio addon not available: ${portAudioLoadError()?.message ?? 'unknown reason'}`;
  if (p.fakeClocks && !existsSync(FAKETIME_LIB)) return `libfaketime not installed (${FAKETIME_LIB}; apt-get install faketime)`;
  if (p.load && !toolInstalled('stress-ng')) return 'stress-ng not installed (apt-get install stress-ng)';
  return undefined;
}

function toolInstalled(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

function loadRecording(info: RecordingInfo): StereoRecording {
  const buf = readFileSync(info.file);
  const len = Math.floor(buf.length / 4) * 2;
  // a view when aligned (large files are), a copy otherwise
  const samples = buf.byteOffset % 2 === 0 ? new Int16Array(buf.buffer, buf.byteOffset, len) : new Int16Array(new Uint8Array(buf).buffer, 0, len);
  return { samples, rate: info.rate };
}

/** Stats over windows in a report-friendly, rounded shape. */
function offsetFigures(ws: readonly WindowResult[]): { p50: number | null; p99: number | null; max: number | null; n: number } {
  const s = absSummary(ws.filter((w) => w.offsetUs !== null).map((w) => w.offsetUs!));
  return { p50: round(s.p50 ?? NaN, 2), p99: round(s.p99 ?? NaN, 2), max: round(s.max ?? NaN, 2), n: s.n };
}

function roundSchedule(s: ScheduleStats): Record<string, number | null> {
  return { n: s.n, median_us: round(s.median_us ?? NaN, 1), p50_us: round(s.p50_us ?? NaN, 1), p99_us: round(s.p99_us ?? NaN, 1), max_us: round(s.max_us ?? NaN, 1) };
}

function dropoutJson(d: DropoutReport): Record<string, unknown> {
  return { both: d.both, left: d.left, right: d.right, list: d.list.map((x) => ({ kind: x.kind, t_s: round(x.tS, 3), ms: round(x.ms, 2) })) };
}

async function main(): Promise<number> {
  let p: Params | 'help';
  try {
    p = parseParams(process.argv.slice(2));
  } catch (err) {
    log(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (p === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const why = unavailable(p);
  if (why !== undefined) {
    log(`cannot run: ${why}`);
    return 2;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-realpath-'));
  const keep = p.keep;
  cleanups.push(async () => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  });
  try {
    return p.control ? await runControl(p, dir) : await runBench(p, dir);
  } finally {
    await runCleanups();
    if (keep) log(`kept ${dir}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark

async function runBench(p: Params, dir: string): Promise<number> {
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  log(`server ${p.server}, ${p.seconds} s of music, seed ${p.seed}${p.fakeClocks ? ', fake clocks' : ''}${p.load ? ', stress-ng --cpu 2' : ''}${p.latencyMs ? `, output latency ${p.latencyMs.join('/')} ms` : ''}, dir ${dir}`);
  const track = makeTestTrack({ seed: p.seed });
  const { playlist } = writeTestTrack(dir, track);

  let failure: string | undefined;
  let server: AudioServer | undefined;
  let recorder: Recorder | undefined;
  let recording: RecordingInfo | undefined;
  let cluster: Cluster | undefined;
  let stress: ChildProcess | undefined;
  let play: { rev: number; atUs: number } | undefined;
  let anchor: LeaderAnchor | undefined;
  let musicStartNsEst = NaN;
  const statuses: StatusSample[] = [];
  const spawnWallMs = new Map<string, number>();
  let membersStartNs = NaN;
  let deviceUsed = 'pulse';
  let faultTimes: FaultTimes | undefined;
  let stressWindow: { fromS: number; toS: number; underrunsAtStart: Record<string, number | null> } | undefined;
  let recorderAfter: Recorder | undefined;
  let recordingAfter: RecordingInfo | undefined;
  let pollStop = false;
  let poller: Promise<void> | undefined;
  const portBase = 24_000 + (process.pid % 1000) * 8; // below the ephemeral range, apart from Cluster's defaults

  try {
    server = await startAudioServer({ kind: p.server, name: 'realpath', logDir: dir });
    const srv = server;
    cleanups.push(() => srv.stop());
    log(`${p.server} up, routing probe ${JSON.stringify(srv.routing)}`);
    recorder = srv.record(path.join(dir, 'recording.raw'));
    const rec = recorder;
    cleanups.push(async () => {
      await rec.stop();
    });

    // On PipeWire the members use PipeWire's own ALSA plugin when it is there (docs/audio-output.md,
    // "What the servers report"): pipewire-pulse's timing reports drift by milliseconds.
    // Not under --fake-clocks (auto): PipeWire's plugin computes the delay from the graph's
    // CLOCK_MONOTONIC time and its own clock_gettime, which libfaketime shifts and scales in the
    // member only; the result is garbage (a DAC latency of 64 000 s measured). On a real host the
    // server and the member share one monotonic clock.
    // On PulseAudio the members play through libpulse itself (the server's raw timing) unless the
    // ALSA pulse device is asked for; on PipeWire through PipeWire's own ALSA device (auto, below).
    const native = p.device === 'native' || (p.device === 'auto' && p.server === 'pulse' && hasPulseApi());
    const pw = p.server === 'pipewire' && p.device !== 'pulse' && !native && !(p.fakeMembers && p.device === 'auto') ? pipewireAlsa(dir) : undefined;
    if (pw !== undefined && 'missing' in pw && p.device === 'pipewire') throw new Error(pw.missing);
    const alsaDevice = native ? 'native' : pw !== undefined && !('missing' in pw) ? 'pipewire' : 'pulse';
    const alsaEnv: Record<string, string> = pw !== undefined && !('missing' in pw) ? pw.env : {};
    deviceUsed = alsaDevice;
    // --fault rate-44100: member1's device cannot do 48 kHz. On PipeWire's plugin a PCM that only
    // opens at 44.1 kHz (the member must find that out and resample); elsewhere the rate is forced
    // (--device-rate), which runs the same resampling without the refusal.
    const oddDevice = p.fault === 'rate-44100'
      ? pw !== undefined && !('missing' in pw)
        ? { ...rateLimitedPipewirePcm(dir, pw, ODD_DEVICE_RATE), forceRate: false }
        : { env: {}, device: alsaDevice, forceRate: true }
      : undefined;
    if (oddDevice) log(`fault rate-44100: member1 plays through ${oddDevice.forceRate ? `${alsaDevice} forced to ${ODD_DEVICE_RATE} Hz` : `${oddDevice.device}, a PCM that only opens at ${ODD_DEVICE_RATE} Hz`}`);
    log(native ? 'members play through libpulse (--audio-api pulse)' : `members play through the ALSA ${alsaDevice} device${pw !== undefined && 'missing' in pw ? ` (${pw.missing})` : ''}`);
    const spawner: Spawner = (host, cmd, args, env) => {
      const m = MEMBERS.find((x) => x.id === host);
      const memberEnv: NodeJS.ProcessEnv = m ? { PULSE_SINK: m.sink, PIPEWIRE_NODE: m.sink, ...alsaEnv, ...(m === MEMBERS[0] ? oddDevice?.env : undefined), JAS_DAC_TIMING_LOG: path.join(dir, `${m.id}.dac.ndjson`) } : {};
      // libfaketime reaches the daemon alone (through `env` after `nice`), not the wrappers.
      const fake = p.fakeClocks && (host === 'leader' || p.fakeMembers) ? FAKE_CLOCKS[host] : undefined;
      const fakeArgs = fake ? ['env', `LD_PRELOAD=${FAKETIME_LIB}`, `FAKETIME=${fake.offsetS >= 0 ? '+' : ''}${fake.offsetS} x${fake.rate}`] : [];
      spawnWallMs.set(host, Date.now());
      return spawn('nice', ['-n', String(DAEMON_NICE), ...fakeArgs, cmd, ...args], { env: { ...env, ...srv.clientEnv, ...memberEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    };
    const members: ClusterMember[] = MEMBERS.map((m, i) => ({
      id: m.id,
      port: portBase + 2 + i,
      extraArgs: ['--sink', 'portaudio', ...(native ? ['--audio-api', 'pulse'] : ['--device', i === 0 && oddDevice ? oddDevice.device : alsaDevice]), ...(i === 0 && oddDevice?.forceRate ? ['--device-rate', String(ODD_DEVICE_RATE)] : []), ...(p.latencyMs ? ['--output-latency-ms', String(p.latencyMs[i])] : [])],
    }));
    membersStartNs = monoNs();
    cluster = await Cluster.start({
      dir, playlist, spawner, members,
      httpPort: portBase, ntpPort: portBase + 1,
      memberAddress: (_m, i) => `127.0.0.1:${portBase + 2 + i}`,
      leaderArgs: ['--loop'],
    });
    const c = cluster;
    cleanups.push(() => c.stop());
    poller = (async () => {
      // one poll per second until told to stop; bounded by the run's length
      const deadline = Date.now() + (p.settleS + p.seconds + 300) * 1000;
      while (!pollStop && Date.now() < deadline) {
        const sendNs = monoNs();
        const s = await c.api<Record<string, unknown>>('GET', '/api/status').catch(() => null);
        const recvNs = monoNs();
        if (s && s.status === 200) statuses.push(toSample(s.body, sendNs, recvNs));
        await sleep(Math.max(0, STATUS_EVERY_MS - (monoNs() - sendNs) / 1e6));
      }
    })();
    await c.waitFor(
      (s) => s.playlist.length === 1 && s.members.length === 2 && s.members.every((m) => m.connected && m.clock?.synced === true && (m.audio as { sink?: string } | null)?.sink === 'portaudio' && (m.decoded ?? 0) >= 1),
      READY_TIMEOUT_MS,
      'both members synced, on their PortAudio sink, track decoded',
    );
    const readyS = (monoNs() - membersStartNs) / 1e9;
    log(`members ready ${readyS.toFixed(1)} s after start; settling until ${p.settleS} s`);
    await sleep(Math.max(0, membersStartNs / 1e6 + p.settleS * 1000 - monoNs() / 1e6));
    const reply = await c.api<{ rev: number; atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0, delayMs: PLAY_DELAY_MS });
    if (reply.status !== 200) throw new Error(`play refused: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
    play = reply.body;
    if (p.load) {
      stress = startStress(p.seconds);
      const st = stress;
      cleanups.push(() => stopStress(st));
    }
    anchor = c.leaderAnchor();
    // When the music starts on the host clock, for the run's length only (the analysis maps exactly):
    // from the anchor, or under fake clocks from the leader's own clock reading in the last poll.
    const lastPoll = statuses[statuses.length - 1];
    if (!p.fakeClocks && anchor) musicStartNsEst = Number(anchor.anchorMonoNs) + (play.atUs - anchor.anchorWallUs) * 1000;
    else if (lastPoll?.leaderNowUs != null) musicStartNsEst = (lastPoll.sendNs + lastPoll.recvNs) / 2 + (play.atUs - lastPoll.leaderNowUs) * 1000;
    else musicStartNsEst = monoNs() + PLAY_DELAY_MS * 1e6;
    log(`play at leader ${play.atUs} (rev ${play.rev}), music in ${((musicStartNsEst - monoNs()) / 1e9).toFixed(2)} s`);
    const endNs = musicStartNsEst + p.seconds * 1e9;
    let nextProgress = PROGRESS_EVERY_S;
    while (monoNs() < endNs) {
      if (p.fault === 'stress' && stressWindow === undefined && monoNs() >= musicStartNsEst + p.faultAtS * 1e9) {
        // Two busy processes at nice 0 on the 2 cores, beside the members (nice DAEMON_NICE).
        stressWindow = { fromS: (monoNs() - musicStartNsEst) / 1e9, toS: Number.NaN, underrunsAtStart: underrunsOf(statuses[statuses.length - 1]) };
        stress = startStress(p.faultDownS);
        const st = stress;
        cleanups.push(() => stopStress(st));
        log(`fault: stress-ng on both cores for ${p.faultDownS} s`);
      }
      if (p.fault === 'stress' && stress && stressWindow && Number.isNaN(stressWindow.toS) && monoNs() >= musicStartNsEst + (p.faultAtS + p.faultDownS) * 1e9) {
        await stopStress(stress);
        stressWindow.toS = (monoNs() - musicStartNsEst) / 1e9;
        log(`fault: stress over after ${(stressWindow.toS - stressWindow.fromS).toFixed(1)} s`);
      }
      if (p.fault !== null && isTimedFault(p.fault) && faultTimes === undefined && monoNs() >= musicStartNsEst + p.faultAtS * 1e9) {
        // The recording before the fault ends cleanly; the server's death would end it anyway.
        recording = await rec.stop();
        const killedWallMs = Date.now();
        let t: { killedNs: bigint; upNs: bigint };
        if (p.fault === 'server-restart') {
          log(`fault: killing ${p.server} (SIGKILL), back in ${p.faultDownS} s`);
          t = await srv.restart(p.faultDownS * 1000);
        } else if (p.fault === 'sink-unload') {
          log(`fault: unloading every sink of ${p.server}, back in ${p.faultDownS} s`);
          t = await srv.unloadSinks(p.faultDownS * 1000);
        } else {
          // The sink stops consuming: every stream on it is held (PulseAudio corks them).
          log(`fault: suspending the sink ${SINK} for ${p.faultDownS} s`);
          const killedNs = process.hrtime.bigint();
          await srv.pactl(['suspend-sink', SINK, '1']);
          await sleep(p.faultDownS * 1000);
          await srv.pactl(['suspend-sink', SINK, '0']);
          t = { killedNs, upNs: process.hrtime.bigint() };
        }
        recorderAfter = srv.record(path.join(dir, 'recording-after.raw'));
        const ra = recorderAfter;
        cleanups.push(async () => {
          await ra.stop();
        });
        // The return counts from when the sink's clock runs as a sound card's would (see
        // restartSinkClock: a fresh null sink's first 2 s block is an artefact of the test sink).
        let upNs = Number(t.upNs);
        if (p.fault !== 'suspend') {
          await srv.restartSinkClock();
          upNs = Number(process.hrtime.bigint());
          log(`fault: ${SINK} clock restarted ${((upNs - Number(t.upNs)) / 1e6).toFixed(0)} ms after the sinks were back`);
        }
        faultTimes = { killedNs: Number(t.killedNs), upNs, killedWallMs, downMs: p.faultDownS * 1000 };
        log(`fault: ${p.server} back after ${((faultTimes.upNs - faultTimes.killedNs) / 1e6).toFixed(0)} ms`);
        continue;
      }
      await sleep(Math.min(p.fault === 'stress' ? 100 : 500, Math.max(1, (endNs - monoNs()) / 1e6)));
      const tS = (monoNs() - musicStartNsEst) / 1e9;
      if (tS >= nextProgress) {
        nextProgress += PROGRESS_EVERY_S;
        const last = statuses[statuses.length - 1];
        log(`t=${tS.toFixed(0)} s: ${MEMBERS.map((m) => {
          const a = last?.members[m.id]?.audio;
          return `${m.id} corr ${String(a?.['correctionPpm'] ?? '?')} ppm, drift ${String(a?.['driftPpm'] ?? '?')} ppm, resyncs ${String(a?.['dacResyncs'] ?? '?')}`;
        }).join('; ')}`);
      }
    }
    // Stop the recording first: it then ends inside the music (no member stop in it).
    recording = await rec.stop();
    if (recorderAfter) recordingAfter = await recorderAfter.stop();
    if (p.keep) writeArrivals(path.join(dir, 'recording.arrivals.json'), recording);
  } catch (err) {
    failure = (err as Error).message;
    log(`FAILED: ${failure}`);
    if (recorder) recording = await recorder.stop().catch(() => undefined);
  } finally {
    pollStop = true;
    if (stress) await stopStress(stress);
    await Promise.race([poller, sleep(12_000)]);
  }
  // Logs are read before the cluster stops (a stopping member logs its own shutdown warnings).
  const warnings = memberWarnings(cluster);
  const lastStatus = statuses[statuses.length - 1];
  const faultMembers = MEMBERS.map((m) => ({
    id: m.id,
    logLines: cluster?.readLog(m.id) ?? [],
    output: (lastStatus?.members[m.id]?.audio?.['output'] as MemberFaultView['output'] | undefined) ?? null,
  }));
  const warmupS = Number.isFinite(membersStartNs) ? round((musicStartNsEst - membersStartNs) / 1e9, 1) : null;
  await cluster?.stop().catch(() => undefined);
  await server?.stop().catch(() => undefined);

  // ---- analysis ----
  log('analysing the recording');
  const analysis = failure === undefined && recording && play
    ? analyse(p, track, recording, play, anchor, statuses)
    : null;
  if (analysis && 'error' in analysis) failure = analysis.error;
  const a = analysis && !('error' in analysis) ? analysis : null;
  const faultReport = p.fault && isTimedFault(p.fault) && faultTimes && recordingAfter ? analyseFault(p.fault, loadRecording(recordingAfter), recordingAfter.arrivals, faultTimes, faultMembers) : null;
  if (p.fault && isTimedFault(p.fault) && faultReport === null && failure === undefined) failure = 'the fault did not happen or its recording is missing';
  if (p.fault === 'stress' && (stressWindow === undefined || Number.isNaN(stressWindow.toS)) && failure === undefined) failure = 'the stress did not run its course';
  const underrunsAtEnd = underrunsOf(statuses[statuses.length - 1]);
  const stressReport = p.fault === 'stress' && stressWindow && a && !Number.isNaN(stressWindow.toS)
    ? analyseStress(a.fine, a.dropouts.list, stressWindow.fromS, stressWindow.toS, Object.fromEntries(MEMBERS.map((m) => [m.id, [stressWindow!.underrunsAtStart[m.id] ?? null, underrunsAtEnd[m.id] ?? null]])))
    : null;
  const deviceRates = Object.fromEntries(faultMembers.map((m) => [m.id, deviceRateOf(m.logLines)]));
  if (p.fault === 'rate-44100' && deviceRates['member1'] !== ODD_DEVICE_RATE && failure === undefined) failure = `member1 did not open its device at ${ODD_DEVICE_RATE} Hz`;
  const fakeCheck = p.fakeClocks ? checkFakeClocks(cluster, spawnWallMs, statuses, a?.leaderMap ?? null, p.fakeMembers) : null;
  const dacLogs = Object.fromEntries(MEMBERS.map((m) => {
    const f = path.join(dir, `${m.id}.dac.ndjson`);
    return [m.id, existsSync(f) ? { bytes: statSync(f).size, file: p.keep ? f : null } : null];
  }));
  const report = {
    bench: 'realpath',
    server: p.server,
    device: deviceUsed,
    seconds: p.seconds,
    fake_clocks: p.fakeClocks,
    fake_clocks_mode: p.fakeClocks ? (p.fakeMembers ? 'all' : 'leader') : null,
    load: p.load,
    latency_ms: p.latencyMs,
    sign_convention: 'offset_us > 0: right channel (member2) heard later than left (member1)',
    offset_us: a?.offset.offset_us ? { p50: round(a.offset.offset_us.p50 ?? NaN, 2), p99: round(a.offset.offset_us.p99 ?? NaN, 2), max: round(a.offset.offset_us.max ?? NaN, 2), n: a.offset.offset_us.n } : { p50: null, p99: null, max: null, n: 0 },
    offset_signed_median_us: a ? round(a.signedMedianUs, 2) : null,
    first_second_us: a ? round(a.offset.first_second_us ?? NaN, 2) : null,
    first_second_windows: a?.offset.first_second_windows ?? 0,
    first_second_unmeasured: a?.offset.first_second_unmeasured ?? 0,
    in_sync_after_s: a ? round(a.offset.in_sync_after_s ?? NaN, 2) : null,
    in_sync_us: IN_SYNC_US,
    start_vs_schedule_ms: a?.startVsSchedule ?? null,
    reported_vs_measured_us: a?.reported ?? null,
    dropouts: a ? dropoutJson(a.dropouts) : null,
    schedule_error_us: a?.schedule ?? null,
    windows: a ? { ...windowCounts(a.windows), window_s: 1 } : null,
    windows_fine: a ? { ...windowCounts(a.fine), window_s: FINE_WINDOW_S } : null,
    series: a ? a.windows.filter((w) => w.offsetUs !== null).map((w) => ({ tS: round(w.tS, 2), offsetUs: round(w.offsetUs!, 3) })) : [],
    rejected_series: a ? a.windows.filter((w) => w.rejected !== null).map((w) => ({ tS: round(w.tS, 2), reason: w.rejected })) : [],
    series_fine: a ? a.fine.filter((w) => w.offsetUs !== null).map((w) => [round(w.tS, 2), round(w.offsetUs!, 3)]) : [],
    status_series: statusSeries(statuses, a?.musicStartHostNs ?? musicStartNsEst),
    member_log_warnings: warnings,
    fault: faultReport ?? stressReport ?? (p.fault === 'rate-44100' ? { fault: p.fault } : null),
    device_rates: deviceRates,
    fake_clock_check: fakeCheck,
    dac_timing_logs: dacLogs,
    recording: a?.recordingInfo ?? (recording ? { frames: recording.frames, chunks: recording.arrivals.length, parec: recording.exit } : null),
    params: {
      seed: p.seed,
      settle_s: p.settleS,
      warmup_s: warmupS,
      play_delay_ms: PLAY_DELAY_MS,
      play: play ?? null,
      track: { seconds: track.frames / track.rate, bursts: track.bursts.length, loop: true },
      leader_anchor: anchor ? { anchorWallUs: anchor.anchorWallUs, anchorMonoNs: String(anchor.anchorMonoNs) } : null,
      leader_time_map: a?.leaderMap ?? null,
      fake_clocks: p.fakeClocks ? FAKE_CLOCKS : null,
      daemon_nice: DAEMON_NICE,
      analysis: { window_s: 1, fine_window_s: FINE_WINDOW_S, max_lag_ms: 20, in_sync_us: IN_SYNC_US, report_window_s: REPORT_WINDOW_S, sync_error_sign: SYNC_ERROR_SIGN },
    },
    host: { ...hostInfo(REPO_DIR), loadavg_before: loadBefore.map((l) => Math.round(l * 100) / 100) },
    date: startedAt,
    failure: failure ?? null,
    command: `npm run bench:realpath -- ${process.argv.slice(2).join(' ')}`.trim(),
  };
  writeJson(p.out, report);
  const svgFile = sidecarPath(p.out, '.svg');
  writeFileAtomic(svgFile, plot(p, a, statuses));
  log(`wrote ${p.out} and ${svgFile}`);
  process.stdout.write(`${JSON.stringify({
    server: p.server, device: deviceUsed, seconds: p.seconds, fake_clocks: p.fakeClocks, load: p.load, offset_us: report.offset_us, first_second_us: report.first_second_us,
    in_sync_after_s: report.in_sync_after_s, start_vs_schedule_ms: report.start_vs_schedule_ms, dropouts: a ? { both: a.dropouts.both, left: a.dropouts.left, right: a.dropouts.right } : null,
    windows: report.windows ? { total: report.windows.total, accepted: report.windows.accepted, rejected: report.windows.rejected } : null,
    ...(faultReport ? { fault: { ...faultReport, series: undefined } } : stressReport ? { fault: { ...stressReport, gaps: { ...stressReport.gaps, list: undefined } } } : {}),
    failure: report.failure, out: p.out,
  })}\n`);
  return failure === undefined ? 0 : 1;
}

/** The recorder's time map input, beside recording.raw (with --keep), for offline analysis. */
function writeArrivals(file: string, info: RecordingInfo): void {
  writeFileAtomic(file, JSON.stringify({ startMonoNs: info.startMonoNs, rate: info.rate, frames: info.frames, arrivals: info.arrivals.map((x) => [x.monoNs, x.endFrame]) }));
}

function toSample(body: Record<string, unknown>, sendNs: number, recvNs: number): StatusSample {
  const members: StatusSample['members'] = {};
  const list = Array.isArray(body['members']) ? (body['members'] as Array<Record<string, unknown>>) : [];
  for (const m of list) {
    if (typeof m['id'] !== 'string') continue;
    members[m['id']] = {
      audio: (m['audio'] as Record<string, unknown> | null) ?? null,
      clock: (m['clock'] as Record<string, unknown> | null) ?? null,
      connected: m['connected'] === true,
    };
  }
  const leader = body['leader'] as { nowUs?: unknown } | undefined;
  return { sendNs, recvNs, wallMs: Date.now(), leaderNowUs: typeof leader?.nowUs === 'number' ? leader.nowUs : null, members };
}

function statusSeries(statuses: readonly StatusSample[], musicStartNs: number): unknown[] {
  return statuses.map((s) => ({
    tS: round(((s.sendNs + s.recvNs) / 2 - musicStartNs) / 1e9, 2),
    rtt_ms: round((s.recvNs - s.sendNs) / 1e6, 2),
    ...Object.fromEntries(Object.entries(s.members).map(([id, m]) => [id, { connected: m.connected, audio: m.audio, clock: m.clock }])),
  }));
}

/** Lines of the member logs that matter for the audio: DAC steps, stalls, anything warn or worse. */
function memberWarnings(cluster: Cluster | undefined): Record<string, { count: number; lines: string[] }> {
  const out: Record<string, { count: number; lines: string[] }> = {};
  if (!cluster) return out;
  for (const m of MEMBERS) {
    const lines = cluster.readLog(m.id).filter((l) => {
      if (l.includes('DAC timeline stepped') || l.includes('stalled')) return true;
      try {
        const o = JSON.parse(l) as { level?: unknown };
        return typeof o.level === 'number' && o.level >= 40; // pino: 40 warn, 50 error, 60 fatal
      } catch {
        return /\b(warn|error)\b/i.test(l);
      }
    });
    out[m.id] = { count: lines.length, lines: lines.slice(0, MAX_WARNINGS_PER_MEMBER).map((l) => l.slice(0, 600)) };
  }
  return out;
}

function startStress(seconds: number): ChildProcess {
  // Own process group (its workers are forked children); --timeout ends it even if we die first.
  // `nice -n -<current>` puts it at nice 0 whatever this process runs at.
  const child = spawn('nice', ['-n', String(-os.getPriority()), 'stress-ng', '--cpu', '2', '--timeout', `${Math.ceil(seconds + 120)}s`, '--quiet'], { detached: true, stdio: 'ignore' });
  child.on('error', (err) => log(`stress-ng: ${err.message}`));
  const pid = child.pid;
  process.once('exit', () => {
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  log(`stress-ng --cpu 2 started (pid ${String(pid)})`);
  return child;
}

async function stopStress(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  await Promise.race([gone, sleep(5000)]);
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the whole group is gone
  }
}

// ---------------------------------------------------------------------------------------------
// Analysis of a run

interface LeaderMap {
  method: 'anchor' | 'status-fit';
  /** status-fit: leader µs per host µs - 1, in ppm, and the rms residual of the fit (µs) */
  rate_ppm?: number;
  residual_us?: number;
  polls_used?: number;
}

interface Analysis {
  windows: WindowResult[];
  fine: WindowResult[];
  offset: ReturnType<typeof summarizeOffsets>;
  signedMedianUs: number;
  dropouts: DropoutReport;
  schedule: Record<string, unknown>;
  reported: Record<string, unknown> | null;
  reportedSeries: Array<[number, number]>;
  scheduleSeries: Record<string, Array<[number, number]>>;
  musicStartHostNs: number;
  leaderMap: LeaderMap;
  recordingInfo: Record<string, unknown>;
  startVsSchedule: Record<string, number | null>;
}

/** Leader µs <-> host ns: exact from the anchor, or (fake clocks: the leader's monotonic clock is
 *  not the host's) a line through the least delayed status polls of `leader.nowUs`. */
function leaderTimeMap(fake: boolean, anchor: LeaderAnchor | undefined, statuses: readonly StatusSample[]): { toHostNs: (us: number) => number; toLeaderUs: (ns: number) => number; info: LeaderMap } | null {
  if (!fake && anchor) {
    const a0 = Number(anchor.anchorMonoNs);
    return { toHostNs: (us) => a0 + (us - anchor.anchorWallUs) * 1000, toLeaderUs: (ns) => anchor.anchorWallUs + (ns - a0) / 1000, info: { method: 'anchor' } };
  }
  const pts = statuses.filter((s) => s.leaderNowUs !== null).map((s) => ({ ns: (s.sendNs + s.recvNs) / 2, us: s.leaderNowUs!, rtt: s.recvNs - s.sendNs }));
  if (pts.length < 5) return null;
  // the fastest third of the polls: the leader read its clock close to the midpoint
  const rtts = pts.map((x) => x.rtt).sort((x, y) => x - y);
  const cut = rtts[Math.floor(rtts.length / 3)]!;
  const use = pts.filter((x) => x.rtt <= cut);
  const t0 = use[0]!.ns;
  const u0 = use[0]!.us;
  const xs = use.map((x) => (x.ns - t0) / 1000);
  const ys = use.map((x) => x.us - u0);
  const mx = xs.reduce((s, v) => s + v, 0) / xs.length;
  const my = ys.reduce((s, v) => s + v, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  if (!(sxx > 0)) return null;
  const slope = sxy / sxx;
  const icpt = my - slope * mx;
  const resid = Math.sqrt(xs.reduce((s, x, i) => s + (ys[i]! - (icpt + slope * x)) ** 2, 0) / xs.length);
  return {
    toHostNs: (us) => t0 + ((us - u0 - icpt) / slope) * 1000,
    toLeaderUs: (ns) => u0 + icpt + slope * ((ns - t0) / 1000),
    info: { method: 'status-fit', rate_ppm: round((slope - 1) * 1e6, 2) ?? undefined, residual_us: round(resid, 1) ?? undefined, polls_used: use.length },
  };
}

function analyse(p: Params, track: TestTrack, info: RecordingInfo, play: { atUs: number }, anchor: LeaderAnchor | undefined, statuses: readonly StatusSample[]): Analysis | { error: string } {
  const rec = loadRecording(info);
  const rate = rec.rate;
  const frames = frameCount(rec);
  const map = new ArrivalTimeMap(info.arrivals, rate);
  const lmap = leaderTimeMap(p.fakeClocks, anchor, statuses);
  if (lmap === null) return { error: 'no leader time map (no anchor in the leader log, or too few status polls)' };
  // The first music: the first sound from half a second before the scheduled start on.
  const schedFrame = map.frameAtHostNs(lmap.toHostNs(play.atUs));
  const sound = firstSoundFrame(rec, Math.max(0, (schedFrame ?? 0) - 0.5 * rate));
  if (sound.left === null || sound.right === null) return { error: `no music in the recording (left ${String(sound.left)}, right ${String(sound.right)}; ${frames} frames)` };
  const musicStart = Math.min(sound.left, sound.right);
  const bothPlaying = Math.max(sound.left, sound.right) + Math.round((FADE_IN_GUARD_MS / 1000) * rate);
  const end = frames - Math.round(END_GUARD_S * rate);
  if (end - musicStart < 2 * rate) return { error: `only ${((end - musicStart) / rate).toFixed(2)} s of music recorded` };
  const drops = dropouts(rec, { fromFrame: bothPlaying, toFrame: end, t0Frame: musicStart });
  const opts = { fromFrame: musicStart, toFrame: end, t0Frame: musicStart, dropouts: drops.list };
  // 100 ms windows mostly hold no burst; the floor is the same noise on both channels and reads as well.
  const [windows, fine] = lrOffsetSeries(rec, rate, [{ windowS: 1 }, { windowS: FINE_WINDOW_S, requireBursts: false }], opts) as [WindowResult[], WindowResult[]];
  const offset = summarizeOffsets(windows, fine, rate);
  const signed = windows.filter((w) => w.offsetUs !== null).map((w) => w.offsetUs!).sort((x, y) => x - y);
  const signedMedianUs = signed.length > 0 ? signed[Math.floor((signed.length - 1) / 2)]! : NaN;
  const musicStartHostNs = map.hostNsOf(musicStart) ?? NaN;

  // heard - scheduled per member
  const schedule: Record<string, unknown> = {};
  const scheduleSeries: Record<string, Array<[number, number]>> = {};
  const byBurst = new Map<string, Record<string, number>>();
  for (const [ci, m] of MEMBERS.entries()) {
    const r = scheduleErrors({
      rec, channel: ci as 0 | 1, fromFrame: musicStart, toFrame: end, track, playAtUs: play.atUs, map,
      leaderUsToHostNs: lmap.toHostNs, hostNsToLeaderUs: lmap.toLeaderUs,
    });
    const st = scheduleStats(r.matched.map((x) => x.errorUs));
    schedule[m.id] = { ...roundSchedule(st), onsets: r.onsets, unmatched: r.unmatched, aligned: r.matched.filter((x) => x.aligned).length };
    scheduleSeries[m.id] = r.matched.map((x) => [(x.recFrame - musicStart) / rate, x.errorUs - (st.median_us ?? 0)]);
    for (const x of r.matched) {
      const k = `${x.lap}:${x.burst}`;
      const e = byBurst.get(k) ?? {};
      e[m.id] = x.errorUs;
      byBurst.set(k, e);
    }
  }
  // Cross-check: member2 - member1 per burst heard by both is the L/R offset through the time map.
  const pairDiffs = [...byBurst.values()].filter((e) => e['member1'] !== undefined && e['member2'] !== undefined).map((e) => e['member2']! - e['member1']!).sort((x, y) => x - y);
  schedule['member2_minus_member1_median_us'] = pairDiffs.length > 0 ? round(pairDiffs[Math.floor((pairDiffs.length - 1) / 2)]!, 1) : null;
  schedule['note'] = 'median = heard - scheduled incl. the monitor delivery bias (render-ahead, ~ -1 parec fragment); p50/p99/max are of |x - median|';

  // reported (members' syncErrorUs) vs measured
  const reportedSeries: Array<[number, number]> = [];
  const residuals: number[] = [];
  const residualsFlipped: number[] = [];
  let anyReported = false;
  const fineOk = fine.filter((w) => w.offsetUs !== null);
  for (const s of statuses) {
    const e1 = s.members['member1']?.audio?.['syncErrorUs'];
    const e2 = s.members['member2']?.audio?.['syncErrorUs'];
    if (typeof e1 !== 'number' || typeof e2 !== 'number') continue;
    anyReported = true;
    const f = map.frameAtHostNs((s.sendNs + s.recvNs) / 2);
    if (f === null) continue;
    const tS = (f - musicStart) / rate;
    const inWin = fineOk.filter((w) => w.tS <= tS && w.tS > tS - REPORT_WINDOW_S);
    if (inWin.length === 0) continue;
    const measured = inWin.reduce((acc, w) => acc + w.offsetUs!, 0) / inWin.length;
    const reported = SYNC_ERROR_SIGN * (e1 - e2);
    reportedSeries.push([tS, reported]);
    residuals.push(reported - measured);
    residualsFlipped.push(-reported - measured);
  }
  let reported: Record<string, unknown> | null = null;
  if (anyReported) {
    const s = absSummary(residuals);
    const sf = absSummary(residualsFlipped);
    reported = {
      p50: round(s.p50 ?? NaN, 2), p99: round(s.p99 ?? NaN, 2), max: round(s.max ?? NaN, 2), n: s.n,
      definition: `|${SYNC_ERROR_SIGN === 1 ? '' : '-'}(member1.syncErrorUs - member2.syncErrorUs) - measured offset|, measured = mean of the 100 ms windows in the second before each poll`,
      p50_if_sign_flipped: round(sf.p50 ?? NaN, 2),
    };
  }
  // When each member was first heard, against the scheduled start (includes the monitor bias, see
  // schedule_error_us medians): a member that waits for its DAC model starts late.
  const startVsSchedule: Record<string, number | null> = {};
  for (const [ci, m] of MEMBERS.entries()) {
    const f = ci === 0 ? sound.left : sound.right;
    const h = map.hostNsOf(f);
    startVsSchedule[m.id] = h === null ? null : round((h - lmap.toHostNs(play.atUs)) / 1e6, 2);
  }
  const recordingInfo = {
    frames, seconds: round(frames / rate, 2), chunks: info.arrivals.length, monitor_rate_hz: round(map.rateHz, 2), parec: info.exit,
    music_start_s: round(musicStart / rate, 3), left_first_sound_s: round(sound.left / rate, 4), right_first_sound_s: round(sound.right / rate, 4),
    music_start_vs_schedule_ms: schedFrame === null ? null : round(((musicStart - schedFrame) / rate) * 1000, 2),
  };
  return { windows, fine, offset, signedMedianUs, dropouts: drops, schedule, reported, reportedSeries, scheduleSeries, musicStartHostNs, leaderMap: lmap.info, recordingInfo, startVsSchedule };
}

/**
 * Do the daemons really run on the fake clocks? Wall offset: the first log line's pino `time`
 * (the process's wall clock) against the host's wall clock at spawn (the line comes within a second
 * of the spawn). Rate: the leader's against the host (status fit), each member's against the leader
 * (its own clock.ratePpm, the model's rate, assumed leader-per-local - 1).
 */
function checkFakeClocks(cluster: Cluster | undefined, spawnWallMs: ReadonlyMap<string, number>, statuses: readonly StatusSample[], leaderMap: LeaderMap | null, fakeMembers: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const leaderRate = FAKE_CLOCKS['leader']!.rate;
  for (const host of ['leader', 'member1', 'member2']) {
    const fake = host === 'leader' || fakeMembers ? FAKE_CLOCKS[host]! : { offsetS: 0, rate: 1 };
    const first = cluster?.readLog(host).find((l) => l.startsWith('{'));
    let wallOffsetS: number | null = null;
    try {
      const t = first ? (JSON.parse(first) as { time?: unknown }).time : undefined;
      const spawned = spawnWallMs.get(host);
      if (typeof t === 'number' && spawned !== undefined) wallOffsetS = (t - spawned) / 1000;
    } catch {
      // no JSON line
    }
    const entry: Record<string, unknown> = {
      faketime: `${fake.offsetS >= 0 ? '+' : ''}${fake.offsetS} x${fake.rate}`,
      wall_offset_s: round(wallOffsetS ?? NaN, 2),
      wall_offset_ok: wallOffsetS !== null && Math.abs(wallOffsetS - fake.offsetS) < 1.5,
    };
    if (host === 'leader') {
      entry['rate_ppm_measured'] = leaderMap?.rate_ppm ?? null;
      entry['rate_ppm_expected'] = round((fake.rate - 1) * 1e6, 1);
      const last = [...statuses].reverse().find((s) => s.leaderNowUs !== null);
      entry['leader_minus_host_wall_s'] = last ? round((last.leaderNowUs! / 1000 - last.wallMs) / 1000, 3) : null;
    } else {
      const rates = statuses.slice(-10).map((s) => s.members[host]?.clock?.['ratePpm']).filter((v): v is number => typeof v === 'number');
      const measured = rates.length > 0 ? rates.reduce((x, y) => x + y, 0) / rates.length : null;
      const expected = (leaderRate / fake.rate - 1) * 1e6;
      entry['clock_rate_ppm_measured'] = round(measured ?? NaN, 1);
      entry['clock_rate_ppm_expected'] = round(expected, 1);
      entry['rate_ok'] = measured !== null && Math.abs(measured - expected) < 15;
    }
    out[host] = entry;
  }
  return out;
}

function plot(p: Params, a: Analysis | null, statuses: readonly StatusSample[]): string {
  const title = `bench:realpath ${p.server}${p.fakeClocks ? ' fake clocks' : ''}${p.load ? ' load' : ''}: L/R offset as heard (right later > 0)`;
  if (!a) return renderSvg({ title: `${title} - no analysis`, xLabel: 's', panels: [{ title: 'no data', yLabel: 'µs', series: [] }] });
  const fine: Series = { name: '100 ms windows', points: a.fine.filter((w) => w.offsetUs !== null).map((w) => [w.tS, w.offsetUs!] as const), color: '#bbbbbb' };
  const coarse: Series = { name: '1 s windows', points: a.windows.filter((w) => w.offsetUs !== null).map((w) => [w.tS, w.offsetUs!] as const), color: '#1f77b4' };
  const reported: Series[] = a.reportedSeries.length > 0 ? [{ name: 'reported m1 - m2', points: a.reportedSeries, color: '#ff7f0e' }] : [];
  const worst = Math.max(a.offset.offset_us.max ?? 0, ...a.reportedSeries.map((x) => Math.abs(x[1])));
  const lim = Math.min(20_000, Math.max(200, Math.ceil((worst * 1.1) / 100) * 100));
  const bands = a.dropouts.list.filter((d) => d.kind !== 'both').slice(0, 50).map((d) => ({ from: d.tS - 0.05, to: d.tS + d.ms / 1000 + 0.05, label: d.kind === 'left' ? 'L' : 'R' }));
  const schedLim = Math.min(20_000, Math.max(500, ...Object.values(a.scheduleSeries).flat().map((x) => Math.abs(x[1]) * 1.1)));
  const tOf = (s: StatusSample): number => ((s.sendNs + s.recvNs) / 2 - a.musicStartHostNs) / 1e9;
  const correction = MEMBERS.map((m) => ({
    name: m.id,
    points: statuses.filter((s) => typeof s.members[m.id]?.audio?.['correctionPpm'] === 'number').map((s) => [tOf(s), s.members[m.id]!.audio!['correctionPpm'] as number] as const),
  }));
  return renderSvg({
    title,
    xLabel: 'seconds since the first music',
    xRange: [0, p.seconds],
    bands,
    panels: [
      { title: 'right - left (µs); shaded: one-sided dropouts', yLabel: 'µs', yRange: [-lim, lim], hLines: [{ y: 100, label: '+100 µs' }, { y: -100, label: '-100 µs' }], series: [fine, coarse, ...reported] },
      { title: 'heard - scheduled, minus its median (µs)', yLabel: 'µs', yRange: [-schedLim, schedLim], series: MEMBERS.map((m) => ({ name: m.id, points: a.scheduleSeries[m.id] ?? [] })) },
      { title: 'drift loop correction (ppm, status polls)', yLabel: 'ppm', series: correction },
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Control checks of the harness itself

async function runControl(p: Params, dir: string): Promise<number> {
  const startedAt = new Date().toISOString();
  const track = makeTestTrack({ seed: p.seed });
  let failure: string | undefined;
  const parts: Record<string, unknown> = {};
  let server: AudioServer | undefined;
  try {
    server = await startAudioServer({ kind: p.server, name: 'realpath-control', logDir: dir });
    const srv = server;
    cleanups.push(() => srv.stop());
    log(`${p.server} up, routing probe ${JSON.stringify(srv.routing)}`);
    // (a) one stereo stream straight into the null sink: both channels are the same samples.
    parts['a_direct'] = await controlPart(srv, dir, 'a', [{ sink: SINK, channels: 2 }], track, p.seconds, 0);
    // (b) one stream split into the two remap sinks: two sink inputs of `jas`, like two members.
    // adjust_time=1: PulseAudio's combine sink starts its second slave up to 1.4 s late and slews
    // it in at ~0.4 % (at the default 10 s, 1.4 s took over 6 minutes).
    const mod = (await srv.pactl(['load-module', 'module-combine-sink', 'sink_name=jas_both', `slaves=${LEFT_SINK},${RIGHT_SINK}`, 'channels=2', 'adjust_time=1'])).trim();
    try {
      parts['b_combine'] = await controlPart(srv, dir, 'b', [{ sink: 'jas_both', channels: 2 }], track, p.seconds, COMBINE_SETTLE_S);
    } finally {
      await srv.pactl(['unload-module', mod]).catch(() => undefined);
    }
    // (c) two independent streams into the remap sinks: their start offset is arbitrary, but it
    // must stay put (deviation from its median ~0, no drift): the two paths do not wander apart.
    parts['c_two_streams'] = await controlPart(srv, dir, 'c', [{ sink: LEFT_SINK, channels: 1 }, { sink: RIGHT_SINK, channels: 1 }], track, p.seconds, COMBINE_SETTLE_S, CONTROL_C_MAX_LAG_MS);
  } catch (err) {
    failure = (err as Error).message;
    log(`FAILED: ${failure}`);
  } finally {
    await server?.stop().catch(() => undefined);
  }
  const report = {
    bench: 'realpath', control: true, server: p.server, seconds: p.seconds,
    sign_convention: 'offset_us > 0: right channel heard later than left',
    ...parts,
    params: { seed: p.seed, combine_settle_s: COMBINE_SETTLE_S },
    host: hostInfo(REPO_DIR), date: startedAt, failure: failure ?? null,
    command: `npm run bench:realpath -- ${process.argv.slice(2).join(' ')}`.trim(),
  };
  writeJson(p.out, report);
  log(`wrote ${p.out}`);
  const brief = Object.fromEntries(Object.entries(parts).map(([k, v]) => {
    const x = v as Record<string, unknown>;
    return [k, { offset_us: x['offset_us'], offset_us_after_settle: x['offset_us_after_settle'], in_sync_after_s: x['in_sync_after_s'], steady_median_us: x['steady_median_us'], steady_deviation_from_median_us: x['steady_deviation_from_median_us'], steady_drift_ppm: x['steady_drift_ppm'], dropouts: x['dropout_counts'], windows: x['windows'] }];
  }));
  process.stdout.write(`${JSON.stringify({ server: p.server, control: true, ...brief, failure: failure ?? null, out: p.out })}\n`);
  return failure === undefined ? 0 : 1;
}

/** Plays the track (looped) for `seconds` into each sink with pacat (mono: its left channel), records
 *  the monitor, measures L/R. */
async function controlPart(srv: AudioServer, dir: string, label: string, sinks: Array<{ sink: string; channels: 1 | 2 }>, track: TestTrack, seconds: number, settleS: number, maxLagMs = 20): Promise<Record<string, unknown>> {
  const rec = srv.record(path.join(dir, `control-${label}.raw`));
  await sleep(500);
  const stereo = Buffer.from(track.pcm.buffer, track.pcm.byteOffset, track.pcm.byteLength);
  const mono = Buffer.alloc(track.frames * 2);
  for (let i = 0; i < track.frames; i++) mono.writeInt16LE(track.pcm[2 * i]!, 2 * i);
  const players = sinks.map((x) => {
    const child = srv.spawnClient('pacat', ['--playback', '--raw', '-d', x.sink, '--format=s16le', `--rate=${track.rate}`, `--channels=${x.channels}`, '--latency-msec=50']);
    child.stdout?.resume();
    child.stderr?.resume();
    return { child, bytes: x.channels === 2 ? stereo : mono, bytesPerFrame: 2 * x.channels };
  });
  const chunkFrames = track.rate / 2; // 0.5 s
  const totalFrames = Math.round(seconds * track.rate);
  // Feeding ahead is fine: pacat plays at the sink's pace; stdin back-pressure bounds the buffer.
  // The track length is a whole number of chunks, so a chunk never straddles the loop.
  for (let off = 0, n = 0; off < totalFrames && n < 2 * seconds + 10; off += chunkFrames, n++) {
    const frames = Math.min(chunkFrames, totalFrames - off);
    const at = off % track.frames;
    for (const pl of players) {
      if (!pl.child.stdin || pl.child.exitCode !== null) throw new Error(`pacat exited early (${String(pl.child.exitCode)})`);
      const piece = pl.bytes.subarray(at * pl.bytesPerFrame, (at + frames) * pl.bytesPerFrame);
      if (!pl.child.stdin.write(piece)) await Promise.race([new Promise((r) => pl.child.stdin!.once('drain', r)), sleep(5000)]);
    }
  }
  for (const pl of players) pl.child.stdin?.end();
  await Promise.race([Promise.all(players.map((pl) => new Promise((r) => pl.child.once('exit', r)))), sleep(seconds * 1000 + 15_000)]);
  for (const pl of players) if (pl.child.exitCode === null) pl.child.kill('SIGKILL');
  await sleep(300);
  const info = await rec.stop();
  const r = loadRecording(info);
  const rate = r.rate;
  const sound = firstSoundFrame(r, 0);
  if (sound.left === null || sound.right === null) throw new Error(`control ${label}: no sound recorded (${info.frames} frames)`);
  const start = Math.min(sound.left, sound.right);
  // end: the last frame with sound on either channel, minus a guard
  let last = frameCount(r) - 1;
  while (last > start && Math.abs(r.samples[last * 2]!) <= 32 && Math.abs(r.samples[last * 2 + 1]!) <= 32) last--;
  const end = last - Math.round(0.05 * rate);
  const drops = dropouts(r, { fromFrame: Math.max(sound.left, sound.right) + Math.round(0.01 * rate), toFrame: end, t0Frame: start });
  const opts = { fromFrame: start, toFrame: end, t0Frame: start, dropouts: drops.list, maxLagMs };
  const [windows, fine] = lrOffsetSeries(r, rate, [{ windowS: 1 }, { windowS: FINE_WINDOW_S, requireBursts: false }], opts) as [WindowResult[], WindowResult[]];
  const summary = summarizeOffsets(windows, fine, rate);
  // after the expected settle time, and after the measured one (in sync for good)
  const after = windows.filter((w) => w.tS - 0.5 >= settleS);
  const settledS = summary.in_sync_after_s;
  const afterSettled = settledS === null ? [] : windows.filter((w) => w.tS - 0.5 >= settledS);
  const signedAfter = afterSettled.filter((w) => w.offsetUs !== null).map((w) => w.offsetUs!).sort((x, y) => x - y);
  const signed = windows.filter((w) => w.offsetUs !== null).map((w) => w.offsetUs!).sort((x, y) => x - y);
  const median = (xs: number[]): number => (xs.length > 0 ? xs[Math.floor((xs.length - 1) / 2)]! : NaN);
  // Stability after the settle time: distance from the median, and the drift of a line through it.
  const steady = after.filter((w) => w.offsetUs !== null);
  const steadyMedian = median(steady.map((w) => w.offsetUs!).sort((x, y) => x - y));
  const dev = absSummary(steady.map((w) => w.offsetUs! - steadyMedian));
  const driftPpm = steady.length >= 2 ? lineAt(steady.map((w) => w.tS), steady.map((w) => w.offsetUs!)).slope : NaN; // µs per s = ppm
  return {
    sinks: sinks.map((x) => x.sink),
    recorded_s: round(info.frames / rate, 2),
    music_s: round((end - start) / rate, 2),
    left_minus_right_first_sound_frames: sound.left - sound.right,
    offset_us: offsetFigures(windows),
    offset_us_after_settle: settleS > 0 ? offsetFigures(after) : undefined,
    first_second_us: round(summary.first_second_us ?? NaN, 3),
    in_sync_after_s: round(settledS ?? NaN, 2),
    offset_us_after_in_sync: offsetFigures(afterSettled),
    signed_median_after_in_sync_us: round(median(signedAfter), 3),
    offset_fine_us: offsetFigures(fine),
    signed_median_us: round(median(signed), 3),
    exactly_zero_windows: windows.filter((w) => w.offsetUs === 0).length,
    steady_median_us: round(steadyMedian, 3),
    steady_deviation_from_median_us: { p50: round(dev.p50 ?? NaN, 3), p99: round(dev.p99 ?? NaN, 3), max: round(dev.max ?? NaN, 3), n: dev.n },
    steady_drift_ppm: round(driftPpm, 4),
    windows: windowCounts(windows),
    dropout_counts: { both: drops.both, left: drops.left, right: drops.right },
    dropouts: dropoutJson(drops),
    series: windows.filter((w) => w.offsetUs !== null).map((w) => ({ tS: round(w.tS, 2), offsetUs: round(w.offsetUs!, 3) })),
  };
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    log(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await Promise.race([runCleanups(), sleep(CLEANUP_TIMEOUT_MS)]);
    process.exit(1);
  },
);

/** The device rate a member logged when it differs from the output rate (null: the output rate). */
function deviceRateOf(lines: readonly string[]): number | null {
  for (const l of lines) {
    const m = /output device at (\d+) Hz/.exec(l);
    if (m) return Number(m[1]);
  }
  return null;
}

/** Each member's underrun count in a status poll (null where unknown). */
function underrunsOf(st: StatusSample | undefined): Record<string, number | null> {
  return Object.fromEntries(MEMBERS.map((m) => {
    const u = st?.members[m.id]?.audio?.['underruns'];
    return [m.id, typeof u === 'number' ? u : null];
  }));
}
