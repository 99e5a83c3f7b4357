// Runs several light members (light-member.ts) in one process, e.g. on one simulated host:
//   node light-member-host.js CONFIG.json
// CONFIG: {"dir": "...", "sampleEveryS": 1, "members": [{"id": "light1", "port": 7701,
//          "clockOffsetUs": 0, "clockRatePpm": 0}, ...]}; the shared key, if any, from JAS_KEY.
// Prints one JSON line per LightEvent on stdout, {"e":"ready"} once every member listens, and
// stops every member on SIGTERM/SIGINT. A bad config exits 2 with the reason on stderr.
import { readFileSync } from 'node:fs';
import { parseKey, type AuthKey } from '@jaudiosync/protocol';
import { parseLightHostConfig, type LightHostConfig } from './light-host-config.js';
import { LightMember, lightCacheDir, type LightEvent } from './light-member.js';

const STOP_TIMEOUT_MS = 5_000;

function emit(e: LightEvent | { e: 'ready'; n: number }): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

async function main(): Promise<number> {
  let config: LightHostConfig;
  let key: AuthKey | undefined;
  try {
    config = parseLightHostConfig(JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')));
    key = process.env['JAS_KEY'] ? parseKey(process.env['JAS_KEY']) : undefined;
  } catch (err) {
    process.stderr.write(`light-member-host: ${(err as Error).message}\n`);
    return 2;
  }
  const members = config.members.map((m) => new LightMember({
    id: m.id, port: m.port, clock: { offsetUs: m.clockOffsetUs, ratePpm: m.clockRatePpm },
    cacheDir: lightCacheDir(config.dir, m.id), key, sampleEveryS: config.sampleEveryS, onEvent: emit,
  }));
  await Promise.all(members.map((m) => m.start()));
  emit({ e: 'ready', n: members.length });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const timer = setTimeout(() => process.exit(1), STOP_TIMEOUT_MS);
  await Promise.allSettled(members.map((m) => m.stop()));
  clearTimeout(timer);
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`light-member-host: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
