// Wires the LeaderTimescale and NtpServer (packages/leader/src/clock) into the leader: one
// timescale for the timeline, the NTP server and pings. The anchor is saved with the kernel's boot
// id, so a leader restarted on the same boot (crash, upgrade, SIGKILL) serves exactly the same
// timescale: members see no step and the persisted timeline keeps its meaning.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '@jaudiosync/protocol/atomic-file';
import { join } from 'node:path';
import { readBootId } from '@jaudiosync/protocol/boot-id';
import { LeaderTimescale } from './clock/leader-timescale.js';
import { NtpServer } from './clock/ntp-server.js';

export interface LeaderClock {
  timescale: { nowUs(): number };
  /** Names this timescale (boot and anchor): members keep a clock fit across restarts only under it. */
  timescaleId?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** After start(): the NTP server times its exchanges in the kernel (@jaudiosync/netstamp). */
  kernelTimestamps?(): boolean;
}

export interface AnchoredLeaderClock extends LeaderClock {
  timescale: LeaderTimescale;
  /** true when the anchor was reused from a previous run on this boot */
  resumed: boolean;
}

interface SavedAnchor {
  bootId: string;
  anchorWallUs: number;
  anchorMonoNs: string;
}

export function createLeaderClock(options: { ntpPort: number; host: string; stateDir?: string }): AnchoredLeaderClock {
  const file = options.stateDir ? join(options.stateDir, 'timescale.json') : null;
  const bootId = readBootId();
  const saved = file && bootId ? loadAnchor(file, bootId) : null;
  const timescale = saved
    ? new LeaderTimescale({ anchorWallUs: saved.anchorWallUs, anchorMonoNs: BigInt(saved.anchorMonoNs) })
    : new LeaderTimescale();
  if (!saved && file && bootId) {
    saveAnchor(file, { bootId, anchorWallUs: timescale.anchorWallUs, anchorMonoNs: timescale.anchorMonoNs.toString() });
  }
  const ntp = new NtpServer({ port: options.ntpPort, host: options.host, timescale });
  return {
    timescale,
    timescaleId: timescaleIdOf(bootId, timescale),
    resumed: saved !== null,
    start: async () => { await ntp.start(); },
    stop: async () => { await ntp.stop(); },
    kernelTimestamps: () => ntp.stats().kernelTimestamps,
  };
}

/** Same boot and anchor, same id; a re-anchored timescale (another boot, a lost state file) gets another. */
export function timescaleIdOf(bootId: string | null, t: { anchorWallUs: number; anchorMonoNs: bigint }): string {
  return createHash('sha256').update(`${bootId ?? 'no-boot-id'}/${t.anchorWallUs}/${t.anchorMonoNs}`).digest('hex').slice(0, 32);
}

function loadAnchor(file: string, bootId: string): SavedAnchor | null {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<SavedAnchor>;
    if (s.bootId !== bootId || typeof s.anchorWallUs !== 'number' || !Number.isFinite(s.anchorWallUs)) return null;
    if (typeof s.anchorMonoNs !== 'string' || !/^\d{1,20}$/.test(s.anchorMonoNs)) return null;
    if (BigInt(s.anchorMonoNs) > process.hrtime.bigint()) return null; // not this boot after all
    return s as SavedAnchor;
  } catch {
    return null;
  }
}

function saveAnchor(file: string, a: SavedAnchor): void {
  try {
    writeFileAtomicSync(file, JSON.stringify(a));
  } catch {
    // Not fatal: a restart would then re-anchor, and members slew to the new timescale.
  }
}
