// DacClock: when each device frame really leaves the DAC, from the sink's timing entries
// (deviceFrame, reported DAC time, callback time; all host CLOCK_MONOTONIC).
//
// What a sink reports is an estimate. Through an audio server (the ALSA `pulse` plugin) the
// reported DAC time is the server's smoothed latency figure: it wanders, and on pipewire-pulse it
// jumps by ~2 ms every 1.5 s and drifts by ±1.5 ms over a minute while the audio itself runs at a
// constant rate (measured against a recording: docs/audio-output.md, "What the servers report").
// A model that follows the reports moves the audio when only the estimate moved. So:
//
// - The true timeline is a straight line (a crystal, or a server's timer) that only moves at real
//   discontinuities (an xrun, a stream restart). Everything is fitted over long windows.
// - Two witnesses of that line, binned per BIN_NS:
//   R: the median reported DAC time of each bin (what the sink claims);
//   C: the earliest callback of each bin (when the device asked for data: the server's real
//      consumption, late only by scheduling, so its lower envelope is clean), which runs a
//      constant delay D ahead of the DAC.
//   Each gets a robust (Tukey) line; D is the median over the long window of R - C. The answer is
//   the inverse-variance blend of R and C + D, so a sink whose reports are clean (ALSA hardware,
//   PulseAudio, PipeWire's own ALSA plugin) is followed by its reports, and one whose reports are
//   noisy (pipewire-pulse) by its callbacks.
// - A real discontinuity moves both witnesses: a bin whose blended residual is beyond
//   max(STEP_MIN_NS, STEP_SIGMAS sigma) starts a candidate run; STEP_CONFIRM_BINS agreeing bins
//   confirm it, and the stored bins are shifted so that the slope and D carry over (the crystal
//   did not change). Lone wild bins are dropped.
// Answers "when does PCM ring frame p leave the DAC" in member-local µs, and the reverse.
import { fitRobustLine, type RobustLineFit } from './robust-line.js';
import { medianInPlace } from '../clock/order-statistics.js';

/** Host-monotonic -> member-local conversion (ClockSource provides it). */
export interface HostToLocalClock {
  fromHostMonoUs(hostMonoUs: number): number;
  toHostMonoUs(localUs: number): number;
}

/** One bin of entries (callback time): ~47 entries at 256 frames per buffer. */
export const DAC_BIN_NS = 250_000_000;
/**
 * Bins before the first lock are shorter: the early lock below needs a few points with residuals
 * to judge, and a start (a join, a restart, an audio server's return) should not wait a second for
 * them. ~12 entries at 256 frames per buffer; the window's later bins are full-size.
 */
export const DAC_EARLY_BIN_NS = 62_500_000;
const DAC_EARLY_BIN_MIN_ENTRIES = 4;
/** A bin needs this many entries to count. */
export const DAC_BIN_MIN_ENTRIES = 2;
/** Entries used per bin for the median report (more are ignored: tiny buffers). */
const BIN_MAX_ENTRIES = 1024;
/**
 * Witnesses whose rates differ by more than this (ppm) cannot both be right: the blend follows the
 * one nearer the nominal rate. Crystals are within ±100 ppm, so a true pair differs by < 200 ppm of
 * rate; a single witness's rate over a few seconds is good to ~10 ppm.
 */
const WITNESS_RATE_DISAGREE_PPM = 150;
/** R line and D window: 120 s. The reports' wander averages out over minutes, not seconds. */
export const DAC_REPORT_WINDOW_BINS = 480;
/** C line window: 40 s. Callback envelopes are clean; a shorter window follows a crystal's drift. */
export const DAC_CALLBACK_WINDOW_BINS = 160;
/** First lock: this long since the (re)start (1.5 s), when the early lock below did not come. */
export const DAC_READY_NS = 1_500_000_000;
/** ... with the newest this many bins agreeing with the line. */
export const DAC_READY_BINS = 6;
/**
 * Early first lock: after this long (5 early bins) when every bin since the (re)start lies within
 * DAC_EARLY_AGREE_NS of the blended line: the reports' bins, and the callbacks' too unless the
 * sink's reports are measured timing (`trustedReports`: a capture sink, libpulse's raw timing),
 * whose write callbacks through PulseAudio come in bursts that scatter by ±400 µs after a server
 * restart and kept the lock waiting for the full DAC_READY_NS. A clean start is as well fitted
 * after 0.3 s as after 1.5 s (bench:dac-replay over the kept logs); a noisy one misses the bound
 * and waits for the full rule.
 */
export const DAC_EARLY_READY_NS = 312_500_000;
export const DAC_EARLY_READY_MIN_BINS = 5;
export const DAC_EARLY_AGREE_NS = 150_000;
/**
 * Before the first lock, a pause of the callbacks this long ends a start-up prefill (through
 * PulseAudio the first stream on a fresh server writes its first 64 ms at once, then nothing comes
 * for 0.35-1.25 s until the server takes it): what came before says nothing about the timeline.
 */
export const DAC_START_STALL_NS = 200_000_000;
/** Residual scale floor (ns): no source is trusted to better than this. */
const SCALE_FLOOR_NS = 5_000;
/**
 * Bins within ~4.7 x this of a line are never outliers (ns). PulseAudio's reports wander by
 * ±50 µs over tens of seconds: a threshold inside that wander made the fit drop and re-admit
 * stretches of the window, and the line jumped by 100s of µs (bench:realpath, 600 s). The
 * pipewire-pulse segments 2 ms off stay far outside it.
 */
const REJECT_SCALE_FLOOR_NS = 100_000;
/** A bin off the blended line by more than max(this, STEP_SIGMAS sigma) is a step candidate. */
export const DAC_STEP_MIN_NS = 1_000_000;
export const DAC_STEP_SIGMAS = 8;
/** Consecutive agreeing candidate bins that confirm a step (~0.75 s). */
export const DAC_STEP_CONFIRM_BINS = 3;
/** Candidates agree within max(this, a quarter of their size). */
const STEP_AGREE_NS = 500_000;
/**
 * Fast path for device xruns, seen in the reports: an entry off the
 * line by more than FAST_SIGMAS entry sigmas, clamped to [FAST_MIN_NS, FAST_MAX_NS], is a
 * candidate; FAST_CONFIRM agreeing candidates spanning FAST_SPAN_NS of callback time confirm the
 * step at once instead of after DAC_STEP_CONFIRM_BINS bins. (PortAudio delivers bursts of 3 at one
 * instant, and after an ALSA restart a few prefill callbacks report transient phases.)
 */
export const DAC_FAST_MIN_NS = 2_000_000;
export const DAC_FAST_MAX_NS = 8_000_000;
const FAST_SIGMAS = 6;
const FAST_CONFIRM = 6;
const FAST_SPAN_NS = 100_000_000;
/**
 * A fast step must move the callbacks too (their lowest residual over the run), by the step
 * within max(this, half the step). Through PulseAudio a server-side underrun drops the late audio
 * instead of delaying it, and the pulse plugin reports a transient "post-underrun delay": the
 * reports jump, the callbacks do not, and the timeline did not move (bench:realpath --fake-clocks:
 * a false -2.5 ms step put a member 2.3 ms off for 4 s).
 */
const FAST_CALLBACK_AGREE_NS = 1_000_000;
/** After a vetoed run the fast path rests this long (callback time): the bins see those entries. */
const FAST_VETO_NS = 1_000_000_000;
/** The fast path only runs while the reports' bins are this clean: pipewire-pulse's are not. */
const FAST_MAX_REPORT_SCALE_NS = 300_000;
/** Entry scatter tracker: exponential mean of |residual| over ~this many entries. */
const ENTRY_SCATTER_ENTRIES = 256;
/** Slopes further than this from nominal are implausible for a crystal (rejected, not adopted). */
export const DAC_MAX_RATE_PPM = 2000;
/**
 * The slope's prior: the nominal rate, sigma 500 ppm, weighed against the bins' noise (their
 * entries' scatter, and once the window has a few bins the fit's own scale; at most
 * PRIOR_NOISE_MAX_NS). A fixed 100 µs made the prior dominate the first half second on a clean
 * sink: a first lock 56 µs off on a null sink 260 ppm fast (libpulse, after a server restart).
 */
const PRIOR_RATE_SIGMA = 500e-6;
const PRIOR_NOISE_MAX_NS = 100_000;
/** Bins in the window before the fit's own scale counts for the prior's noise. */
const PRIOR_SCALE_MIN_BINS = 4;
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
  /**
   * The reports are measured timing, not a smoothed estimate (a capture sink; libpulse's raw timing
   * replies): the early lock need not wait for the callbacks to agree (DAC_EARLY_READY_NS).
   */
  trustedReports?: boolean;
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
  /** Bins in the fit window. */
  window: number;
}

/** Where the answer comes from, for stats and the docs' plots. */
export interface DacClockSources {
  /** robust scale of the reports' bins around their line (µs) */
  reportScaleUs: number;
  /** robust scale of the callback envelope around its line (µs) */
  callbackScaleUs: number;
  /** share of the reports in the blend (0..1) */
  reportShare: number;
  /** reported DAC time minus the callback envelope (µs): the buffering between the two */
  callbackLeadUs: number;
}

export class DacClock {
  private readonly nominalRate: number;
  private readonly nominalB: number;
  private readonly clock: HostToLocalClock;
  private readonly rejectZeroDelay: boolean;
  private readonly trustedReports: boolean;
  // Bins, oldest first in a circular buffer: R point (x, y) and C point (x, y); x = frames since
  // refFrame, y = ns since refNs.
  private readonly cap = DAC_REPORT_WINDOW_BINS;
  private readonly rx = new Float64Array(DAC_REPORT_WINDOW_BINS);
  private readonly ry = new Float64Array(DAC_REPORT_WINDOW_BINS);
  private readonly cx = new Float64Array(DAC_REPORT_WINDOW_BINS);
  private readonly cy = new Float64Array(DAC_REPORT_WINDOW_BINS);
  private head = 0;
  private size = 0;
  private binsSinceReset = 0;
  /** Callback time the bins since the (re)start cover (ns). */
  private spanSinceResetNs = 0;
  /** The largest bin-median noise seen since the (re)start, from the entries' scatter (ns). */
  private binNoiseNs = 0;
  // Work arrays for the fits.
  private readonly fx = new Float64Array(DAC_REPORT_WINDOW_BINS);
  private readonly fy = new Float64Array(DAC_REPORT_WINDOW_BINS);
  private readonly fw = new Float64Array(DAC_REPORT_WINDOW_BINS);
  private readonly fs = new Float64Array(Math.max(DAC_REPORT_WINDOW_BINS, BIN_MAX_ENTRIES));
  private readonly rFit: RobustLineFit = { a: 0, b: 0, x0: 0, scale: 0, weight: 0, spread: 0, slopeSe: 0 };
  private readonly cFit: RobustLineFit = { a: 0, b: 0, x0: 0, scale: 0, weight: 0, spread: 0, slopeSe: 0 };
  // The open bin.
  private binOpen = false;
  private binStartCbNs = 0;
  private binN = 0;
  private binSx = 0;
  private readonly binRes = new Float64Array(BIN_MAX_ENTRIES);
  private binCMinRes = Infinity;
  private binCX = 0;
  private binCY = 0;
  // Candidate step run (bins held out of the window until confirmed or dropped).
  private readonly runRx = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private readonly runRy = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private readonly runCx = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private readonly runCy = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private readonly runER = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private readonly runEC = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private readonly runE = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private readonly runW = new Float64Array(DAC_STEP_CONFIRM_BINS);
  private runLen = 0;
  // Fast-path candidate run (entries), and the entries' scatter around the line.
  private fastLen = 0;
  private fastFirst = 0;
  private fastStartCbNs = 0;
  private fastMinCRes = Infinity;
  private fastVetoUntilNs = -Infinity;
  private readonly fastRes = new Float64Array(FAST_CONFIRM);
  private entryAbsRes = 0;
  private refFrame = 0;
  private refNs = 0;
  private haveRef = false;
  private lastCbNs = 0;
  private haveLastCb = false;
  // The blended answer: y = fitA + fitB (x - fitX0).
  private fitA = 0;
  private fitB = 0;
  private fitX0 = 0;
  private fitted = false;
  private locked = false;
  private sigmaNs = 0;
  private leadNs = 0;
  private rShare = 1;
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
    this.trustedReports = opts.trustedReports ?? false;
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
    if (!this.haveRef) {
      this.refFrame = e.deviceFrame;
      this.refNs = cbNs;
      this.haveRef = true;
    }
    if (this.locked && this.rFit.scale <= FAST_MAX_REPORT_SCALE_NS && this.fastStep(e.deviceFrame - this.refFrame, dacNs - this.refNs, cbNs - this.refNs)) return true;
    if (!this.locked && this.haveLastCb && cbNs - this.lastCbNs >= DAC_START_STALL_NS) {
      this.binOpen = false;
      this.runLen = 0;
      this.clearWindow();
    }
    this.lastCbNs = cbNs;
    this.haveLastCb = true;
    if (this.binOpen && cbNs - this.refNs - this.binStartCbNs >= this.binWidthNs()) this.closeBin(cbNs - this.refNs);
    // (Closing a bin may rebase the reference.)
    const x = e.deviceFrame - this.refFrame;
    const yR = dacNs - this.refNs;
    const yC = cbNs - this.refNs;
    if (!this.binOpen) {
      this.binOpen = true;
      this.binStartCbNs = yC;
      this.binN = 0;
      this.binSx = 0;
      this.binCMinRes = Infinity;
    }
    if (this.binN < BIN_MAX_ENTRIES) {
      // Residuals against the nominal line: within 250 ms a rate error moves them < 0.5 ms, and
      // the median and the minimum only need the order of nearby values.
      this.binRes[this.binN] = yR - x * this.nominalB;
      this.binSx += x;
      this.binN++;
      const cRes = yC - x * this.nominalB;
      if (cRes < this.binCMinRes) {
        this.binCMinRes = cRes;
        this.binCX = x;
        this.binCY = yC;
      }
    }
    this.accepted++;
    return true;
  }

  /**
   * The fast path (see FAST_*): true when this entry was a step candidate (held back from the bins).
   * On confirmation the step is applied to every stored bin and the open bin is dropped.
   */
  private fastStep(x: number, yR: number, yC: number): boolean {
    if (yC < this.fastVetoUntilNs) return false;
    const res = yR - (this.fitA + this.fitB * (x - this.fitX0));
    const sigma = this.entryAbsRes * 1.2533; // mean |r| -> sigma for Gaussian noise
    const limit = Math.min(DAC_FAST_MAX_NS, Math.max(DAC_FAST_MIN_NS, FAST_SIGMAS * sigma));
    if (Math.abs(res) <= limit) {
      this.fastLen = 0;
      this.entryAbsRes += (Math.abs(res) - this.entryAbsRes) / ENTRY_SCATTER_ENTRIES;
      return false;
    }
    // A run agrees within the noise, or within an eighth of its size (a 50 ms step is one step
    // whether its entries scatter by 0.1 or 1 ms).
    const agree = Math.max(STEP_AGREE_NS, 3 * sigma, Math.abs(this.fastFirst) / 8);
    if (this.fastLen === 0 || Math.abs(res - this.fastFirst) > agree) {
      this.fastLen = 0;
      this.fastFirst = res;
      this.fastStartCbNs = yC;
      this.fastMinCRes = Infinity;
    }
    this.fastMinCRes = Math.min(this.fastMinCRes, yC - this.lineC(x));
    this.fastRes[this.fastLen++] = res;
    if (this.fastLen < FAST_CONFIRM || yC - this.fastStartCbNs < FAST_SPAN_NS) {
      if (this.fastLen >= FAST_CONFIRM) this.fastLen = FAST_CONFIRM - 1;
      return true;
    }
    const step = median3(this.fastRes, this.fastLen, this.fs);
    this.fastLen = 0;
    // Only the reports moved: a transient of the estimate, not of the audio. The bins decide.
    if (Math.abs(this.fastMinCRes - step) > Math.max(FAST_CALLBACK_AGREE_NS, Math.abs(step) / 2)) {
      this.fastVetoUntilNs = yC + FAST_VETO_NS;
      return false;
    }
    for (let j = 0; j < this.size; j++) {
      const i = (this.head + j) % this.cap;
      this.ry[i] = this.ry[i]! + step;
      this.cy[i] = this.cy[i]! + step;
    }
    this.rFit.a += step;
    this.cFit.a += step;
    this.fitA += step;
    this.binOpen = false;
    this.runLen = 0;
    this.discontinuities++;
    this.lastStepNs = step;
    return true;
  }

  /** Forgets the fit and the lock (the sink restarted: a new DAC timeline). */
  reset(): void {
    this.size = 0;
    this.head = 0;
    this.binsSinceReset = 0;
    this.spanSinceResetNs = 0;
    this.binNoiseNs = 0;
    this.binOpen = false;
    this.runLen = 0;
    this.fitted = false;
    this.locked = false;
    this.haveRef = false;
    this.haveLastCb = false;
    this.fastLen = 0;
    this.entryAbsRes = 0;
  }

  /** True once the first fit spanned enough bins; stays true through discontinuities. */
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

  /** Scatter of the bins around the blended line (µs): its witnesses' robust scales, weighted. */
  get residualRmsUs(): number {
    return this.sigmaNs / 1000;
  }

  /** Fit restarts (explicit resets, steps before the first lock). */
  get resetCount(): number {
    return this.resets;
  }

  /** Phase steps re-anchored while locked (device xruns, stream restarts). */
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

  /** Which witness the answer follows (see the file comment). */
  get sources(): DacClockSources {
    return {
      reportScaleUs: Math.max(this.rFit.scale, this.rFit.spread) / 1000,
      callbackScaleUs: Math.max(this.cFit.scale, this.cFit.spread) / 1000,
      reportShare: this.rShare,
      callbackLeadUs: this.leadNs / 1000,
    };
  }

  /** Host CLOCK_MONOTONIC ns at which device frame `f` leaves the DAC (NaN before the first fit). */
  hostNsOfDeviceFrame(f: number): number {
    if (!this.fitted) return Number.NaN;
    return this.refNs + this.fitA + this.fitB * (f - this.refFrame - this.fitX0);
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
    const x = (y - this.fitA) / this.fitB + this.fitX0;
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

  /** Early bins while the early lock can still come, if they hold DAC_EARLY_BIN_MIN_ENTRIES (large
   *  device buffers fill full bins); full bins after (the full rule judges those: pipewire-pulse's
   *  reports run a ±4 ms sawtooth that only a full bin averages). */
  private binWidthNs(): number {
    const early = !this.locked && this.spanSinceResetNs < DAC_READY_NS && this.binN >= DAC_EARLY_BIN_MIN_ENTRIES;
    return early ? DAC_EARLY_BIN_NS : DAC_BIN_NS;
  }

  /** Turns the open bin into an R and a C point, checks it for a step, refits. */
  private closeBin(endCbNs: number): void {
    this.binOpen = false;
    const n = this.binN;
    if (n < DAC_BIN_MIN_ENTRIES) return;
    const widthNs = endCbNs - this.binStartCbNs;
    this.binNoiseNs = Math.max(this.binNoiseNs, binMedianNoiseNs(this.binRes, n));
    const xMean = this.binSx / n;
    const rx = xMean;
    const ry = xMean * this.nominalB + median3(this.binRes, n, this.fs);
    const cx = this.binCX;
    const cy = this.binCY;
    if (this.fitted) {
      const eR = ry - this.lineR(rx);
      const eC = cy - this.lineC(cx);
      const e = this.rShare * eR + (1 - this.rShare) * eC;
      const limit = Math.max(DAC_STEP_MIN_NS, DAC_STEP_SIGMAS * this.sigmaNs);
      if (Math.abs(e) > limit) {
        this.holdCandidate(rx, ry, cx, cy, eR, eC, e, widthNs);
        return;
      }
    }
    this.runLen = 0;
    this.push(rx, ry, cx, cy, widthNs);
    this.refit();
  }

  /** A bin off the line: part of a step in the making, or a lone wild one (dropped). */
  private holdCandidate(rx: number, ry: number, cx: number, cy: number, eR: number, eC: number, e: number, widthNs: number): void {
    if (this.runLen > 0) {
      const first = this.runE[0]!;
      if (Math.abs(e - first) > Math.max(STEP_AGREE_NS, Math.abs(first) / 4)) this.runLen = 0;
    }
    const k = this.runLen++;
    this.runRx[k] = rx;
    this.runRy[k] = ry;
    this.runCx[k] = cx;
    this.runCy[k] = cy;
    this.runER[k] = eR;
    this.runEC[k] = eC;
    this.runE[k] = e;
    this.runW[k] = widthNs;
    if (this.runLen < DAC_STEP_CONFIRM_BINS) return;
    const n = this.runLen;
    this.runLen = 0;
    const stepR = median3(this.runER, n, this.fs);
    const stepC = median3(this.runEC, n, this.fs);
    if (!this.locked) {
      // Before the first lock there is nothing worth keeping (a start-up stall).
      this.resets++;
      this.clearWindow();
    } else if (Math.abs(stepR - stepC) > Math.max(STEP_AGREE_NS, Math.max(Math.abs(stepR), Math.abs(stepC)) / 4)) {
      // One witness moved alone: that is its own noise, not the timeline. Through PulseAudio the
      // callbacks pause ~9 ms every ~12 s while the reports hold still; taking that for a step
      // shifted the stored callback bins each time and turned the sawtooth into a clean line
      // 600 ppm off the DAC (bench:realpath --latency-ms 20,200: a member 2.4 ms off for 40 s).
      // The bins join the window as they are, and the robust fits judge them.
    } else {
      // Same device, same crystal: every stored bin moves with the timeline, so slopes and the
      // callback lead carry over.
      for (let j = 0; j < this.size; j++) {
        const i = (this.head + j) % this.cap;
        this.ry[i] = this.ry[i]! + stepR;
        this.cy[i] = this.cy[i]! + stepC;
      }
      this.discontinuities++;
      this.lastStepNs = this.rShare * stepR + (1 - this.rShare) * stepC;
    }
    for (let j = 0; j < n; j++) this.push(this.runRx[j]!, this.runRy[j]!, this.runCx[j]!, this.runCy[j]!, this.runW[j]!);
    this.refit();
  }

  private clearWindow(): void {
    this.size = 0;
    this.head = 0;
    this.binsSinceReset = 0;
    this.spanSinceResetNs = 0;
    this.binNoiseNs = 0;
    this.fitted = false;
  }

  private push(rx: number, ry: number, cx: number, cy: number, widthNs: number): void {
    const slot = (this.head + this.size) % this.cap;
    this.rx[slot] = rx;
    this.ry[slot] = ry;
    this.cx[slot] = cx;
    this.cy[slot] = cy;
    if (this.size < this.cap) this.size++;
    else this.head = (this.head + 1) % this.cap;
    this.binsSinceReset++;
    this.spanSinceResetNs += widthNs;
    if (this.cy[this.head]! > REBASE_AFTER_NS) this.rebase();
  }

  private lineR(x: number): number {
    return this.rFit.a + this.rFit.b * (x - this.rFit.x0);
  }

  private lineC(x: number): number {
    return this.cFit.a + this.cFit.b * (x - this.cFit.x0);
  }

  /** Moves the reference to the oldest bin so that x and y stay small (exact doubles). */
  private rebase(): void {
    const dx = this.cx[this.head]!;
    const dy = this.cy[this.head]!;
    for (let j = 0; j < this.size; j++) {
      const i = (this.head + j) % this.cap;
      this.rx[i] = this.rx[i]! - dx;
      this.ry[i] = this.ry[i]! - dy;
      this.cx[i] = this.cx[i]! - dx;
      this.cy[i] = this.cy[i]! - dy;
    }
    for (let j = 0; j < this.runLen; j++) {
      this.runRx[j] = this.runRx[j]! - dx;
      this.runRy[j] = this.runRy[j]! - dy;
      this.runCx[j] = this.runCx[j]! - dx;
      this.runCy[j] = this.runCy[j]! - dy;
    }
    this.binStartCbNs -= dy;
    this.fastStartCbNs -= dy;
    this.fastVetoUntilNs -= dy;
    this.binSx -= dx * this.binN;
    this.binCX -= dx;
    this.binCY -= dy;
    for (let j = 0; j < this.binN; j++) this.binRes[j] = this.binRes[j]! - dy + dx * this.nominalB;
    this.binCMinRes += -dy + dx * this.nominalB;
    this.refFrame += dx;
    this.refNs += dy;
    this.rFit.x0 -= dx;
    this.rFit.a -= dy;
    this.cFit.x0 -= dx;
    this.cFit.a -= dy;
    this.fitX0 -= dx;
    this.fitA -= dy;
  }

  /** Fits R over the report window, C over the callback window, D, and blends them. */
  private refit(): void {
    const n = this.size;
    if (n < 2) return;
    const opts = { scaleFloor: SCALE_FLOOR_NS, rejectScaleFloor: REJECT_SCALE_FLOOR_NS, priorB: this.nominalB, priorSxx: this.priorSxx(n) };
    for (let j = 0; j < n; j++) {
      const i = (this.head + j) % this.cap;
      this.fx[j] = this.rx[i]!;
      this.fy[j] = this.ry[i]!;
    }
    if (!fitRobustLine(this.fx, this.fy, n, this.fw, this.fs, opts, this.rFit)) return;
    const nc = Math.min(n, DAC_CALLBACK_WINDOW_BINS);
    for (let j = 0; j < nc; j++) {
      const i = (this.head + n - nc + j) % this.cap;
      this.fx[j] = this.cx[i]!;
      this.fy[j] = this.cy[i]!;
    }
    if (!fitRobustLine(this.fx, this.fy, nc, this.fw, this.fs, opts, this.cFit)) return;
    // D: the median lead of the reports over the callback envelope, over the long window.
    for (let j = 0; j < n; j++) {
      const i = (this.head + j) % this.cap;
      this.fs[j] = this.ry[i]! - this.lineC(this.rx[i]!);
    }
    this.leadNs = medianInPlace(this.fs, n);
    // Inverse-variance blend of the two lines' predictions (variance ~ scale² / points). A witness
    // is only as good as the scatter of all its bins: through PulseAudio the callbacks run a
    // sawtooth (750 ppm fast, then a 9 ms pause, every ~12 s) whose single tooth fits a line with
    // a small scale, 600 ppm off the DAC's rate (bench:realpath --latency-ms 20,200: a member
    // 2.4 ms off for 40 s).
    const sR = Math.max(this.rFit.scale, this.rFit.spread);
    const sC = Math.max(this.cFit.scale, this.cFit.spread);
    const vR = (sR * sR) / Math.max(1, this.rFit.weight);
    const vC = (sC * sC) / Math.max(1, this.cFit.weight);
    const bR = this.rFit.b;
    const bC = this.cFit.b;
    const nb = this.nominalB;
    let share = vC / (vR + vC);
    // Two clean witnesses that disagree on the rate: one is not a line yet (the first tooth of
    // PulseAudio's callback sawtooth fits a line 750 ppm fast with a 40 µs scale). A DAC and a
    // host clock are both crystals, so the witness nearer the nominal rate is the one to follow.
    // (Unless one is plainly the noisier: then the blend above has already chosen; and only when
    // the rates are known well enough to disagree: a few loaded seconds are not.)
    const seB = Math.hypot(this.rFit.slopeSe, this.cFit.slopeSe);
    const disagree = Math.abs(bR - bC) > Math.max(WITNESS_RATE_DISAGREE_PPM * 1e-6 * nb, 4 * seB);
    if (disagree && sR <= 4 * sC && sC <= 4 * sR) {
      share = Math.abs(bR - nb) <= Math.abs(bC - nb) ? 1 : 0;
    }
    let b = share * bR + (1 - share) * bC;
    if (!(Math.abs(b / nb - 1) <= DAC_MAX_RATE_PPM * 1e-6)) {
      b = this.fitted && Math.abs(this.fitB / nb - 1) <= DAC_MAX_RATE_PPM * 1e-6 ? this.fitB : nb;
    }
    // Anchor at the newest bin (where predictions are used) and blend the two values there.
    const last = (this.head + n - 1) % this.cap;
    const x0 = this.rx[last]!;
    this.fitA = share * this.lineR(x0) + (1 - share) * (this.lineC(x0) + this.leadNs);
    this.fitB = b;
    this.fitX0 = x0;
    this.rShare = share;
    // The bins' scatter, not the line's: what one bin is allowed to deviate before it is a step.
    this.sigmaNs = Math.sqrt(share * this.rFit.scale * this.rFit.scale + (1 - share) * this.cFit.scale * this.cFit.scale);
    this.fitted = true;
    if (this.locked) return;
    if (this.spanSinceResetNs >= DAC_READY_NS && this.binsSinceReset >= DAC_READY_BINS) {
      // The first lock needs the newest bins to agree with the line: start-up bursts (prefill
      // callbacks all at one instant, times predicted before a stall) must have left the window.
      if (this.newestAgree(DAC_READY_BINS, DAC_STEP_MIN_NS, true)) this.locked = true;
      else this.dropOldest();
    } else if (this.spanSinceResetNs >= DAC_EARLY_READY_NS && this.binsSinceReset >= DAC_EARLY_READY_MIN_BINS
      && this.size === this.binsSinceReset && this.newestAgree(this.size, DAC_EARLY_AGREE_NS, !this.trustedReports)) {
      // Only the early check: a miss drops nothing, the full rule above still comes.
      this.locked = true;
    }
  }

  /** The slope prior's weight (frames² of Sxx) for a window of n bins: see PRIOR_RATE_SIGMA. */
  private priorSxx(n: number): number {
    let noise = Math.max(SCALE_FLOOR_NS, this.binNoiseNs);
    if (n >= PRIOR_SCALE_MIN_BINS && this.fitted) noise = Math.max(noise, this.rShare * this.rFit.scale + (1 - this.rShare) * this.cFit.scale);
    noise = Math.min(PRIOR_NOISE_MAX_NS, noise);
    return (noise / (PRIOR_RATE_SIGMA * this.nominalB)) ** 2;
  }

  /** True when the newest `k` bins all lie within `tolNs` of the blended line (the reports, and the callbacks if `callbacks`). */
  private newestAgree(k: number, tolNs: number, callbacks: boolean): boolean {
    if (this.size < k) return false;
    for (let j = this.size - k; j < this.size; j++) {
      const i = (this.head + j) % this.cap;
      const pred = this.fitA + this.fitB * (this.rx[i]! - this.fitX0);
      if (Math.abs(this.ry[i]! - pred) > tolNs) return false;
      if (!callbacks) continue;
      const predC = this.fitA + this.fitB * (this.cx[i]! - this.fitX0) - this.leadNs;
      if (Math.abs(this.cy[i]! - predC) > tolNs) return false;
    }
    return true;
  }

  private dropOldest(): void {
    if (this.size === 0) return;
    this.head = (this.head + 1) % this.cap;
    this.size--;
  }
}

/**
 * The noise of a bin's median report (ns), from its entries' residuals in arrival order: the mean
 * absolute difference of neighbours is 2 sigma / sqrt(pi) for independent noise (a trend within the
 * bin adds only its per-entry step); the median of n is ~1.25 sigma / sqrt(n).
 */
function binMedianNoiseNs(res: Float64Array, n: number): number {
  if (n < 2) return 0;
  let sum = 0;
  for (let i = 1; i < n; i++) sum += Math.abs(res[i]! - res[i - 1]!);
  const sigma = (sum / (n - 1)) * (Math.sqrt(Math.PI) / 2);
  return (1.2533 * sigma) / Math.sqrt(n);
}

/** Median of the first n values, using `scratch` (v untouched; by selection: no sort, no allocation). */
function median3(v: Float64Array, n: number, scratch: Float64Array): number {
  for (let i = 0; i < n; i++) scratch[i] = v[i]!;
  return medianInPlace(scratch, n);
}
