// Optional log of every DAC timing entry the engine reads (JAS_DAC_TIMING_LOG=FILE): one line
// "deviceFrame ringPos dacTimeNs callbackTimeNs" per entry (host CLOCK_MONOTONIC ns). For diagnosis
// only: bench:realpath sets it per member, so a DAC model can be replayed against the recording.
// Lines are buffered and written at the engine's stats interval (once a second), not per entry.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { DacTimingSample } from './dac-clock.js';

/** Buffered lines are dropped beyond this (a stalled disk must not grow the engine's heap). */
const MAX_PENDING_LINES = 20_000;

export class DacTimingLog {
  private pending: string[] = [];

  private constructor(private fd: number | null) {}

  /** Opens FILE for appending; a path that cannot be opened is reported, not fatal. */
  static open(file: string | undefined): { log: DacTimingLog | null; error: string | null } {
    if (file === undefined || file === '') return { log: null, error: null };
    try {
      return { log: new DacTimingLog(openSync(file, 'a')), error: null };
    } catch (e) {
      return { log: null, error: `JAS_DAC_TIMING_LOG: ${(e as Error).message}` };
    }
  }

  add(e: DacTimingSample): void {
    if (this.fd === null || this.pending.length >= MAX_PENDING_LINES) return;
    this.pending.push(`${e.deviceFrame} ${e.ringPos} ${e.dacTimeNs} ${e.callbackTimeNs}\n`);
  }

  flush(): void {
    if (this.fd === null || this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    try {
      writeSync(this.fd, text);
    } catch {
      this.close(); // a full disk ends the log, never the audio
    }
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    try {
      closeSync(this.fd);
    } catch {
      // already gone
    }
    this.fd = null;
  }
}
