// DacClock: the DAC's real rate and phase, fitted from DAC timing ring entries (deviceFrame ->
// host CLOCK_MONOTONIC DAC time) with a sliding-window least-squares line and outlier rejection.
// Answers "when does PCM ring frame p leave the DAC" in member-local µs, and the reverse.

/** Host-monotonic -> member-local conversion (ClockSource provides it). */
export interface HostToLocalClock {
  fromHostMonoUs(hostMonoUs: number): number;
  toHostMonoUs(localUs: number): number;
}

/** Entries kept in the fit: with 10 ms spacing about 5 s of history, enough for ~1 ppm rate. */
export const DAC_FIT_WINDOW = 512;
/** Entries closer than this to the previous fitted one are not fitted (keeps the window long in time). */
export const DAC_FIT_MIN_SPACING_NS = 9_000_000;
/** The fit is usable after this many entries spanning at least DAC_READY_SPAN_NS. */
export const DAC_READY_ENTRIES = 20;
/** 0.5 s of entries with ~36 µs jitter pin the slope to ~30 ppm: ~5 µs over the 150 ms we predict ahead. */
export const DAC_READY_SPAN_NS = 500_000_000;
/** Residuals beyond max(this, 4 robust sigmas) are outliers (notes: 36 µs rms, 0.1-0.4 ms worst). */
export const DAC_OUTLIER_MIN_NS = 250_000;
/** A new entry this far off the fit is a discontinuity candidate (start-up stall, device restart). */
export const DAC_JUMP_NS = 2_000_000;
/** This many consecutive discontinuity candidates restart the fit from scratch. */
export const DAC_JUMP_CONFIRM = 6;
/** Rebase the fit's reference when it is this far behind the window (keeps doubles exact). */
const REBASE_AFTER_NS = 1e12;

export interface DacClockOptions {
  /** Nominal device rate (Hz). */
  nominalRate: number;
  clock: HostToLocalClock;
  /**
   * Ignore entries whose reported delay (dacTimeNs - callbackTimeNs) is <= 0: PortAudio reports 0
   * for up to 1.4 s after start-up and those timestamps are wrong.
   */
  rejectZeroDelay?: boolean;
  window?: number;
  minSpacingNs?: number;
}

export interface DacTimingSample {
  deviceFrame: number;
  ringPos: number;
  dacTimeNs: bigint | number;
  callbackTimeNs: bigint | number;
}

export class DacClock {
  private readonly nominalRate: number;
  private readonly clock: HostToLocalClock;
  private readonly rejectZeroDelay: boolean;
  private readonly cap: number;
  private readonly minSpacingNs: number;
  // Circular window of (x = deviceFrame - refFrame, y = dacNs - refNs).
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private readonly scratch: Float64Array;
  private head = 0;
  private size = 0;
  private refFrame = 0;
  private refNs = 0;
  private lastFittedNs = -Infinity;
  private jumpRun = 0;
  // Fit: y = a + b * (x - xMean).
  private fitA = 0;
  private fitB = 0;
  private fitXMean = 0;
  private fitted = false;
  private rmsNs = 0;
  private offsetFrames = 0; // deviceFrame - ringPos of the newest entry
  private haveOffset = false;
  private resets = 0;
  private accepted = 0;
  private rejected = 0;

  constructor(opts: DacClockOptions) {
    if (!(opts.nominalRate > 0)) throw new RangeError('DacClock: nominalRate must be positive');
    this.nominalRate = opts.nominalRate;
    this.clock = opts.clock;
    this.rejectZeroDelay = opts.rejectZeroDelay ?? true;
    this.cap = Math.max(DAC_READY_ENTRIES, Math.floor(opts.window ?? DAC_FIT_WINDOW));
    this.minSpacingNs = opts.minSpacingNs ?? DAC_FIT_MIN_SPACING_NS;
    this.xs = new Float64Array(this.cap);
    this.ys = new Float64Array(this.cap);
    this.scratch = new Float64Array(this.cap);
  }

  /** Feeds one timing entry (oldest first). Returns false if it was ignored. */
  add(e: DacTimingSample): boolean {
    const dacNs = Number(e.dacTimeNs);
    const cbNs = Number(e.callbackTimeNs);
    if (!Number.isFinite(dacNs) || !Number.isFinite(e.deviceFrame) || !Number.isFinite(e.ringPos)) return false;
    // The ring-pos mapping is valid even for entries the fit ignores.
    this.offsetFrames = e.deviceFrame - e.ringPos;
    this.haveOffset = true;
    const delayNs = dacNs - cbNs;
    if (delayNs < 0 || (this.rejectZeroDelay && delayNs === 0)) {
      this.rejected++;
      return false;
    }
    if (this.size === 0) {
      this.refFrame = e.deviceFrame;
      this.refNs = dacNs;
    }
    const x = e.deviceFrame - this.refFrame;
    const y = dacNs - this.refNs;
    if (this.fitted) {
      const res = y - this.predictY(x);
      if (Math.abs(res) > DAC_JUMP_NS) {
        // A lone outlier is dropped; a run of them means the device timeline really moved.
        if (++this.jumpRun >= DAC_JUMP_CONFIRM) {
          this.reset();
          this.resets++;
          return this.add(e);
        }
        this.rejected++;
        return false;
      }
    }
    this.jumpRun = 0;
    if (dacNs - this.lastFittedNs < this.minSpacingNs && this.size > 0) return true;
    this.lastFittedNs = dacNs;
    const slot = (this.head + this.size) % this.cap;
    this.xs[slot] = x;
    this.ys[slot] = y;
    if (this.size < this.cap) this.size++;
    else this.head = (this.head + 1) % this.cap;
    this.accepted++;
    if (this.xs[this.head]! > 0 && this.ys[this.head]! > REBASE_AFTER_NS) this.rebase();
    this.refit();
    return true;
  }

  /** Forgets the fit (e.g. after the sink restarted). */
  reset(): void {
    this.size = 0;
    this.head = 0;
    this.fitted = false;
    this.jumpRun = 0;
    this.lastFittedNs = -Infinity;
  }

  /** True once the fit spans enough entries and time to schedule audio with. */
  get ready(): boolean {
    if (!this.fitted || !this.haveOffset || this.size < DAC_READY_ENTRIES) return false;
    const last = (this.head + this.size - 1) % this.cap;
    return this.ys[last]! - this.ys[this.head]! >= DAC_READY_SPAN_NS;
  }

  /** Measured DAC frames per second of host-monotonic time (nominal until fitted). */
  get framesPerSecond(): number {
    return this.fitted && this.fitB > 0 ? 1e9 / this.fitB : this.nominalRate;
  }

  /** Host-monotonic ns per DAC frame (nominal until fitted). */
  get hostNsPerFrame(): number {
    return this.fitted && this.fitB > 0 ? this.fitB : 1e9 / this.nominalRate;
  }

  /** DAC rate error vs nominal, in ppm of host-monotonic time (+: the DAC runs fast). */
  get ratePpm(): number {
    return (this.framesPerSecond / this.nominalRate - 1) * 1e6;
  }

  /** RMS residual of the fit (µs). */
  get residualRmsUs(): number {
    return this.rmsNs / 1000;
  }

  /** Fit restarts after a confirmed discontinuity. */
  get resetCount(): number {
    return this.resets;
  }

  /** deviceFrame - ringPos of the newest entry (grows by the silent frames of each underrun). */
  get ringToDeviceOffset(): number {
    return this.offsetFrames;
  }

  /** Host CLOCK_MONOTONIC ns at which device frame `f` leaves the DAC (NaN before the first fit). */
  hostNsOfDeviceFrame(f: number): number {
    if (!this.fitted) return Number.NaN;
    return this.refNs + this.predictY(f - this.refFrame);
  }

  /** Member-local µs at which PCM ring frame `pos` leaves the DAC (NaN until fitted). */
  dacTimeOfRingPos(pos: number): number {
    if (!this.fitted || !this.haveOffset) return Number.NaN;
    return this.clock.fromHostMonoUs(this.hostNsOfDeviceFrame(pos + this.offsetFrames) / 1000);
  }

  /** PCM ring position (fractional) at the DAC at member-local µs `localUs` (NaN until fitted). */
  ringPosAtLocalUs(localUs: number): number {
    if (!this.fitted || !this.haveOffset || !(this.fitB > 0)) return Number.NaN;
    const y = this.clock.toHostMonoUs(localUs) * 1000 - this.refNs;
    const x = (y - this.fitA) / this.fitB + this.fitXMean;
    return x + this.refFrame - this.offsetFrames;
  }

  private predictY(x: number): number {
    return this.fitA + this.fitB * (x - this.fitXMean);
  }

  private rebase(): void {
    const dx = this.xs[this.head]!;
    const dy = this.ys[this.head]!;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) % this.cap;
      this.xs[i] = this.xs[i]! - dx;
      this.ys[i] = this.ys[i]! - dy;
    }
    this.refFrame += dx;
    this.refNs += dy;
    this.fitXMean -= dx;
    this.fitA -= dy;
  }

  /** Least squares, then again without outliers beyond max(DAC_OUTLIER_MIN_NS, 4 robust sigma). */
  private refit(): void {
    const n = this.size;
    if (n < 2) {
      this.fitted = false;
      return;
    }
    if (!this.fitLine(Infinity)) return;
    // Robust sigma from the median absolute residual (no allocation: sort a preallocated scratch).
    const s = this.scratch;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      s[k] = Math.abs(this.ys[i]! - this.predictY(this.xs[i]!));
    }
    const sorted = s.subarray(0, n).sort();
    const mad = sorted[n >> 1]!;
    const limit = Math.max(DAC_OUTLIER_MIN_NS, 4 * 1.4826 * mad);
    if (sorted[n - 1]! > limit) this.fitLine(limit);
  }

  /** Fits points whose residual against the current fit is within `limit` (all when Infinity). */
  private fitLine(limit: number): boolean {
    const n = this.size;
    const useAll = limit === Infinity;
    let cnt = 0;
    let sx = 0;
    let sy = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      const x = this.xs[i]!;
      const y = this.ys[i]!;
      if (!useAll && Math.abs(y - this.predictY(x)) > limit) continue;
      cnt++;
      sx += x;
      sy += y;
    }
    if (cnt < 2) return false;
    const mx = sx / cnt;
    const my = sy / cnt;
    let sxx = 0;
    let sxy = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      const x = this.xs[i]!;
      const y = this.ys[i]!;
      if (!useAll && Math.abs(y - this.predictY(x)) > limit) continue;
      sxx += (x - mx) * (x - mx);
      sxy += (x - mx) * (y - my);
    }
    let b: number;
    if (sxx > 0) b = sxy / sxx;
    else b = 1e9 / this.nominalRate; // all entries at one frame: assume nominal until more arrive
    // Until the window spans some time, a wild slope is noise: keep it near nominal.
    const nominalB = 1e9 / this.nominalRate;
    if (!(Math.abs(b / nominalB - 1) < 0.01)) b = nominalB;
    let ss = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      const x = this.xs[i]!;
      const y = this.ys[i]!;
      if (!useAll && Math.abs(y - this.predictY(x)) > limit) continue;
      const r = y - (my + b * (x - mx));
      ss += r * r;
    }
    this.fitA = my;
    this.fitB = b;
    this.fitXMean = mx;
    this.fitted = true;
    this.rmsNs = Math.sqrt(ss / cnt);
    return true;
  }

  /** Counters for stats/debugging. */
  counters(): { accepted: number; rejected: number; resets: number; window: number } {
    return { accepted: this.accepted, rejected: this.rejected, resets: this.resets, window: this.size };
  }
}
