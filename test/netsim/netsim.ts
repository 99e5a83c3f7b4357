// Netsim: simulated hosts (leader + member1..N) in network namespaces behind a userspace
// impairment switch, driven through jas-net.sh. Owns the namespaces and every process it spawns
// on them; down() (also run on exit/SIGINT/SIGTERM) removes all of it. Needs root.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const MAX_MEMBERS = 32; // 10.99.0.2..33; longest port name veth-member32 fits IFNAMSIZ
const UP_TIMEOUT_MS = 60_000; // 32 members take ~10 s on a busy 2-core box
const CMD_TIMEOUT_MS = 20_000; // impair/blackhole/link each take ~0.3 s (hub config poll)
const KILL_GRACE_MS = 2_000; // SIGTERM -> SIGKILL for spawned processes in down()

export type HostName = 'leader' | `member${number}`;

/** Impairment of one host's port; applies to frames in both directions through that port. */
export interface Impairment {
  delayMs: number;
  /** standard deviation of normally distributed extra delay (clipped at 0 total) */
  jitterMs: number;
  lossPct: number;
}

export const PROFILES = {
  wifi: { delayMs: 5, jitterMs: 3, lossPct: 1 },
  lan: { delayMs: 0.2, jitterMs: 0.05, lossPct: 0 },
  clean: { delayMs: 0, jitterMs: 0, lossPct: 0 },
} as const satisfies Record<string, Impairment>;
export type ProfileName = keyof typeof PROFILES;

export function isProfileName(s: string): s is ProfileName {
  return Object.hasOwn(PROFILES, s);
}

export interface NetsimOptions {
  members: number;
  /** namespace prefix; default jas<pid>- (plus a counter for further simulations in one process) */
  prefix?: string;
  /** state dir; default /tmp/jasnet/<prefix> */
  stateDir?: string;
}

export interface SpawnOnHostOptions {
  /** added to process.env */
  env?: Record<string, string | undefined>;
  cwd?: string;
  stdio?: 'pipe' | 'inherit' | 'ignore';
}

export interface PingResult {
  sent: number;
  received: number;
  rttMs: number[];
}

/** Finds jas-net.sh whether we run from test/dist/netsim (compiled) or test/netsim (tsx). */
export function netsimScriptPath(): string {
  const candidates = ['./jas-net.sh', '../../netsim/jas-net.sh'].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`jas-net.sh not found (tried ${candidates.join(', ')})`);
  return found;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Why netsim cannot run here, or undefined when it can (for test skip messages). */
export function netsimUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'netsim needs Linux network namespaces';
  if (!isRoot()) return 'netsim needs root (network namespaces); run the tests as root';
  for (const tool of ['/usr/sbin/ethtool', '/usr/bin/ping']) {
    if (!existsSync(tool) && !existsSync(tool.replace('/usr', ''))) {
      return `netsim needs ${tool} (Debian packages ethtool, iputils-ping)`;
    }
  }
  return undefined;
}

export function hostIp(host: string): string {
  if (host === 'leader') return '10.99.0.1';
  const m = /^member([0-9]{1,2})$/.exec(host);
  const k = m?.[1] === undefined ? NaN : Number(m[1]);
  if (!(k >= 1 && k <= MAX_MEMBERS)) throw new Error(`bad host name ${JSON.stringify(host)}`);
  return `10.99.0.${k + 1}`;
}

const live = new Set<Netsim>();
let hooksInstalled = false;
let simCounter = 0;

function onExitSync(): void {
  for (const sim of live) sim.downSync();
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  await Promise.allSettled([...live].map((sim) => sim.down()));
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExitSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function removeHooksIfIdle(): void {
  if (!hooksInstalled || live.size > 0) return;
  hooksInstalled = false;
  process.off('exit', onExitSync);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

export class Netsim {
  readonly hosts: readonly HostName[];
  private readonly children = new Set<ChildProcess>();
  private state: 'up' | 'stopping' | 'down' = 'up';
  private downPromise: Promise<void> | undefined;

  private constructor(
    readonly prefix: string,
    readonly stateDir: string,
    readonly members: number,
    private readonly script: string,
  ) {
    const hosts: HostName[] = ['leader'];
    for (let k = 1; k <= members; k++) hosts.push(`member${k}`);
    this.hosts = hosts;
  }

  static async up(opts: NetsimOptions): Promise<Netsim> {
    const why = netsimUnavailableReason();
    if (why !== undefined) throw new Error(why);
    if (!Number.isInteger(opts.members) || opts.members < 1 || opts.members > MAX_MEMBERS) {
      throw new Error(`members must be an integer 1..${MAX_MEMBERS}, got ${opts.members}`);
    }
    const prefix = opts.prefix ?? `jas${process.pid}${simCounter === 0 ? '' : `n${simCounter}`}-`;
    simCounter++;
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(prefix)) throw new Error(`bad netsim prefix ${prefix}`);
    const stateDir = opts.stateDir ?? `/tmp/jasnet/${prefix}`;
    const sim = new Netsim(prefix, stateDir, opts.members, netsimScriptPath());
    await Netsim.gc();
    installHooks();
    live.add(sim); // before `up` so a signal during setup still tears down
    try {
      await sim.run(['up', String(opts.members)], UP_TIMEOUT_MS);
    } catch (err) {
      await sim.down();
      throw err;
    }
    return sim;
  }

  /**
   * Removes simulations left behind by dead processes (e.g. a SIGKILLed test run): only those
   * whose owner, recorded at `up`, no longer exists. Best effort; never throws.
   */
  static async gc(): Promise<void> {
    try {
      await execFileAsync('bash', [netsimScriptPath(), 'gc'], { timeout: UP_TIMEOUT_MS });
    } catch {
      // a failed cleanup of someone else's leftovers must not stop this run
    }
  }

  ip(host: string): string {
    this.checkHost(host);
    return hostIp(host);
  }

  /**
   * Runs cmd "on" host: in its network namespace, with os.hostname() === host and an
   * /etc/hosts naming every simulated host. The returned child is the command itself
   * (every wrapper execs), so child.kill() signals it directly.
   */
  spawn(host: string, cmd: string, args: readonly string[], opts: SpawnOnHostOptions = {}): ChildProcess {
    this.checkUp();
    this.checkHost(host);
    const child = spawn('bash', [this.script, 'exec', host, cmd, ...args], {
      env: { ...process.env, ...this.scriptEnv(), ...opts.env },
      cwd: opts.cwd,
      stdio: opts.stdio ?? 'pipe',
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  /** Runs cmd on host to completion (bounded by timeoutMs); rejects on non-zero exit. */
  async exec(host: string, cmd: string, args: readonly string[], timeoutMs = CMD_TIMEOUT_MS): Promise<{ stdout: string; stderr: string }> {
    this.checkUp();
    this.checkHost(host);
    return this.run(['exec', host, cmd, ...args], timeoutMs);
  }

  /** Limits host's link to `kbit` kbit/s in each direction (0: unlimited), like a slow WiFi station. */
  async limitRate(host: string, kbit: number): Promise<void> {
    this.checkHost(host);
    if (!Number.isInteger(kbit) || kbit < 0 || kbit > 10_000_000) throw new Error(`limitRate: bad rate ${kbit}`);
    await this.run(['rate', host, String(kbit)]);
  }

  /**
   * Keeps frame order per IPv4 flow instead of per host: for a host that stands for many devices
   * (light members sharing one namespace), whose frames must not queue behind each other.
   */
  async perFlowOrder(host: string, on: boolean): Promise<void> {
    this.checkHost(host);
    await this.run(['flows', host, on ? 'on' : 'off']);
  }

  async impair(host: string, imp: Impairment | ProfileName): Promise<void> {
    this.checkHost(host);
    const i = typeof imp === 'string' ? PROFILES[imp] : imp;
    for (const [k, v] of Object.entries(i)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`impair: bad ${k} ${v}`);
    }
    if (i.lossPct > 100) throw new Error(`impair: lossPct ${i.lossPct} > 100`);
    await this.run(['impair', host, String(i.delayMs), String(i.jitterMs), String(i.lossPct)]);
  }

  async blackhole(host: string, on: boolean): Promise<void> {
    this.checkHost(host);
    await this.run(['blackhole', host, on ? 'on' : 'off']);
  }

  async link(host: string, state: 'up' | 'down'): Promise<void> {
    this.checkHost(host);
    await this.run(['link', host, state]);
  }

  /** count pings 20 ms apart from one host to another; lost pings are simply not in rttMs. */
  async ping(from: string, to: string, count: number): Promise<PingResult> {
    if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new Error(`bad ping count ${count}`);
    let stdout: string;
    try {
      ({ stdout } = await this.exec(from, 'ping', ['-n', '-c', String(count), '-i', '0.02', '-W', '1', this.ip(to)], CMD_TIMEOUT_MS + count * 50));
    } catch (err) {
      // ping exits 1 when nothing came back; its stdout still has the summary
      stdout = String((err as { stdout?: unknown }).stdout ?? '');
    }
    const rttMs = [...stdout.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]));
    const sum = /([0-9]+) packets transmitted, ([0-9]+) received/.exec(stdout);
    return { sent: Number(sum?.[1] ?? count), received: Number(sum?.[2] ?? rttMs.length), rttMs };
  }

  /**
   * From now on every command on host sees src at dst (a bind mount in the command's own mount
   * namespace; the real dst is untouched): e.g. a per-host /run for dbus and avahi-daemon.
   */
  async bind(host: string, src: string, dst: string): Promise<void> {
    this.checkHost(host);
    await this.run(['bind', host, src, dst]);
  }

  /** A second link between two hosts, beside the hub's LAN: a veth pair with an address at each end. */
  async wire(a: { host: string; iface: string; cidr: string }, b: { host: string; iface: string; cidr: string }): Promise<void> {
    this.checkHost(a.host);
    this.checkHost(b.host);
    await this.run(['wire', a.host, a.iface, a.cidr, b.host, b.iface, b.cidr]);
  }

  /** Kills everything spawned here and removes the namespaces. Safe to call twice. */
  down(): Promise<void> {
    this.downPromise ??= this.doDown();
    return this.downPromise;
  }

  /** Synchronous teardown for process 'exit' handlers. */
  downSync(): void {
    if (this.state === 'down') return;
    this.state = 'down';
    for (const c of this.children) c.kill('SIGKILL');
    try {
      execFileSync('bash', [this.script, 'down'], { env: { ...process.env, ...this.scriptEnv() }, stdio: 'ignore', timeout: CMD_TIMEOUT_MS });
    } catch {
      // best effort while exiting
    }
    live.delete(this);
  }

  private async doDown(): Promise<void> {
    if (this.state === 'down') return;
    this.state = 'stopping';
    const exits = [...this.children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const timer = setTimeout(() => {
            c.kill('SIGKILL');
            resolve();
          }, KILL_GRACE_MS);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
    try {
      await this.run(['down'], CMD_TIMEOUT_MS, true);
    } finally {
      this.state = 'down';
      live.delete(this);
      removeHooksIfIdle();
    }
  }

  private scriptEnv(): Record<string, string> {
    return { JAS_NETSIM_PREFIX: this.prefix, JAS_STATE: this.stateDir, JAS_NETSIM_OWNER: String(process.pid) };
  }

  private async run(args: string[], timeoutMs = CMD_TIMEOUT_MS, evenIfDown = false): Promise<{ stdout: string; stderr: string }> {
    if (!evenIfDown) this.checkUp();
    return execFileAsync('bash', [this.script, ...args], {
      env: { ...process.env, ...this.scriptEnv() },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
  }

  private checkUp(): void {
    if (this.state !== 'up') throw new Error(`netsim ${this.prefix} is ${this.state}`);
  }

  private checkHost(host: string): void {
    if (!(this.hosts as readonly string[]).includes(host)) {
      throw new Error(`no host ${JSON.stringify(host)} in this netsim (hosts: ${this.hosts.join(', ')})`);
    }
  }
}
