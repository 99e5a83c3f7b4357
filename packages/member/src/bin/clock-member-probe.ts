#!/usr/bin/env node
// Benchmark/demo probe: ClockSync alone on ClockSource.fromEnv(). Every --report-ms (0 = never) and
// for every stdin line prints {"localUs","leaderEstUs","synced","uncertaintyUs","rttUs",
// "kernelTimestamps","midpointShare"}, with leaderEstUs the model evaluated at exactly localUs (one clock reading).
import { parseArgs } from 'node:util';
import { ClockSource } from '../clock/clock-source.js';
import { ClockSync, type ClockMode } from '../clock/clock-sync.js';
import { leaderFromLocal } from '../clock/clock-model.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { leader: { type: 'string' }, port: { type: 'string' }, 'report-ms': { type: 'string' }, mode: { type: 'string' } },
  });
  const mode = (values.mode ?? 'leader') as ClockMode;
  const port = Number(values.port ?? 11123);
  const reportMs = Number(values['report-ms'] ?? 100);
  if (mode !== 'leader' && mode !== 'system') throw new Error(`--mode: leader or system, got ${mode}`);
  if (mode === 'leader' && !values.leader) throw new Error('--leader HOST is required');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: bad value ${values.port}`);
  if (!Number.isFinite(reportMs) || reportMs < 0) throw new Error(`--report-ms: bad value ${values['report-ms']}`);
  const clock = ClockSource.fromEnv();
  const sync = new ClockSync({ clock: clock.params, mode });
  sync.start({ host: values.leader ?? 'localhost', port });
  const report = () => {
    const m = sync.model();
    const localUs = clock.nowUs();
    const { kernelTimestamps, midpointShare } = sync.stats();
    const line = m
      ? { localUs, leaderEstUs: leaderFromLocal(m, localUs), synced: m.synced, uncertaintyUs: m.uncertaintyUs, rttUs: m.rttUs, kernelTimestamps, midpointShare }
      : { localUs, leaderEstUs: null, synced: false, uncertaintyUs: null, rttUs: null, kernelTimestamps, midpointShare };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  const timer = reportMs > 0 ? setInterval(report, reportMs) : null;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    for (let i = 0; i < chunk.split('\n').length - 1; i++) report();
  });
  process.stdin.on('error', () => {});
  const shutdown = () => {
    if (timer) clearInterval(timer);
    void sync.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((e: unknown) => {
  process.stderr.write(`clock-member-probe: ${(e as Error).message}\n`);
  process.exit(1);
});
