// Finds member daemons: an mDNS (bonjour-service) browser for `_jaudiosync._tcp` keeping services
// whose host name (or TXT id) matches a pattern, plus endpoints listed explicitly in the config.
// Emits `up`/`down` per endpoint; liveness is the connection's heartbeat, not mDNS (a crashed
// member sends no goodbye).
import { EventEmitter } from 'node:events';
import { Bonjour, type Browser, type Service } from 'bonjour-service';

/** Our own mDNS service type: `_jaudiosync._tcp`. */
export const MDNS_SERVICE_TYPE = 'jaudiosync';
export const DEFAULT_MEMBER_PORT = 7701;
export const DEFAULT_MEMBER_PATTERN = '^member\\d+$';
/** Re-query now and then: a member that missed our first query (booting) still shows up soon. */
const REQUERY_INTERVAL_MS = 30_000;

export interface DiscoveredMember {
  /** Stable key: `mdns:<TXT id or service name>` or `config:<host:port>`. */
  key: string;
  host: string;
  port: number;
  source: 'mdns' | 'config';
  /** TXT id (mDNS only). */
  id?: string;
  /** mDNS host name without `.local`. */
  hostname?: string;
  /** TXT protocol version (mDNS only). */
  version?: string;
}

export interface DiscoveryEvents {
  up: [member: DiscoveredMember];
  down: [key: string];
  ignored: [name: string, reason: string];
  error: [err: Error];
}

export interface DiscoveryOptions {
  /** Regular expression source matched against the mDNS host name (without .local) or TXT id. */
  memberPattern?: string;
  /** Explicit endpoints "host:port" or "host" (port 7701). */
  explicit?: string[];
  /** Turn the mDNS browser off (tests, or networks without multicast). */
  mdns?: boolean;
  /** For tests: a bonjour instance factory. */
  createBonjour?: () => Bonjour;
}

/** "host", "host:port", "[v6]:port" -> {host, port}; throws on nonsense. */
export function parseEndpoint(text: string, defaultPort = DEFAULT_MEMBER_PORT): { host: string; port: number } {
  const t = text.trim();
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2];
  } else if ((t.match(/:/g) ?? []).length === 1) {
    [host = '', portText] = t.split(':');
  } else {
    host = t;
  }
  if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(host)) throw new Error(`invalid member address "${text}"`);
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port in member address "${text}"`);
  return { host, port };
}

export class Discovery extends EventEmitter<DiscoveryEvents> {
  private bonjour: Bonjour | null = null;
  private browser: Browser | null = null;
  private requeryTimer: NodeJS.Timeout | null = null;
  private readonly pattern: RegExp;
  private readonly known = new Map<string, DiscoveredMember>();

  constructor(private readonly options: DiscoveryOptions = {}) {
    super();
    this.pattern = new RegExp(options.memberPattern ?? DEFAULT_MEMBER_PATTERN);
  }

  get members(): DiscoveredMember[] {
    return [...this.known.values()];
  }

  start(): void {
    for (const text of this.options.explicit ?? []) {
      const { host, port } = parseEndpoint(text);
      this.announce({ key: `config:${host}:${port}`, host, port, source: 'config' });
    }
    if (this.options.mdns === false) return;
    try {
      this.bonjour = this.options.createBonjour?.() ?? new Bonjour({}, (err: Error) => this.emit('error', err));
      this.browser = this.bonjour.find({ type: MDNS_SERVICE_TYPE, protocol: 'tcp' });
      this.browser.on('up', (service: Service) => this.onServiceUp(service));
      this.browser.on('down', (service: Service) => this.onServiceDown(service));
      this.requeryTimer = setInterval(() => this.browser?.update(), REQUERY_INTERVAL_MS);
      this.requeryTimer.unref();
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  stop(): void {
    if (this.requeryTimer) clearInterval(this.requeryTimer);
    this.requeryTimer = null;
    try {
      this.browser?.stop();
      this.bonjour?.destroy();
    } catch {
      // closing sockets that already failed
    }
    this.browser = null;
    this.bonjour = null;
  }

  private announce(member: DiscoveredMember): void {
    const previous = this.known.get(member.key);
    if (previous && previous.host === member.host && previous.port === member.port) return;
    if (previous) this.emit('down', member.key);
    this.known.set(member.key, member);
    this.emit('up', member);
  }

  /** Decides whether an mDNS service is one of ours; exported logic for tests via `acceptService`. */
  private onServiceUp(service: Service): void {
    const result = acceptService(service, this.pattern);
    if ('reason' in result) {
      this.emit('ignored', service.name ?? '?', result.reason);
      return;
    }
    this.announce(result);
  }

  private onServiceDown(service: Service): void {
    const result = acceptService(service, this.pattern);
    if ('reason' in result) return;
    if (this.known.delete(result.key)) this.emit('down', result.key);
  }
}

/** Turns an mDNS service into a member endpoint, or says why it is not one. */
export function acceptService(service: Service, pattern: RegExp): DiscoveredMember | { reason: string } {
  const txt = (service.txt ?? {}) as Record<string, unknown>;
  const id = typeof txt['id'] === 'string' ? txt['id'] : undefined;
  const version = typeof txt['v'] === 'string' ? txt['v'] : undefined;
  const hostname = (service.host ?? '').replace(/\.local\.?$/i, '');
  if (!pattern.test(hostname) && !(id !== undefined && pattern.test(id))) {
    return { reason: `host "${hostname}" / id "${id ?? ''}" does not match ${pattern.source}` };
  }
  // Another major in TXT v: still connect, so the connection refuses it with a clear error that
  // shows up in the member list (silently ignoring it would hide the misconfiguration).
  // Use the address the answer came from (works across namespaces); else the first IPv4 one.
  const addresses = service.addresses ?? [];
  const referer = service.referer?.address;
  const host = referer ?? addresses.find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? addresses[0];
  if (host === undefined) return { reason: 'service without an address' };
  if (!Number.isInteger(service.port) || service.port < 1 || service.port > 65535) return { reason: 'service without a valid port' };
  const key = `mdns:${id ?? service.name}`;
  const out: DiscoveredMember = { key, host, port: service.port, source: 'mdns', hostname };
  if (id !== undefined) out.id = id;
  if (version !== undefined) out.version = version;
  return out;
}
