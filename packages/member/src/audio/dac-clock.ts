// DacClock: the DAC's real rate and phase, fitted from DAC timing ring entries (deviceFrame ->
// host CLOCK_MONOTONIC DAC time) with a sliding-window least-squares line and outlier rejection.
// Survives device xruns without losing its lock: a confirmed phase step starts a new segment of the
// window; all segments share one slope (the crystal did not change) and each has its own phase.
// Answers "when does PCM ring frame p leave the DAC" in member-local µs, and the reverse.

/** Host-monotonic -> member-local conversion (ClockSource provides it). */
export interface HostToLocalClock {
  fromHostMonoUs(hostMonoUs: number): number;
  toHostMonoUs(localUs: number): number;
}

/** Entries kept in the fit: with >= 9 ms spacing about 10 s of history (segments between xruns share it). */
export const DAC_FIT_WINDOW = 1024;
/** Entries closer than this to the previous fitted one are not fitted (keeps the window long in time). */
export const DAC_FIT_MIN_SPACING_NS = 9_000_000;
/** The first lock needs this many entries spanning at least DAC_READY_SPAN_NS; after it, ready stays. */
export const DAC_READY_ENTRIES = 20;
/** 0.5 s of entries with ~36 µs jitter pin the slope to ~30 ppm: ~5 µs over the 150 ms we predict ahead. */
export const DAC_READY_SPAN_NS = 500_000_000;
/** Residuals beyond max(this, 4 robust sigmas) are outliers (notes: 36 µs rms, 0.1-0.4 ms worst). */
export const DAC_OUTLIER_MIN_NS = 250_000;
/**
 * A new entry off the fit by more than DAC_JUMP_SIGMAS robust sigmas, clamped to [DAC_JUMP_MIN_NS,
 * DAC_JUMP_MAX_NS], is a step candidate. Measured through PulseAudio: ±0.25 ms of wander unloaded;
 * under load a sawtooth of 2-6 ms steps every ~1.5 s (pulse's latency smoothing: the null sink's
 * real rate is constant, so the long-term line through it is right and its ramps are not), and
 * real steps of 15 ms-2 s. A device xrun loses at least one period (5.3 ms at 256 frames). Steps
 * below the threshold are absorbed into the line (the phase follows within ~0.6 s).
 */
export const DAC_JUMP_MIN_NS = 2_000_000;
export const DAC_JUMP_MAX_NS = 8_000_000;
export const DAC_JUMP_SIGMAS = 6;
/** A step is confirmed by this many consecutive agreeing candidates ... */
export const DAC_JUMP_CONFIRM = 6;
/** ... spanning at least this much callback time (PortAudio delivers bursts of 3 at one instant). */
export const DAC_JUMP_CONFIRM_SPAN_NS = 10_000_000;
/** Candidates of one run agree within max(this, DAC_AGREE_SIGMAS sigmas) of the run's first one. */
export const DAC_AGREE_MIN_NS = 250_000;
export const DAC_AGREE_SIGMAS = 3;
/** Slopes further than this from nominal are implausible for a crystal (rejected, not adopted). */
export const DAC_MAX_RATE_PPM = 2000;
/**
 * Weight of the nominal-rate prior in the slope fit, in frames² of Sxx: 100 µs of noise against a
 * 500 ppm prior sigma. Dominates a window of a few entries (start-up), negligible after ~0.3 s.
 */
const DAC_PRIOR_SXX = (100_000 / ((500e-6 * 1e9) / 48_000)) ** 2;
/**
 * The phase (intercept) is the mean of the newest this-many fitted entries (~0.6 s) on the slope of
 * the whole window: follows a slowly wandering reported timeline (PulseAudio's smoothing wanders by
 * ms over seconds) without waiting for the 5 s window, at ~1/8 of the jitter.
 */
export const DAC_PHASE_ENTRIES = 64;
/**
 * Once locked, refit at most this often (DAC time): one entry changes a 1024-entry fit by ~0.1 %,
 * and the refit (two passes and a sort of the window) was the engine thread's largest cost.
 * Entries are still checked against the current line as they come (step detection).
 */
export const DAC_REFIT_INTERVAL_NS = 100_000_000;
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

export interface DacClockCounters {
  accepted: number;
  rejected: number;
  /** Fit restarts (explicit reset, or a step confirmed before the first lock). */
  resets: number;
  /** Phase steps confirmed after the first lock (the fit moved, the slope was kept). */
  discontinuities: number;
  window: number;
}

export class DacClock {
  private readonly nominalRate: number;
  private readonly nominalB: number;
  private readonly clock: HostToLocalClock;
  private readonly rejectZeroDelay: boolean;
  private readonly cap: number;
  private readonly minSpacingNs: number;
  // Circular window of (x = deviceFrame - refFrame, y = dacNs - refNs).
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private readonly segOf: Float64Array; // segment id per entry (ids grow by one per confirmed step)
  private readonly scratch: Float64Array;
  // Per segment (slot = id % cap; at most cap segments live in the window): its line's point.
  private readonly segX: Float64Array;
  private readonly segY: Float64Array;
  private readonly segN: Float64Array;
  private readonly segSx: Float64Array;
  private readonly segSy: Float64Array;
  private seg = 0;
  private head = 0;
  private size = 0;
  private refFrame = 0;
  private refNs = 0;
  private lastFittedNs = -Infinity;
  private lastRefitNs = -Infinity;
  // Fit: y = a + b * (x - xMean).
  private fitA = 0;
  private fitB = 0;
  private fitXMean = 0;
  private fitted = false;
  private locked = false;
  private rmsNs = 0;
  private sigmaNs = 0;
  // The current run of discontinuity candidates (residual, x, y).
  private readonly runRes: Float64Array;
  private readonly runF: Float64Array;
  private readonly runNs: Float64Array;
  private runLen = 0;
  private runStartCbNs = 0;
  private offsetFrames = 0; // deviceFrame - ringPos of the newest entry
  private haveOffset = false;
  private resets = 0;
  private discontinuities = 0;
  private ringSlips = 0;
  private lastStepNs = 0;
  private accepted = 0;
  private rejected = 0;

  constructor(opts: DacClockOptions) {
    if (!(opts.nominalRate > 0)) throw new RangeError('DacClock: nominalRate must be positive');
    this.nominalRate = opts.nominalRate;
    this.nominalB = 1e9 / opts.nominalRate;
    this.clock = opts.clock;
    this.rejectZeroDelay = opts.rejectZeroDelay ?? true;
    this.cap = Math.max(DAC_READY_ENTRIES, Math.floor(opts.window ?? DAC_FIT_WINDOW));
    this.minSpacingNs = opts.minSpacingNs ?? DAC_FIT_MIN_SPACING_NS;
    this.xs = new Float64Array(this.cap);
    this.ys = new Float64Array(this.cap);
    this.segOf = new Float64Array(this.cap);
    this.scratch = new Float64Array(this.cap);
    this.segX = new Float64Array(this.cap);
    this.segY = new Float64Array(this.cap);
    this.segN = new Float64Array(this.cap);
    this.segSx = new Float64Array(this.cap);
    this.segSy = new Float64Array(this.cap);
    this.runRes = new Float64Array(DAC_JUMP_CONFIRM * 32);
    this.runF = new Float64Array(this.runRes.length);
    this.runNs = new Float64Array(this.runRes.length);
  }

  /** Feeds one timing entry (oldest first). Returns false if the fit ignored it. */
  add(e: DacTimingSample): boolean {
    const dacNs = Number(e.dacTimeNs);
    const cbNs = Number(e.callbackTimeNs);
    if (!Number.isFinite(dacNs) || !Number.isFinite(cbNs) || !Number.isFinite(e.deviceFrame) || !Number.isFinite(e.ringPos)) return false;
    // The ring-pos mapping is valid even for entries the fit ignores. A grown offset is a PCM ring
    // underrun: everything already written now plays late by exactly the silence inserted.
    const offset = e.deviceFrame - e.ringPos;
    if (this.haveOffset && offset !== this.offsetFrames) this.ringSlips++;
    this.offsetFrames = offset;
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
      if (Math.abs(res) > this.jumpLimitNs) {
        // A lone outlier is dropped; a run of agreeing ones means the device timeline really moved.
        if (!this.extendRun(res, cbNs, e.deviceFrame, dacNs)) {
          this.rejected++;
          return false;
        }
        const step = this.runMedian();
        if (this.locked) {
          // Same device, same crystal: a new segment with its own phase; the slope is kept.
          this.seg++;
          const slot = this.seg % this.cap;
          this.segX[slot] = x;
          this.segY[slot] = this.predictY(x) + step;
          this.fitA = this.segY[slot]!;
          this.fitXMean = x;
          this.discontinuities++;
          this.lastStepNs = step;
          this.lastFittedNs = -Infinity;
          this.lastRefitNs = -Infinity;
          // The run's entries already belong to the new segment.
          const n = this.runLen;
          this.runLen = 0;
          for (let k = 0; k < n - 1; k++) this.insert(this.runF[k]!, this.runNs[k]!);
          return this.insert(e.deviceFrame, dacNs);
        }
        // Before the first lock there is nothing worth keeping (start-up stall).
        this.runLen = 0;
        this.reset();
        this.resets++;
        return this.add(e);
      }
    }
    this.runLen = 0;
    return this.insert(e.deviceFrame, dacNs);
  }

  /** Appends an entry of the current segment to the window (spacing rule) and refits. */
  private insert(deviceFrame: number, dacNs: number): boolean {
    if (dacNs - this.lastFittedNs < this.minSpacingNs && this.size > 0) return true;
    this.lastFittedNs = dacNs;
    const slot = (this.head + this.size) % this.cap;
    this.xs[slot] = deviceFrame - this.refFrame;
    this.ys[slot] = dacNs - this.refNs;
    this.segOf[slot] = this.seg;
    if (this.size < this.cap) this.size++;
    else this.head = (this.head + 1) % this.cap;
    this.accepted++;
    if (this.xs[this.head]! > 0 && this.ys[this.head]! > REBASE_AFTER_NS) this.rebase();
    if (this.locked && dacNs - this.lastRefitNs < DAC_REFIT_INTERVAL_NS) return true;
    this.lastRefitNs = dacNs;
    this.refit();
    if (!this.locked && this.fitted && this.size >= DAC_READY_ENTRIES) {
      const last = (this.head + this.size - 1) % this.cap;
      this.locked = this.ys[last]! - this.ys[this.head]! >= DAC_READY_SPAN_NS;
    }
    return true;
  }

  /** Forgets the fit and the lock (the sink restarted: a new DAC timeline). */
  reset(): void {
    this.size = 0;
    this.head = 0;
    this.fitted = false;
    this.locked = false;
    this.runLen = 0;
    this.lastFittedNs = -Infinity;
    this.lastRefitNs = -Infinity;
  }

  /** True once the first fit spanned enough entries and time; stays true through discontinuities. */
  get ready(): boolean {
    return this.locked && this.haveOffset;
  }

  /** Measured DAC frames per second of host-monotonic time (nominal until fitted). */
  get framesPerSecond(): number {
    return this.fitted && this.fitB > 0 ? 1e9 / this.fitB : this.nominalRate;
  }

  /** Host-monotonic ns per DAC frame (nominal until fitted). */
  get hostNsPerFrame(): number {
    return this.fitted && this.fitB > 0 ? this.fitB : this.nominalB;
  }

  /** DAC rate error vs nominal, in ppm of host-monotonic time (+: the DAC runs fast). */
  get ratePpm(): number {
    return (this.framesPerSecond / this.nominalRate - 1) * 1e6;
  }

  /** RMS residual of the fit (µs). */
  get residualRmsUs(): number {
    return this.rmsNs / 1000;
  }

  /** Fit restarts (explicit resets, steps before the first lock). */
  get resetCount(): number {
    return this.resets;
  }

  /** Phase steps re-anchored while locked (device xruns, latency changes). */
  get discontinuityCount(): number {
    return this.discontinuities;
  }

  /** Size of the last phase step (µs; + = the device timeline moved later, e.g. silence inserted). */
  get lastStepUs(): number {
    return this.lastStepNs / 1000;
  }

  /** Times the ring-to-device mapping moved (PCM ring underruns seen in the timing entries). */
  get ringSlipCount(): number {
    return this.ringSlips;
  }

  /** deviceFrame - ringPos of the newest entry (grows by the silent frames of each underrun). */
  get ringToDeviceOffset(): number {
    return this.offsetFrames;
  }

  /** Residual (ns) beyond which a new entry is not fitted but a step candidate. */
  get jumpLimitNs(): number {
    return Math.min(DAC_JUMP_MAX_NS, Math.max(DAC_JUMP_MIN_NS, DAC_JUMP_SIGMAS * this.sigmaNs));
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

  /** Counters for stats/debugging. */
  counters(): DacClockCounters {
    return {
      accepted: this.accepted,
      rejected: this.rejected,
      resets: this.resets,
      discontinuities: this.discontinuities,
      window: this.size,
    };
  }

  /** Adds a candidate to the run (restarting it if it disagrees); true when the run confirms a step. */
  private extendRun(res: number, cbNs: number, deviceFrame: number, dacNs: number): boolean {
    const agree = Math.max(DAC_AGREE_MIN_NS, DAC_AGREE_SIGMAS * this.sigmaNs);
    if (this.runLen === 0 || Math.abs(res - this.runRes[0]!) > agree || this.runLen >= this.runRes.length) {
      this.runLen = 0;
      this.runStartCbNs = cbNs;
    }
    this.runRes[this.runLen] = res;
    this.runF[this.runLen] = deviceFrame;
    this.runNs[this.runLen] = dacNs;
    this.runLen++;
    return this.runLen >= DAC_JUMP_CONFIRM && cbNs - this.runStartCbNs >= DAC_JUMP_CONFIRM_SPAN_NS;
  }

  private runMedian(): number {
    const s = this.scratch.subarray(0, Math.min(this.runLen, this.scratch.length));
    s.set(this.runRes.subarray(0, s.length));
    s.sort();
    return s[s.length >> 1]!;
  }

  /** The newest segment's line (what every answer uses). */
  private predictY(x: number): number {
    return this.fitA + this.fitB * (x - this.fitXMean);
  }

  /** Residual of window slot i against its own segment's line. */
  private residual(i: number): number {
    const sl = this.segOf[i]! % this.cap;
    return this.ys[i]! - (this.segY[sl]! + this.fitB * (this.xs[i]! - this.segX[sl]!));
  }

  private rebase(): void {
    const dx = this.xs[this.head]!;
    const dy = this.ys[this.head]!;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) % this.cap;
      this.xs[i] = this.xs[i]! - dx;
      this.ys[i] = this.ys[i]! - dy;
    }
    for (let id = this.segOf[this.head]!; id <= this.seg; id++) {
      const sl = id % this.cap;
      this.segX[sl] = this.segX[sl]! - dx;
      this.segY[sl] = this.segY[sl]! - dy;
    }
    this.refFrame += dx;
    this.refNs += dy;
    this.fitXMean -= dx;
    this.fitA -= dy;
  }

  /** Least squares, then again without outliers beyond max(DAC_OUTLIER_MIN_NS, 4 robust sigma). */
  private refit(): void {
    const n = this.size;
    if (n < 1) {
      this.fitted = false;
      return;
    }
    if (!this.fitLine(Infinity)) return;
    // Robust sigma from the median absolute residual (no allocation: sort a preallocated scratch).
    const s = this.scratch;
    for (let k = 0; k < n; k++) s[k] = Math.abs(this.residual((this.head + k) % this.cap));
    const sorted = s.subarray(0, n).sort();
    this.sigmaNs = 1.4826 * sorted[n >> 1]!;
    const limit = Math.max(DAC_OUTLIER_MIN_NS, 4 * this.sigmaNs);
    if (sorted[n - 1]! > limit) this.fitLine(limit);
  }

  /**
   * Fits the window's points whose residual against the current fit is within `limit` (all when
   * Infinity): one slope shared by all segments (pooled within-segment least squares) with a weak
   * prior at nominal (matters only for a window of a few entries); a slope beyond DAC_MAX_RATE_PPM
   * keeps the previous one (or nominal). Each segment's phase is its mean point; the newest
   * segment's is the mean of its newest DAC_PHASE_ENTRIES points.
   */
  private fitLine(limit: number): boolean {
    const n = this.size;
    const useAll = limit === Infinity;
    const first = this.segOf[this.head]!;
    for (let id = first; id <= this.seg; id++) {
      const sl = id % this.cap;
      this.segN[sl] = 0;
      this.segSx[sl] = 0;
      this.segSy[sl] = 0;
    }
    let cnt = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      if (!useAll && Math.abs(this.residual(i)) > limit) continue;
      const sl = this.segOf[i]! % this.cap;
      this.segN[sl] = this.segN[sl]! + 1;
      this.segSx[sl] = this.segSx[sl]! + this.xs[i]!;
      this.segSy[sl] = this.segSy[sl]! + this.ys[i]!;
      cnt++;
    }
    const newest = this.seg % this.cap;
    if (cnt < 1 || this.segN[newest]! < 1) return false;
    let sxx = 0;
    let sxy = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      if (!useAll && Math.abs(this.residual(i)) > limit) continue;
      const sl = this.segOf[i]! % this.cap;
      const dx = this.xs[i]! - this.segSx[sl]! / this.segN[sl]!;
      sxx += dx * dx;
      sxy += dx * (this.ys[i]! - this.segSy[sl]! / this.segN[sl]!);
    }
    const nb = this.nominalB;
    let b = (sxy + DAC_PRIOR_SXX * nb) / (sxx + DAC_PRIOR_SXX);
    if (!(Math.abs(b / nb - 1) <= DAC_MAX_RATE_PPM * 1e-6)) {
      b = this.fitted && Math.abs(this.fitB / nb - 1) <= DAC_MAX_RATE_PPM * 1e-6 ? this.fitB : nb;
    }
    // Newest segment's phase from its newest entries (before the segment points are overwritten:
    // the filter reads them).
    let pc = 0;
    let px = 0;
    let py = 0;
    for (let k = n - 1; k >= 0 && pc < DAC_PHASE_ENTRIES; k--) {
      const i = (this.head + k) % this.cap;
      if (this.segOf[i] !== this.seg) break;
      if (!useAll && Math.abs(this.residual(i)) > limit) continue;
      pc++;
      px += this.xs[i]!;
      py += this.ys[i]!;
    }
    if (pc < 1) return false;
    for (let id = first; id <= this.seg; id++) {
      const sl = id % this.cap;
      if (this.segN[sl]! > 0) {
        this.segX[sl] = this.segSx[sl]! / this.segN[sl]!;
        this.segY[sl] = this.segSy[sl]! / this.segN[sl]!;
      }
    }
    this.segX[newest] = px / pc;
    this.segY[newest] = py / pc;
    this.fitB = b;
    this.fitXMean = px / pc;
    this.fitA = py / pc;
    this.fitted = true;
    let ss = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.cap;
      const r = this.residual(i);
      if (!useAll && Math.abs(r) > limit) continue;
      ss += r * r;
    }
    this.rmsNs = Math.sqrt(ss / cnt);
    return true;
  }
}
