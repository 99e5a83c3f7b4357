// ChildLines: line-by-line reading of a child process's stdout (or any Readable) with bounded
// waits, for tests and benchmarks that talk to processes on simulated hosts via JSON lines.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

const MAX_BUFFERED_LINES = 100_000; // a chatty child that nobody reads must not grow without bound

export class ChildLines {
  private readonly buffered: string[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<(line: string) => void>();
  private closed = false;
  /** every line seen, kept (bounded) for error messages */
  readonly tail: string[] = [];

  constructor(stream: Readable | null | undefined) {
    if (stream == null) {
      this.closed = true;
      return;
    }
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => {
      this.tail.push(line);
      if (this.tail.length > 50) this.tail.shift();
      if (this.listeners.size > 0) {
        for (const l of this.listeners) l(line);
      } else if (this.buffered.length < MAX_BUFFERED_LINES) {
        this.buffered.push(line);
      }
      this.wake();
    });
    rl.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Delivers buffered and future lines to fn (after this, next()/waitFor() see no lines). */
  onLine(fn: (line: string) => void): () => void {
    this.listeners.add(fn);
    for (const l of this.buffered.splice(0)) fn(l);
    return () => this.listeners.delete(fn);
  }

  /** Next line, or undefined when the stream ended; rejects after timeoutMs. */
  async next(timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.buffered.shift();
      if (line !== undefined) return line;
      if (this.closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms (last lines: ${this.tail.slice(-5).join(' | ')})`);
      await this.waitWake(left);
    }
  }

  /** First line for which pred returns a value other than undefined; skips others. */
  async waitFor<T>(pred: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.next(Math.max(1, deadline - Date.now()));
      if (line === undefined) throw new Error(`stream ended before the expected line (last lines: ${this.tail.slice(-5).join(' | ')})`);
      const v = pred(line);
      if (v !== undefined) return v;
    }
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private waitWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve();
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(done);
    });
  }
}

/** JSON.parse that returns undefined instead of throwing, for waitFor predicates. */
export function tryParseJson(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}
