// The member's own mDNS responder, for hosts without avahi-daemon (RFC 6762/6763, the parts a
// single service needs). One multicast-dns socket per interface (mdns-interfaces.ts): a query is
// answered only by the socket of the interface whose network it came from, out of that interface
// (IP_MULTICAST_IF), with that interface's address, whatever the kernel's route for 224.0.0.251.
// Names are probed before use; one taken by another host is renamed (`jaudiosync-x (2)`,
// `x-2.local`) and reported, never silently dropped.
import createMdns, { type MulticastDns } from 'multicast-dns';
import { inSubnet, ipv4ToInt, localIpv4Addresses, mdnsInterfaces, type MdnsInterface } from './mdns-interfaces.js';
import {
  answerQuestions,
  claimedNames,
  hostFqdn,
  instanceFqdn,
  nextHostName,
  nextInstanceName,
  serviceRecords,
  type MdnsQuestion,
  type MdnsRecord,
  type ServiceIdentity,
} from './mdns-records.js';

const MDNS_PORT = 5353;
/** RFC 6762 §8.1: three probes 250 ms apart, then 250 ms more for answers. */
const PROBE_INTERVAL_MS = 250;
const PROBES = 3;
/** A name taken this many times in a row: stop and report (something answers for every name). */
const MAX_RENAMES = 15;
/** RFC 6762 §8.3: announce twice, one second apart. */
const ANNOUNCE_GAP_MS = 1000;
/** Interfaces come and go (wlan0 after boot, DHCP renewals): look again this often. */
const RESCAN_MS = 10_000;
/** Shared answers (PTR) wait 20-120 ms (RFC 6762 §6) so responders on a LAN do not collide. */
const SHARED_DELAY_MS = [20, 120] as const;
/** RFC 6762 §6.7: answers to a legacy (non-5353 port) query carry TTLs of at most 10 s. */
const LEGACY_TTL_S = 10;
const GOODBYE_WAIT_MS = 500;

export type RenameKind = 'instance' | 'host';

export interface MdnsResponderOptions {
  identity: ServiceIdentity;
  /** Publish `<host>.local` A records (false when avahi-daemon on this host owns the host name). */
  publishAddresses: boolean;
  onRename(kind: RenameKind, from: string, to: string): void;
  onAnnounced(identity: ServiceIdentity, interfaces: MdnsInterface[]): void;
  onError(err: Error): void;
  /** For tests: interface list and timing. */
  interfaces?: () => MdnsInterface[];
  rescanMs?: number;
}

interface Port {
  iface: MdnsInterface;
  mdns: MulticastDns;
}

interface Packet {
  type?: string;
  id?: number;
  questions?: { name?: unknown; type?: unknown }[];
  answers?: { name?: unknown }[];
  authorities?: { name?: unknown }[];
  additionals?: { name?: unknown }[];
}

export class MdnsResponder {
  private identity: ServiceIdentity;
  private readonly ports = new Map<string, Port>();
  private own = new Set<string>();
  private state: 'idle' | 'probing' | 'announced' | 'stopped' = 'idle';
  /** Set while probing: another host claims our instance or host name. */
  private conflict = { instance: false, host: false };
  private rescanTimer: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private renames = 0;

  constructor(private readonly opts: MdnsResponderOptions) {
    this.identity = { ...opts.identity, txt: { ...opts.identity.txt } };
  }

  get current(): ServiceIdentity {
    return this.identity;
  }

  get interfaces(): MdnsInterface[] {
    return [...this.ports.values()].map((p) => p.iface);
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.rescan();
    this.rescanTimer = setInterval(() => this.rescan(), this.opts.rescanMs ?? RESCAN_MS);
    this.rescanTimer.unref();
    void this.probe();
  }

  /** Sends goodbyes (TTL 0) so browsers drop us at once, then closes the sockets. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasAnnounced = this.state === 'announced';
    this.state = 'stopped';
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const ports = [...this.ports.values()];
    this.ports.clear();
    if (wasAnnounced) {
      await Promise.all(ports.map((p) => new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, GOODBYE_WAIT_MS);
        p.mdns.send({ type: 'response', flags: AUTHORITATIVE, answers: serviceRecords(this.identity, this.addressFor(p), 0) }, null, () => {
          clearTimeout(timer);
          resolve();
        });
      })));
    }
    await Promise.all(ports.map((p) => new Promise<void>((resolve) => p.mdns.destroy(() => resolve()))));
  }

  private addressFor(p: Port): string | undefined {
    return this.opts.publishAddresses ? p.iface.address : undefined;
  }

  /** Opens sockets for new interfaces (announcing there if already announced), closes gone ones. */
  private rescan(): void {
    if (this.state === 'stopped') return;
    let list: MdnsInterface[];
    try {
      list = (this.opts.interfaces ?? mdnsInterfaces)();
      this.own = localIpv4Addresses();
      for (const i of list) this.own.add(i.address);
    } catch (err) {
      this.opts.onError(err as Error);
      return;
    }
    const keys = new Set(list.map(portKey));
    for (const [key, p] of this.ports) {
      if (keys.has(key)) continue;
      this.ports.delete(key);
      p.mdns.destroy();
    }
    const added: Port[] = [];
    for (const iface of list) {
      if (this.ports.has(portKey(iface))) continue;
      const p = this.open(iface);
      if (p) added.push(p);
    }
    if (this.state === 'announced' && added.length > 0) {
      this.announce(added);
      this.opts.onAnnounced(this.identity, this.interfaces);
    }
  }

  private open(iface: MdnsInterface): Port | null {
    try {
      // Bound to 0.0.0.0:5353 (the group's datagrams reach only a wildcard bind), joined and
      // sending on this interface alone.
      const mdns = createMdns({ interface: iface.address, bind: '0.0.0.0', port: MDNS_PORT, reuseAddr: true, loopback: true, ttl: 255 });
      const p: Port = { iface, mdns };
      mdns.on('error', (err: Error) => this.opts.onError(new Error(`mDNS on ${iface.name} (${iface.address}): ${err.message}`)));
      mdns.on('warning', () => undefined); // undecodable packets from others
      mdns.on('packet', (packet: Packet, rinfo: { address: string; port: number }) => this.onPacket(p, packet, rinfo));
      this.ports.set(portKey(iface), p);
      return p;
    } catch (err) {
      this.opts.onError(err as Error);
      return null;
    }
  }

  private async probe(): Promise<void> {
    this.state = 'probing';
    for (;;) {
      this.conflict = { instance: false, host: false };
      for (let i = 0; i < PROBES && this.state === 'probing'; i++) {
        for (const p of this.ports.values()) this.sendProbe(p);
        await this.sleep(PROBE_INTERVAL_MS);
      }
      if (this.state !== 'probing') return;
      if (!this.conflict.instance && !this.conflict.host) break;
      if (++this.renames > MAX_RENAMES) {
        this.opts.onError(new Error(`mDNS names ${instanceFqdn(this.identity)} and ${MAX_RENAMES} alternatives are all taken: not advertising`));
        this.state = 'idle';
        return;
      }
      this.rename(this.conflict);
    }
    this.state = 'announced';
    this.announce([...this.ports.values()]);
    this.opts.onAnnounced(this.identity, this.interfaces);
    this.later(ANNOUNCE_GAP_MS, () => {
      if (this.state === 'announced') this.announce([...this.ports.values()]);
    });
  }

  private rename(conflict: { instance: boolean; host: boolean }): void {
    if (conflict.host && this.opts.publishAddresses) {
      const from = this.identity.host;
      this.identity = { ...this.identity, host: nextHostName(from) };
      this.opts.onRename('host', `${from}.local`, hostFqdn(this.identity));
    }
    if (conflict.instance) {
      const from = this.identity.instance;
      this.identity = { ...this.identity, instance: nextInstanceName(from) };
      this.opts.onRename('instance', from, this.identity.instance);
    }
  }

  private sendProbe(p: Port): void {
    const questions = [{ name: instanceFqdn(this.identity), type: 'ANY' }];
    if (this.opts.publishAddresses) questions.push({ name: hostFqdn(this.identity), type: 'ANY' });
    const authorities = serviceRecords(this.identity, this.addressFor(p)).filter((r) => r.flush);
    p.mdns.send({ type: 'query', questions, authorities }, null, () => undefined);
  }

  private announce(ports: Port[]): void {
    for (const p of ports) p.mdns.send({ type: 'response', flags: AUTHORITATIVE, answers: serviceRecords(this.identity, this.addressFor(p)) }, null, () => undefined);
  }

  private onPacket(p: Port, packet: Packet, rinfo: { address: string; port: number }): void {
    if (this.state === 'stopped' || this.state === 'idle') return;
    // Every socket hears every interface's multicast: handle what came from this one's network.
    if (!inSubnet(p.iface, rinfo.address)) return;
    // From this host: our own packets (multicast loops back) or another program here, such as a
    // leader on the same Pi. Its queries get answers; nothing from here is a name conflict.
    const fromHere = this.own.has(rinfo.address);
    if (packet.type === 'response') {
      if (fromHere) return;
      const claimed = claimedNames(this.identity, [...(packet.answers ?? []), ...(packet.additionals ?? [])]);
      this.onClaim(claimed);
      return;
    }
    if (packet.type !== 'query') return;
    if (this.state === 'probing') {
      if (fromHere) return;
      const claimedByProbe = claimedNames(this.identity, packet.authorities ?? []);
      // Simultaneous probes for the same name (RFC 6762 §8.2, simplified): the host with the
      // higher address keeps it, the other renames.
      if ((claimedByProbe.instance || claimedByProbe.host) && (ipv4ToInt(rinfo.address) ?? 0) > (ipv4ToInt(p.iface.address) ?? 0)) this.onClaim(claimedByProbe);
      return;
    }
    this.answer(p, packet, rinfo);
  }

  /** Another host claims one of our names. */
  private onClaim(claimed: { instance: boolean; host: boolean }): void {
    if (!claimed.instance && !(claimed.host && this.opts.publishAddresses)) return;
    if (this.state === 'probing') {
      this.conflict.instance ||= claimed.instance;
      this.conflict.host ||= claimed.host && this.opts.publishAddresses;
    } else if (this.state === 'announced') {
      // RFC 6762 §9: a conflict after announcing means probing again (and renaming if it persists).
      void this.probe();
    }
  }

  private answer(p: Port, packet: Packet, rinfo: { address: string; port: number }): void {
    const questions: MdnsQuestion[] = (packet.questions ?? [])
      .filter((q): q is { name: string; type: string } => typeof q.name === 'string' && typeof q.type === 'string')
      .map((q) => ({ name: q.name, type: q.type }));
    if (questions.length === 0) return;
    const legacy = rinfo.port !== MDNS_PORT;
    const records = serviceRecords(this.identity, this.addressFor(p));
    const { answers, additionals } = answerQuestions(questions, records);
    if (answers.length === 0) return;
    if (legacy) {
      // A plain DNS client asking 224.0.0.251:5353 directly: unicast reply with its id and question.
      const cap = (r: MdnsRecord): MdnsRecord => ({ ...r, flush: false, ttl: Math.min(r.ttl, LEGACY_TTL_S) });
      p.mdns.send({ type: 'response', id: packet.id ?? 0, flags: AUTHORITATIVE, questions, answers: answers.map(cap), additionals: additionals.map(cap) }, { address: rinfo.address, port: rinfo.port }, () => undefined);
      return;
    }
    const send = (): void => {
      if (this.state === 'announced') p.mdns.send({ type: 'response', flags: AUTHORITATIVE, answers, additionals }, null, () => undefined);
    };
    if (answers.every((r) => r.type === 'PTR')) this.later(SHARED_DELAY_MS[0] + Math.random() * (SHARED_DELAY_MS[1] - SHARED_DELAY_MS[0]), send);
    else send();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }
}

/** DNS header flag: authoritative answer (every mDNS response sets it). */
const AUTHORITATIVE = 1 << 10;

function portKey(i: MdnsInterface): string {
  return `${i.name}/${i.address}/${i.prefix}`;
}
