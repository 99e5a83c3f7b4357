// Runs several light members (light-member.ts) in one process, e.g. on one simulated host:
//   node light-member-host.js CONFIG.json
// CONFIG: {"dir": "...", "sampleEveryS": 1, "members": [{"id": "light1", "port": 7701,
//          "clockOffsetUs": 0, "clockRatePpm": 0}, ...]}; the shared key, if any, from JAS_KEY.
// Prints one JSON line per LightEvent on stdout, {"e":"ready"} once every member listens, and
// stops every member on SIGTERM/SIGINT. A bad config exits 2 with the reason on stderr.
import { readFileSync } from 'node:fs';
import { parseKey, type AuthKey } from '@jaudiosync/protocol';
import { LightMember, lightCacheDir, type LightEvent } from './light-member.js';

/** One process holds at most this many: each has a clock worker thread of its own. */
export const MAX_LIGHT_MEMBERS_PER_PROCESS = 64;
const STOP_TIMEOUT_MS = 5_000;

export interface LightHostConfig {
  dir: string;
  sampleEveryS: number;
  members: Array<{ id: string; port: number; clockOffsetUs: number; clockRatePpm: number }>;
}

/** The config, validated; throws with the reason. */
export function parseLightHostConfig(v: unknown): LightHostConfig {
  const o = v as Partial<LightHostConfig> | null;
  if (typeof o !== 'object' || o === null) throw new Error('config must be an object');
  if (typeof o.dir !== 'string' || o.dir === '') throw new Error('dir must be a path');
  const sampleEveryS = o.sampleEveryS ?? 0;
  if (typeof sampleEveryS !== 'number' || !(sampleEveryS >= 0 && sampleEveryS <= 3600)) throw new Error('sampleEveryS must be 0..3600');
  if (!Array.isArray(o.members) || o.members.length < 1 || o.members.length > MAX_LIGHT_MEMBERS_PER_PROCESS) {
    throw new Error(`members must list 1..${MAX_LIGHT_MEMBERS_PER_PROCESS}`);
  }
  const members = o.members.map((m, i) => {
    if (typeof m?.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(m.id)) throw new Error(`members[${i}].id is not an id`);
    if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) throw new Error(`members[${i}].port is not a port`);
    for (const k of ['clockOffsetUs', 'clockRatePpm'] as const) if (typeof m[k] !== 'number' || !Number.isFinite(m[k])) throw new Error(`members[${i}].${k} is not a number`);
    return { id: m.id, port: m.port, clockOffsetUs: m.clockOffsetUs, clockRatePpm: m.clockRatePpm };
  });
  return { dir: o.dir, sampleEveryS, members };
}

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
