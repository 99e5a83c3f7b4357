// Starts a real leader and real members (the daemons' compiled bins, separate processes) either on
// loopback or on simulated hosts, with capture sinks, injected clock errors and DAC rate errors;
// talks to the leader's REST API; kills and restarts pieces. Used by the demo, e2e tests and
// benchmarks. Everything it starts is stopped by stop() (also registered for process exit).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LEADER_NODE_FLAGS } from '@jaudiosync/leader/node-flags';
import { MEMBER_NODE_FLAGS } from '@jaudiosync/member/node-flags';

/** Logs longer than this are read as their first and last halves (bytes). */
const LOG_READ_LIMIT = 32 * 1024 * 1024;
export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');
export const LEADER_BIN = join(REPO_ROOT, 'packages/leader/dist/src/bin/jaudiosync-leader.js');
export const MEMBER_BIN = join(REPO_ROOT, 'packages/member/dist/src/bin/jaudiosync-member.js');
export const EXAMPLE_PLAYLIST = join(REPO_ROOT, 'Music/Playlist.m3u8');

let memberBinProblem: string | false | undefined;
/** A test's skip reason when the member daemon cannot run here (not built, or its --help fails); false when it can. Checked once. */
export function memberBinSkip(): string | false {
  memberBinProblem ??= spawnSync(process.execPath, [MEMBER_BIN, '--help'], { timeout: 20_000, stdio: 'ignore' }).status === 0
    ? false : 'member daemon not built (jaudiosync-member --help fails)';
  return memberBinProblem;
}

export type Spawner = (host: string, cmd: string, args: string[], env: NodeJS.ProcessEnv) => ChildProcess;

export interface ClusterMember {
  id: string;
  /** injected clock error of the member process (ClockSource) */
  clockOffsetUs?: number;
  clockRatePpm?: number;
  /** capture sink DAC rate error and latency */
  dacPpm?: number;
  latencyMs?: number;
  extraArgs?: string[];
  /** netsim host the member runs on (default: its id); several members may share one host */
  host?: string;
  /** WebSocket port (default: loopback basePort + i, netsim 7701) */
  port?: number;
}

/** The leader timescale anchor, as logged by the leader at start (`"msg":"leader timescale"`). */
export interface LeaderAnchor {
  anchorWallUs: number;
  anchorMonoNs: bigint;
}

/** A revision the leader logged as sent (`"msg":"timeline sent"`). */
export interface LoggedRevision {
  rev: number;
  atUs: number;
  playing: boolean;
  index: number;
  frame: number;
}

/** True leader time (µs) at a host CLOCK_MONOTONIC reading in ns (e.g. a capture frame's true time). */
export function leaderUsAtHostMonoNs(anchor: LeaderAnchor, hostMonoNs: number): number {
  // differences first: both absolute values are ~1e15 and would lose sub-µs precision
  return anchor.anchorWallUs + (hostMonoNs - Number(anchor.anchorMonoNs)) / 1000;
}

/** Host CLOCK_MONOTONIC ns at which the leader timescale reads `leaderUs` (inverse of leaderUsAtHostMonoNs). */
export function hostMonoNsAtLeaderUs(anchor: LeaderAnchor, leaderUs: number): number {
  return Number(anchor.anchorMonoNs) + (leaderUs - anchor.anchorWallUs) * 1000;
}

/** Parses one leader log line; the anchor, or undefined. */
export function parseLeaderAnchorLine(line: string): LeaderAnchor | undefined {
  if (!line.includes('"leader timescale"')) return undefined;
  try {
    const o = JSON.parse(line) as { anchorWallUs?: unknown; anchorMonoNs?: unknown };
    if (typeof o.anchorWallUs !== 'number' || typeof o.anchorMonoNs !== 'string' || !/^[0-9]+$/.test(o.anchorMonoNs)) return undefined;
    return { anchorWallUs: o.anchorWallUs, anchorMonoNs: BigInt(o.anchorMonoNs) };
  } catch {
    return undefined;
  }
}

/** Parses one leader log line; the revision it sent, or undefined. */
export function parseRevisionLine(line: string): LoggedRevision | undefined {
  if (!line.includes('"timeline sent"')) return undefined;
  try {
    const o = JSON.parse(line) as { rev?: unknown; revision?: { atUs?: unknown; playing?: unknown; index?: unknown; frame?: unknown } };
    const r = o.revision;
    if (typeof o.rev !== 'number' || r === undefined || typeof r.atUs !== 'number' || typeof r.playing !== 'boolean' || typeof r.index !== 'number' || typeof r.frame !== 'number') return undefined;
    return { rev: o.rev, atUs: r.atUs, playing: r.playing, index: r.index, frame: r.frame };
  } catch {
    return undefined;
  }
}

export interface ClusterOptions {
  dir: string;
  members: ClusterMember[];
  playlist?: string;
  /** loopback (default): ports are offset per member; netsim: each member on host `id`. */
  spawner?: Spawner;
  /** address members and the REST client use to reach the leader */
  leaderAddress?: string;
  /** how the leader reaches member i (default 127.0.0.1:basePort+i); null = discover over mDNS */
  memberAddress?: ((m: ClusterMember, i: number) => string) | null;
  httpPort?: number;
  ntpPort?: number;
  basePort?: number;
  minLeadMs?: number;
  leaderArgs?: string[];
  /** further member addresses host:port the leader dials (e.g. light members, light-member.ts);
   *  start() waits for them to connect too */
  extraMemberAddresses?: string[];
  /** how long start() waits for every member to connect (default 30 s) */
  connectTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Environment of the leader only (on top of `env`), e.g. libfaketime. */
  leaderEnv?: NodeJS.ProcessEnv;
  /** REST token sent with every api() call (a leader with a shared key). */
  token?: string;
  /** REST transport when the leader is not reachable by URL from here (netsim: a unix-socket proxy). */
  request?: (method: string, path: string, body?: unknown) => Promise<{ status: number; text: string }>;
}

const localSpawner: Spawner = (_host, cmd, args, env) => spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export class Cluster {
  readonly leaderUrl: string;
  private leader: ChildProcess | null = null;
  private readonly members = new Map<string, ChildProcess>();
  private readonly spawner: Spawner;
  private readonly httpPort: number;
  private readonly ntpPort: number;
  private readonly basePort: number;

  private constructor(readonly opts: ClusterOptions) {
    this.spawner = opts.spawner ?? localSpawner;
    this.httpPort = opts.httpPort ?? 17700 + (process.pid % 500) * 4;
    this.ntpPort = opts.ntpPort ?? this.httpPort + 1;
    this.basePort = opts.basePort ?? this.httpPort + 2000;
    this.leaderUrl = `http://${opts.leaderAddress ?? '127.0.0.1'}:${this.httpPort}`;
    mkdirSync(opts.dir, { recursive: true });
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    try {
      opts.members.forEach((m, i) => c.startMember(m, i));
      c.startLeader();
      const expected = opts.members.length + (opts.extraMemberAddresses?.length ?? 0);
      await c.waitFor((s) => s.members.filter((m) => m.connected).length === expected, opts.connectTimeoutMs ?? 30_000, 'all members connected');
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  memberPort(i: number): number {
    return this.opts.members[i]?.port ?? (this.opts.spawner ? 7701 : this.basePort + i);
  }

  /** pid of a running member process (its own pid: netsim wrappers exec), or undefined. */
  memberPid(id: string): number | undefined {
    return this.members.get(id)?.pid;
  }

  leaderPid(): number | undefined {
    return this.leader?.pid;
  }

  /** The leader's timescale anchor from its log (undefined until it has logged it). */
  leaderAnchor(): LeaderAnchor | undefined {
    for (const line of this.readLog('leader')) {
      const a = parseLeaderAnchorLine(line);
      if (a) return a;
    }
    return undefined;
  }

  /** Every revision the leader logged as sent, in log order (a revision sent again appears once). */
  leaderRevisions(): LoggedRevision[] {
    const seen = new Map<number, LoggedRevision>();
    for (const line of this.readLog('leader')) {
      const r = parseRevisionLine(line);
      if (r && !seen.has(r.rev)) seen.set(r.rev, r);
    }
    return [...seen.values()];
  }

  /** Lines of a process log (leader or member id); empty if none yet. */
  /**
   * The log's lines. A log beyond LOG_READ_LIMIT (a library flooding stderr: PortAudio's ALSA
   * thread after the audio server died wrote 1 GB a minute) is read as its first and last halves.
   */
  readLog(name: string): string[] {
    const p = this.logPath(name);
    if (!existsSync(p)) return [];
    const size = statSync(p).size;
    if (size <= LOG_READ_LIMIT) return readFileSync(p, 'utf8').split('\n');
    const half = LOG_READ_LIMIT / 2;
    const fd = openSync(p, 'r');
    try {
      const head = Buffer.alloc(half);
      const tail = Buffer.alloc(half);
      readSync(fd, head, 0, half, 0);
      readSync(fd, tail, 0, half, size - half);
      return [...head.toString('utf8').split('\n'), `[${size - 2 * half} bytes of log skipped]`, ...tail.toString('utf8').split('\n')];
    } finally {
      closeSync(fd);
    }
  }

  capturePath(id: string): string {
    return join(this.opts.dir, `${id}.capture`);
  }

  logPath(name: string): string {
    return join(this.opts.dir, `${name}.log`);
  }

  startLeader(extra: string[] = []): void {
    const args = [
      ...LEADER_NODE_FLAGS,
      LEADER_BIN,
      '--http-port', String(this.httpPort),
      '--ntp-port', String(this.ntpPort),
      '--state-dir', join(this.opts.dir, 'leader-state'),
      '--min-lead-ms', String(this.opts.minLeadMs ?? 250),
      ...(this.opts.playlist ? ['--playlist', this.opts.playlist] : []),
    ];
    if (this.opts.memberAddress !== null) {
      args.push('--no-mdns');
      this.opts.members.forEach((m, i) => {
        args.push('--member', this.opts.memberAddress ? this.opts.memberAddress(m, i) : `127.0.0.1:${this.memberPort(i)}`);
      });
      for (const a of this.opts.extraMemberAddresses ?? []) args.push('--member', a);
    }
    args.push(...(this.opts.leaderArgs ?? []), ...extra);
    this.leader = this.launch('leader', 'leader', args, this.opts.leaderEnv ?? {});
  }

  /** Starts (or restarts) a member; `captureName` records into another file (e.g. after a restart). */
  startMember(m: ClusterMember, i = this.opts.members.indexOf(m), captureName = m.id): void {
    const args = [
      ...MEMBER_NODE_FLAGS,
      MEMBER_BIN,
      '--id', m.id,
      '--port', String(this.memberPort(i)),
      '--sink', 'capture',
      '--capture-file', this.capturePath(captureName),
      '--capture-ppm', String(m.dacPpm ?? 0),
      '--capture-latency-ms', String(m.latencyMs ?? 20),
      '--cache-dir', join(this.opts.dir, `${m.id}-cache`),
      '--state-dir', join(this.opts.dir, `${m.id}-state`),
      ...(this.opts.memberAddress === null ? [] : ['--no-mdns']),
      ...(m.extraArgs ?? []),
    ];
    const env: NodeJS.ProcessEnv = {
      JAS_CLOCK_OFFSET_US: String(m.clockOffsetUs ?? 0),
      JAS_CLOCK_RATE_PPM: String(m.clockRatePpm ?? 0),
    };
    this.members.set(m.id, this.launch(m.host ?? m.id, m.id, args, env));
  }

  private launch(host: string, name: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const log = createWriteStream(this.logPath(name), { flags: 'a' });
    const child = this.spawner(host, process.execPath, args, { ...process.env, ...this.opts.env, ...env });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    live.add(child);
    child.once('exit', () => live.delete(child));
    // 'close', not 'exit': a child's stdout and stderr may still hold data when it exits, and a
    // write into the ended log threw ERR_STREAM_WRITE_AFTER_END in the test process (load test,
    // one clean-clone run).
    child.once('close', () => log.end());
    return child;
  }

  async killMember(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.members.get(id);
    if (c) await killAndWait(c, signal);
    this.members.delete(id);
  }

  async killLeader(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.leader) await killAndWait(this.leader, signal);
    this.leader = null;
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    if (this.opts.request) {
      const r = await this.opts.request(method, path, body);
      return { status: r.status, body: (r.text ? JSON.parse(r.text) : null) as T };
    }
    const headers: Record<string, string> = this.opts.token !== undefined ? { authorization: `Bearer ${this.opts.token}` } : {};
    const init: RequestInit = { method, signal: AbortSignal.timeout(10_000), headers };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${this.leaderUrl}${path}`, init);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async status(): Promise<ClusterStatus> {
    const r = await this.api<ClusterStatus>('GET', '/api/status');
    if (r.status !== 200) throw new Error(`status: HTTP ${r.status}`);
    return r.body;
  }

  /** Polls /api/status until `pred` holds; bounded by `timeoutMs`. */
  async waitFor(pred: (s: ClusterStatus) => boolean, timeoutMs: number, what: string): Promise<ClusterStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = null;
    while (Date.now() < deadline) {
      try {
        const s = await this.status();
        last = s;
        if (pred(s)) return s;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(250);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last status: ${JSON.stringify(last)?.slice(0, 2000)}`);
  }

  async stop(): Promise<void> {
    const all = [...this.members.values(), ...(this.leader ? [this.leader] : [])];
    await Promise.all(all.map((c) => killAndWait(c, 'SIGTERM')));
    this.members.clear();
    this.leader = null;
  }
}

export interface ClusterStatus {
  playing: boolean;
  position: { rev: number; index: number; frame: number; positionMs: number; atUs: number } | null;
  playlist: Array<{ id?: string; title?: string; frames?: number; [k: string]: unknown }>;
  members: Array<{
    id: string;
    connected: boolean;
    /** playlist tracks cached on the member's disk */
    ready?: number;
    /** playlist tracks decoded in the member's memory */
    decoded?: number;
    health: string;
    clock: { synced: boolean; offsetUs: number; uncertaintyUs: number; rttUs: number; ratePpm: number } | null;
    audio: { underruns: number; driftPpm: number; correctionPpm: number; dacLatencyUs: number } | null;
    [k: string]: unknown;
  }>;
  leader: { nowUs: number; [k: string]: unknown };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
