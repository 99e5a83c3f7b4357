// Glue between the Cluster launcher and netsim, shared by tests and benchmarks: a spawner that runs
// daemons on simulated hosts, and REST access to a leader inside a namespace through a unix-socket
// proxy (rest-proxy.ts) running on the leader's host.
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netsim } from '../netsim/netsim.js';
import { ChildLines } from '../netsim/child-lines.js';
import type { Spawner } from './cluster.js';

const PROXY_JS = fileURLToPath(new URL('./rest-proxy.js', import.meta.url));
/** node start on a loaded 2-core box */
const PROXY_READY_TIMEOUT_MS = 15_000;
/** a REST call to a busy leader; Cluster.waitFor retries anyway */
const REQUEST_TIMEOUT_MS = 10_000;

/** Cluster spawner: process `cmd` runs "on" netsim host `host` (its namespace and host name). */
export function netsimSpawner(net: Netsim): Spawner {
  return (host, cmd, args, env) => net.spawn(host, cmd, args, { env: env as Record<string, string | undefined> });
}

/** Cluster `request` option: one HTTP exchange, body as text. */
export type RestRequest = (method: string, path: string, body?: unknown) => Promise<{ status: number; text: string }>;

export interface RestProxy {
  request: RestRequest;
  child: ChildProcess;
  /** SIGTERM and wait for exit (the proxy removes its socket). Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts the proxy on `host` forwarding `socketPath` to its 127.0.0.1:`port`; resolves once it listens. */
/** `headers` go with every request (e.g. the REST bearer token of a shared key). */
export async function startRestProxy(net: Netsim, host: string, port: number, socketPath: string, headers: Record<string, string> = {}): Promise<RestProxy> {
  const abs = path.resolve(socketPath);
  const child = net.spawn(host, process.execPath, [PROXY_JS, abs, String(port)]);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await new ChildLines(child.stdout).waitFor((l) => (l === 'ready' ? true : undefined), PROXY_READY_TIMEOUT_MS);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { request: unixSocketRequest(abs, headers), child, stop };
}

/** HTTP over a unix socket (e.g. the proxy's). */
export function unixSocketRequest(socketPath: string, headers: Record<string, string> = {}): RestRequest {
  return (method, urlPath, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath,
          method,
          path: urlPath,
          headers: payload === undefined ? { ...headers } : { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
}
