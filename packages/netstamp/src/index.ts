// Kernel timestamps for the NTP exchange (docs/clock.md, "Kernel timestamps"): the receive time of a
// datagram as the kernel saw it, and sends stamped right before the syscall. The one place that
// loads the native addon (lazily, inside try/catch); without it, or on a socket it cannot use,
// callers get null and keep their user-space timestamps.
import type dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Set to 1 to run without kernel timestamps (comparisons, the fallback's tests). */
export const NETSTAMP_DISABLE_ENV = 'JAS_NETSTAMP_DISABLE';
const ADDON_RELATIVE_PATH = ['build', 'Release', 'jas_netstamp.node'];

interface NativeAddon {
  enable(fd: number): boolean;
  rxMonoNs(fd: number): number;
  send(fd: number, buffer: Buffer, address: string | null, port: number, stampOffset: number, anchorNs: bigint): number;
}

let addon: NativeAddon | undefined;
let loadError: string | undefined;
let loadAttempted = false;

function load(): NativeAddon | undefined {
  if (loadAttempted) return addon;
  loadAttempted = true;
  if (process.env[NETSTAMP_DISABLE_ENV] === '1') {
    loadError = `disabled by ${NETSTAMP_DISABLE_ENV}=1`;
    return undefined;
  }
  if (process.platform !== 'linux') {
    loadError = `not available on ${process.platform}`;
    return undefined;
  }
  const addonPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...ADDON_RELATIVE_PATH);
  try {
    const loaded = createRequire(import.meta.url)(addonPath) as NativeAddon;
    if (typeof loaded.rxMonoNs !== 'function' || typeof loaded.send !== 'function' || typeof loaded.enable !== 'function') {
      throw new Error(`${addonPath} is not the JAudioSync netstamp addon`);
    }
    addon = loaded;
  } catch (err) {
    loadError = `${err instanceof Error ? err.message : String(err)}; build it with \`npm run build:native -w packages/netstamp\` (needs g++, make)`;
  }
  return addon;
}

/** Why kernel timestamps are not available, or undefined if they are (loads the addon). */
export function netstampUnavailableReason(): string | undefined {
  load();
  return addon === undefined ? loadError : undefined;
}

/** The OS descriptor behind a dgram socket (Node keeps it in a symbol-keyed state; no public API). */
function fdOf(socket: dgram.Socket): number | null {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (key === undefined) return null;
  const state = (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[key];
  const fd = state?.handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

/** Kernel timestamps on one bound (or connected) dgram socket. */
export class SocketStamps {
  private constructor(private readonly native: NativeAddon, private readonly fd: number) {}

  /** For a bound or connected socket; null if the addon or the descriptor is not available. */
  static attach(socket: dgram.Socket): SocketStamps | null {
    const native = load();
    if (native === undefined) return null;
    const fd = fdOf(socket);
    if (fd === null || !native.enable(fd)) return null;
    return new SocketStamps(native, fd);
  }

  /**
   * When the kernel received the datagram now being handled, in CLOCK_MONOTONIC ns (the clock of
   * process.hrtime), or null: no kernel stamp, or one more than 1 s old (a wall-clock step between
   * the kernel's stamp and now). Call in the 'message' handler: Node reads one datagram per call.
   */
  rxMonoNs(): number | null {
    const t = this.native.rxMonoNs(this.fd);
    return t >= 0 ? t : null;
  }

  /**
   * Sends at once on a connected socket; returns CLOCK_MONOTONIC ns (process.hrtime's clock) read
   * right before the syscall, or null if it could not (the caller sends the usual way).
   */
  sendConnected(buffer: Buffer): number | null {
    const t = this.native.send(this.fd, buffer, null, 0, -1, 0n);
    return t >= 0 ? t : null;
  }

  /**
   * Writes the NTP timestamp of CLOCK_MONOTONIC + anchorNs (Unix-epoch ns) at `stampOffset`, right
   * before sending to address:port (an IP literal). False if it could not send (nothing was sent).
   */
  sendNtpStamped(buffer: Buffer, stampOffset: number, anchorNs: bigint, address: string, port: number): boolean {
    return this.native.send(this.fd, buffer, address, port, stampOffset, anchorNs) >= 0;
  }
}
