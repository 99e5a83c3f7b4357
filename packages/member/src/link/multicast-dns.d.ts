// The part of multicast-dns (bonjour-service's own mDNS transport) that our responder uses.
declare module 'multicast-dns' {
  import type { EventEmitter } from 'node:events';

  export interface RemoteInfo {
    address: string;
    port: number;
  }
  export interface Options {
    /** IPv4 address of the one interface to join 224.0.0.251 on and send from. */
    interface?: string;
    /** Address the socket binds (0.0.0.0: receive the group's datagrams). */
    bind?: string;
    port?: number;
    reuseAddr?: boolean;
    loopback?: boolean;
    ttl?: number;
  }
  export interface MulticastDns extends EventEmitter {
    send(packet: object, rinfo?: RemoteInfo | null, cb?: (err?: Error | null) => void): void;
    destroy(cb?: () => void): void;
  }
  /** CommonJS `module.exports = function`: node's ESM import sees it as the default export. */
  export default function createMdns(opts?: Options): MulticastDns;
}
