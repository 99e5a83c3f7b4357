// Simulated hosts as Raspberry Pi OS sets them up: a private /run, /etc/avahi/services and an
// nsswitch.conf with nss-mdns for each host, and, where a test asks, a system D-Bus and
// avahi-daemon (Debian's packages, started inside the host's namespace; netsim's down() ends them).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netsim } from './netsim.js';

const START_TIMEOUT_MS = 15_000;
const POLL_MS = 100;

/** Why avahi cannot run on simulated hosts here, or undefined (scripts/setup installs all of it). */
export function avahiUnavailableReason(): string | undefined {
  const need: Array<[string, string]> = [
    ['/usr/sbin/avahi-daemon', 'avahi-daemon'],
    ['/usr/bin/avahi-browse', 'avahi-utils'],
    ['/usr/bin/dbus-daemon', 'dbus'],
    ['/etc/avahi/services', 'avahi-daemon'],
  ];
  for (const [path, pkg] of need) if (!existsSync(path)) return `needs ${path} (Debian package ${pkg}; scripts/setup installs it)`;
  const nss = ['/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/lib/arm-linux-gnueabihf', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu']
    .some((d) => existsSync(join(d, 'libnss_mdns4_minimal.so.2')));
  if (!nss) return 'needs libnss_mdns4_minimal.so.2 (Debian package libnss-mdns; scripts/setup installs it)';
  return undefined;
}

export interface HostDirs {
  run: string;
  services: string;
}

/**
 * Gives host its own /run (dbus and avahi sockets), /etc/avahi/services and an nsswitch.conf that
 * resolves *.local through avahi, as on Pi OS. Call before starting anything on the host.
 */
export async function privateHostDirs(net: Netsim, host: string, dir: string): Promise<HostDirs> {
  const run = join(dir, `run-${host}`);
  const services = join(dir, `avahi-services-${host}`);
  mkdirSync(join(run, 'dbus'), { recursive: true });
  mkdirSync(services, { recursive: true });
  const nsswitch = join(dir, `nsswitch-${host}.conf`);
  writeFileSync(nsswitch, 'passwd: files\ngroup: files\nshadow: files\nhosts: files mdns4_minimal [NOTFOUND=return] dns\nnetworks: files\nprotocols: files\nservices: files\n');
  await net.bind(host, run, '/run');
  await net.bind(host, services, '/etc/avahi/services');
  await net.bind(host, nsswitch, '/etc/nsswitch.conf');
  return { run, services };
}

export interface AvahiHost {
  /** avahi-daemon's output so far. */
  log(): string;
  daemon: ChildProcess;
}

/** Starts a system D-Bus and avahi-daemon (Debian's default config) on host; waits until avahi runs. */
export async function startAvahi(net: Netsim, host: string, dirs: HostDirs): Promise<AvahiHost> {
  const bus = net.spawn(host, 'dbus-daemon', ['--system', '--nofork', '--nopidfile'], { stdio: 'ignore' });
  await until(() => existsSync(join(dirs.run, 'dbus', 'system_bus_socket')), `system D-Bus on ${host}`, () => `exit ${bus.exitCode}`);
  const daemon = net.spawn(host, 'avahi-daemon', ['--no-rlimits']);
  let text = '';
  daemon.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  daemon.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  await until(() => text.includes('Server startup complete'), `avahi-daemon on ${host}`, () => text);
  return { log: () => text, daemon };
}

async function until(pred: () => boolean, what: string, detail: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${START_TIMEOUT_MS} ms: ${detail()}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export interface BrowsedService {
  iface: string;
  protocol: 'IPv4' | 'IPv6';
  name: string;
  host: string;
  address: string;
  port: number;
  txt: string[];
}

/** avahi-browse -p escapes characters in names as \DDD (decimal). */
function unescape(s: string): string {
  return s.replace(/\\(\d{3})/g, (_m, d: string) => String.fromCharCode(Number(d))).replace(/\\(.)/g, '$1');
}

/** The resolved (`=`) lines of `avahi-browse -rtp` output. */
export function parseAvahiBrowse(stdout: string): BrowsedService[] {
  const out: BrowsedService[] = [];
  for (const line of stdout.split('\n')) {
    const f = line.split(';');
    if (f[0] !== '=' || f.length < 10) continue;
    out.push({
      iface: f[1] ?? '', protocol: f[2] === 'IPv6' ? 'IPv6' : 'IPv4', name: unescape(f[3] ?? ''), host: f[6] ?? '', address: f[7] ?? '',
      port: Number(f[8]), txt: [...(f.slice(9).join(';').matchAll(/"([^"]*)"/g))].map((m) => m[1] ?? ''),
    });
  }
  return out;
}

/**
 * Runs `avahi-browse -rtp _jaudiosync._tcp` on host until pred accepts what it resolved (a fresh
 * browse each time: avahi answers from its cache plus new queries), bounded by timeoutMs.
 */
export async function browseUntil(net: Netsim, host: string, pred: (s: BrowsedService[]) => boolean, timeoutMs = 20_000): Promise<BrowsedService[]> {
  const deadline = Date.now() + timeoutMs;
  let last: BrowsedService[] = [];
  let raw = '';
  while (Date.now() < deadline) {
    try {
      raw = (await net.exec(host, 'avahi-browse', ['-rtp', '_jaudiosync._tcp'], 15_000)).stdout;
    } catch (err) {
      raw = String((err as { stdout?: unknown }).stdout ?? (err as Error).message);
    }
    last = parseAvahiBrowse(raw);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`avahi-browse on ${host} never showed what was expected; last output:\n${raw}`);
}

/** `getent hosts NAME` on host: the addresses it printed ([] when it failed). */
export async function getentHosts(net: Netsim, host: string, name: string): Promise<string[]> {
  try {
    const { stdout } = await net.exec(host, 'getent', ['hosts', name], 10_000);
    return stdout.split('\n').map((l) => l.split(/\s+/)[0] ?? '').filter((a) => a.length > 0);
  } catch {
    return [];
  }
}
