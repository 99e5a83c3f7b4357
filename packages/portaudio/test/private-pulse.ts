// Test fixture: a private PulseAudio daemon with a 48 kHz stereo null sink `jas`, reachable by
// this process (ALSA's default/pulse devices) through HOME/XDG_RUNTIME_DIR in a temp dir, and a
// parec recorder of the sink's monitor. Everything is torn down by the returned stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const START_TIMEOUT_MS = 10_000;
const EXIT_WAIT_MS = 3_000;

export function missingPulseTools(): string | undefined {
  for (const tool of ['pulseaudio', 'parec']) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) return `${tool} not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)`;
  }
  return undefined;
}

export interface PrivatePulse {
  env: NodeJS.ProcessEnv;
  dir: string;
  stop(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await sleep(20);
  }
  return false;
}

/** Starts the daemon and points this process's environment at it (libpulse reads it on connect). */
export async function startPrivatePulse(): Promise<PrivatePulse> {
  const dir = mkdtempSync(path.join(tmpdir(), 'jas-pulse-'));
  const home = path.join(dir, 'home');
  const run = path.join(dir, 'run');
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(run, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_RUNTIME_DIR: run };
  delete env['PULSE_SERVER'];
  const r = spawnSync(
    'pulseaudio',
    [
      '-n',
      '--daemonize=yes',
      '--exit-idle-time=-1',
      '--load=module-native-protocol-unix',
      '--load=module-null-sink sink_name=jas rate=48000 channels=2',
      '--load=module-always-sink',
    ],
    { env, encoding: 'utf8', timeout: START_TIMEOUT_MS },
  );
  const pidFile = path.join(run, 'pulse', 'pid');
  let pid: number | undefined;
  const stop = async (): Promise<void> => {
    if (pid !== undefined && !(await waitForExit(pid, 0))) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      if (!(await waitForExit(pid, EXIT_WAIT_MS))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  if (r.status !== 0 || !existsSync(pidFile)) {
    await stop();
    throw new Error(`pulseaudio did not start (exit ${String(r.status)}): ${r.stderr}`);
  }
  pid = Number(readFileSync(pidFile, 'utf8').trim());
  const socket = path.join(run, 'pulse', 'native');
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(socket) && Date.now() < deadline) await sleep(20);
  if (!existsSync(socket)) {
    await stop();
    throw new Error('pulseaudio socket did not appear');
  }
  process.env['HOME'] = home;
  process.env['XDG_RUNTIME_DIR'] = run;
  delete process.env['PULSE_SERVER'];
  return { env, dir, stop };
}

export interface MonitorRecorder {
  /** Stops parec and returns the recorded interleaved s16le stereo samples. */
  stop(): Promise<Int16Array>;
}

/** Records the null sink's monitor (interleaved int16 stereo at 48 kHz) until stop(). */
export function recordMonitor(env: NodeJS.ProcessEnv): MonitorRecorder {
  const chunks: Buffer[] = [];
  const child: ChildProcess = spawn(
    'parec',
    ['-d', 'jas.monitor', '--format=s16le', '--rate=48000', '--channels=2', '--latency-msec=20'],
    { env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(EXIT_WAIT_MS)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      const all = Buffer.concat(chunks);
      const samples = Math.floor(all.length / 4) * 2;
      const out = new Int16Array(samples);
      for (let i = 0; i < samples; i++) out[i] = all.readInt16LE(i * 2);
      return out;
    },
  };
}
