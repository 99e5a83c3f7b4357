// The kernel's boot id: CLOCK_MONOTONIC readings compare only within one boot, so state that holds
// them (the leader's timescale anchor, a member's clock memory) is kept under this id.
import { readFileSync } from 'node:fs';

export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/** This boot's id, or null where the kernel has none (not Linux, /proc not mounted). */
export function readBootId(path: string = BOOT_ID_PATH): string | null {
  try {
    return readFileSync(path, 'utf8').trim() || null;
  } catch {
    return null;
  }
}
