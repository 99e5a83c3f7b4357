// Which network interfaces the member's own mDNS responder answers on, with the same rule as
// avahi-daemon: up, running, multicast-capable, not loopback, not point-to-point. A VPN interface
// (wg0, tailscale0: point-to-point or no multicast) is left out, so its address is never published
// as this host's (a conflict with avahi, and a name that resolves to an unreachable address).
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_POINTOPOINT = 0x10;
const IFF_MULTICAST = 0x1000;

export interface MdnsInterface {
  name: string;
  address: string;
  /** Prefix length of the interface's IPv4 network. */
  prefix: number;
}

/** Interface flags from sysfs (Linux); undefined when unreadable (then the interface is not used). */
export function readInterfaceFlags(name: string): number | undefined {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name)) return undefined;
  try {
    const n = Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8').trim(), 16);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** sysfs flags lack IFF_RUNNING; os.networkInterfaces() lists only running interfaces anyway. */
export function flagsAllowMdns(flags: number): boolean {
  const need = IFF_UP | IFF_MULTICAST;
  return (flags & need) === need && (flags & (IFF_LOOPBACK | IFF_POINTOPOINT)) === 0;
}

export function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
}

export function inSubnet(iface: MdnsInterface, ip: string): boolean {
  const a = ipv4ToInt(iface.address);
  const b = ipv4ToInt(ip);
  if (a === undefined || b === undefined) return false;
  const mask = iface.prefix === 0 ? 0 : (~0 << (32 - iface.prefix)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/**
 * The interfaces to answer on, one per IPv4 network: two interfaces on the same network (eth0 and
 * wlan0 on one LAN) would answer the same query twice with two addresses, and a browser would hop
 * between them; the first by name (eth0 before wlan0) answers alone.
 */
export function mdnsInterfaces(
  flagsOf: (name: string) => number | undefined = readInterfaceFlags,
  list: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): MdnsInterface[] {
  const out: MdnsInterface[] = [];
  for (const name of Object.keys(list).sort()) {
    const flags = flagsOf(name);
    if (flags === undefined || !flagsAllowMdns(flags)) continue;
    for (const a of list[name] ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      const prefix = Number((a.cidr ?? '').split('/')[1]);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) continue;
      const candidate = { name, address: a.address, prefix };
      if (out.some((o) => inSubnet(o, a.address) || inSubnet(candidate, o.address))) continue;
      out.push(candidate);
    }
  }
  return out;
}

/** Every IPv4 address of this host (our own multicast comes back to us from one of these). */
export function localIpv4Addresses(list: ReturnType<typeof networkInterfaces> = networkInterfaces()): Set<string> {
  const out = new Set<string>();
  for (const addrs of Object.values(list)) for (const a of addrs ?? []) if (a.family === 'IPv4') out.add(a.address);
  return out;
}
