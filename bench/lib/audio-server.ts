// A PRIVATE audio server for benchmarks: PulseAudio 16, or PipeWire 0.3 with pipewire-pulse and
// wireplumber on a session D-Bus of its own, all in a temp dir (own HOME, XDG_RUNTIME_DIR,
// XDG_STATE_HOME, XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_CACHE_HOME), so nothing of the machine's or
// /root's configuration or state is read or written. It has one 48 kHz stereo null sink `jas` and
// two mono remap sinks `jas_left` / `jas_right` feeding its left and right channels
// (/work/shared/notes/audio-servers.md); start() proves the routing by playing into each remap sink
// and recording the monitor. A recorder runs `parec` on `jas.monitor` into a file and notes the
// host CLOCK_MONOTONIC arrival time of every chunk (the time map idea of test/helpers/pulse.ts).
// stop() ends everything it started and removes the temp dir; so does process exit (SIGKILL,
// synchronously). Every wait is bounded.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type AudioServerKind = 'pulse' | 'pipewire';
export const SINK = 'jas';
export const LEFT_SINK = 'jas_left';
export const RIGHT_SINK = 'jas_right';
export const SERVER_RATE_HZ = 48_000;
/** parec fragment: small enough for a fine time map (50 chunks/s), large enough to stay cheap. */
export const RECORD_LATENCY_MS = 20;

const START_TIMEOUT_MS = 15_000;
const PACTL_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
const TERM_WAIT_MS = 3_000;
const KILL_WAIT_MS = 2_000;
/** Routing probe: noise length per side, its level, how loud "loud" and how quiet "silent" is. */
const PROBE_MS = 400;
const PROBE_AMPLITUDE = 8000;
const PROBE_LOUD = 2000;
const PROBE_QUIET = 200;
/** Wireplumber may link the remap sinks' streams a moment after they appear. */
const PROBE_ATTEMPTS = 4;
const PROBE_RETRY_MS = 1000;
const LOG_TAIL_CHARS = 1500;

const TOOLS: Record<AudioServerKind, string[]> = {
  pulse: ['pulseaudio', 'pactl', 'parec', 'pacat'],
  pipewire: ['pipewire', 'wireplumber', 'pipewire-pulse', 'dbus-daemon', 'pactl', 'parec', 'pacat'],
};

/** Why a server of this kind cannot start here, or undefined. */
export function audioServerMissing(kind: AudioServerKind): string | undefined {
  for (const tool of TOOLS[kind]) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) {
      return kind === 'pulse'
        ? `${tool} not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)`
        : `${tool} not installed (apt-get install pipewire pipewire-bin pipewire-pulse wireplumber dbus pulseaudio-utils)`;
    }
  }
  return undefined;
}

/** One chunk parec delivered: host CLOCK_MONOTONIC ns at arrival, frames recorded up to its end. */
export interface Arrival {
  monoNs: number;
  endFrame: number;
}

export interface RecordingInfo {
  file: string;
  frames: number;
  rate: number;
  channels: number;
  /** host CLOCK_MONOTONIC ns just before parec was spawned */
  startMonoNs: number;
  arrivals: Arrival[];
  /** parec's exit ("code N signal S") and the end of its stderr */
  exit: string | null;
  stderrTail: string;
}

export interface Recorder {
  readonly file: string;
  readonly startMonoNs: number;
  /** frames recorded so far */
  frames(): number;
  /** Stops parec (idempotent) and returns what it recorded (samples are in `file`). */
  stop(): Promise<RecordingInfo>;
}

export interface AudioServerOptions {
  kind: AudioServerKind;
  /** label in the temp dir name */
  name?: string;
  /** daemon logs go here (default: inside the temp dir, removed by stop()) */
  logDir?: string;
  /** play into each remap sink and check the monitor's channels (default true) */
  verifyRouting?: boolean;
}

export interface AudioServer {
  readonly kind: AudioServerKind;
  readonly dir: string;
  /** variables a client needs to reach this server only (HOME, XDG_*, PULSE_SERVER, ...) */
  readonly clientEnv: Readonly<Record<string, string>>;
  /** process.env without any audio/session variables, plus clientEnv */
  readonly env: NodeJS.ProcessEnv;
  /** `pactl <args>` against this server; rejects on failure or after the timeout */
  pactl(args: string[], timeoutMs?: number): Promise<string>;
  /** Starts a client (pacat, paplay, ...) against this server; stop() kills it. */
  spawnClient(cmd: string, args: string[], extraEnv?: NodeJS.ProcessEnv): ChildProcess;
  /** Records jas.monitor (stereo s16le 48 kHz) into `file`. */
  record(file: string, latencyMs?: number): Recorder;
  /** the routing probe's result (null when not run) */
  readonly routing: RoutingCheck | null;
  /** tails of the daemons' logs (for error messages) */
  logTails(): Record<string, string>;
  /**
   * Kills the audio daemons with SIGKILL (not the session bus), waits `downMs`, starts them again
   * with the same sinks. Clients (recorders, players) lose their connection. Host-monotonic times
   * of the kill and of the server being back (sinks loaded).
   */
  restart(downMs: number): Promise<{ killedNs: bigint; upNs: bigint }>;
  unloadSinks(downMs: number): Promise<{ killedNs: bigint; upNs: bigint }>;
  /**
   * PulseAudio: once a recorder is on the monitor, restarts the null sink's clock (suspend, resume)
   * so that it renders at the streams' latency from now on, as a sound card's sink would. A null
   * sink loaded with no stream renders one 2 s block ahead and sleeps through it: every stream that
   * connects in those 2 s is silent until it ends (measured: first sound 2.0 s after the load,
   * whenever the stream and the recorder connected; a sound card's sink rewinds for a new stream
   * instead). PipeWire: nothing to do (its graph timer drives the null sink). Resolves when done.
   */
  restartSinkClock(): Promise<void>;
  stop(): Promise<void>;
}

export interface RoutingCheck {
  attempts: number;
  /** frames loud on the left only / right only / both, in the probe recording */
  leftOnly: number;
  rightOnly: number;
  bothLoud: number;
}

interface Tracked {
  name: string;
  child: ChildProcess;
  logFile: string | null;
}

const liveServers = new Set<{ pids: () => number[]; dir: string }>();
process.once('exit', () => {
  for (const s of liveServers) {
    for (const pid of s.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(s.dir, { recursive: true, force: true });
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const monoNowNs = (): number => Number(process.hrtime.bigint());

/** process.env without variables that would point a client or daemon at another server or session. */
function cleanBaseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(PULSE_|PIPEWIRE_|WIREPLUMBER_|SPA_|XDG_|JACK_)/.test(k) || k === 'DBUS_SESSION_BUS_ADDRESS' || k === 'HOME') continue;
    env[k] = v;
  }
  return env;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(exited(child)), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (exited(child) || child.pid === undefined) return;
  child.kill('SIGTERM');
  if (await waitExit(child, TERM_WAIT_MS)) return;
  child.kill('SIGKILL');
  await waitExit(child, KILL_WAIT_MS);
}

function tail(file: string | null): string {
  if (file === null || !existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  return text.slice(-LOG_TAIL_CHARS);
}

/** Starts the server, loads the sinks, checks the routing. On any failure everything is stopped. */
export async function startAudioServer(opts: AudioServerOptions): Promise<AudioServer> {
  const kind = opts.kind;
  const name = opts.name ?? kind;
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) throw new RangeError('startAudioServer: bad name');
  const missing = audioServerMissing(kind);
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(path.join(os.tmpdir(), `jas-audio-${name}-`));
  const home = path.join(dir, 'home');
  const run = path.join(dir, 'run');
  const xdg = { state: path.join(dir, 'state'), config: path.join(dir, 'config'), data: path.join(dir, 'data'), cache: path.join(dir, 'cache') };
  for (const d of [home, run, ...Object.values(xdg), path.join(xdg.config, 'pulse')]) mkdirSync(d, { recursive: true, mode: 0o700 });
  // libpulse clients would otherwise autospawn a daemon of their own when ours is not up yet.
  const clientConf = path.join(xdg.config, 'pulse', 'client.conf');
  writeFileSync(clientConf, 'autospawn = no\n');
  const logDir = opts.logDir ?? path.join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const socket = path.join(run, 'pulse', 'native');
  const clientEnv: Record<string, string> = {
    HOME: home,
    XDG_RUNTIME_DIR: run,
    XDG_STATE_HOME: xdg.state,
    XDG_CONFIG_HOME: xdg.config,
    XDG_DATA_HOME: xdg.data,
    XDG_CACHE_HOME: xdg.cache,
    PULSE_SERVER: `unix:${socket}`,
    PULSE_CLIENTCONFIG: clientConf,
  };
  if (kind === 'pipewire') {
    clientEnv['PIPEWIRE_RUNTIME_DIR'] = run;
    clientEnv['DBUS_SESSION_BUS_ADDRESS'] = `unix:path=${path.join(run, 'bus')}`;
  }
  const env: NodeJS.ProcessEnv = { ...cleanBaseEnv(), ...clientEnv };
  const daemonEnv: NodeJS.ProcessEnv = { ...env };
  delete daemonEnv['PULSE_SERVER']; // the daemons serve it; they must not look for it

  const daemons: Tracked[] = [];
  const clients = new Set<ChildProcess>();
  const recorders = new Set<Recorder>();
  let stopped = false;
  const registry = { dir, pids: (): number[] => [...clients, ...daemons.map((d) => d.child)].filter((c) => !exited(c)).map((c) => c.pid).filter((p): p is number => p !== undefined) };
  liveServers.add(registry);

  const startDaemon = (label: string, cmd: string, args: string[]): Tracked => {
    const logFile = path.join(logDir, `${name}-${label}.log`);
    const fd = openSync(logFile, 'a');
    try {
      const child = spawn(cmd, args, { env: daemonEnv, stdio: ['ignore', fd, fd] });
      child.on('error', () => undefined); // reported through exitCode / the waits
      const t = { name: label, child, logFile };
      daemons.push(t);
      return t;
    } finally {
      closeSync(fd);
    }
  };
  const assertDaemonsAlive = (): void => {
    for (const d of daemons) {
      if (exited(d.child)) throw new Error(`${d.name} exited (code ${d.child.exitCode}, signal ${d.child.signalCode}): ${tail(d.logFile)}`);
    }
  };
  const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = START_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      assertDaemonsAlive();
      if (await ok()) return;
      if (Date.now() >= deadline) throw new Error(`${kind}: timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(POLL_MS);
    }
  };
  const pactl = (args: string[], timeoutMs = PACTL_TIMEOUT_MS): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile('pactl', args, { env, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pactl ${args.join(' ')}: ${err.message} ${stderr}`.trim()));
        else resolve(stdout);
      });
    });
  const spawnClient = (cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess => {
    if (stopped) throw new Error('audio server stopped');
    const child = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.on('error', () => undefined);
    clients.add(child);
    child.once('exit', () => clients.delete(child));
    return child;
  };
  const record = (file: string, latencyMs = RECORD_LATENCY_MS): Recorder => {
    const rec = startRecorder(spawnClient, file, latencyMs);
    recorders.add(rec);
    return rec;
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...recorders].map((r) => r.stop().catch(() => undefined)));
    await Promise.all([...clients].map((c) => terminate(c)));
    // reverse start order: the pulse front end and session manager before the graph and the bus
    for (const d of [...daemons].reverse()) await terminate(d.child);
    liveServers.delete(registry);
    rmSync(dir, { recursive: true, force: true });
  };

  // The audio daemons (not the session bus): started here and again by restart().
  const startServerDaemons = async (): Promise<void> => {
    if (kind === 'pulse') {
      // -n: no default.pa, so nothing but what we load (no suspend-on-idle, no hardware probing).
      startDaemon('pulseaudio', 'pulseaudio', [
        '-n', '--daemonize=no', '--use-pid-file=no', '--exit-idle-time=-1', '--log-target=stderr',
        '--load=module-native-protocol-unix auth-anonymous=1',
      ]);
    } else {
      startDaemon('pipewire', 'pipewire', []);
      await waitFor('the pipewire socket', () => existsSync(path.join(run, 'pipewire-0')));
      startDaemon('wireplumber', 'wireplumber', []);
      startDaemon('pipewire-pulse', 'pipewire-pulse', []);
    }
    await waitFor('the pulse socket', () => existsSync(socket));
    await waitFor('pactl info', () => pactl(['info'], 2000).then(() => true, () => false));
    await loadSinks();
  };

  // After a restart, PipeWire makes the sinks itself (pipewireSinksConf): loaded through
  // pipewire-pulse they would come a second or more after the graph, and a member reconnecting in
  // between through PipeWire's ALSA plugin is linked to whatever sink exists (measured: one member
  // on both channels, twice as loud).
  let sinksFromConfig = false;

  /** The null sink and the two remap sinks feeding its channels, the null sink the default. */
  const loadSinks = async (): Promise<void> => {
    if (!sinksFromConfig) {
      await pactl(['load-module', 'module-null-sink', `sink_name=${SINK}`, `rate=${SERVER_RATE_HZ}`, 'channels=2', 'channel_map=front-left,front-right']);
      await pactl(['load-module', 'module-remap-sink', `sink_name=${LEFT_SINK}`, `master=${SINK}`, 'channels=1', 'master_channel_map=front-left', 'channel_map=mono', 'remix=no']);
      await pactl(['load-module', 'module-remap-sink', `sink_name=${RIGHT_SINK}`, `master=${SINK}`, 'channels=1', 'master_channel_map=front-right', 'channel_map=mono', 'remix=no']);
    }
    await pactl(['set-default-sink', SINK]);
    await waitFor('the sinks', async () => {
      const out = await pactl(['list', 'short', 'sinks'], 2000).catch(() => '');
      return [SINK, LEFT_SINK, RIGHT_SINK].every((s) => new RegExp(`\\t${s}\\t`).test(out));
    });
  };

  let routing: RoutingCheck | null = null;
  try {
    if (kind === 'pipewire') {
      const bus = path.join(run, 'bus');
      // wireplumber exits without a session bus, and without wireplumber nothing links streams.
      startDaemon('dbus', 'dbus-daemon', ['--session', `--address=unix:path=${bus}`, '--nofork', '--nopidfile']);
      await waitFor('the session bus socket', () => existsSync(bus));
    }
    await startServerDaemons();
    if (opts.verifyRouting ?? true) routing = await checkRouting(dir, record, spawnClient, assertDaemonsAlive);
  } catch (err) {
    const logs = daemons.map((d) => `--- ${d.name}: ${tail(d.logFile)}`).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  /** SIGKILLs the audio daemons (a crash, or an update restarting them), waits `downMs`, starts them again. */
  const restart = async (downMs: number): Promise<{ killedNs: bigint; upNs: bigint }> => {
    if (stopped) throw new Error('audio server stopped');
    const victims = daemons.filter((d) => d.name !== 'dbus');
    const killedNs = process.hrtime.bigint();
    for (const d of victims) d.child.kill('SIGKILL');
    await Promise.all(victims.map((d) => waitExit(d.child, KILL_WAIT_MS)));
    for (const d of victims) daemons.splice(daemons.indexOf(d), 1);
    rmSync(socket, { force: true });
    if (kind === 'pipewire') {
      rmSync(path.join(run, 'pipewire-0'), { force: true });
      const confDir = path.join(xdg.config, 'pipewire', 'pipewire.conf.d');
      mkdirSync(confDir, { recursive: true });
      writeFileSync(path.join(confDir, '50-jas-sinks.conf'), pipewireSinksConf());
      sinksFromConfig = true;
    }
    await sleep(downMs);
    await startServerDaemons();
    return { killedNs, upNs: process.hrtime.bigint() };
  };

  /**
   * Unloads every sink (the device is gone: with no sink left to move them to, the server ends
   * the streams on them), waits `downMs`, loads them again under the same names.
   */
  const unloadSinks = async (downMs: number): Promise<{ killedNs: bigint; upNs: bigint }> => {
    if (stopped) throw new Error('audio server stopped');
    if (sinksFromConfig) throw new Error('the sinks come from the server\'s config since its restart: they cannot be unloaded');
    const killedNs = process.hrtime.bigint();
    await pactl(['unload-module', 'module-remap-sink']);
    await pactl(['unload-module', 'module-null-sink']);
    await sleep(downMs);
    await loadSinks();
    return { killedNs, upNs: process.hrtime.bigint() };
  };

  const restartSinkClock = async (): Promise<void> => {
    if (kind !== 'pulse') return;
    await waitFor('the recorder on the monitor', async () => {
      const out = await pactl(['list', 'short', 'source-outputs'], 2000).catch(() => '');
      return out.trim() !== '';
    });
    await pactl(['suspend-sink', SINK, '1']);
    await pactl(['suspend-sink', SINK, '0']);
  };

  return {
    kind, dir, clientEnv, env, pactl, spawnClient, record, restart, unloadSinks, restartSinkClock,
    get routing() {
      return routing;
    },
    logTails: () => Object.fromEntries(daemons.map((d) => [d.name, tail(d.logFile)])),
    stop,
  };
}

/**
 * The sinks loadSinks makes through pipewire-pulse, as PipeWire objects of its own config: the null
 * sink (an adapter around support.null-audio-sink) and a loopback per remap sink, a mono sink
 * playing into one channel of it, unremixed.
 */
function pipewireSinksConf(): string {
  const remap = (name: string, channel: 'FL' | 'FR'): string => `  { name = libpipewire-module-loopback
    args = {
      node.description = "${name}"
      capture.props = { node.name = "${name}" media.class = "Audio/Sink" audio.position = [ MONO ] }
      playback.props = { node.name = "output.${name}" target.object = "${SINK}" audio.position = [ ${channel} ] stream.dont-remix = true node.passive = true }
    }
  }`;
  return `context.objects = [
  { factory = adapter
    args = {
      factory.name = support.null-audio-sink
      node.name = "${SINK}"
      node.description = "${SINK}"
      media.class = "Audio/Sink"
      audio.rate = ${SERVER_RATE_HZ}
      audio.position = [ FL FR ]
      monitor.channel-volumes = true
      object.linger = true
    }
  }
]
context.modules = [
${remap(LEFT_SINK, 'FL')}
${remap(RIGHT_SINK, 'FR')}
]
`;
}

/** Plays noise into each remap sink in turn and checks it lands on its own channel of the monitor. */
async function checkRouting(
  dir: string,
  record: (file: string, latencyMs?: number) => Recorder,
  spawnClient: (cmd: string, args: string[], extraEnv?: NodeJS.ProcessEnv) => ChildProcess,
  assertAlive: () => void,
): Promise<RoutingCheck> {
  const frames = Math.round((PROBE_MS / 1000) * SERVER_RATE_HZ);
  const noise = Buffer.alloc(frames * 2);
  let seed = 12345;
  for (let i = 0; i < frames; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0; // any noise will do: a tiny LCG
    noise.writeInt16LE(Math.round(((seed / 2 ** 32) * 2 - 1) * PROBE_AMPLITUDE), i * 2);
  }
  let last: RoutingCheck = { attempts: 0, leftOnly: 0, rightOnly: 0, bothLoud: 0 };
  for (let attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
    assertAlive();
    const file = path.join(dir, `routing-probe-${attempt}.raw`);
    const rec = record(file);
    await sleep(300);
    for (const sink of [LEFT_SINK, RIGHT_SINK]) {
      const p = spawnClient('pacat', ['--playback', '--raw', '-d', sink, '--format=s16le', `--rate=${SERVER_RATE_HZ}`, '--channels=1', '--latency-msec=50']);
      p.stdin?.end(noise);
      if (!(await waitExit(p, 5000))) await terminate(p);
    }
    await sleep(300);
    await rec.stop();
    const buf = readFileSync(file);
    rmSync(file, { force: true });
    let leftOnly = 0;
    let rightOnly = 0;
    let bothLoud = 0;
    for (let i = 0; i + 4 <= buf.length; i += 4) {
      const l = Math.abs(buf.readInt16LE(i));
      const r = Math.abs(buf.readInt16LE(i + 2));
      if (l > PROBE_LOUD && r > PROBE_LOUD) bothLoud++;
      else if (l > PROBE_LOUD && r < PROBE_QUIET) leftOnly++;
      else if (r > PROBE_LOUD && l < PROBE_QUIET) rightOnly++;
    }
    last = { attempts: attempt, leftOnly, rightOnly, bothLoud };
    const enough = frames / 4; // most noise samples exceed PROBE_LOUD; a quarter proves the path
    if (leftOnly >= enough && rightOnly >= enough && bothLoud === 0) return last;
    await sleep(PROBE_RETRY_MS);
  }
  throw new Error(`remap sinks do not route to their own channels: ${JSON.stringify(last)} (frames per side ${frames})`);
}

function startRecorder(
  spawnClient: (cmd: string, args: string[], extraEnv?: NodeJS.ProcessEnv) => ChildProcess,
  file: string,
  latencyMs: number,
): Recorder {
  const channels = 2;
  const bytesPerFrame = 2 * channels;
  const fd = openSync(file, 'w');
  let fdOpen = true;
  const arrivals: Arrival[] = [];
  let bytes = 0;
  let stderrTail = '';
  const startMonoNs = monoNowNs();
  const child = spawnClient('parec', [
    `--latency-msec=${latencyMs}`, '-d', `${SINK}.monitor`, `--rate=${SERVER_RATE_HZ}`, `--channels=${channels}`, '--format=s16le',
  ]);
  child.stdin?.end();
  child.stdout?.on('data', (c: Buffer) => {
    const monoNs = monoNowNs();
    if (!fdOpen) return;
    writeSync(fd, c);
    bytes += c.length;
    arrivals.push({ monoNs, endFrame: Math.floor(bytes / bytesPerFrame) });
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderrTail = (stderrTail + c.toString('utf8')).slice(-LOG_TAIL_CHARS);
  });
  const closed = new Promise<void>((resolve) => {
    if (child.stdout === null) resolve();
    else child.stdout.once('close', () => resolve());
  });
  let result: Promise<RecordingInfo> | undefined;
  return {
    file,
    startMonoNs,
    frames: () => Math.floor(bytes / bytesPerFrame),
    stop() {
      result ??= (async () => {
        await terminate(child);
        await Promise.race([closed, sleep(KILL_WAIT_MS)]); // the last chunks still in the pipe
        fdOpen = false;
        closeSync(fd);
        const size = statSync(file).size;
        const frames = Math.floor(size / bytesPerFrame);
        return {
          file, frames, rate: SERVER_RATE_HZ, channels, startMonoNs,
          arrivals: arrivals.filter((a) => a.endFrame <= frames),
          exit: `code ${child.exitCode} signal ${child.signalCode}`,
          stderrTail,
        };
      })();
      return result;
    },
  };
}
