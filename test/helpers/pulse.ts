// A private PulseAudio daemon per simulated host (own HOME/XDG_RUNTIME_DIR in a temp dir, one
// null sink) and a parec recorder of its monitor that notes the host CLOCK_MONOTONIC time of every
// chunk it receives, so recorded frames can be placed on the true time axis. stop() cleans up.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const START_TIMEOUT_MS = 10_000;
const EXIT_WAIT_MS = 3_000;
const POLL_MS = 20;
/** parec fragment size: small fragments give many arrival timestamps (a finer time map) at a
 *  modest wake-up cost. */
export const DEFAULT_RECORD_LATENCY_MS = 10;
/** Half-width of the arrival window used to place one frame on the host clock: long enough to
 *  contain some undelayed arrivals, short enough that a dropped chunk elsewhere does not matter. */
const TIME_MAP_WINDOW_S = 2;

/** Why pulse-based tests cannot run here, or undefined. */
export function missingPulseTools(): string | undefined {
  for (const tool of ['pulseaudio', 'parec']) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) return `${tool} not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)`;
  }
  return undefined;
}

export interface PulseOptions {
  /** label used in the temp dir name and error messages */
  name?: string;
  sinkName?: string;
  rate?: number;
  channels?: number;
}

export interface PulseServer {
  readonly name: string;
  readonly dir: string;
  readonly sinkName: string;
  readonly rate: number;
  readonly channels: number;
  readonly socketPath: string;
  /** environment for clients (PortAudio via ALSA's pulse plugin, parec): this daemon only */
  readonly env: NodeJS.ProcessEnv;
  /** the variables that differ from process.env: HOME, XDG_RUNTIME_DIR, PULSE_SERVER */
  readonly clientEnv: Record<string, string>;
  record(latencyMs?: number): MonitorRecorder;
  stop(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

async function killPid(pid: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (!(await waitGone(pid, EXIT_WAIT_MS))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await waitGone(pid, EXIT_WAIT_MS);
  }
}

/** Starts a daemon with one null sink; its clients are whatever gets `env`. */
export async function startPulse(opts: PulseOptions = {}): Promise<PulseServer> {
  const name = opts.name ?? 'pulse';
  const sinkName = opts.sinkName ?? 'jas';
  const rate = opts.rate ?? 48000;
  const channels = opts.channels ?? 2;
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name) || !/^[A-Za-z0-9_]{1,32}$/.test(sinkName)) throw new RangeError('startPulse: bad name');
  if (!Number.isInteger(rate) || rate < 8000 || rate > 192000) throw new RangeError('startPulse: bad rate');
  if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new RangeError('startPulse: bad channels');
  const dir = mkdtempSync(join(tmpdir(), `jas-${name}-`));
  const home = join(dir, 'home');
  const run = join(dir, 'run');
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(run, { mode: 0o700 });
  const socketPath = join(run, 'pulse', 'native');
  const clientEnv = { HOME: home, XDG_RUNTIME_DIR: run, PULSE_SERVER: `unix:${socketPath}` };
  const env: NodeJS.ProcessEnv = { ...process.env, ...clientEnv };
  const daemonEnv: NodeJS.ProcessEnv = { ...env };
  delete daemonEnv['PULSE_SERVER'];
  const recorders = new Set<MonitorRecorder>();
  let pid: number | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([...recorders].map((r) => r.stop().catch(() => undefined)));
    if (pid !== undefined) await killPid(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  // -n: no default.pa, so nothing but these modules (no suspend-on-idle, no hardware probing).
  const r = spawnSync('pulseaudio', [
    '-n', '--daemonize=yes', '--exit-idle-time=-1', '--log-target=stderr',
    '--load=module-native-protocol-unix auth-anonymous=1',
    `--load=module-null-sink sink_name=${sinkName} rate=${rate} channels=${channels}`,
    '--load=module-always-sink',
  ], { env: daemonEnv, encoding: 'utf8', timeout: START_TIMEOUT_MS });
  const pidFile = join(run, 'pulse', 'pid');
  if (existsSync(pidFile)) {
    const n = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(n) && n > 0) pid = n;
  }
  if (r.status !== 0 || pid === undefined) {
    await stop();
    throw new Error(`pulseaudio (${name}) did not start (exit ${String(r.status)}): ${(r.stderr ?? '').slice(-1000)}`);
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(socketPath) && Date.now() < deadline) await sleep(POLL_MS);
  if (!existsSync(socketPath)) {
    await stop();
    throw new Error(`pulseaudio (${name}): socket ${socketPath} did not appear`);
  }
  return {
    name, dir, sinkName, rate, channels, socketPath, env, clientEnv,
    record(latencyMs = DEFAULT_RECORD_LATENCY_MS) {
      const rec = recordMonitor(env, `${sinkName}.monitor`, rate, channels, latencyMs);
      recorders.add(rec);
      return rec;
    },
    stop,
  };
}

/** One chunk parec delivered: host CLOCK_MONOTONIC ns at arrival, frames recorded up to its end. */
export interface Arrival {
  monoNs: number;
  endFrame: number;
}

export interface MonitorRecording {
  /** interleaved int16 */
  samples: Int16Array;
  frames: number;
  channels: number;
  rate: number;
  /** host CLOCK_MONOTONIC ns just before parec was spawned */
  startMonoNs: number;
  arrivals: Arrival[];
}

export interface MonitorRecorder {
  readonly startMonoNs: number;
  /** Stops parec (idempotent) and returns everything it recorded. */
  stop(): Promise<MonitorRecording>;
}

function monoNowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Records `source` as interleaved s16le until stop(), noting when each chunk arrived. */
export function recordMonitor(env: NodeJS.ProcessEnv, source: string, rate: number, channels: number, latencyMs: number): MonitorRecorder {
  const bytesPerFrame = 2 * channels;
  const chunks: Buffer[] = [];
  const arrivals: Arrival[] = [];
  let bytes = 0;
  const startMonoNs = monoNowNs();
  const child: ChildProcess = spawn('parec', [
    '-d', source, '--format=s16le', `--rate=${rate}`, `--channels=${channels}`, `--latency-msec=${latencyMs}`,
  ], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout?.on('data', (c: Buffer) => {
    const monoNs = monoNowNs();
    chunks.push(c);
    bytes += c.length;
    arrivals.push({ monoNs, endFrame: Math.floor(bytes / bytesPerFrame) });
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let result: Promise<MonitorRecording> | undefined;
  return {
    startMonoNs,
    stop() {
      result ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await Promise.race([exited, sleep(EXIT_WAIT_MS)]);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await Promise.race([exited, sleep(EXIT_WAIT_MS)]);
        }
        const all = Buffer.concat(chunks);
        const frames = Math.floor(all.length / bytesPerFrame);
        const samples = new Int16Array(frames * channels);
        for (let i = 0; i < samples.length; i++) samples[i] = all.readInt16LE(i * 2);
        return { samples, frames, channels, rate, startMonoNs, arrivals: arrivals.filter((a) => a.endFrame <= frames) };
      })();
      return result;
    },
  };
}

/**
 * Places recorded frames on the host clock (CLOCK_MONOTONIC ns). A chunk is never early, only late
 * (scheduling, pipe), so the lower envelope of `arrival - endFrame / rate` over the arrivals near a
 * frame is the monitor's own timeline plus its fixed delivery latency. The rate is fitted, not
 * assumed: a null sink consumes ~50 ppm more than nominal per host second here (pulse rounds each
 * rendered chunk's duration down to whole µs). Estimates are local (±TIME_MAP_WINDOW_S), so a chunk
 * parec dropped elsewhere does not shift them.
 */
export class RecordingTimeMap {
  /** fitted frames per host second (the nominal rate when too short to fit) */
  readonly rateHz: number;

  constructor(private readonly rec: MonitorRecording, private readonly windowS = TIME_MAP_WINDOW_S) {
    this.rateHz = recordedRateHz(rec) ?? rec.rate;
  }

  /** Host ns at which recorded frame `frame` arrived, undelayed; null without arrivals nearby. */
  hostNsOf(frame: number): number | null {
    const half = this.windowS * this.rec.rate;
    let best = Infinity;
    for (const a of this.rec.arrivals) {
      if (Math.abs(a.endFrame - frame) > half) continue;
      const base = a.monoNs - ((a.endFrame - frame) / this.rateHz) * 1e9;
      if (base < best) best = base;
    }
    return Number.isFinite(best) ? best : null;
  }
}

/** Frames per host second of a recording: a line through the lower envelope of its arrivals (per
 *  1 s bucket, the least delayed one; sparse buckets such as a last partial second are left out,
 *  their minimum is no envelope); null when under 3 s. */
export function recordedRateHz(rec: MonitorRecording): number | null {
  return fittedRateHz(rec.arrivals, rec.rate);
}

/**
 * Frames per host second of a recorder: a line through the least delayed arrival of each
 * well-filled 1 s bucket (arrivals are late by scheduling, never early). Shared with bench:realpath.
 */
export function fittedRateHz(arrivals: readonly Arrival[], nominalRate: number): number | null {
  const base = (x: Arrival): number => x.monoNs - (x.endFrame / nominalRate) * 1e9;
  const byBucket = new Map<number, { best: Arrival; count: number }>();
  for (const a of arrivals) {
    const k = Math.floor(a.endFrame / nominalRate);
    const cur = byBucket.get(k);
    if (!cur) byBucket.set(k, { best: a, count: 1 });
    else {
      cur.count++;
      if (base(a) < base(cur.best)) cur.best = a;
    }
  }
  const counts = [...byBucket.values()].map((b) => b.count).sort((x, y) => x - y);
  const typical = counts[Math.floor(counts.length / 2)] ?? 0;
  const pts = [...byBucket.values()].filter((b) => b.count >= Math.max(3, typical / 2)).map((b) => b.best);
  if (pts.length < 3) return null;
  const t0 = pts[0]!.monoNs;
  const f0 = pts[0]!.endFrame;
  const xs = pts.map((p) => (p.monoNs - t0) / 1e9);
  const ys = pts.map((p) => p.endFrame - f0);
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  const my = ys.reduce((s, y) => s + y, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : null;
}
