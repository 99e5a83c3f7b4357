#!/usr/bin/env -S node --max-semi-space-size=1 --heap-growing-percent=20
// The leader daemon's entry point: parses options, logs JSON with pino to stdout, starts the
// Leader, and closes it gracefully on SIGTERM/SIGINT (members keep playing their timeline).
import { pino } from 'pino';
import { ConfigError, helpText, parseLeaderArgs } from '../leader-config.js';
import { createLeaderClock } from '../leader-clock.js';
import { Leader } from '../leader.js';
import { startMallocTrim, tuneMemory } from '../memory-tuning.js';
import { missingNodeFlags } from '../node-flags.js';

/** A shutdown that hangs (a stuck socket) must not keep the process alive forever. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseLeaderArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`jaudiosync-leader: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  const config = parsed.config;
  const log = pino({ level: config.logLevel, base: { app: 'jaudiosync-leader' } });
  const missing = missingNodeFlags();
  if (missing.length > 0) log.warn({ missing }, 'node was started without these options: the leader holds more memory than it needs (packages/leader/src/node-flags.ts)');
  // Before any worker thread exists (NTP server, decoder): arenas are created per thread.
  const malloc = tuneMemory();
  if ('error' in malloc.result) log.info({ reason: malloc.result.error }, 'memory allocator left at its defaults (RSS may grow with fragmentation)');
  else log.info({ arenaMax: malloc.arenaMax, mmapThresholdBytes: malloc.mmapThresholdBytes, applied: malloc.result }, 'memory allocator tuned');
  startMallocTrim((reason) => log.info({ reason }, 'free heap pages are not returned to the kernel (no malloc_trim)'));
  const clock = createLeaderClock({ ntpPort: config.ntpPort, host: config.host, stateDir: config.stateDir });
  // The anchor lets tests and benchmarks compute true leader time from the host's monotonic clock.
  log.info({ anchorWallUs: clock.timescale.anchorWallUs, anchorMonoNs: clock.timescale.anchorMonoNs.toString(), resumed: clock.resumed }, 'leader timescale');
  const leader = new Leader(config, { log, clock });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    leader.close().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  try {
    await leader.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    await leader.close().catch(() => undefined);
    process.exit(1);
  }
}

void main();
