// A logger for the first part of the member's start, before pino is loaded (its import, ~25 ms, is
// not on the path to the audio output's start): lines are kept, each with the time it was written,
// and go to the real logger once it is attached; after that they pass straight through.

export type LogLevel = 'info' | 'warn' | 'error';

/** The part of pino's Logger the member's start uses. */
export interface LineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

interface PendingLine {
  level: LogLevel;
  obj: object;
  msg: string;
  atMs: number;
}

export class DeferredLog implements LineLogger {
  private target: LineLogger | null = null;
  private pending: PendingLine[] = [];

  info(obj: object, msg: string): void {
    this.write('info', obj, msg);
  }

  warn(obj: object, msg: string): void {
    this.write('warn', obj, msg);
  }

  error(obj: object, msg: string): void {
    this.write('error', obj, msg);
  }

  /** Sends the kept lines (with `writtenAt`: when they were written, wall ms) and all later ones to `target`. */
  attach(target: LineLogger): void {
    this.target = target;
    const lines = this.pending;
    this.pending = [];
    for (const l of lines) target[l.level]({ ...l.obj, writtenAt: l.atMs }, l.msg);
  }

  private write(level: LogLevel, obj: object, msg: string): void {
    if (this.target !== null) this.target[level](obj, msg);
    else this.pending.push({ level, obj, msg, atMs: Date.now() });
  }
}
