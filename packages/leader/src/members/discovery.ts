// Finds member daemons: an mDNS (bonjour-service) browser for `_jaudiosync._tcp` keeping services
// whose host name (or TXT id) matches a pattern, plus endpoints listed explicitly in the config.
// Emits `up` when a member is found, changes address, or announces itself again (it restarted);
// `down` only after an mDNS goodbye that was not followed by any sign of life for a long time.
// Liveness is the connection's heartbeat, not mDNS (a crashed member sends no goodbye, and a
// browser keeps its record for the 120 s TTL, silently swallowing the restarted member's
// announcement): the registry keeps reconnecting to the last known address meanwhile.
import { EventEmitter } from 'node:events';
import { Bonjour, type Browser, type Service } from 'bonjour-service';

/** Our own mDNS service type: `_jaudiosync._tcp`. */
export const MDNS_SERVICE_TYPE = 'jaudiosync';
export const DEFAULT_MEMBER_PORT = 7701;
export const DEFAULT_MEMBER_PATTERN = '^member\\d+$';
/**
 * Start a fresh browser (empty cache, new query) this often. A long-lived browser reports a known
 * service again only when its name, host or port change: not a new address, not a restart. A fresh
 * one hears every live member again (~1 packet per member per interval: nothing on a LAN).
 */
export const REBROWSE_INTERVAL_MS = 15_000;
/**
 * Answers to a fresh query arrive within this (responders wait 20-120 ms); a first answer later is
 * an unsolicited announcement. Misjudging a slow answer costs only an extra connection attempt.
 */
export const QUERY_ANSWER_WINDOW_MS = 1_000;
/** refresh() calls closer together than this are merged (a burst of disconnects, one query). */
const MIN_REFRESH_GAP_MS = 1_000;
/** After an mDNS goodbye with no sign of life since, forget the member (stop reconnecting) after this. */
export const GOODBYE_FORGET_MS = 10 * 60_000;

export interface DiscoveredMember {
  /** Stable key: `mdns:<service instance name without jaudiosync->` or `config:<host:port>`. */
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
  /**
   * Called by whoever connects to the member when it stops answering (mDNS only): discovery then
   * re-browses, so the member's announcement when it comes back is heard (and reported) at once.
   */
  lost?: () => void;
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
  /** For tests: the timing constants above, and a monotonic clock (ms). */
  rebrowseIntervalMs?: number;
  queryAnswerWindowMs?: number;
  minRefreshGapMs?: number;
  goodbyeForgetMs?: number;
  monoNowMs?: () => number;
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
  private browserStartedMs = 0;
  private rebrowseTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly pattern: RegExp;
  private readonly known = new Map<string, DiscoveredMember>();
  /** mDNS keys the current browser has reported (a first report after the answer window = announcement). */
  private readonly seenByBrowser = new Set<string>();
  /** Keys that said goodbye, with the timer that forgets them. */
  private readonly goodbyes = new Map<string, NodeJS.Timeout>();
  private readonly monoNowMs: () => number;

  constructor(private readonly options: DiscoveryOptions = {}) {
    super();
    this.pattern = new RegExp(options.memberPattern ?? DEFAULT_MEMBER_PATTERN);
    this.monoNowMs = options.monoNowMs ?? ((): number => Number(process.hrtime.bigint()) / 1e6);
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
      this.startBrowser();
      this.rebrowseTimer = setInterval(() => this.rebrowse(), this.options.rebrowseIntervalMs ?? REBROWSE_INTERVAL_MS);
      this.rebrowseTimer.unref();
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  /**
   * Replaces the browser with a fresh one (new query, empty cache): live members answer again, and
   * one that is down now is reported as soon as it announces itself. Call it when a member is lost.
   */
  refresh(): void {
    if (!this.bonjour || this.refreshTimer) return;
    const waitMs = this.browserStartedMs + (this.options.minRefreshGapMs ?? MIN_REFRESH_GAP_MS) - this.monoNowMs();
    if (waitMs <= 0) {
      this.rebrowse();
      return;
    }
    // The browser is younger than the gap: it may hold the lost member's last answer, so its
    // restart announcement would go unreported. Re-browse once the gap has passed.
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.rebrowse();
    }, waitMs);
    this.refreshTimer.unref();
  }

  stop(): void {
    if (this.rebrowseTimer) clearInterval(this.rebrowseTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.rebrowseTimer = null;
    this.refreshTimer = null;
    for (const timer of this.goodbyes.values()) clearTimeout(timer);
    this.goodbyes.clear();
    try {
      this.stopBrowser();
      this.bonjour?.destroy();
    } catch {
      // closing sockets that already failed
    }
    this.bonjour = null;
  }

  private rebrowse(): void {
    try {
      this.startBrowser();
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  private startBrowser(): void {
    if (!this.bonjour) return;
    this.stopBrowser();
    this.seenByBrowser.clear();
    this.browserStartedMs = this.monoNowMs();
    const browser = this.bonjour.find({ type: MDNS_SERVICE_TYPE, protocol: 'tcp' });
    this.browser = browser;
    browser.on('up', (service: Service) => this.onServiceUp(service, 'up'));
    // The same service name with another host or port (bonjour-service reports no `up` for it).
    browser.on('srv-update', (service: Service) => this.onServiceUp(service, 'update'));
    browser.on('txt-update', (service: Service) => this.onServiceUp(service, 'update'));
    browser.on('down', (service: Service) => this.onServiceDown(service));
  }

  private stopBrowser(): void {
    const browser = this.browser;
    this.browser = null;
    if (!browser) return;
    browser.stop();
    browser.removeAllListeners();
  }

  /** Emits `up` for a new key or a new address; true if it did. */
  private announce(member: DiscoveredMember): boolean {
    const previous = this.known.get(member.key);
    this.known.set(member.key, member);
    if (previous && previous.host === member.host && previous.port === member.port) return false;
    this.emit('up', member);
    return true;
  }

  private onServiceUp(service: Service, kind: 'up' | 'update'): void {
    const result = acceptService(service, this.pattern);
    if ('reason' in result) {
      if (kind === 'up') this.emit('ignored', service.name ?? '?', result.reason);
      return;
    }
    result.lost = () => this.refresh();
    const firstReport = !this.seenByBrowser.has(result.key);
    this.seenByBrowser.add(result.key);
    const saidGoodbye = this.cancelGoodbye(result.key);
    if (this.announce(result)) return;
    // Same address: a goodbye taken back, or an announcement heard after the answers to our query
    // (the member just started): report it again so the registry reconnects now, not at its next retry.
    const announced = kind === 'up' && firstReport && this.monoNowMs() - this.browserStartedMs > (this.options.queryAnswerWindowMs ?? QUERY_ANSWER_WINDOW_MS);
    if (saidGoodbye || announced) this.emit('up', result);
  }

  private onServiceDown(service: Service): void {
    const result = acceptService(service, this.pattern);
    if ('reason' in result || !this.known.has(result.key)) return;
    this.seenByBrowser.delete(result.key);
    // A goodbye (clean shutdown: restart, reboot, upgrade): keep the member for a long while, the
    // registry keeps retrying its address; forget it only if it never shows up again.
    this.cancelGoodbye(result.key);
    const timer = setTimeout(() => {
      this.goodbyes.delete(result.key);
      if (this.known.delete(result.key)) this.emit('down', result.key);
    }, this.options.goodbyeForgetMs ?? GOODBYE_FORGET_MS);
    timer.unref();
    this.goodbyes.set(result.key, timer);
  }

  /** Clears a pending goodbye; true if there was one. */
  private cancelGoodbye(key: string): boolean {
    const timer = this.goodbyes.get(key);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.goodbyes.delete(key);
    return true;
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
  // Use the address the answer came from (works across namespaces, and is IPv4: the browser
  // listens on IPv4, so AAAA-only additionals never hide a member); else the first IPv4 one.
  const addresses = service.addresses ?? [];
  const referer = service.referer?.address;
  const host = referer ?? addresses.find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? addresses[0];
  if (host === undefined) return { reason: 'service without an address' };
  if (!Number.isInteger(service.port) || service.port < 1 || service.port > 65535) return { reason: 'service without a valid port' };
  // Keyed by the instance name, which mDNS keeps unique on the network: two members with one id
  // (renamed `jaudiosync-x (2)` by their responder or `jaudiosync-x #2` by avahi) are two endpoints,
  // and the registry reports the second as a duplicate instead of one silently replacing the other.
  const name = typeof service.name === 'string' && service.name.length > 0 ? service.name : id ?? host;
  const key = `mdns:${name.replace(/^jaudiosync-/, '')}`;
  const out: DiscoveredMember = { key, host, port: service.port, source: 'mdns', hostname };
  if (id !== undefined) out.id = id;
  if (version !== undefined) out.version = version;
  return out;
}
