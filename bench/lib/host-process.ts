// HostProcess: a process started on a simulated host for a benchmark, with its stdout as lines
// (JSON-parsed on request), a bounded stderr tail for error messages, exit tracking and
// registration with a ProcSampler.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
// type-only imports are erased; the runtime module comes from loadChildLines (see netsim-loader)
import type { ChildLines } from '../../test/netsim/child-lines.js';
import type { Netsim } from '../../test/netsim/netsim.js';
import { loadChildLines } from './netsim-loader.js';
import type { ProcSampler } from './proc-sampler.js';

const STDERR_TAIL_LINES = 20;


export interface HostProcessOptions {
  env?: Record<string, string | undefined>;
  sampler?: ProcSampler;
  /** label in reports and error messages (default: host) */
  label?: string;
}

export class HostProcess {
  readonly stderrTail: string[] = [];
  /** "code N signal S" once exited, else null */
  exit: string | null = null;
  /** CLOCK_MONOTONIC µs right after spawn (same clock as process.hrtime in every namespace) */
  readonly spawnMonoUs: number;

  private constructor(
    readonly label: string,
    readonly child: ChildProcess,
    readonly lines: ChildLines,
  ) {
    this.spawnMonoUs = Number(process.hrtime.bigint()) / 1000;
    child.stderr?.on('data', (c: Buffer) => {
      for (const line of String(c).split('\n')) {
        if (line.trim() === '') continue;
        this.stderrTail.push(line);
        if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
      }
    });
    child.once('exit', (code, sig) => {
      this.exit = `code ${code} signal ${sig}`;
    });
  }

  static async start(net: Netsim, host: string, cmd: string, args: readonly string[], opts: HostProcessOptions = {}): Promise<HostProcess> {
    const { ChildLines: Lines } = await loadChildLines();
    const child = net.spawn(host, cmd, args, { env: opts.env ?? {} });
    const hp = new HostProcess(opts.label ?? host, child, new Lines(child.stdout as Readable | null));
    opts.sampler?.add(hp.label, child.pid);
    return hp;
  }

  /** Calls fn with every stdout line that parse() accepts; returns the count of rejected lines. */
  onParsed<T>(parse: (line: string) => T | undefined, fn: (value: T) => void): { rejected: number } {
    const counter = { rejected: 0 };
    this.lines.onLine((line) => {
      const v = parse(line);
      if (v === undefined) counter.rejected++;
      else fn(v);
    });
    return counter;
  }

  /** Throws with the stderr tail if the process has exited. */
  assertAlive(): void {
    if (this.exit !== null) throw new Error(`${this.label} exited (${this.exit}): ${this.stderrTail.join(' | ')}`);
  }
}
