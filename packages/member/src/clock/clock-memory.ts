// Clock memory: the member's last synced fit against the leader timescale, kept in a small file so
// that a restarted member (crash, upgrade, systemd restart) is synced within its first few samples
// instead of after MIN_SYNC_SPAN_US of fresh ones. A fit is a line on the member's local clock, so
// it is only valid for the same boot (CLOCK_MONOTONIC continues), the same injected clock
// parameters and the same leader timescale (welcome.timescaleId); anything else reads as "none".
// Even a valid file is only a prior: TimeFilter.seedPrior checks it against the first samples.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@jaudiosync/protocol/atomic-file';
import { parseJsonObject } from '../json-file.js';
import type { ClockSourceParams } from './clock-source.js';
import type { FitParams } from './time-filter.js';

export const CLOCK_MEMORY_FILE = 'clock-memory.json';
const VERSION = 1;
/** A remembered file is a few hundred bytes; anything much larger is not ours. */
const MAX_BYTES = 4096;

/** What a remembered fit is valid for. */
export interface ClockMemoryKey {
  bootId: string;
  timescaleId: string;
  clock: ClockSourceParams;
}

const FIT_FIELDS = ['refLocalUs', 'offsetUs', 'rate', 'varOffset', 'varRate', 'covOffsetRate'] as const;

/** The remembered fit if `text` is a clock memory for exactly this key; null otherwise. */
export function parseClockMemory(text: string, key: ClockMemoryKey): FitParams | null {
  const r = parseJsonObject(text, MAX_BYTES);
  if (r === null) return null;
  const clock = r['clock'] as Record<string, unknown> | null | undefined;
  if (r['version'] !== VERSION || r['bootId'] !== key.bootId || r['timescaleId'] !== key.timescaleId) return null;
  if (typeof clock !== 'object' || clock === null || clock['offsetUs'] !== key.clock.offsetUs || clock['ratePpm'] !== key.clock.ratePpm) return null;
  const fit = r['fit'] as Record<string, unknown> | null | undefined;
  if (typeof fit !== 'object' || fit === null) return null;
  const out: Partial<FitParams> = {};
  for (const k of FIT_FIELDS) {
    const v = fit[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    out[k] = v;
  }
  return out as FitParams;
}

export function formatClockMemory(key: ClockMemoryKey, fit: FitParams): string {
  const f: Record<string, number> = {};
  for (const k of FIT_FIELDS) f[k] = fit[k];
  return JSON.stringify({ version: VERSION, bootId: key.bootId, timescaleId: key.timescaleId, clock: { offsetUs: key.clock.offsetUs, ratePpm: key.clock.ratePpm }, fit: f });
}

/** The remembered fit for this key, or null (no file, unreadable, another boot/timescale/clock). */
export async function loadClockMemory(file: string, key: ClockMemoryKey): Promise<FitParams | null> {
  try {
    return parseClockMemory(await readFile(file, 'utf8'), key);
  } catch {
    return null;
  }
}

/** Writes atomically (temporary file + rename): a crash mid-write leaves the old memory or none. */
export async function saveClockMemory(file: string, key: ClockMemoryKey, fit: FitParams): Promise<void> {
  await writeFileAtomic(file, formatClockMemory(key, fit), { mode: 0o600 });
}
