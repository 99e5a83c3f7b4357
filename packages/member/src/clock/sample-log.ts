// Optional log of every accepted NTP exchange (JAS_CLOCK_SAMPLE_LOG=FILE): one line
// "t1 t2 t3 t4 kernel" per sample, t1/t4 on the member's clock and t2/t3 on the leader timescale
// (µs), kernel 1 when t4 is the kernel's receive stamp. For diagnosis only: bench:clock
// --sample-log writes one per member, and bench/clock-replay feeds them back through the filter
// against the exact truth (docs/benchmarks.md).
import { closeSync, openSync, writeSync } from 'node:fs';

export class SampleLog {
  private constructor(private fd: number | null) {}

  /** Opens FILE for appending; a path that cannot be opened is reported, not fatal. */
  static open(file: string | undefined): { log: SampleLog | null; error: string | null } {
    if (file === undefined || file === '') return { log: null, error: null };
    try {
      return { log: new SampleLog(openSync(file, 'a')), error: null };
    } catch (e) {
      return { log: null, error: `JAS_CLOCK_SAMPLE_LOG: ${(e as Error).message}` };
    }
  }

  write(t1: number, t2: number, t3: number, t4: number, kernel: boolean): void {
    if (this.fd === null) return;
    try {
      writeSync(this.fd, `${t1} ${t2} ${t3} ${t4} ${kernel ? 1 : 0}\n`);
    } catch {
      this.close(); // a full disk ends the log, never the clock
    }
  }

  close(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // already gone
    }
    this.fd = null;
  }
}
