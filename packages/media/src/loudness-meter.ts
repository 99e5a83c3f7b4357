// Integrated loudness and true peak of a track (ITU-R BS.1770-4, EBU R128), measured while the
// leader already decodes it for its length: stereo chunks in, one pass, bounded memory (the gated
// blocks go into a fixed histogram, so a 10-hour mix costs what a 3-minute song costs).
// Loudness: K-weighting (high shelf + high pass), mean square per 400 ms block with 75 % overlap,
// absolute gate -70 LUFS, relative gate -10 LU. True peak: 4x oversampling by a windowed-sinc
// polyphase interpolator (BS.1770-4 Annex 2 asks for at least 4x).

/** What a track measured: integrated loudness (null: silent, no block above -70 LUFS) and true peak. */
export interface TrackLoudness {
  integratedLufs: number | null;
  /** dBTP; -Infinity for digital silence. */
  truePeakDbtp: number;
}

const ABSOLUTE_GATE_LUFS = -70;
const RELATIVE_GATE_LU = -10;
/** Histogram of block loudness from the absolute gate up to +10 LUFS in 0.01 LU bins. */
const HIST_MIN = ABSOLUTE_GATE_LUFS;
const HIST_BINS = 8000;
const HIST_BINS_PER_LU = 100;
const SEGMENTS_PER_BLOCK = 4;
const OVERSAMPLE = 4;
/** Taps per interpolation phase (BS.1770-4's example filter has 12 per phase as well). */
const TAPS_PER_PHASE = 12;

interface Biquad { b0: number; b1: number; b2: number; a1: number; a2: number }

/** The two K-weighting stages for sample rate `rate` (BS.1770-4's 48 kHz filters, re-derived for any rate). */
function kWeighting(rate: number): [Biquad, Biquad] {
  // Stage 1: high shelf (+4 dB above ~1.7 kHz), models the head's acoustic effect.
  const f0 = 1681.974450955533;
  const gainDb = 3.999843853973347;
  const q = 0.7071752369554196;
  const k = Math.tan((Math.PI * f0) / rate);
  const vh = 10 ** (gainDb / 20);
  const vb = vh ** 0.4996667741545416;
  const a0 = 1 + k / q + k * k;
  const shelf: Biquad = {
    b0: (vh + (vb * k) / q + k * k) / a0,
    b1: (2 * (k * k - vh)) / a0,
    b2: (vh - (vb * k) / q + k * k) / a0,
    a1: (2 * (k * k - 1)) / a0,
    a2: (1 - k / q + k * k) / a0,
  };
  // Stage 2: RLB high pass (~38 Hz).
  const f1 = 38.13547087602444;
  const q1 = 0.5003270373238773;
  const k1 = Math.tan((Math.PI * f1) / rate);
  const d = 1 + k1 / q1 + k1 * k1;
  const highPass: Biquad = { b0: 1, b1: -2, b2: 1, a1: (2 * (k1 * k1 - 1)) / d, a2: (1 - k1 / q1 + k1 * k1) / d };
  return [shelf, highPass];
}

/**
 * Interpolation phases 1..3 of a 4x windowed-sinc (Hann) low pass; phase 0 is the sample itself
 * (the sinc is zero at every other multiple of 4). Phase p, tap j weighs x[n - j] for the value at
 * n - CENTER + p/4, each phase normalised to unity DC gain.
 */
const CENTER = TAPS_PER_PHASE / 2 - 1;
function interpolationPhases(): Float64Array[] {
  const phases: Float64Array[] = [];
  const half = TAPS_PER_PHASE / 2;
  for (let p = 1; p < OVERSAMPLE; p++) {
    const h = new Float64Array(TAPS_PER_PHASE);
    let sum = 0;
    for (let j = 0; j < TAPS_PER_PHASE; j++) {
      // Distance (input samples) from tap j to the interpolated point.
      const t = CENTER - j + p / OVERSAMPLE;
      const w = 0.5 + 0.5 * Math.cos((Math.PI * t) / (half + 0.5));
      const v = Math.abs(t) < 1e-12 ? 1 : (Math.sin(Math.PI * t) / (Math.PI * t)) * w;
      h[j] = v;
      sum += v;
    }
    for (let j = 0; j < TAPS_PER_PHASE; j++) h[j] = h[j]! / sum;
    phases.push(h);
  }
  return phases;
}

/** One channel's K-filter state and true-peak history. */
class Channel {
  // Biquad states (direct form II transposed).
  private s1a = 0;
  private s1b = 0;
  private s2a = 0;
  private s2b = 0;
  /** Last TAPS_PER_PHASE input samples, newest at `at`, stored twice so a window is contiguous. */
  private readonly hist = new Float64Array(2 * TAPS_PER_PHASE);
  private at = 0;
  peak = 0;
  /** Largest |sample| of the last true-peak block, and whether it had TAPS_PER_PHASE samples. */
  private lastBlockMax = 0;
  private lastBlockWhole = false;
  /** No interpolated point exceeds this many times the largest sample in its window (sum of |taps|). */
  private readonly overshoot: number;

  constructor(private readonly f1: Biquad, private readonly f2: Biquad, private readonly phases: Float64Array[]) {
    this.overshoot = Math.max(...phases.map((h) => h.reduce((sum, v) => sum + Math.abs(v), 0)));
  }

  /** Filters `x[from..to)`; returns the sum of squares of the K-weighted samples. */
  run(x: Float32Array, from: number, to: number): number {
    const { f1, f2 } = this;
    let { s1a, s1b, s2a, s2b } = this;
    let energy = 0;
    for (let i = from; i < to; i++) {
      const v = x[i]!;
      const y1 = f1.b0 * v + s1a;
      s1a = f1.b1 * v - f1.a1 * y1 + s1b;
      s1b = f1.b2 * v - f1.a2 * y1;
      const y2 = f2.b0 * y1 + s2a;
      s2a = f2.b1 * y1 - f2.a1 * y2 + s2b;
      s2b = f2.b2 * y1 - f2.a2 * y2;
      energy += y2 * y2;
    }
    this.s1a = s1a;
    this.s1b = s1b;
    this.s2a = s2a;
    this.s2b = s2b;
    // True peak in blocks of TAPS_PER_PHASE samples. Interpolating costs several times the
    // filtering: a block is skipped when no point interpolated in it can reach the peak found so far
    // (its window holds only the block and the history), as in most of a track once its loudest
    // passage has been seen.
    for (let b = from; b < to; b += TAPS_PER_PHASE) {
      const e = Math.min(to, b + TAPS_PER_PHASE);
      let largest = 0;
      for (let i = b; i < e; i++) {
        const v = x[i]!;
        const m = v < 0 ? -v : v;
        if (m > largest) largest = m;
      }
      // The history is the previous block when that was a whole one; else look at it.
      let before = this.lastBlockMax;
      if (!this.lastBlockWhole) {
        before = 0;
        for (let j = 0; j < TAPS_PER_PHASE; j++) {
          const v = this.hist[j]!;
          const m = v < 0 ? -v : v;
          if (m > before) before = m;
        }
      }
      if (this.overshoot * (largest > before ? largest : before) > this.peak) this.truePeak(x, b, e);
      else this.remember(x, b, e);
      this.lastBlockMax = largest;
      this.lastBlockWhole = e - b === TAPS_PER_PHASE;
    }
    return energy;
  }

  /** The sample and the three points between the history's centre samples, for each sample. */
  private truePeak(x: Float32Array, from: number, to: number): void {
    const { hist, phases } = this;
    let { at, peak } = this;
    for (let i = from; i < to; i++) {
      const v = x[i]!;
      at = at === 0 ? TAPS_PER_PHASE - 1 : at - 1;
      hist[at] = v;
      hist[at + TAPS_PER_PHASE] = v;
      const sample = v < 0 ? -v : v;
      if (sample > peak) peak = sample;
      for (let p = 0; p < OVERSAMPLE - 1; p++) {
        const h = phases[p]!;
        let acc = 0;
        for (let j = 0; j < TAPS_PER_PHASE; j++) acc += h[j]! * hist[at + j]!;
        const m = acc < 0 ? -acc : acc;
        if (m > peak) peak = m;
      }
    }
    this.at = at;
    this.peak = peak;
  }

  /** Keeps the last samples as interpolation history without interpolating. */
  private remember(x: Float32Array, from: number, to: number): void {
    const hist = this.hist;
    let at = this.at;
    for (let i = from; i < to; i++) {
      at = at === 0 ? TAPS_PER_PHASE - 1 : at - 1;
      hist[at] = x[i]!;
      hist[at + TAPS_PER_PHASE] = x[i]!;
    }
    this.at = at;
  }
}

/** Streams stereo audio at one sample rate; `result()` any time after. */
export class LoudnessMeter {
  private readonly left: Channel;
  private readonly right: Channel;
  /** Frames per 100 ms segment (a block is 4 segments). */
  private readonly segmentFrames: number;
  private segmentLeft: number;
  private segmentEnergy = 0;
  private readonly recent = new Float64Array(SEGMENTS_PER_BLOCK);
  private segments = 0;
  private readonly histCount = new Float64Array(HIST_BINS);
  private readonly histEnergy = new Float64Array(HIST_BINS);

  constructor(readonly rate: number) {
    if (!Number.isFinite(rate) || rate < 1000) throw new RangeError(`LoudnessMeter: sample rate ${rate} Hz is too low`);
    const [f1, f2] = kWeighting(rate);
    const phases = interpolationPhases();
    this.left = new Channel(f1, f2, phases);
    this.right = new Channel(f1, f2, phases);
    this.segmentFrames = Math.round(rate / 10);
    this.segmentLeft = this.segmentFrames;
  }

  /** Adds the next frames (left and right of equal length, -1..1 full scale). */
  push(left: Float32Array, right: Float32Array): void {
    const n = Math.min(left.length, right.length);
    let i = 0;
    while (i < n) {
      const m = Math.min(n - i, this.segmentLeft);
      this.segmentEnergy += this.left.run(left, i, i + m) + this.right.run(right, i, i + m);
      i += m;
      this.segmentLeft -= m;
      if (this.segmentLeft === 0) this.endSegment();
    }
  }

  private endSegment(): void {
    this.recent[this.segments % SEGMENTS_PER_BLOCK] = this.segmentEnergy / this.segmentFrames;
    this.segments++;
    this.segmentEnergy = 0;
    this.segmentLeft = this.segmentFrames;
    if (this.segments < SEGMENTS_PER_BLOCK) return;
    let z = 0;
    for (let s = 0; s < SEGMENTS_PER_BLOCK; s++) z += this.recent[s]!;
    z /= SEGMENTS_PER_BLOCK;
    const l = lufsOf(z);
    if (!(l > ABSOLUTE_GATE_LUFS)) return;
    const bin = Math.min(HIST_BINS - 1, Math.floor((l - HIST_MIN) * HIST_BINS_PER_LU));
    this.histCount[bin]! += 1;
    this.histEnergy[bin]! += z;
  }

  /** Integrated loudness and true peak of everything pushed so far (a partial last block is dropped, as BS.1770 does). */
  result(): TrackLoudness {
    let count = 0;
    let energy = 0;
    for (let b = 0; b < HIST_BINS; b++) {
      count += this.histCount[b]!;
      energy += this.histEnergy[b]!;
    }
    const peak = Math.max(this.left.peak, this.right.peak);
    const truePeakDbtp = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
    if (count === 0) return { integratedLufs: null, truePeakDbtp };
    const gate = lufsOf(energy / count) + RELATIVE_GATE_LU;
    count = 0;
    energy = 0;
    for (let b = Math.max(0, Math.floor((gate - HIST_MIN) * HIST_BINS_PER_LU)); b < HIST_BINS; b++) {
      count += this.histCount[b]!;
      energy += this.histEnergy[b]!;
    }
    return { integratedLufs: count === 0 ? null : lufsOf(energy / count), truePeakDbtp };
  }
}

/** Loudness (LUFS) of a channel-summed mean square (stereo channel weights are 1). */
function lufsOf(meanSquare: number): number {
  return meanSquare > 0 ? -0.691 + 10 * Math.log10(meanSquare) : -Infinity;
}
