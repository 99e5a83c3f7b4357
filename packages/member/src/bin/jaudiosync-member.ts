#!/usr/bin/env -S node --single-threaded --max-semi-space-size=1
// jaudiosync-member: the daemon on each speaker. See --help.
// Only what the audio output's start needs is imported up front (early-start.ts); pino and the
// daemon's modules load while its workers start.
import { ConfigError, loadMemberConfig, memberHelp } from '../config/member-config.js';
import { DeferredLog } from '../deferred-log.js';
import { startEarly } from '../early-start.js';
import { tuneMemory } from '../memory-tuning.js';
import { missingNodeFlags } from '../node-flags.js';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = loadMemberConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`jaudiosync-member: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(`${memberHelp()}\n`);
    return 0;
  }
  if (parsed.listDevices) {
    const pa = await import('@jaudiosync/portaudio');
    if (!pa.isAvailable()) {
      process.stderr.write(`jaudiosync-member: ${pa.getLoadError()?.message ?? 'PortAudio not available'}\n`);
      return 1;
    }
    process.stdout.write(`${pa.formatDeviceList()}\n`);
    return 0;
  }
  if (parsed.writeAvahiService) {
    // Run privileged by the systemd unit before every start: a changed port or id reaches avahi.
    const { ensureAvahiService } = await import('../link/avahi-service-file.js');
    const r = ensureAvahiService(parsed.config.id, parsed.config.port, parsed.config.avahiServiceFile);
    if (r.status === 'failed') {
      process.stderr.write(`jaudiosync-member: cannot write ${r.path}: ${r.error}\n`);
      return 1;
    }
    process.stdout.write(r.status === 'no-avahi'
      ? `jaudiosync-member: no avahi-daemon services directory for ${r.path}: nothing to do (the member publishes itself)\n`
      : `jaudiosync-member: ${r.path} ${r.status === 'written' ? 'written' : 'already current'}\n`);
    return 0;
  }
  const earlyLog = new DeferredLog();
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    earlyLog.warn({ missing }, 'node was started without these options (packages/member/src/node-flags.ts): without --single-threaded V8 helper threads can stall the real-time audio engine (docs/audio-engine.md, "Thread priorities"); without --max-semi-space-size=1 the member takes more memory');
  }
  // Before any worker thread exists: arenas are created per thread.
  const malloc = tuneMemory();
  if ('error' in malloc.result) earlyLog.info({ reason: malloc.result.error }, 'memory allocator left at its defaults (RSS may grow with fragmentation)');
  else earlyLog.info({ arenaMax: malloc.arenaMax, mmapThresholdBytes: malloc.mmapThresholdBytes, applied: malloc.result }, 'memory allocator tuned');
  const early = startEarly(parsed.config, earlyLog);
  // The rest loads once the audio threads run and are raised to real-time: this thread raises
  // them when their workers report, which it cannot while it loads modules (100-200 ms; the
  // simulated DAC's first timing, at normal priority beside that load, made the late joiner's
  // first seconds worse). A failed start is thrown by the daemon's start.
  await early.engineUp.catch(() => {});
  const [{ pino }, { MemberDaemon }] = await Promise.all([import('pino'), import('../member-daemon.js')]);
  const log = pino({ level: parsed.config.logLevel, base: { member: parsed.config.id } });
  earlyLog.attach(log);
  const daemon = new MemberDaemon(parsed.config, log, early);
  await daemon.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await daemon.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`jaudiosync-member: fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
