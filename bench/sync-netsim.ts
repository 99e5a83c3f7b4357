// Glue between the testkit Cluster and netsim for benchmarks: a spawner that runs processes on
// simulated hosts, and REST access to a leader inside a namespace through a unix-socket proxy.
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netsim } from '../test/netsim/netsim.js';
import type { Spawner } from '@jaudiosync/testkit/helpers/cluster.js';
import { loadChildLines } from './lib/netsim-loader.js';

const PROXY_JS = fileURLToPath(new URL('./sync-rest-proxy.js', import.meta.url));
const PROXY_READY_TIMEOUT_MS = 15_000; // node start on a loaded 2-core box
const REQUEST_TIMEOUT_MS = 10_000;

export function netsimSpawner(net: Netsim): Spawner {
  return (host, cmd, args, env) => net.spawn(host, cmd, args, { env: env as Record<string, string | undefined> });
}

export type RestRequest = (method: string, path: string, body?: unknown) => Promise<{ status: number; text: string }>;

/** Starts the proxy on `host` forwarding `socketPath` to its 127.0.0.1:`port`; returns the request function. */
export async function startRestProxy(net: Netsim, host: string, port: number, socketPath: string): Promise<{ request: RestRequest; child: ChildProcess }> {
  const { ChildLines } = await loadChildLines();
  const child = net.spawn(host, process.execPath, [PROXY_JS, path.resolve(socketPath), String(port)]);
  const lines = new ChildLines(child.stdout);
  await lines.waitFor((l) => (l === 'ready' ? true : undefined), PROXY_READY_TIMEOUT_MS);
  return { request: unixSocketRequest(socketPath), child };
}

export function unixSocketRequest(socketPath: string): RestRequest {
  return (method, urlPath, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath,
          method,
          path: urlPath,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
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
