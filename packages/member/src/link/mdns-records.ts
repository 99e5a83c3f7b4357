// The member's mDNS records and which of them answer a question (pure; the responder sends them).
// SRV points at `<host>.local.` (a bare `member1.` makes avahi look it up in unicast DNS and fail),
// and the A record carries only the address of the interface the answer goes out on.

export const SERVICE_TYPE = '_jaudiosync._tcp.local';
export const SERVICES_META = '_services._dns-sd._udp.local';
/** RFC 6762 §10: host-bound records 120 s, others 75 min. */
const HOST_TTL_S = 120;
const OTHER_TTL_S = 4500;

export interface ServiceIdentity {
  /** Instance name, e.g. `jaudiosync-member1` (`jaudiosync-member1 (2)` after a conflict). */
  instance: string;
  /** Host label without `.local`, e.g. `member1` (`member1-2` after a conflict). */
  host: string;
  port: number;
  txt: Record<string, string>;
}

export interface MdnsRecord {
  name: string;
  type: 'PTR' | 'SRV' | 'TXT' | 'A';
  ttl: number;
  class?: 'IN';
  /** Cache-flush bit: this host alone owns the name's records of this type. */
  flush?: boolean;
  data: unknown;
}

export interface MdnsQuestion {
  name: string;
  type: string;
}

export const instanceFqdn = (id: ServiceIdentity): string => `${id.instance}.${SERVICE_TYPE}`;
export const hostFqdn = (id: ServiceIdentity): string => `${id.host}.local`;

/** DNS names compare case-insensitively; a trailing dot is the same name. */
export function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();
}

/** Every record we own when answering on an interface with `address` (undefined: no A record). */
export function serviceRecords(id: ServiceIdentity, address: string | undefined, ttlScale = 1): MdnsRecord[] {
  const ttl = (s: number): number => Math.round(s * ttlScale);
  const records: MdnsRecord[] = [
    { name: SERVICES_META, type: 'PTR', ttl: ttl(OTHER_TTL_S), data: SERVICE_TYPE },
    { name: SERVICE_TYPE, type: 'PTR', ttl: ttl(OTHER_TTL_S), data: instanceFqdn(id) },
    { name: instanceFqdn(id), type: 'SRV', ttl: ttl(HOST_TTL_S), flush: true, data: { priority: 0, weight: 0, port: id.port, target: hostFqdn(id) } },
    { name: instanceFqdn(id), type: 'TXT', ttl: ttl(OTHER_TTL_S), flush: true, data: Object.entries(id.txt).map(([k, v]) => `${k}=${v}`) },
  ];
  if (address !== undefined) records.push({ name: hostFqdn(id), type: 'A', ttl: ttl(HOST_TTL_S), flush: true, data: address });
  return records;
}

/** Answers and additional records for a query's questions; empty answers = stay silent. */
export function answerQuestions(questions: readonly MdnsQuestion[], records: readonly MdnsRecord[]): { answers: MdnsRecord[]; additionals: MdnsRecord[] } {
  const answers: MdnsRecord[] = [];
  for (const q of questions) {
    for (const r of records) {
      if (!sameName(q.name, r.name) || (q.type !== 'ANY' && q.type !== r.type)) continue;
      if (!answers.includes(r)) answers.push(r);
    }
  }
  // RFC 6763 §12: with a PTR the SRV, TXT and address; with an SRV the address.
  const additionals: MdnsRecord[] = [];
  const add = (pred: (r: MdnsRecord) => boolean): void => {
    for (const r of records) if (pred(r) && !answers.includes(r) && !additionals.includes(r)) additionals.push(r);
  };
  if (answers.some((r) => r.type === 'PTR' && sameName(r.name, SERVICE_TYPE))) add((r) => r.type === 'SRV' || r.type === 'TXT' || r.type === 'A');
  if (answers.some((r) => r.type === 'SRV')) add((r) => r.type === 'A');
  return { answers, additionals };
}

/** Our names a packet's records claim (a probe's authority section or another host's answers). */
export function claimedNames(id: ServiceIdentity, records: readonly { name?: unknown }[]): { instance: boolean; host: boolean } {
  const names = records.map((r) => (typeof r.name === 'string' ? r.name : ''));
  return {
    instance: names.some((n) => sameName(n, instanceFqdn(id))),
    host: names.some((n) => sameName(n, hostFqdn(id))),
  };
}

/** `jaudiosync-x` -> `jaudiosync-x (2)` -> `jaudiosync-x (3)`: as macOS and avahi name a second instance. */
export function nextInstanceName(name: string): string {
  const m = /^(.*) \((\d+)\)$/.exec(name);
  return m ? `${m[1]} (${Number(m[2]) + 1})` : `${name} (2)`;
}

/** `member1` -> `member1-2` -> `member1-3`: as avahi renames a host name in conflict. */
export function nextHostName(name: string): string {
  const m = /^(.*)-(\d+)$/.exec(name);
  return m ? `${m[1]}-${Number(m[2]) + 1}` : `${name}-2`;
}

/** A DNS label from anything: letters, digits and hyphens, at most 63 characters. */
export function hostLabel(hostname: string): string {
  const label = (hostname.split('.')[0] ?? '').replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return label.length > 0 ? label : 'jaudiosync-member';
}
