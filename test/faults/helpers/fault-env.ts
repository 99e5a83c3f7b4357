// Knobs shared by the fault tests: the opt-in long runs (JAS_LONG_FAULTS=1), the working directory
// (kept on failure for post-mortem, removed on success), and one place for the audio bounds.
import { accessSync, appendFileSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../helpers/cluster.js';

/** JAS_LONG_FAULTS=1: the durations the issue asks for (5 min link cut, 32 members for 60 s). */
export const LONG_FAULTS = process.env['JAS_LONG_FAULTS'] === '1';
/** Sync bound between members asserted on the captured audio (the 1 ms). */
export const MAX_MEMBER_OFFSET_US = 1000;
/** Bound of a click's onset against where the leader's timeline puts it: same 1 ms budget. */
export const MAX_TIMELINE_ERROR_US = 1000;

export interface WorkDir {
  dir: string;
  /** One JSON line of measured numbers: printed as a test diagnostic and kept with the artifacts. */
  report(t: { diagnostic(message: string): void }, numbers: object): void;
  /** Call when the test passed: the directory is removed; otherwise logs are kept in test-artifacts/faults. */
  passed(): void;
  cleanup(): void;
}

/**
 * Captures are written synchronously by the simulated DAC thread (capture-sink-worker.ts): on a
 * shared disk a journal commit can block it for a second and every member plays a hole at once.
 * A tmpfs keeps those stalls (a property of the test sink, not of the product) out of the verdict.
 */
function scratchRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export function workDir(name: string): WorkDir {
  const dir = mkdtempSync(join(scratchRoot(), `jas-fault-${name}-`));
  let ok = false;
  return {
    dir,
    report: (t, numbers) => {
      const line = JSON.stringify(numbers);
      t.diagnostic(line);
      try {
        appendFileSync(join(dir, 'diagnostics.jsonl'), `${line}\n`);
      } catch {
        // the directory may be gone already
      }
    },
    passed: () => { ok = true; },
    cleanup: () => {
      if (!ok && existsSync(dir)) {
        const keep = join(REPO_ROOT, 'test-artifacts', 'faults', name);
        try {
          mkdirSync(keep, { recursive: true });
          cpSync(dir, keep, { recursive: true, filter: (src) => !/\.(wav|sock)$/.test(src) && !src.includes('-cache') });
        } catch {
          // best effort post-mortem
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function maxAbs(xs: readonly number[]): number {
  return xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}
