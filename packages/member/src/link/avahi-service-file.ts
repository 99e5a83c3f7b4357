// Registration through avahi-daemon (Raspberry Pi OS runs it by default): a static service file in
// /etc/avahi/services/, which avahi reloads as soon as it changes (inotify). avahi then answers for
// the member exactly as for the host itself: `<host>.local` SRV target, its own interface rules,
// renames on conflict. The file is written from the member's config by
// `jaudiosync-member --write-avahi-service` (the systemd unit runs it privileged before every
// start, so a changed port or id reaches avahi at the next restart), or by the daemon itself when
// it may write there. docs/leader.md, "Discovery", says why a file and not D-Bus.
import { connect } from 'node:net';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { writeFileAtomicSync } from '@jaudiosync/protocol/atomic-file';
import { dirname, join } from 'node:path';
import { PROTOCOL_VERSION } from '@jaudiosync/protocol/version';

import { AVAHI_SERVICE_FILE, AVAHI_SOCKET } from './avahi-paths.js';

export { AVAHI_SERVICE_FILE, AVAHI_SOCKET };
const AVAHI_PROBE_TIMEOUT_MS = 500;

/** Our mDNS instance name for a member id; dots would split the DNS label. */
export function instanceNameFor(id: string): string {
  return `jaudiosync-${id.replace(/\./g, '-')}`;
}

export function txtFor(id: string): Record<string, string> {
  return { v: PROTOCOL_VERSION, id };
}

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The service file for a member id and port. */
export function renderAvahiService(id: string, port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port ${port}`);
  const txt = Object.entries(txtFor(id)).map(([k, v]) => `    <txt-record>${xml(`${k}=${v}`)}</txt-record>`);
  return [
    '<?xml version="1.0" standalone=\'no\'?>',
    '<!DOCTYPE service-group SYSTEM "avahi-service.dtd">',
    // (no double hyphen inside an XML comment: avahi would reject the whole file)
    '<!-- JAudioSync member: generated from its config before every start of jaudiosync-member.service.',
    '     Edit /etc/jaudiosync/member.json, not this file. -->',
    '<service-group>',
    `  <name>${xml(instanceNameFor(id))}</name>`,
    '  <service>',
    '    <type>_jaudiosync._tcp</type>',
    `    <port>${port}</port>`,
    ...txt,
    '  </service>',
    '</service-group>',
    '',
  ].join('\n');
}

/**
 * True when avahi-daemon accepts connections on its socket and serves our network: a unix socket
 * is reachable from another network namespace (a container, a simulated host), where that avahi
 * would publish for interfaces that are not ours. Its namespace is compared where /proc lets us
 * (root); an unprivileged member cannot look and trusts the socket.
 */
export async function avahiRunning(socketPath = AVAHI_SOCKET): Promise<boolean> {
  if (!existsSync(socketPath)) return false;
  if (!(await socketAnswers(socketPath))) return false;
  return sameNetworkNamespace(join(dirname(socketPath), 'pid'));
}

export function sameNetworkNamespace(pidFile: string): boolean {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid < 1) return true;
    return readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net');
  } catch {
    return true;
  }
}

function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(socketPath);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), AVAHI_PROBE_TIMEOUT_MS);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export type ServiceFileResult =
  | { status: 'current' | 'written'; path: string }
  | { status: 'no-avahi'; path: string }
  | { status: 'failed'; path: string; error: string };

/**
 * Makes `path` hold the service for id and port: unchanged if it already does (avahi is not
 * poked), written otherwise. 'no-avahi' when avahi's services directory does not exist.
 */
export function ensureAvahiService(id: string, port: number, path = AVAHI_SERVICE_FILE): ServiceFileResult {
  const want = renderAvahiService(id, port);
  if (!existsSync(dirname(path))) return { status: 'no-avahi', path };
  try {
    if (existsSync(path) && readFileSync(path, 'utf8') === want) return { status: 'current', path };
  } catch {
    // unreadable: try to write it
  }
  try {
    // Atomic: avahi watches the directory and must never read half a file (the temp name does not
    // end in .service, so avahi ignores it).
    writeFileAtomicSync(path, want, { mode: 0o644, mkdir: false });
    return { status: 'written', path };
  } catch (err) {
    return { status: 'failed', path, error: (err as Error).message };
  }
}
