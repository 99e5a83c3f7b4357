// Scheduler: renders PCM for ring positions [p, p+n) so each frame leaves the DAC when the leader
// clock says it should. Per chunk: ring pos -> DAC local time (DacClock) -> leader time (clock
// model + outputDelayUs) -> wanted playlist position (timeline). A fractional source position
// advancing by (measured feed-forward ratio) x (1 + bounded PI correction) follows the wanted one;
// large errors jump (with fades). Timeline fades, volume ramps and the channel mode are applied here;
// track normalization gains are applied by the reader on the tracks' own frames, their changes ramp
// like a volume change.
import type { Timeline, TimelineRevision } from '@jaudiosync/protocol/timeline';
import { framesInUs } from '@jaudiosync/protocol/timeline';
import { dbToGain, volumeToGain } from '@jaudiosync/protocol/volume-curve';
import type { ClockModel } from '../clock/clock-model.js';
import { leaderFromLocal } from '../clock/clock-model.js';
import { mixChannels, type ChannelMode } from './channel-mixer.js';
import type { HostToLocalClock } from './dac-clock.js';
import { DriftController, type DriftControllerOptions } from './drift-controller.js';
import { FrameResampler } from './frame-resampler.js';
import { GainRamp, rampGainAt } from './gain-ramp.js';
import type { PlaylistReader } from './track-store.js';

/** Longest chunk rendered with one ratio/gain line: 128 frames = 2.7 ms of control granularity. */
export const MAX_CHUNK_FRAMES = 128;
/** Errors above this are fixed by a jump (fade out, reposition, fade in) instead of slewing. */
export const JUMP_THRESHOLD_US = 20_000;
/**
 * Right after the DAC clock re-anchored its phase (device xrun: the device already glitched), an
 * error above this jumps (with fades) instead of slewing: at 500 ppm, 5 ms would take 10 s.
 */
export const DAC_STEP_JUMP_THRESHOLD_US = 5_000;
/** Timeline transition fades (stop, resume, seek): short enough to keep the cut, long enough not to click. */
export const TIMELINE_FADE_US = 6_000;
/**
 * An error above this that has not slewed away within PERSISTENT_ERROR_US is fixed by a jump (with
 * fades) too: at the controller's 500 ppm, 2-20 ms would take 4-40 s, and such an error is no
 * model noise but a real displacement (bench:realpath --fault stress: after the stress a member
 * knew it was 5.6 ms off, and slewed for over 10 s).
 */
export const PERSISTENT_JUMP_THRESHOLD_US = 2_000;
export const PERSISTENT_ERROR_US = 500_000;
/** Engine-side fade around a jump. */
export const JUMP_FADE_US = 5_000;
/** Volume changes (and a mute: volume 0) ramp over this (leader time), so every member changes over the same frames. */
export const VOLUME_RAMP_US = 30_000;
/** A position this close to the wanted one after a timeline discontinuity is "the same stream". */
const CONTINUITY_TOLERANCE_FRAMES = 1;
/** Engine position within this of a new stream's target is taken as that stream (no refade). */
const SAME_STREAM_FRAMES = 4;

export interface SchedulerDac {
  readonly ready: boolean;
  readonly hostNsPerFrame: number;
  /** Phase steps re-anchored so far (optional: a DAC without them never steps). */
  readonly discontinuityCount?: number;
  /** PCM ring underruns seen so far: each one makes what is already written play late. */
  readonly ringSlipCount?: number;
  dacTimeOfRingPos(pos: number): number;
}

/** Per-member settings; `outputDelayUs` > 0 plays this member's audio EARLIER by that much. */
export interface SchedulerSettings {
  volume: number;
  atUs: number;
  outputDelayUs: number;
  channelMode: ChannelMode;
}

export interface SchedulerOptions {
  /** the timeline's rate (source frames) */
  outputRate: number;
  /** the device's rate (ring frames); default outputRate. The resampler converts (device-rate.ts). */
  deviceRate?: number;
  clock: HostToLocalClock;
  maxChunkFrames?: number;
  jumpThresholdUs?: number;
  /** Jump threshold for the first chunk after a DAC phase step (DAC_STEP_JUMP_THRESHOLD_US). */
  dacStepJumpThresholdUs?: number;
  /** Jump threshold for an error that persists PERSISTENT_ERROR_US (PERSISTENT_JUMP_THRESHOLD_US). */
  persistentJumpThresholdUs?: number;
  persistentErrorUs?: number;
  timelineFadeUs?: number;
  jumpFadeUs?: number;
  volumeRampUs?: number;
  controller?: Partial<Omit<DriftControllerOptions, 'outputRate'>>;
}

/** Counters and last values; one preallocated object updated in place. */
export interface SchedulerStats {
  renderedFrames: number;
  silentFrames: number;
  resampledFrames: number;
  jumps: number;
  lastErrorUs: number;
  correctionPpm: number;
  /** DAC + local clock vs leader, ppm (+: the DAC consumes frames faster than the leader's clock). */
  driftPpm: number;
  locked: boolean;
  /** Leader time at the DAC of the last rendered frame. */
  lastLeaderUs: number;
}

interface EvalState {
  silent: boolean;
  target: number;
  gain: number;
  streamKey: number;
  /** Playlist frame the stream started from (its first revision's position). */
  streamBase: number;
  /** The stream started seamlessly where the previous one ended a track (repeat one's lap): no fades. */
  seamless: boolean;
}

function errorOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Scheduler {
  readonly stats: SchedulerStats = {
    renderedFrames: 0,
    silentFrames: 0,
    resampledFrames: 0,
    jumps: 0,
    lastErrorUs: 0,
    correctionPpm: 0,
    driftPpm: 0,
    locked: false,
    lastLeaderUs: 0,
  };
  private readonly rate: number;
  private readonly maxChunk: number;
  private readonly jumpFrames: number;
  private readonly persistentJumpFrames: number;
  private readonly persistentErrorUs: number;
  /** leader µs since when |error| has stayed above persistentJumpFrames (NaN: it is not) */
  private bigErrorSinceUs = Number.NaN;
  private readonly dacStepJumpFrames: number;
  private seenDacSteps = 0;
  /** The last chunk had frames without audio (muted): the next complete one fades in. */
  private starved = false;
  private readonly fadeUs: number;
  private readonly jumpFadeFrames: number;
  private readonly volumeRampUs: number;
  private readonly localRate: number;
  private readonly controller: DriftController;
  private readonly resampler: FrameResampler;
  /** source frames per ring frame at nominal rates (1 unless the device runs at another rate) */
  private readonly nominalRatio: number;
  private readonly deviceRate: number;
  private readonly engineGain = new GainRamp(1);
  private readonly src: Float32Array;
  private readonly mix: Float32Array;
  private readonly st0: EvalState = { silent: true, target: 0, gain: 0, streamKey: 0, streamBase: 0, seamless: false };
  private readonly st1: EvalState = { silent: true, target: 0, gain: 0, streamKey: 0, streamBase: 0, seamless: false };
  private readonly clock: HostToLocalClock;

  // Timeline, precomputed.
  private tl: Timeline | null = null;
  private revAt = new Float64Array(0);
  private revBase = new Float64Array(0);
  private revStart: boolean[] = [];
  /**
   * A discontinuous revision that starts a track's first frame exactly where the playing stream
   * ends a track (the leader's repeat-one lap, or a next placed on the boundary): the new stream
   * joins without fades, gapless as a track change (with a crossfade set, laps still fade).
   */
  private revSeamless: boolean[] = [];
  private revStreamSeamless: boolean[] = [];
  /** For a seamless revision: the playing stream's frame at its atUs (where the old stream leaves off). */
  private revSeamOld = new Float64Array(0);
  /** Index of the revision that started the stream playing under each revision. */
  private revStreamStart = new Int32Array(0);
  /** Source frames patched across a seam (a few kernel taps; allocated with the resampler). */
  private readonly seamScratch: Float32Array;
  private revStreamKey = new Float64Array(0);
  private revStreamBase = new Float64Array(0);
  private breakpoints = new Float64Array(0);
  // Volumes as received (0..1) and the gains they ramp between (volume-curve.ts: the one conversion).
  private groupVolume = 1;
  private groupFrom = 1;
  private groupTo = 1;
  private groupAtUs = -Infinity;
  private memberVolume = 1;
  private memberFrom = 1;
  private memberTo = 1;
  private memberAtUs = -Infinity;
  /** Normalization gains by track id before and after the change at `trackGainAtUs`. */
  private trackGainFrom = new Map<string, number>();
  private trackGainTo = new Map<string, number>();
  private trackGainAtUs = -Infinity;
  private outputDelayUs = 0;
  private channelMode: ChannelMode = 'stereo';

  // Playback state.
  private model: ClockModel | null = null;
  private srcPos = 0;
  private streamKey = Number.NaN;
  private pendingJump = false;
  private errorMessage: string | null = null;

  constructor(
    private readonly opts: SchedulerOptions,
    private readonly dac: SchedulerDac,
    private readonly reader: PlaylistReader,
  ) {
    if (!(opts.outputRate > 0)) throw new RangeError('Scheduler: outputRate must be positive');
    this.rate = opts.outputRate;
    this.clock = opts.clock;
    this.maxChunk = Math.max(8, Math.floor(opts.maxChunkFrames ?? MAX_CHUNK_FRAMES));
    this.jumpFrames = ((opts.jumpThresholdUs ?? JUMP_THRESHOLD_US) * this.rate) / 1e6;
    this.persistentJumpFrames = Math.min(this.jumpFrames, ((opts.persistentJumpThresholdUs ?? PERSISTENT_JUMP_THRESHOLD_US) * this.rate) / 1e6);
    this.persistentErrorUs = opts.persistentErrorUs ?? PERSISTENT_ERROR_US;
    this.dacStepJumpFrames = Math.min(this.jumpFrames, ((opts.dacStepJumpThresholdUs ?? DAC_STEP_JUMP_THRESHOLD_US) * this.rate) / 1e6);
    this.fadeUs = opts.timelineFadeUs ?? TIMELINE_FADE_US;
    this.deviceRate = opts.deviceRate ?? this.rate;
    if (!(this.deviceRate > 0)) throw new RangeError('Scheduler: deviceRate must be positive');
    // Engine fades count ring (device) frames.
    this.jumpFadeFrames = Math.round(((opts.jumpFadeUs ?? JUMP_FADE_US) * this.deviceRate) / 1e6);
    this.volumeRampUs = opts.volumeRampUs ?? VOLUME_RAMP_US;
    this.controller = new DriftController({ outputRate: this.rate, ...opts.controller });
    // d(local)/d(host) of the injected clock, measured once (it is a constant by construction).
    const h = 1e12;
    this.localRate = (this.clock.fromHostMonoUs(h + 1e6) - this.clock.fromHostMonoUs(h)) / 1e6;
    this.nominalRatio = this.rate / this.deviceRate;
    this.resampler = FrameResampler.forRatio(this.nominalRatio);
    const srcFrames = Math.ceil(this.maxChunk * 1.01 * Math.max(1, this.nominalRatio)) + this.resampler.taps + 4;
    // In the resampler's wasm memory where it has one: the kernel reads and writes them in place.
    ({ src: this.src, out: this.mix } = this.resampler.workBuffers(srcFrames * 2, this.maxChunk * 2));
    this.seamScratch = new Float32Array((this.resampler.taps + 8) * 2);
  }

  /** Playlist position (fractional global frame) of the next frame to render; NaN if not locked. */
  get sourcePosition(): number {
    return this.stats.locked ? this.srcPos : Number.NaN;
  }

  /** Last internal error (cleared by `takeError`). */
  takeError(): string | null {
    const e = this.errorMessage;
    this.errorMessage = null;
    return e;
  }

  setClockModel(m: ClockModel | null): void {
    this.model = m;
  }

  /** Installs a new timeline (validated by the caller); volume changes ramp from the current gain. */
  setTimeline(tl: Timeline | null): void {
    if (tl === null) {
      this.tl = null;
      this.reader.setPlaylist([], false);
      this.rebuildBreakpoints();
      return;
    }
    if (tl.outputRate !== this.rate) throw new RangeError(`timeline outputRate ${tl.outputRate} != engine ${this.rate}`);
    // A changed crossfade moves where tracks start on the playlist's frame axis: the engine's
    // position moves with its track and frame, so it stays on the same audio (no jump).
    const place = this.stats.locked && (this.tl?.crossfadeFrames ?? 0) !== (tl.crossfadeFrames ?? 0) ? this.reader.locate(this.srcPos) : null;
    this.reader.setPlaylist(tl.tracks, tl.loop, tl.crossfadeFrames ?? 0);
    if (place !== null) {
      const moved = this.reader.globalOf(place);
      if (Number.isFinite(moved)) this.srcPos = moved;
    }
    const revs = tl.revisions;
    const n = revs.length;
    this.revAt = new Float64Array(n);
    this.revBase = new Float64Array(n);
    this.revStart = new Array<boolean>(n).fill(true);
    this.revSeamless = new Array<boolean>(n).fill(false);
    this.revSeamOld = new Float64Array(n);
    this.revStreamStart = new Int32Array(n);
    this.revStreamSeamless = new Array<boolean>(n).fill(false);
    this.revStreamKey = new Float64Array(n);
    this.revStreamBase = new Float64Array(n);
    const total = this.reader.totalFrames;
    for (let i = 0; i < n; i++) {
      const r = revs[i] as TimelineRevision;
      this.revAt[i] = r.atUs;
      this.revBase[i] = this.reader.globalFrame(r.index, r.frame);
      const prev = revs[i - 1];
      let start = true;
      let seamless = false;
      if (r.playing && prev !== undefined && prev.playing) {
        // Continuous if the previous revision would have reached the same frame at r.atUs.
        let expect = this.revBase[i - 1]! + framesInUs(r.atUs - prev.atUs, this.rate);
        if (tl.loop && total > 0) expect %= total;
        start = Math.abs(expect - this.revBase[i]!) > CONTINUITY_TOLERANCE_FRAMES;
        seamless = start && r.frame === 0 && (tl.crossfadeFrames ?? 0) === 0 && this.reader.isTrackBoundary(expect, CONTINUITY_TOLERANCE_FRAMES);
        this.revSeamOld[i] = Math.round(expect);
      }
      this.revStreamStart[i] = start ? i : this.revStreamStart[i - 1]!;
      this.revStart[i] = start;
      this.revSeamless[i] = seamless;
      this.revStreamSeamless[i] = start ? seamless : this.revStreamSeamless[i - 1]!;
      this.revStreamKey[i] = start ? r.atUs : this.revStreamKey[i - 1]!;
      this.revStreamBase[i] = start ? this.revBase[i]! : this.revStreamBase[i - 1]!;
    }
    if (tl.volume !== undefined && (tl.volume.atUs !== this.groupAtUs || tl.volume.gain !== this.groupVolume)) {
      this.groupFrom = rampGainAt(this.groupFrom, this.groupTo, this.groupAtUs, this.volumeRampUs, tl.volume.atUs);
      this.groupVolume = tl.volume.gain;
      this.groupTo = volumeToGain(tl.volume.gain);
      this.groupAtUs = tl.volume.atUs;
    }
    this.installTrackGains(tl);
    this.tl = tl;
    this.rebuildBreakpoints();
  }

  setSettings(s: SchedulerSettings): void {
    if (s.volume !== this.memberVolume || s.atUs !== this.memberAtUs) {
      this.memberFrom = rampGainAt(this.memberFrom, this.memberTo, this.memberAtUs, this.volumeRampUs, s.atUs);
      this.memberVolume = s.volume;
      this.memberTo = volumeToGain(s.volume);
      this.memberAtUs = s.atUs;
    }
    // A changed delay moves the target: the controller slews or jumps as for any other error.
    this.outputDelayUs = s.outputDelayUs;
    this.channelMode = s.channelMode;
    this.rebuildBreakpoints();
  }

  /**
   * The tracks' normalization gains for the reader. A new `trackGainAtUs` means new gains from then
   * on: each track ramps from the gain it had (by id, so a reordered playlist keeps its gains) to its
   * new one. A re-sent timeline with the same `trackGainAtUs` keeps the ramp where it is.
   */
  private installTrackGains(tl: Timeline): void {
    const at = tl.trackGainAtUs ?? -Infinity;
    const changed = at !== this.trackGainAtUs;
    const n = tl.tracks.length;
    const from = new Float32Array(n);
    const to = new Float32Array(n);
    const nextFrom = new Map<string, number>();
    const nextTo = new Map<string, number>();
    for (let k = 0; k < n; k++) {
      const t = tl.tracks[k]!;
      const g = dbToGain(t.gainDb ?? 0);
      const f = (changed ? this.trackGainTo.get(t.id) : this.trackGainFrom.get(t.id)) ?? g;
      from[k] = f;
      to[k] = g;
      nextFrom.set(t.id, f);
      nextTo.set(t.id, g);
    }
    this.trackGainFrom = nextFrom;
    this.trackGainTo = nextTo;
    this.trackGainAtUs = at;
    this.reader.setTrackGains(from, to);
  }

  /** Forces a fresh lock at the next chunk (after an internal error or a sink restart). */
  resync(): void {
    this.stats.locked = false;
    this.streamKey = Number.NaN;
    this.pendingJump = false;
    this.controller.reset();
  }

  /** Leader time at which ring frame `pos` leaves the DAC (NaN if unknown). */
  leaderUsOfRingPos(pos: number): number {
    const m = this.model;
    if (m === null || !this.dac.ready) return Number.NaN;
    return leaderFromLocal(m, this.dac.dacTimeOfRingPos(pos)) + this.outputDelayUs;
  }

  /**
   * Renders ring frames [ringPos, ringPos + frames) into `out` (interleaved stereo int16). Never
   * throws: on an internal error the rest is silence and the next call resyncs.
   */
  render(ringPos: number, out: Int16Array, frames: number): void {
    let done = 0;
    try {
      while (done < frames) {
        done += this.renderChunk(ringPos + done, out, done, Math.min(this.maxChunk, frames - done));
      }
    } catch (e) {
      this.errorMessage = errorOf(e);
      out.fill(0, done * 2, frames * 2);
      this.stats.silentFrames += frames - done;
      this.resync();
    }
  }

  private renderChunk(p: number, out: Int16Array, outFrame: number, nMax: number): number {
    const m = this.model;
    if (m === null || !m.synced || !this.dac.ready || this.tl === null) return this.silence(out, outFrame, nMax, true);
    const L0 = this.leaderUsOfRingPos(p);
    if (!Number.isFinite(L0)) return this.silence(out, outFrame, nMax, true);
    // Leader µs per ring frame, analytically (differences of ~1e15 µs values would lose precision).
    const dLdp = (this.dac.hostNsPerFrame / 1000) * this.localRate * (1 + m.rate);
    let n = nMax;
    const bp = this.nextBreakpoint(L0);
    if (bp <= L0 + (n - 1) * dLdp) n = Math.max(1, Math.ceil((bp - L0) / dLdp));
    const Llast = L0 + (n - 1) * dLdp;
    const s0 = this.evalAt(L0, this.st0);
    this.stats.lastLeaderUs = Llast;
    const ff = (dLdp * this.rate) / 1e6;
    this.stats.driftPpm = (this.nominalRatio / ff - 1) * 1e6;
    if (s0.silent) {
      this.stats.locked = false;
      this.streamKey = Number.NaN;
      this.pendingJump = false;
      this.controller.reset();
      this.engineGain.set(1);
      return this.silence(out, outFrame, n, false);
    }
    const s1 = this.evalAt(Llast, this.st1);
    const g0 = s0.gain;
    const g1 = s1.silent ? 0 : s1.gain;
    const dtS = n / this.deviceRate;

    let err = this.srcPos - s0.target;
    const total = this.reader.totalFrames;
    if (this.reader.looping && total > 0) err -= Math.round(err / total) * total;
    // After a DAC phase step or a ring underrun the error is real and known: jump sooner.
    const steps = (this.dac.discontinuityCount ?? 0) + (this.dac.ringSlipCount ?? 0);
    const dacStepped = steps !== this.seenDacSteps;
    this.seenDacSteps = steps;
    if (Math.abs(err) <= this.persistentJumpFrames || !this.stats.locked) this.bigErrorSinceUs = Number.NaN;
    else if (Number.isNaN(this.bigErrorSinceUs)) this.bigErrorSinceUs = L0;
    const persistent = L0 - this.bigErrorSinceUs >= this.persistentErrorUs;
    const jumpFrames = dacStepped ? this.dacStepJumpFrames : persistent ? this.persistentJumpFrames : this.jumpFrames;
    // A new stream key with the position where it already is (e.g. revisions were pruned or
    // re-sent) is the same stream: no reset, no fade.
    if (this.stats.locked && s0.streamKey !== this.streamKey && Math.abs(err) <= SAME_STREAM_FRAMES) {
      this.streamKey = s0.streamKey;
    }
    if (!this.stats.locked || s0.streamKey !== this.streamKey) {
      // New stream (start, late join, seek, resume): start exactly on the timeline. Timeline fades
      // make g0 == 0 at a scheduled transition; otherwise fade in on the engine side, unless it
      // joins the playing stream seamlessly (a lap: the engine's gain stays as it is).
      const seamlessJoin = this.stats.locked && s0.seamless && !this.pendingJump;
      this.srcPos = s0.target;
      this.streamKey = s0.streamKey;
      this.stats.locked = true;
      this.pendingJump = false;
      this.controller.reset();
      this.stats.lastErrorUs = 0;
      if (seamlessJoin) {
        // keep the engine gain
      } else if (g0 > 0.01) {
        this.engineGain.set(0);
        this.engineGain.rampTo(1, this.jumpFadeFrames);
      } else this.engineGain.set(1);
    } else {
      this.stats.lastErrorUs = (err * 1e6) / this.rate;
      if (this.pendingJump) {
        if (!this.engineGain.active) {
          this.srcPos = s0.target;
          this.pendingJump = false;
          this.controller.reset();
          this.engineGain.rampTo(1, this.jumpFadeFrames);
        }
      } else if (Math.abs(err) > jumpFrames) {
        this.stats.jumps++;
        if (this.engineGain.value === 0 || g0 === 0) {
          this.srcPos = s0.target;
          this.controller.reset();
          if (!this.engineGain.active && this.engineGain.value < 1) this.engineGain.rampTo(1, this.jumpFadeFrames);
        } else {
          this.pendingJump = true;
          this.engineGain.rampTo(0, this.jumpFadeFrames);
        }
      } else {
        this.controller.update(err, dtS);
      }
    }
    const corr = this.pendingJump ? 0 : this.controller.correctionPpm;
    this.stats.correctionPpm = corr;
    const ratio = ff * (1 + corr * 1e-6);

    // Source window: kernel centres from floor(srcPos) on.
    const first = Math.floor(this.srcPos);
    const half = this.resampler.halfTaps;
    const need = this.resampler.framesNeeded(this.srcPos - first, ratio, n);
    if (need * 2 > this.src.length) throw new Error(`source window of ${need} frames exceeds the buffer`);
    // Where this stream started, in the engine's laps (a crossfade only mixes in the previous
    // track's tail where the stream played through that track change, not after a jump into it).
    const lapShift = this.reader.looping && total > 0 ? Math.round((this.srcPos - s0.target) / total) * total : 0;
    this.reader.setStreamStart(s0.streamBase + lapShift);
    this.reader.setGainBlend(
      rampGainAt(0, 1, this.trackGainAtUs, this.volumeRampUs, L0),
      rampGainAt(0, 1, this.trackGainAtUs, this.volumeRampUs, Llast),
    );
    let missing = this.reader.read(first - half + 1, need, this.src);
    missing += this.patchSeam(L0, first - half + 1, need);
    this.srcPos = this.resampler.process(this.src, this.srcPos - first + half - 1, ratio, this.mix, n) + first - half + 1;
    // Audio that was not there (a streamed track's window not filled yet after a seek, a track not
    // loaded) is muted for the whole chunk, and faded in once it is there: no click either way.
    let gapGain = 1;
    if (missing > 0) {
      gapGain = 0;
      this.starved = true;
    } else if (this.starved) {
      this.starved = false;
      if (!this.pendingJump) {
        this.engineGain.set(0);
        this.engineGain.rampTo(1, this.jumpFadeFrames);
      }
    }
    if (ratio !== 1) this.stats.resampledFrames += n;

    mixChannels(this.mix, n, this.channelMode);
    // Gains: timeline fade and volume are linear in leader time within the chunk (split at breakpoints).
    const v0 = this.volumeAt(L0);
    const v1 = this.volumeAt(Llast);
    const ga = g0 * v0;
    const gb = g1 * v1;
    const step = n > 1 ? (gb - ga) / (n - 1) : 0;
    const mix = this.mix;
    let o = outFrame * 2;
    for (let k = 0; k < n; k++, o += 2) {
      const g = (ga + step * k) * this.engineGain.next() * gapGain * 32768;
      out[o] = clamp16(mix[2 * k]! * g);
      out[o + 1] = clamp16(mix[2 * k + 1]! * g);
    }
    this.stats.renderedFrames += n;
    return n;
  }

  /**
   * Around a seamless join (a lap) the kernel must read each stream's own continuation, not the
   * playlist's neighbouring track: the old stream's window past its seam is the new stream's start,
   * and the new stream's window before its start is the old stream's end. Returns missing frames.
   */
  private patchSeam(L0: number, winStart: number, count: number): number {
    const ri = this.revisionAt(L0);
    if (ri < 0) return 0;
    const total = this.reader.totalFrames;
    const lapOf = (g: number, ref: number): number => (this.reader.looping && total > 0 ? Math.round((g - ref) / total) * total : 0);
    let missing = 0;
    // The next revision joins seamlessly: frames from the old stream's seam on come from the new one.
    const nx = ri + 1;
    if (this.revSeamless[nx] === true) {
      const seam = this.revSeamOld[nx]! + lapOf(winStart, this.revSeamOld[nx]!);
      const from = Math.max(winStart, Math.ceil(seam));
      missing += this.patch(winStart, count, from, winStart + count, this.revBase[nx]! + (from - seam));
    }
    // This stream joined seamlessly: frames before its start come from the old stream's end.
    const st = this.revStreamStart[ri]!;
    if (this.revSeamless[st] === true) {
      const base = this.revBase[st]! + lapOf(winStart, this.revBase[st]!);
      const to = Math.min(winStart + count, base);
      if (to > winStart) missing += this.patch(winStart, count, winStart, to, this.revSeamOld[st]! - (base - winStart));
    }
    return missing;
  }

  /** Replaces window frames [from, to) (window = [winStart, winStart + count)) with source frames from `srcFrom`. */
  private patch(winStart: number, count: number, from: number, to: number, srcFrom: number): number {
    // A chunk ends at the seam's breakpoint, so at most a kernel's width lies across it.
    const n = Math.min(to, winStart + count, from + this.seamScratch.length / 2) - from;
    if (n <= 0) return 0;
    const missing = this.reader.read(srcFrom, n, this.seamScratch);
    this.src.set(this.seamScratch.subarray(0, n * 2), (from - winStart) * 2);
    return missing;
  }

  private silence(out: Int16Array, outFrame: number, n: number, unlock: boolean): number {
    out.fill(0, outFrame * 2, (outFrame + n) * 2);
    this.stats.silentFrames += n;
    if (unlock) {
      this.stats.locked = false;
      this.streamKey = Number.NaN;
    }
    return n;
  }

  private volumeAt(L: number): number {
    return (
      rampGainAt(this.groupFrom, this.groupTo, this.groupAtUs, this.volumeRampUs, L) *
      rampGainAt(this.memberFrom, this.memberTo, this.memberAtUs, this.volumeRampUs, L)
    );
  }

  /** The timeline at leader time L: silent, or the wanted playlist frame, fade gain and stream. */
  private evalAt(L: number, st: EvalState): EvalState {
    const tl = this.tl;
    st.silent = true;
    st.gain = 0;
    if (tl === null) return st;
    const ri = this.revisionAt(L);
    if (ri < 0) return st;
    const r = tl.revisions[ri] as TimelineRevision;
    const fade = this.fadeUs;
    let from = ri; // revision whose stream plays at L
    let gain = 1;
    if (!r.playing) {
      // Stop: the previous stream continues, fading out over [atUs, atUs + fade).
      const prev = tl.revisions[ri - 1];
      if (prev === undefined || !prev.playing || L - r.atUs >= fade) return st;
      from = ri - 1;
      gain = 1 - (L - r.atUs) / fade;
    } else {
      const next = tl.revisions[ri + 1];
      // A discontinuous playing successor: fade out over [next.atUs - fade, next.atUs).
      if (next !== undefined && next.playing && this.revStart[ri + 1] === true && this.revSeamless[ri + 1] !== true && next.atUs - L < fade) {
        gain *= Math.max(0, (next.atUs - L) / fade);
      }
    }
    const fr = tl.revisions[from] as TimelineRevision;
    // A stream start fades in over [atUs, atUs + fade).
    if (this.revStart[from] === true && this.revSeamless[from] !== true && L - fr.atUs < fade) gain *= Math.max(0, (L - fr.atUs) / fade);
    const target = this.revBase[from]! + ((L - fr.atUs) * this.rate) / 1e6;
    if (!this.reader.looping && target >= this.reader.totalFrames) return st;
    if (!Number.isFinite(target)) return st;
    st.silent = false;
    st.target = target;
    st.gain = gain;
    st.streamKey = this.revStreamKey[from]!;
    st.streamBase = this.revStreamBase[from]!;
    st.seamless = this.revStreamSeamless[from] === true;
    return st;
  }

  private revisionAt(L: number): number {
    const a = this.revAt;
    let lo = 0;
    let hi = a.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid]! <= L) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Leader times where the gain or the stream changes slope or jumps (chunks split there). */
  private rebuildBreakpoints(): void {
    const list: number[] = [];
    const f = this.fadeUs;
    for (let i = 0; i < this.revAt.length; i++) {
      const at = this.revAt[i]!;
      list.push(at - f, at, at + f);
    }
    for (const at of [this.groupAtUs, this.memberAtUs, this.trackGainAtUs]) {
      if (Number.isFinite(at)) list.push(at, at + this.volumeRampUs);
    }
    list.sort((a, b) => a - b);
    this.breakpoints = Float64Array.from(list);
  }

  /** First breakpoint strictly after L (Infinity if none). */
  private nextBreakpoint(L: number): number {
    const b = this.breakpoints;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid]! <= L) lo = mid + 1;
      else hi = mid;
    }
    return lo < b.length ? b[lo]! : Infinity;
  }
}

function clamp16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}
