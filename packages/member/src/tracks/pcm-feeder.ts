// PcmFeeder: keeps one track's TrackWindow filled from its decoded PCM file, on the main thread,
// ahead of where the engine reads: the track's head first (every start, loop and track change
// plays it), then the active ring from about a second behind the engine's position to as far
// ahead as the ring holds (~9 s: the event loop can stall that long before the engine hears
// silence). Before the engine reads the track, it fills around a hint (where playback is expected
// to begin). A landing point (a seek within this track that takes effect soon) is filled into the
// other ring ahead of time; when the engine arrives there, the rings swap roles.
// The file may still be growing (the decoder appends to it): only whole frames below its size
// are read. Never throws; I/O errors are counted and tried again on the next tick.
// It checks often (tickMs) only while the window is short of what it wants; once it holds
// idleLeadFrames ahead of where it is read (and of every landing), it checks every idleTickMs:
// a playing member then wakes its main thread ~4 times a second per track instead of 40
// (bench:member-cpu). Announced jumps do not wait for a tick: setHint/setLandings run a pass now.
import { open, type FileHandle } from 'node:fs/promises';
import type { TrackWindow } from '../audio/track-window.js';

const BYTES_PER_FRAME = 4;
/** The engine counts as reading this track while its reads changed within this long. */
const ACTIVE_MS = 500;

export interface PcmFeederOptions {
  /** How often the window is checked while it is short of data (ms). */
  tickMs: number;
  /** How often it is checked once it holds idleLeadFrames ahead (ms; default tickMs: always fast). */
  idleTickMs?: number;
  /** Frames held ahead of the read position (and of each landing) that allow the idle tick. */
  idleLeadFrames?: number;
  /** Frames kept behind the engine's position (the resampler and small corrections look back). */
  behindFrames: number;
  /** Largest single file read, frames. */
  readFrames: number;
  /** An I/O error, reported once per distinct message. */
  onError?: (message: string) => void;
}

export interface PcmFeederStats {
  /** File reads done. */
  reads: number;
  /** Ring restarts at a new position (the engine jumped, or a late start). */
  resets: number;
  /** Passes run (each tick or kick that looked at the window). */
  passes: number;
  /** Frames decoded so far (the file's whole frames). */
  availableFrames: number;
  errors: number;
}

export class PcmFeeder {
  private fh: FileHandle | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private available = 0;
  private decodeDone = false;
  private complete = false;
  private hint = 0;
  private landings: number[] = [];
  /** The ring that follows the engine (the other one serves landings). */
  private active = 0;
  private lastReads = -1;
  private lastReadAtMs = -Infinity;
  private lastError = '';
  private started = false;
  /** A kick came while a pass ran: run another one right after it. */
  private kickPending = false;
  /** The last pass left the window holding idleLeadFrames ahead: the next check can wait. */
  private settled = false;
  private readonly counters = { reads: 0, resets: 0, passes: 0, errors: 0 };

  constructor(
    private readonly path: string,
    private readonly frames: number,
    private readonly window: TrackWindow,
    private readonly opts: PcmFeederOptions,
  ) {}

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.kick();
  }

  /** Where playback of this track is expected to start (used while the engine is not reading it). */
  setHint(frame: number): void {
    if (Number.isFinite(frame)) this.hint = Math.max(0, Math.min(Math.floor(frame), this.frames));
    this.kick();
  }

  /** Positions in this track the engine will jump to soon (seeks), most urgent first. */
  setLandings(frames: readonly number[]): void {
    this.landings = frames.filter((f) => Number.isFinite(f)).map((f) => Math.max(0, Math.min(Math.floor(f), this.frames)));
    this.kick();
  }

  /** The decoder has written all it will: one more look at the file's size, then no more. */
  decodeFinished(): void {
    this.decodeDone = true;
    this.kick();
  }

  stats(): PcmFeederStats {
    return { ...this.counters, availableFrames: this.available };
  }

  /** Stops feeding and closes the file (the window stays valid; the engine drops it separately). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    const fh = this.fh;
    this.fh = null;
    await fh?.close().catch(() => {});
  }

  /** Runs one pass now, or right after the running one (passes never overlap: one writer per window). */
  private kick(): void {
    if (this.closed) return;
    if (this.running !== null) {
      this.kickPending = true;
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.pass().finally(() => {
      this.running = null;
      if (this.kickPending) {
        this.kickPending = false;
        this.kick();
      } else this.scheduleNext();
    });
  }

  private scheduleNext(): void {
    if (!this.started || this.closed) return;
    const idle = this.opts.idleTickMs ?? this.opts.tickMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, this.settled ? Math.max(idle, this.opts.tickMs) : this.opts.tickMs);
    this.timer.unref?.();
  }

  private async pass(): Promise<void> {
    this.counters.passes++;
    this.settled = false;
    try {
      this.fh ??= await open(this.path, 'r');
      if (!this.complete) {
        const done = this.decodeDone; // read before the size: the size is then final
        const size = (await this.fh.stat()).size;
        this.available = Math.min(this.frames, Math.floor(size / BYTES_PER_FRAME));
        this.complete = done || this.available === this.frames;
      }
      await this.fillHead();
      await this.fillRings();
      this.settled = this.holdsIdleLead();
    } catch (e) {
      this.counters.errors++;
      const message = `${this.path}: ${e instanceof Error ? e.message : String(e)}`;
      if (message !== this.lastError) this.opts.onError?.(message);
      this.lastError = message;
    }
  }

  private async fillHead(): Promise<void> {
    const w = this.window;
    const want = Math.min(w.headFrames, this.available);
    while (!this.closed && w.headValid < want) {
      const from = w.headValid;
      const n = Math.min(want - from, this.opts.readFrames);
      const got = await this.readInto(w.headBytes, from * BYTES_PER_FRAME, n * BYTES_PER_FRAME, from);
      w.commitHead(from + got);
      if (got < n) return;
    }
  }

  private async fillRings(): Promise<void> {
    const w = this.window;
    const base = this.base();
    const other = 1 - this.active;
    // The engine arrived at a landing: that ring follows it from now on.
    if (base >= w.headFrames && !this.holds(this.active, base) && this.holds(other, base)) this.active = other;
    await this.fillRing(this.active, base);
    const landing = this.landings.find((f) => f >= w.headFrames && !this.holds(this.active, f));
    if (landing !== undefined && !this.closed) await this.fillRing(1 - this.active, landing);
  }

  /** The window holds idleLeadFrames from the read position and from every landing (or up to the track's end). */
  private holdsIdleLead(): boolean {
    const need = this.opts.idleLeadFrames;
    if (need === undefined || this.closed) return false;
    if (this.leadFrom(this.base()) < need) return false;
    return this.landings.every((f) => this.leadFrom(f) >= need);
  }

  /** Frames readable without a gap from track frame f on (Infinity when that reaches the track's end). */
  private leadFrom(f: number): number {
    const w = this.window;
    let at = f;
    if (at < w.headFrames) {
      const headValid = w.headValid;
      if (headValid < w.headFrames) return Math.max(0, headValid - f);
      at = w.headFrames;
    }
    for (const r of [this.active, 1 - this.active]) {
      if (at >= this.frames) break;
      if (this.window.ringStart(r) <= at && at < this.window.ringEnd(r)) at = this.window.ringEnd(r);
    }
    return at >= this.frames ? Infinity : at - f;
  }

  /** Ring r holds frame f, or is filling up to it. */
  private holds(r: number, f: number): boolean {
    return this.window.ringStart(r) <= f && f <= this.window.ringEnd(r);
  }

  /** Fills ring r from behindFrames before `base` up to a ring's worth (restarting it there if needed). */
  private async fillRing(r: number, base: number): Promise<void> {
    const w = this.window;
    const { behindFrames, readFrames } = this.opts;
    // Bounded: at most one ring's worth of reads per pass.
    for (let budget = w.capacity; budget > 0 && !this.closed;) {
      const lo = Math.max(w.headFrames, base - behindFrames);
      // Restart the ring where it is needed: behind its start, beyond its end, or, once the engine
      // plays well into the head again (a loop, a replay from the top), at the head's end: a ring
      // still holding the track's end there would leave the first frames after the head silent.
      // "Well into": at a loop seam the engine has just read the end of this same track, and a
      // chunk that straddles the seam may still look back at it.
      const inHead = base < w.headFrames;
      const loopedBack = inHead && base >= Math.min(behindFrames, w.headFrames >> 1) && w.ringStart(r) > w.headFrames;
      if ((!inHead && base < w.ringStart(r)) || lo > w.ringEnd(r) || loopedBack) {
        w.reset(r, lo);
        this.counters.resets++;
      }
      // Frames up to lo + capacity: what that overwrites lies behind the margin.
      const target = Math.min(this.available, lo + w.capacity);
      const end = w.ringEnd(r);
      if (end >= target) return;
      // Read in large steps once there is plenty ahead (fewer, bigger reads).
      if (end - base > w.capacity / 2 && target - end < readFrames && target < this.available) return;
      const n = Math.min(target - end, readFrames, budget);
      budget -= n;
      let reached = end;
      for (const range of w.beginAppend(r, end + n)) {
        const got = await this.readInto(w.ringBytes[r]!, range.byteOffset, range.byteLength, range.frame);
        reached = range.frame + got;
        if (got * BYTES_PER_FRAME < range.byteLength) break;
      }
      w.commitAppend(r, reached);
      if (reached < end + n) return;
      if (r === this.active) base = this.base(); // the engine moved on meanwhile
    }
  }

  /** Reads whole frames of the file from `frame` into bytes[offset, offset + length); returns frames read. */
  private async readInto(bytes: Uint8Array, offset: number, length: number, frame: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh!.read(bytes, offset + done, length - done, frame * BYTES_PER_FRAME + done);
      this.counters.reads++;
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return Math.floor(done / BYTES_PER_FRAME);
  }

  /** The frame to fill around: the engine's read position while it reads this track, else the hint. */
  private base(): number {
    const reads = this.window.reads;
    const now = performance.now();
    if (reads !== this.lastReads) {
      this.lastReads = reads;
      this.lastReadAtMs = now;
    }
    const want = this.window.want;
    return want >= 0 && now - this.lastReadAtMs < ACTIVE_MS ? want : this.hint;
  }
}
