// The config of a light-member-host process (light-member-host.ts), validated at the boundary.

/** One process holds at most this many: each has a clock worker thread of its own. */
export const MAX_LIGHT_MEMBERS_PER_PROCESS = 64;

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
