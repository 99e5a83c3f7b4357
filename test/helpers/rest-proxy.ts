// A program run on a simulated host (netsim): forwards connections on a unix socket to a TCP port
// on that host's loopback, so code in the root namespace can reach a daemon's HTTP API inside the
// namespace (network namespaces share the file system, not the network). Prints "ready" when
// listening; SIGTERM/SIGINT close it and remove the socket. Started by netsim-cluster.ts:
//   node test/dist/helpers/rest-proxy.js SOCKET_PATH PORT
import { createConnection, createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Listens on `socketPath` and pipes every connection to 127.0.0.1:`port`; calls `onReady` once listening. */
export function runRestProxy(socketPath: string, port: number, onReady: () => void): Server {
  rmSync(socketPath, { force: true });
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  server.listen(socketPath, onReady);
  return server;
}

function main(): void {
  const [socketPath, portArg] = process.argv.slice(2);
  const port = Number(portArg);
  if (socketPath === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write('usage: rest-proxy SOCKET_PATH PORT\n');
    process.exit(2);
  }
  const server = runRestProxy(socketPath, port, () => process.stdout.write('ready\n'));
  server.on('error', (err) => {
    process.stderr.write(`rest-proxy: ${err.message}\n`);
    process.exit(1);
  });
  const stop = (): void => {
    server.close();
    rmSync(socketPath, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
