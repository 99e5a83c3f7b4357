// Parses a user's start time ("18:55:00", ISO 8601, "+5s", "+250ms", or delayMs) into either a
// delay from now or an absolute wall time. Turning that into leader time (and refusing past or
// absurdly far times) is timeline-controller's job, which knows the timescale.
import { JasError } from '@jaudiosync/protocol/errors';

/** Further ahead than this is a typo, not a plan. */
export const MAX_START_AHEAD_US = 24 * 3600 * 1_000_000;

export type StartTime = { kind: 'delay'; delayUs: number } | { kind: 'wall'; wallUs: number };

const UNIT_US: Record<string, number> = { us: 1, ms: 1_000, s: 1_000_000, m: 60_000_000, min: 60_000_000, h: 3_600_000_000 };

/**
 * @param at        user text, or undefined
 * @param delayMs   alternative numeric delay
 * @param nowWallMs wall clock now (injected so tests are deterministic)
 * @returns undefined when neither is given (the controller then uses its own lead time)
 */
export function parseStartTime(at: string | undefined, delayMs: number | undefined, nowWallMs: number): StartTime | undefined {
  if (at !== undefined && delayMs !== undefined) {
    throw new JasError('JAS_ERR_VALIDATION', { field: '/delayMs', detail: 'give either "at" or "delayMs", not both' }, { field: '/delayMs' });
  }
  if (delayMs !== undefined) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs)) throw new JasError('JAS_ERR_VALIDATION', { field: '/delayMs', detail: 'must be a finite number' }, { field: '/delayMs' });
    return { kind: 'delay', delayUs: Math.round(delayMs * 1000) };
  }
  if (at === undefined) return undefined;
  const text = at.trim();
  if (text === '' || text.length > 64) throw badTime(at.slice(0, 64), 'empty or longer than 64 characters');

  const relative = /^([+-])\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|m|h)$/i.exec(text);
  if (relative) {
    const sign = relative[1] === '-' ? -1 : 1;
    const unitUs = UNIT_US[(relative[3] ?? 's').toLowerCase()] ?? 1_000_000;
    return { kind: 'delay', delayUs: sign * Math.round(Number(relative[2]) * unitUs) };
  }

  const timeOfDay = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(text);
  if (timeOfDay) {
    const hours = Number(timeOfDay[1]);
    const minutes = Number(timeOfDay[2]);
    const seconds = Number(timeOfDay[3] ?? '0');
    const fractionUs = Number((timeOfDay[4] ?? '').padEnd(6, '0') || '0');
    if (hours > 23 || minutes > 59 || seconds > 59) throw badTime(text, 'not a time of day (00:00:00 to 23:59:59)');
    // Today, in the leader's local time zone. A time already past today is refused by the
    // controller rather than moved to tomorrow: surprises at a party are worse than an error.
    const d = new Date(nowWallMs);
    d.setHours(hours, minutes, seconds, 0);
    return { kind: 'wall', wallUs: d.getTime() * 1000 + fractionUs };
  }

  // ISO 8601 date-time, e.g. 2025-06-21T18:55:00+02:00 (no offset: local time).
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) {
      const frac = /:\d{2}\.(\d{4,6})/.exec(text);
      const extraUs = frac ? Number((frac[1] ?? '').padEnd(6, '0')) % 1000 : 0;
      return { kind: 'wall', wallUs: ms * 1000 + extraUs };
    }
  }
  throw badTime(text, 'use "18:55:00", an ISO 8601 date-time, or "+5s"/"+250ms"');
}

function badTime(at: string, detail: string): JasError {
  return new JasError('JAS_ERR_BAD_TIME', { at: JSON.stringify(at), detail }, { field: '/at' });
}
