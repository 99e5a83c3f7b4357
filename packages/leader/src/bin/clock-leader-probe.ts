#!/usr/bin/env node
// Benchmark/demo probe: a LeaderTimescale + NtpServer alone. Prints one JSON line with the anchor
// ({"anchorWallUs":..,"anchorMonoNs":"..","port":..}) and serves until SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { LeaderTimescale } from '../clock/leader-timescale.js';
import { NtpServer, NTP_DEV_PORT } from '../clock/ntp-server.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } });
  const port = values.port === undefined ? NTP_DEV_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: bad value ${values.port}`);
  const timescale = new LeaderTimescale();
  const server = new NtpServer({ port, host: values.host ?? '0.0.0.0', timescale });
  await server.start();
  process.stdout.write(`${JSON.stringify({ anchorWallUs: timescale.anchorWallUs, anchorMonoNs: timescale.anchorMonoNs.toString(), port: server.port })}\n`);
  const shutdown = () => {
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // stdin line -> current leader time (tests compare against members); EOF is ignored.
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    for (let i = 0; i < chunk.split('\n').length - 1; i++) process.stdout.write(`${JSON.stringify({ leaderUs: timescale.nowUs() })}\n`);
  });
  process.stdin.on('error', () => {});
}

main().catch((e: unknown) => {
  process.stderr.write(`clock-leader-probe: ${(e as Error).message}\n`);
  process.exit(1);
});
