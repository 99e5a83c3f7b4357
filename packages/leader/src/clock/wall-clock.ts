// The leader's wall clock for times of day ("at": "18:55:00") and the wall times in replies. A Pi
// without RTC or internet boots with a wrong one; a phone can give the right time (PUT /api/clock).
// Where the leader may set the system clock (--set-system-clock, CAP_SYS_TIME in the unit) it does;
// otherwise, or when that fails, it keeps the phone's time as an anchor on CLOCK_MONOTONIC (saved
// with the boot id, so a restart on the same boot keeps it). The leader timescale is anchored once
// at start and is never touched: nothing audible moves either way.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '@jaudiosync/protocol/atomic-file';
import { readBootId } from '@jaudiosync/protocol/boot-id';

/** Beyond this the system clock and the kept time disagree: the kept time stays in use. */
export const AGREE_MS = 1000;
const FILE = 'wall-clock.json';

export type WallClockSource = 'system' | 'phone';

export interface WallClockSetResult {
  /** How the time was taken: the system clock was set, or an offset is kept. */
  method: 'system' | 'offset';
  /** Leader wall clock change (ms, + = forward). */
  stepMs: number;
  /** Why the system clock was not set (offset method only). */
  detail?: string;
}

export interface WallClockOptions {
  stateDir?: string;
  /** Try to set the system clock (needs CAP_SYS_TIME); otherwise keep an offset. */
  setSystemClock?: boolean;
  /** Injected for tests. */
  systemNowMs?(): number;
  monoNowMs?(): number;
  setSystem?(wallMs: number): Promise<void>;
  bootId?: string | null;
}

interface Anchor { bootId: string; monoMs: number; wallMs: number }

/** `date -s` with the right time: it calls clock_settime, allowed with CAP_SYS_TIME (inherited as an ambient capability). */
function setSystemWithDate(wallMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('date', ['-u', '-s', `@${(wallMs / 1000).toFixed(3)}`], { timeout: 5000 }, (err, _out, stderr) => {
      if (err) reject(new Error(String(stderr).trim() || err.message));
      else resolve();
    });
  });
}

export class WallClock {
  private anchor: Anchor | null = null;
  private readonly systemNowMs: () => number;
  private readonly monoNowMs: () => number;
  private readonly bootId: string | null;

  constructor(private readonly options: WallClockOptions = {}) {
    this.systemNowMs = options.systemNowMs ?? Date.now;
    this.monoNowMs = options.monoNowMs ?? (() => Number(process.hrtime.bigint()) / 1e6);
    this.bootId = options.bootId !== undefined ? options.bootId : readBootId();
    this.anchor = this.load();
  }

  /** Wall time now (ms since the epoch): the phone's time when one is kept, else the system's. */
  nowMs(): number {
    const a = this.anchor;
    if (a === null) return this.systemNowMs();
    const kept = a.wallMs + (this.monoNowMs() - a.monoMs);
    // The system clock was put right since (chrony found a source, someone ran date): follow it again.
    if (Math.abs(this.systemNowMs() - kept) < AGREE_MS) {
      this.anchor = null;
      this.save();
      return this.systemNowMs();
    }
    return kept;
  }

  get source(): WallClockSource {
    return this.anchor === null ? 'system' : 'phone';
  }

  /** Takes `wallMs` (the phone's clock, read just now) as the right time. */
  async set(wallMs: number): Promise<WallClockSetResult> {
    const stepMs = Math.round(wallMs - this.nowMs());
    let detail: string | undefined;
    if (this.options.setSystemClock === true) {
      try {
        await (this.options.setSystem ?? setSystemWithDate)(wallMs);
        this.anchor = null;
        this.save();
        return { method: 'system', stepMs };
      } catch (err) {
        detail = `cannot set the system clock (${(err as Error).message}); keeping an offset`;
      }
    } else detail = 'setting the system clock is off (--set-system-clock); keeping an offset';
    this.anchor = { bootId: this.bootId ?? '', monoMs: this.monoNowMs(), wallMs };
    this.save();
    return { method: 'offset', stepMs, detail };
  }

  private get file(): string | undefined {
    return this.options.stateDir === undefined ? undefined : join(this.options.stateDir, FILE);
  }

  private load(): Anchor | null {
    const file = this.file;
    if (file === undefined || this.bootId === null) return null;
    try {
      const a = JSON.parse(readFileSync(file, 'utf8')) as Partial<Anchor> | null;
      // Kept for this boot only: CLOCK_MONOTONIC starts again at the next one.
      if (a === null || a.bootId !== this.bootId || !Number.isFinite(a.monoMs) || !Number.isFinite(a.wallMs)) return null;
      if ((a.monoMs as number) > this.monoNowMs()) return null;
      return { bootId: a.bootId, monoMs: a.monoMs as number, wallMs: a.wallMs as number };
    } catch {
      return null;
    }
  }

  private save(): void {
    const file = this.file;
    if (file === undefined) return;
    try {
      writeFileAtomicSync(file, JSON.stringify(this.anchor));
    } catch {
      // Not fatal: a restart would use the system clock again.
    }
  }
}
