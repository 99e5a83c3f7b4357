// ProcSampler: periodic CPU and memory sampling of child processes from /proc/<pid>/stat and
// /proc/<pid>/status, summarised per labelled process for benchmark reports.
import { readFileSync } from 'node:fs';

const DEFAULT_INTERVAL_MS = 1000; // cheap enough for dozens of processes on a busy box
export const CLK_TCK = 100; // USER_HZ on every Linux we target (getconf CLK_TCK)

export interface ProcUsage {
  label: string;
  pid: number;
  samples: number;
  /** average CPU over the sampled span, percent of one core */
  cpuPctAvg: number | null;
  /** highest CPU between two consecutive samples, percent of one core */
  cpuPctMax: number | null;
  rssMiBMax: number | null;
  /** kernel's own peak RSS (VmHWM) at the last sample */
  hwmMiB: number | null;
  /** bytes the process caused to be written to storage (/proc/<pid>/io write_bytes) over the span, MiB */
  diskWriteMiB: number | null;
  /** the same per hour of the sampled span (SD-card wear) */
  diskWriteMiBPerH: number | null;
}

interface Reading {
  atMs: number;
  cpuTicks: number;
  rssKiB: number | null;
  hwmKiB: number | null;
  writeBytes: number | null;
}

/**
 * utime+stime in clock ticks from /proc/<pid>/stat (the whole process), or of one thread from
 * /proc/<pid>/task/<tid>/stat; undefined if it is gone.
 */
export function readCpuTicks(pid: number, tid?: number): number | undefined {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // comm may contain spaces and parens: fields start after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return Number.isFinite(utime + stime) ? utime + stime : undefined;
  } catch {
    return undefined;
  }
}

export function readStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+([0-9]+) kB`, 'm').exec(status);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** write_bytes of /proc/<pid>/io: bytes sent to the block layer for this process (page-cache
 *  writeback included, tmpfs and /dev/shm excluded); undefined if unreadable. */
export function readWriteBytes(pid: number): number | undefined {
  try {
    const m = /^write_bytes:\s+([0-9]+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

export class ProcSampler {
  private readonly procs = new Map<string, { pid: number; readings: Reading[] }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = DEFAULT_INTERVAL_MS, private readonly nowMs: () => number = () => performance.now()) {}

  add(label: string, pid: number | undefined): void {
    if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return;
    this.procs.set(label, { pid, readings: [] });
    this.sampleOne(label);
  }

  start(): void {
    this.timer ??= setInterval(() => this.sampleAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sampleAll();
  }

  sampleAll(): void {
    for (const label of this.procs.keys()) this.sampleOne(label);
  }

  summary(): ProcUsage[] {
    return [...this.procs.entries()].map(([label, { pid, readings }]) => {
      const first = readings[0];
      const last = readings[readings.length - 1];
      let cpuPctAvg: number | null = null;
      let cpuPctMax: number | null = null;
      if (first !== undefined && last !== undefined && last.atMs > first.atMs) {
        cpuPctAvg = round1(((last.cpuTicks - first.cpuTicks) / CLK_TCK / ((last.atMs - first.atMs) / 1000)) * 100);
        for (let i = 1; i < readings.length; i++) {
          const a = readings[i - 1] as Reading, b = readings[i] as Reading;
          if (b.atMs <= a.atMs) continue;
          const pct = ((b.cpuTicks - a.cpuTicks) / CLK_TCK / ((b.atMs - a.atMs) / 1000)) * 100;
          cpuPctMax = Math.max(cpuPctMax ?? 0, round1(pct));
        }
      }
      const rss = readings.map((r) => r.rssKiB).filter((v): v is number => v !== null);
      const hwm = last?.hwmKiB ?? null;
      const writes = readings.filter((r) => r.writeBytes !== null);
      const w0 = writes[0];
      const w1 = writes[writes.length - 1];
      const writeMiB = w0 === undefined || w1 === undefined ? null : (w1.writeBytes! - w0.writeBytes!) / 2 ** 20;
      const spanH = w0 === undefined || w1 === undefined ? 0 : (w1.atMs - w0.atMs) / 3.6e6;
      return {
        label,
        pid,
        samples: readings.length,
        cpuPctAvg,
        cpuPctMax,
        rssMiBMax: rss.length === 0 ? null : round1(Math.max(...rss) / 1024),
        hwmMiB: hwm === null ? null : round1(hwm / 1024),
        diskWriteMiB: writeMiB === null ? null : round1(writeMiB),
        diskWriteMiBPerH: writeMiB === null || spanH <= 0 ? null : round1(writeMiB / spanH),
      };
    });
  }

  private sampleOne(label: string): void {
    const p = this.procs.get(label);
    if (p === undefined) return;
    const cpuTicks = readCpuTicks(p.pid);
    if (cpuTicks === undefined) return; // exited: keep what we have
    p.readings.push({
      atMs: this.nowMs(),
      cpuTicks,
      rssKiB: readStatusKiB(p.pid, 'VmRSS') ?? null,
      hwmKiB: readStatusKiB(p.pid, 'VmHWM') ?? null,
      writeBytes: readWriteBytes(p.pid) ?? null,
    });
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
