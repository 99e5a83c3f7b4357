// Announces this member over mDNS as `_jaudiosync._tcp` with TXT {v, id} so the leader (and any
// standard client: avahi-browse, dns-sd) finds it. With avahi-daemon on this host, avahi publishes
// it from a service file (avahi-service-file.ts); without, our own responder does
// (mdns-responder.ts). mDNS errors are reported, never fatal: the leader can also be given the
// member's address explicitly.
import { hostname } from 'node:os';
import { avahiRunning, ensureAvahiService, instanceNameFor, txtFor, AVAHI_SERVICE_FILE, AVAHI_SOCKET } from './avahi-service-file.js';
import type { MdnsInterface } from './mdns-interfaces.js';
import { hostLabel, type ServiceIdentity } from './mdns-records.js';
import { MdnsResponder, type RenameKind } from './mdns-responder.js';

export const MDNS_SERVICE_TYPE = 'jaudiosync';

export interface AdvertiserLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface MdnsAdvertiserOptions {
  id: string;
  port: number;
  log: AdvertiserLog;
  /** avahi's service file and socket (tests point them elsewhere). */
  avahiServiceFile?: string;
  avahiSocket?: string;
  /** For tests: the responder's interface list. */
  interfaces?: () => MdnsInterface[];
}

export type AdvertiserMode = 'avahi' | 'own' | 'own-beside-avahi';

export class MdnsAdvertiser {
  private responder: MdnsResponder | null = null;
  private stopped = false;
  private modeValue: AdvertiserMode | null = null;

  constructor(private readonly opts: MdnsAdvertiserOptions) {}

  get mode(): AdvertiserMode | null {
    return this.modeValue;
  }

  /** The name the responder advertises now (after renames); undefined in avahi mode. */
  get identity(): ServiceIdentity | undefined {
    return this.responder?.current;
  }

  async start(): Promise<void> {
    const { id, port, log } = this.opts;
    const file = this.opts.avahiServiceFile ?? AVAHI_SERVICE_FILE;
    let withAvahi = false;
    try {
      withAvahi = await avahiRunning(this.opts.avahiSocket ?? AVAHI_SOCKET);
    } catch {
      withAvahi = false;
    }
    if (this.stopped) return;
    if (withAvahi) {
      const r = ensureAvahiService(id, port, file);
      if (r.status === 'current' || r.status === 'written') {
        this.modeValue = 'avahi';
        log.info({ file: r.path, name: instanceNameFor(id), port, updated: r.status === 'written' }, 'mDNS: registered through avahi-daemon (its service file); avahi renames on a name conflict and logs it in its own log');
        return;
      }
      // avahi owns <host>.local here: publish only the service, pointing at avahi's host name.
      log.warn({ file: r.path, error: r.status === 'failed' ? r.error : 'no avahi services directory' },
        'mDNS: avahi-daemon runs but its service file for this member cannot be written (run `jaudiosync-member --write-avahi-service` as root, or scripts/install); publishing the service ourselves beside avahi, without address records');
    }
    this.modeValue = withAvahi ? 'own-beside-avahi' : 'own';
    this.responder = new MdnsResponder({
      identity: { instance: instanceNameFor(id), host: hostLabel(hostname()), port, txt: txtFor(id) },
      publishAddresses: !withAvahi,
      ...(this.opts.interfaces ? { interfaces: this.opts.interfaces } : {}),
      onRename: (kind: RenameKind, from, to) => log.warn({ kind, from, to },
        kind === 'instance'
          ? `mDNS: service name "${from}" is taken by another host (a second member with id "${id}"?): advertising as "${to}"; give each member its own id`
          : `mDNS: host name ${from} is taken by another host: answering as ${to}; give each host its own hostname`),
      onAnnounced: (identity, ifaces) => log.info({ name: identity.instance, host: `${identity.host}.local`, port, interfaces: ifaces.map((i) => `${i.name}=${i.address}`) }, 'mDNS: advertising'),
      onError: (err) => log.warn({ err: err.message }, 'mDNS advertisement failed'),
    });
    this.responder.start();
  }

  /** Sends the mDNS goodbye so browsers drop us at once (only reachable on a clean shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    const r = this.responder;
    this.responder = null;
    await r?.stop();
  }
}
