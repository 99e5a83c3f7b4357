// The run skeleton the netsim benchmarks share (bench:sync, bench:fanout, bench:clock,
// clock-path): log lines under the bench's name, flags and usage, the checks before any host
// starts, the simulated network brought down on every path, the fields every report ends with, and
// the exit code (0 ok, 1 failed, 2 could not run). The network's own handlers tear it down on
// SIGINT/SIGTERM (test/netsim/netsim.ts).
import os from 'node:os';
import { Args } from './args.js';
import { hostInfo, type HostInfo } from './report-writer.js';

export type BenchLog = (msg: string) => void;

/** Log lines on stderr, `[bench:<name>] ...`; stdout carries only the result line. */
export function benchLog(name: string): BenchLog {
  return (msg) => {
    process.stderr.write(`[bench:${name}] ${msg}\n`);
  };
}

/** The run's flags; or the exit code: 2 after an unknown flag (logged with the usage), 0 after --help (usage on stdout). */
export function readArgs(flags: readonly string[], usage: string, log: BenchLog, argv = process.argv.slice(2)): Args | number {
  let args: Args;
  try {
    args = new Args(argv, [...flags]);
  } catch (err) {
    log(`${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (flags.includes('help') && args.flag('help')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return args;
}

/** What `parse` makes of the flags; undefined when it throws (logged with the usage: exit 2). */
export function parseOptions<T>(parse: () => T, usage: string, log: BenchLog): T | undefined {
  try {
    return parse();
  } catch (err) {
    log(`${(err as Error).message}\n${usage}`);
    return undefined;
  }
}

/** Logs the first reason this run cannot happen here (no netsim, a daemon not built); true if there is one. */
export function cannotRun(reasons: ReadonlyArray<string | undefined>, log: BenchLog): boolean {
  const why = reasons.find((r) => r !== undefined);
  if (why === undefined) return false;
  log(why);
  return true;
}

/**
 * Runs `body` with the simulated network up and brings it down whatever happens, waiting at most
 * `downTimeoutMs` for that. A throw is the run's failure (logged, then `onFailure` cleans up what
 * the body started): the report is still written with it.
 */
export async function withNetwork(
  net: { down(): Promise<void> },
  downTimeoutMs: number,
  log: BenchLog,
  body: () => Promise<void>,
  onFailure: () => Promise<void> = async () => undefined,
): Promise<string | undefined> {
  try {
    await body();
    return undefined;
  } catch (err) {
    const failure = (err as Error).message;
    log(`FAILED: ${failure}`);
    await onFailure();
    return failure;
  } finally {
    await Promise.race([net.down(), new Promise((r) => setTimeout(r, downTimeoutMs))]);
  }
}

/** When and where a run happened, taken as it starts; `fields` ends its report. */
export class RunRecord {
  readonly startedAt = new Date().toISOString();
  private readonly loadBefore = os.loadavg();

  constructor(private readonly name: string, private readonly repoDir: string) {}

  /** host (with the load before the run), date, failure and the command line. */
  fields(failure: string | undefined): { host: HostInfo & { loadavg_before: number[] }; date: string; failure: string | null; command: string } {
    return {
      host: { ...hostInfo(this.repoDir), loadavg_before: this.loadBefore.map((l) => Math.round(l * 100) / 100) },
      date: this.startedAt,
      failure: failure ?? null,
      command: benchCommand(this.name),
    };
  }
}

/** The command line that reruns this bench. */
export function benchCommand(name: string): string {
  return `npm run bench:${name} -- ${process.argv.slice(2).join(' ')}`.trim();
}

/** Runs the bench's main and exits with its code; a throw is logged as fatal (exit 1). */
export function runBench(main: () => Promise<number>, log: BenchLog): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      log(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
