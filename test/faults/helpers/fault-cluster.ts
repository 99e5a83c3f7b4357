// A leader and capture-sink members for fault tests, on simulated hosts (netsim: one namespace per
// host, links that can be cut) or on loopback. Adds to Cluster what fault tests need: the REST API
// through a unix-socket proxy into the leader's namespace (also raw requests for bad-input tests),
// per-host environment (libfaketime), the daemons' pids, and the leader's timescale anchor, which
// maps leader time to the host monotonic axis the captures use.
import { request as httpRequest } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { readCapture, type Capture } from '@jaudiosync/member/capture-file';
import { parseKey, restToken } from '@jaudiosync/protocol';
import { Cluster, sleep, type ClusterMember, type ClusterOptions, type Spawner } from '../../helpers/cluster.js';
import { Netsim, netsimUnavailableReason } from '../../netsim/netsim.js';
import { ChildLines } from '../../netsim/child-lines.js';
import { findHoles, type TimelineMap } from './click-check.js';

export const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
// The testkit's unix-socket proxy (test/helpers/rest-proxy.ts): same usage, SOCKET PORT, prints ready.
const PROXY = fileURLToPath(new URL('../../helpers/rest-proxy.js', import.meta.url));
/** Leader HTTP and NTP ports on simulated hosts (each host has its own port space). */
const NETSIM_HTTP_PORT = 7700;
const NETSIM_NTP_PORT = 11123;
const REQUEST_TIMEOUT_MS = 10_000;
/** Loopback port blocks per test process: HTTP, NTP, then one per member (<= 32). */
const LOOPBACK_PORT_BASE = 20_000;
const LOOPBACK_PORT_STRIDE = 64;
const LOOPBACK_PORT_SLOTS = 600;
/** Members run at the priority systemd/jaudiosync-member.service gives them (Nice=-10). The leader
 * too: on real hosts nobody shares its CPU with 8 members; at nice 0 beside them on 2 cores it
 * answered REST calls seconds late (load.test.ts), measuring the co-location, not the leader. */
const DAEMON_NICE = -10;
/** Status poll of the underrun monitor. */
const MONITOR_INTERVAL_MS = 500;

export interface FaultClusterOptions {
  dir: string;
  members: ClusterMember[];
  playlist?: string;
  /** simulated hosts (default) or loopback */
  netsim?: boolean;
  /** extra environment per host name ('leader', 'member1', ...) */
  hostEnv?: Record<string, NodeJS.ProcessEnv>;
  leaderArgs?: string[];
  minLeadMs?: number;
  /** the group's shared key (jas1_...): every daemon gets it (JAS_KEY), REST calls send its token */
  key?: string;
  /** extra node flags per host (diagnostics, e.g. ['--trace-gc', '--cpu-prof']) */
  hostNodeArgs?: Record<string, string[]>;
}

export interface RawReply {
  status: number;
  text: string;
  json: unknown;
}

export interface LeaderAnchor {
  anchorWallUs: number;
  anchorMonoNs: number;
}

/** Why fault tests on simulated hosts cannot run here (undefined: they can). */
export function faultSkipReason(): string | undefined {
  return netsimUnavailableReason();
}

export class FaultCluster implements TimelineMap {
  readonly pids = new Map<string, number>();
  readonly children = new Map<string, ChildProcess>();
  private socketPath: string;
  private proxy: ChildProcess | null = null;
  private monitorTimer: NodeJS.Timeout | null = null;
  private readonly underrunSamples: Array<{ ns: number; counts: Map<string, number> }> = [];

  /** loopback: the leader's URL (known before Cluster.start returns, which already polls status) */
  private loopbackUrl = '';
  /** `Bearer <REST token>` when the group has a key */
  readonly authorization: string | null;

  private constructor(readonly opts: FaultClusterOptions, readonly net: Netsim | null, public cluster: Cluster | null) {
    this.socketPath = join(opts.dir, 'leader-http.sock');
    this.authorization = opts.key ? `Bearer ${restToken(parseKey(opts.key))}` : null;
  }

  static async start(opts: FaultClusterOptions): Promise<FaultCluster> {
    const useNet = opts.netsim ?? true;
    const net = useNet ? await Netsim.up({ members: opts.members.length }) : null;
    const fc = new FaultCluster(opts, net, null);
    try {
      // `nice` (and `env`) exec the daemon, so the pid stays the daemon's.
      const niced = (host: string, cmd: string, args0: string[], envPrefix: string[] = []): [string, string[]] => {
        const args = [...(opts.hostNodeArgs?.[host] ?? []), ...args0];
        return ['nice', ['-n', String(DAEMON_NICE), ...envPrefix, cmd, ...args]];
      };
      // On netsim the per-host environment goes to the daemon alone, through `env`: given to the
      // wrapper, libfaketime was preloaded into its bash, ip and grep as well, and a CI run failed
      // when one of them could not open libfaketime's shared-memory semaphore ("sem_open failed")
      // and exited, so the leader never started.
      const hostEnvPrefix = (host: string): string[] => {
        const extra = Object.entries(opts.hostEnv?.[host] ?? {}).filter((e): e is [string, string] => e[1] !== undefined);
        return extra.length === 0 ? [] : ['env', ...extra.map(([k, v]) => `${k}=${v}`)];
      };
      const spawner: Spawner | undefined = net
        ? (host, cmd, args, env) => fc.track(host, net.spawn(host, ...niced(host, cmd, args, hostEnvPrefix(host)), { env }))
        : undefined;
      const base: ClusterOptions = {
        dir: opts.dir,
        members: opts.members,
        minLeadMs: opts.minLeadMs ?? 250,
        leaderArgs: opts.leaderArgs ?? [],
        ...(opts.key ? { env: { JAS_KEY: opts.key } } : {}),
        // REST through rawRequest in both modes: it adds the token and the netsim proxy.
        request: (method: string, path: string, body?: unknown) => fc.rawRequest(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json'),
      };
      if (opts.playlist) base.playlist = opts.playlist;
      if (net && spawner) {
        Object.assign(base, {
          spawner,
          leaderAddress: net.ip('leader'),
          memberAddress: (m: ClusterMember) => `${net.ip(m.id)}:7701`,
          httpPort: NETSIM_HTTP_PORT,
          ntpPort: NETSIM_NTP_PORT,
        });
        fc.startProxy();
      } else {
        // Loopback: ports of our own (a spawner makes Cluster assume netsim's fixed 7701), and the
        // default spawn wrapped to learn pids and add per-host env.
        const basePort = LOOPBACK_PORT_BASE + (process.pid % LOOPBACK_PORT_SLOTS) * LOOPBACK_PORT_STRIDE;
        base.httpPort = basePort;
        fc.loopbackUrl = `http://127.0.0.1:${basePort}`;
        base.ntpPort = basePort + 1;
        base.members = opts.members.map((m, i) => ({ ...m, port: m.port ?? basePort + 2 + i }));
        const { spawn } = await import('node:child_process');
        base.spawner = (host, cmd, args, env) => {
          const [c, a] = niced(host, cmd, args);
          return fc.track(host, spawn(c, a, { env: { ...env, ...opts.hostEnv?.[host] }, stdio: ['ignore', 'pipe', 'pipe'] }));
        };
      }
      fc.cluster = await Cluster.start(base);
      return fc;
    } catch (err) {
      await fc.stop();
      throw err;
    }
  }

  private track(host: string, child: ChildProcess): ChildProcess {
    if (child.pid !== undefined) this.pids.set(host, child.pid);
    this.children.set(host, child);
    return child;
  }

  private startProxy(): void {
    if (!this.net) return;
    this.proxy = this.net.spawn('leader', process.execPath, [PROXY, this.socketPath, String(NETSIM_HTTP_PORT)]);
    this.proxy.stderr?.resume();
    void new ChildLines(this.proxy.stdout!);
  }

  get c(): Cluster {
    if (!this.cluster) throw new Error('cluster not started');
    return this.cluster;
  }

  /**
   * Any HTTP request to the leader, body sent verbatim (bad-input tests); with a key it carries
   * the REST token unless `extraHeaders` sets its own `authorization`.
   */
  async rawRequest(method: string, path: string, body?: string | Buffer, contentType?: string, extraHeaders: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    const auth: Record<string, string> = this.authorization ? { authorization: this.authorization } : {};
    if (!this.net) {
      const res = await fetch(`${this.loopbackUrl}${path}`, {
        method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        ...(body !== undefined ? { body } : {}),
        headers: { ...auth, ...(contentType ? { 'content-type': contentType } : {}), ...extraHeaders },
      });
      return { status: res.status, text: await res.text() };
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest({
        socketPath: this.socketPath, method, path, timeout: REQUEST_TIMEOUT_MS,
        headers: { host: 'leader', ...auth, ...(contentType ? { 'content-type': contentType } : {}), ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...extraHeaders },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async raw(method: string, path: string, body?: string | Buffer, contentType?: string, extraHeaders: Record<string, string> = {}): Promise<RawReply> {
    const r = await this.rawRequest(method, path, body, contentType, extraHeaders);
    let json: unknown = null;
    try {
      json = r.text ? JSON.parse(r.text) : null;
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  /** The leader's timescale anchor from its newest `leader timescale` log line. */
  anchor(): LeaderAnchor {
    const text = readFileSync(this.c.logPath('leader'), 'utf8');
    let found: LeaderAnchor | null = null;
    for (const line of text.split('\n')) {
      if (!line.includes('"leader timescale"')) continue;
      try {
        const o = JSON.parse(line) as { anchorWallUs: number; anchorMonoNs: string };
        found = { anchorWallUs: o.anchorWallUs, anchorMonoNs: Number(o.anchorMonoNs) };
      } catch {
        // a torn line while the leader writes: the previous one stands
      }
    }
    if (!found) throw new Error('no leader timescale line in the leader log yet');
    return found;
  }

  monoNsOfLeaderUs(leaderUs: number): number {
    const a = this.anchor();
    return a.anchorMonoNs + (leaderUs - a.anchorWallUs) * 1000;
  }

  /**
   * Sleeps until `extraMs` after leader time `leaderUs`. Commands are sent without an explicit
   * delay: on a loaded machine the leader's lead time (RTT p90 + p50 + 50 ms) can exceed any fixed
   * delay a test would pick, and it would refuse the command.
   */
  async sleepPastLeaderUs(leaderUs: number, extraMs: number): Promise<void> {
    await sleep(Math.max(0, (this.monoNsOfLeaderUs(leaderUs) - this.nowMonoNs()) / 1e6 + extraMs));
  }

  nowMonoNs(): number {
    return Number(process.hrtime.bigint());
  }

  capture(id: string): Capture {
    return readCapture(this.c.capturePath(id));
  }

  /**
   * Polls /api/status in the background and records each member's underrun count, so that audio
   * errors can be told apart: a machine too loaded to feed the sink in time (an underrun) versus the
   * fault under test.
   */
  startMonitor(): void {
    if (this.monitorTimer) return;
    this.monitorTimer = setInterval(() => {
      const ns = this.nowMonoNs();
      this.c.status().then((s) => {
        // A member without a state report yet (just reconnected) is unknown, not zero.
        this.underrunSamples.push({ ns, counts: new Map(s.members.filter((m) => m.audio).map((m) => [m.id, m.audio!.underruns])) });
      }, () => undefined);
    }, MONITOR_INTERVAL_MS);
  }

  stopMonitor(): void {
    if (this.monitorTimer) clearInterval(this.monitorTimer);
    this.monitorTimer = null;
  }

  /** [fromNs, toNs] intervals in which member `id` reported new underruns (monitor samples). */
  underrunWindows(id: string): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let prev: { ns: number; n: number } | null = null;
    for (const s of this.underrunSamples) {
      const n = s.counts.get(id);
      if (n === undefined) continue;
      if (prev && n > prev.n) out.push([prev.ns, s.ns]);
      prev = { ns: s.ns, n };
    }
    return out;
  }

  /**
   * Where member `id` was starved: the holes its capture shows (exact), plus the intervals in which
   * it reported new underruns (coarse; also catches underruns in silence, e.g. before play, which
   * leave it late without an audible hole).
   */
  starvation(id: string, capture: Capture = this.capture(id)): Array<[number, number]> {
    return [...findHoles(capture), ...this.underrunWindows(id)];
  }

  /** Resident memory of a daemon (kB), from /proc. */
  rssKb(host: string): number {
    const pid = this.pids.get(host);
    if (pid === undefined) return NaN;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) : NaN;
    } catch {
      return NaN;
    }
  }

  /** Waits until every member is connected, synced and has `tracks` tracks cached. */
  async waitReady(tracks: number, timeoutMs = 90_000): Promise<void> {
    await this.c.waitFor((s) => s.playlist.length === tracks && s.members.length === this.opts.members.length
      && s.members.every((m) => m.connected && m.clock?.synced === true), timeoutMs, 'members connected and synced');
  }

  async stop(): Promise<void> {
    this.stopMonitor();
    await this.cluster?.stop().catch(() => undefined);
    this.proxy?.kill('SIGTERM');
    await this.net?.down();
    await sleep(0);
  }

  logText(name: string): string {
    const p = this.c.logPath(name);
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  }
}
