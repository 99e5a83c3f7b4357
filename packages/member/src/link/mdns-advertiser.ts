// Announces this member over mDNS as `_jaudiosync._tcp` with TXT {v, id} so the leader finds it.
// mDNS errors (no multicast route, interface down) are reported, never fatal: the leader can also
// be given the member's address explicitly.
import { Bonjour, type Service } from 'bonjour-service';
import { PROTOCOL_VERSION } from '@jaudiosync/protocol';

export const MDNS_SERVICE_TYPE = 'jaudiosync';

export class MdnsAdvertiser {
  private bonjour: Bonjour | null = null;
  private service: Service | null = null;

  constructor(private readonly opts: { id: string; port: number; onError: (err: Error) => void }) {}

  start(): void {
    try {
      this.bonjour = new Bonjour({}, (err: Error) => this.opts.onError(err));
      this.service = this.bonjour.publish({
        name: `jaudiosync-${this.opts.id}`,
        type: MDNS_SERVICE_TYPE,
        port: this.opts.port,
        txt: { v: PROTOCOL_VERSION, id: this.opts.id },
        disableIPv6: true,
      });
      this.service.on('error', (err: Error) => this.opts.onError(err));
    } catch (err) {
      this.opts.onError(err as Error);
    }
  }

  /** Sends the mDNS goodbye so browsers drop us at once (only reachable on a clean shutdown). */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      const b = this.bonjour;
      this.bonjour = null;
      if (!b) return resolve();
      const timer = setTimeout(resolve, 1000);
      b.unpublishAll(() => {
        b.destroy();
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
