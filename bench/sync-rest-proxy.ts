// Runs on a simulated host (netsim): forwards connections on a unix socket to a TCP port on that
// host's loopback, so a benchmark in the root namespace can reach the leader's REST API (network
// namespaces share the file system, not the network). Prints "ready" once listening.
//   node bench/dist/sync-rest-proxy.js SOCKET_PATH PORT
import { createConnection, createServer } from 'node:net';
import { rmSync } from 'node:fs';

const [socketPath, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (socketPath === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: sync-rest-proxy SOCKET_PATH PORT\n');
  process.exit(2);
}
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
server.listen(socketPath, () => process.stdout.write('ready\n'));
const stop = (): void => {
  server.close();
  rmSync(socketPath, { force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
