// OutputSupervisor: notices when the audio output stopped consuming (the audio server was killed
// or restarted, a USB DAC was unplugged, the stream died) and reopens it. A PortAudio stream whose
// server or device went away ends on its own (inactive within 0.2 s of killing PulseAudio or
// PipeWire, measured): that is lost at the next poll. A stream that stays active but hands no buffer
// to the device for OUTPUT_STALL_MS (corked, suspended, a wedged server) is lost too. Then:
//   1. the engine forgets its DAC model (a new stream is a new DAC timeline) and relocks with a
//      fade-in at the frame the timeline wants (`onRestart`),
//   2. the old stream is closed, and reopening is retried with backoff until it works,
//   3. before each attempt the PCM ring is emptied, so no stale audio plays when it comes back.
// The gap, the restarts and the reason are kept for the member's status report and the log.
// Runs on the main thread: it only polls counters; audio never passes through here.
import type { AudioSink } from './sink.js';

/**
 * No device buffer for this long while the stream claims to be active: lost (issue #16: noticed
 * within 1 s, with the OUTPUT_POLL_MS poll). Long against a stream's 10-50 ms buffers, because a reopen costs the DAC clock's
 * relock (0.3-1.5 s), and a busy host can starve the audio server for a few 100 ms (bench:realpath
 * at load 30). A PortAudio stream on PipeWire's ALSA device stays "active" with its thread stuck
 * after the server died: this is how that is noticed.
 */
export const OUTPUT_STALL_MS = 800;
/**
 * The same through libpulse: the server ends a stream it lost at once (the stream fails: noticed at
 * the next poll), so a stall there is the server holding the stream (a suspended sink, a cork),
 * which resumes at the frame the timeline wants without a reopen (bench:realpath --fault suspend: in
 * step 0.11 s after a 2 s suspend; a reopen after 1 s brought it back 0.57 s after, 70 µs apart).
 * A hold longer than this is treated as a loss all the same.
 */
export const OUTPUT_STALL_HELD_MS = 5000;
/** Poll period of the progress check. */
export const OUTPUT_POLL_MS = 100;
/** Waits between reopen attempts (the last one repeats). */
export const OUTPUT_RETRY_MS: readonly number[] = [100, 200, 300, 500];
/**
 * After this long without an output, attempts come every OUTPUT_RETRY_SLOW_MS instead. A failed
 * open through the ALSA `pulse` device costs ~20 ms of CPU on the main thread here (the plugin's
 * connect attempt; 3-5x that on a Pi 3): twice a second for an hour-long unplugged DAC is 4 % of a
 * core here, ~15 % on a Pi. A server restart or a cable shaken loose is back well within the window.
 */
export const OUTPUT_RETRY_SLOW_AFTER_MS = 30_000;
export const OUTPUT_RETRY_SLOW_MS = 2_000;

export interface OutputStatus {
  /** True from the stall until the reopened stream consumes again. */
  lost: boolean;
  /** Why it is (or last was) lost; null before the first loss. */
  reason: string | null;
  /** Reopens that came back. */
  restarts: number;
  /** The last loss's gap, from the last buffer before it to the first after it (ms). */
  lastGapMs: number | null;
  /** Failed reopen attempts of the current loss. */
  attempts: number;
}

export interface OutputSupervisorOptions {
  sink: AudioSink;
  /** The engine drops its DAC model and relocks; called once per loss, before the reopen. */
  onRestart: () => void;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  now?: () => number;
  stallMs?: number;
  pollMs?: number;
  retryMs?: readonly number[];
  /** Outage length after which attempts slow down to `slowRetryMs`. */
  slowRetryAfterMs?: number;
  slowRetryMs?: number;
}

export class OutputSupervisor {
  private readonly o: Required<Omit<OutputSupervisorOptions, 'sink' | 'onRestart' | 'log'>> & Pick<OutputSupervisorOptions, 'sink' | 'onRestart' | 'log'>;
  private timer: NodeJS.Timeout | null = null;
  private lastBuffers = -1;
  private lastProgressMs = 0;
  private lostSinceMs = 0;
  private reopening: Promise<void> | null = null;
  private stopped = false;
  /** Ends the wait before the next reopen attempt (stop() must not wait out a slow retry). */
  private wakeRetry: (() => void) | null = null;
  private readonly st: OutputStatus = { lost: false, reason: null, restarts: 0, lastGapMs: null, attempts: 0 };

  constructor(opts: OutputSupervisorOptions) {
    this.o = {
      sink: opts.sink,
      onRestart: opts.onRestart,
      log: opts.log,
      now: opts.now ?? (() => performance.now()),
      stallMs: opts.stallMs ?? OUTPUT_STALL_MS,
      pollMs: opts.pollMs ?? OUTPUT_POLL_MS,
      retryMs: opts.retryMs ?? OUTPUT_RETRY_MS,
      slowRetryAfterMs: opts.slowRetryAfterMs ?? OUTPUT_RETRY_SLOW_AFTER_MS,
      slowRetryMs: opts.slowRetryMs ?? OUTPUT_RETRY_SLOW_MS,
    };
  }

  /** Starts polling (call after the sink started). */
  start(): void {
    if (this.timer !== null) return;
    this.stopped = false;
    this.lastBuffers = -1;
    this.lastProgressMs = this.o.now();
    this.timer = setInterval(() => this.poll(), this.o.pollMs);
    this.timer.unref();
  }

  /** Stops polling and any reopen in progress (resolves once it gave up). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.wakeRetry?.();
    await this.reopening?.catch(() => undefined);
  }

  status(): OutputStatus {
    return { ...this.st };
  }

  /** One progress check (public for tests with an injected clock). */
  poll(): void {
    if (this.stopped || this.reopening !== null) return;
    const now = this.o.now();
    const s = this.o.sink.stats();
    if (s.buffers !== this.lastBuffers) {
      this.lastBuffers = s.buffers;
      this.lastProgressMs = now;
      if (this.st.lost && s.running) this.recovered(now);
      return;
    }
    if (!s.running) return;
    const detail = s.lastError ? ` (${s.lastError})` : '';
    if (s.deviceActive === false) this.lost(`the output stream ended (the audio server or the device went away)${detail}`);
    else if (now - this.lastProgressMs >= this.o.stallMs) this.lost(`no audio buffer for ${Math.round(now - this.lastProgressMs)} ms${detail}`);
  }

  private lost(reason: string): void {
    this.st.lost = true;
    this.st.reason = reason;
    this.st.attempts = 0;
    this.lostSinceMs = this.lastProgressMs;
    this.o.log('warn', `audio output lost: ${reason}; reopening it (server restart or device unplugged?)`);
    this.o.onRestart();
    this.reopening = this.reopen().finally(() => {
      this.reopening = null;
      // The new stream counts its own buffers: it is back once that count moves.
      this.lastBuffers = this.o.sink.stats().buffers;
      this.lastProgressMs = this.o.now();
    });
  }

  private async reopen(): Promise<void> {
    const sink = this.o.sink;
    const errorBefore = sink.stats().lastError;
    await sink.stop().catch((e: unknown) => this.o.log('warn', `closing the lost output: ${String(e)}`));
    const errorAfter = sink.stats().lastError;
    if (errorAfter !== undefined && errorAfter !== errorBefore) this.o.log('warn', `closing the lost output: ${errorAfter}`);
    for (let attempt = 0; !this.stopped; attempt++) {
      sink.discardQueued?.();
      try {
        await sink.start();
        return;
      } catch (e) {
        this.st.attempts = attempt + 1;
        // The first failure and then every 10th: a server that is down for a minute must not flood the log.
        if (attempt % 10 === 0) this.o.log('warn', `audio output still unavailable (attempt ${attempt + 1}): ${e instanceof Error ? e.message : String(e)}`);
        const longOutage = this.o.now() - this.lostSinceMs >= this.o.slowRetryAfterMs;
        const waitMs = longOutage ? this.o.slowRetryMs : this.o.retryMs[Math.min(attempt, this.o.retryMs.length - 1)] ?? 1000;
        await new Promise<void>((r) => {
          const t = setTimeout(r, waitMs);
          this.wakeRetry = () => { clearTimeout(t); r(); };
        });
        this.wakeRetry = null;
      }
    }
  }

  private recovered(now: number): void {
    this.st.lost = false;
    this.st.restarts++;
    this.st.lastGapMs = Math.round(now - this.lostSinceMs);
    this.o.log('info', `audio output back after a ${this.st.lastGapMs} ms gap (${this.st.attempts} failed reopen attempts); relocking to the timeline`);
  }
}
