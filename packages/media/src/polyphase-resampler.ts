// Streaming band-limited sample-rate converter (planar float in, planar float out). Keeps its history
// between pushes, so any chunking gives bit-identical output, and produces exactly
// framesAtRate(sourceFrames, sourceRate, outputRate) frames once flushed.
import { framesAtRate } from './frames-at-rate.js';
import { designPolyphaseFilter, type PolyphaseFilter } from './kaiser-sinc.js';
import { simdKernel, type SimdKernel } from './simd-kernel.js';

/** Input frames appended per step with the SIMD kernel: its history and output live in fixed-size
 *  wasm memory (~0.2 MB per resampler at 44.1k->48k), so a push is cut into slices this long. */
const SIMD_SLICE_FRAMES = 8192;

export interface ResamplerOptions {
  /** A filter of this rate pair other than the default design (benchmarks compare designs). */
  filter?: PolyphaseFilter;
  /** false: the JS loop even where the wasm SIMD kernel could run (tests compare the two). */
  simd?: boolean;
}

/** The wasm kernel of one resampler and where its table, history and output sit in its memory. */
interface SimdState {
  kernel: SimdKernel;
  coef: number;
  histL: number;
  histR: number;
  outL: number;
  outR: number;
  outFrames: number;
  state: Int32Array;
}

/** Filters are pure functions of the rate pair: design each pair once per process. */
const filterCache = new Map<string, PolyphaseFilter>();

export function cachedFilter(sourceRate: number, outputRate: number): PolyphaseFilter {
  const key = `${sourceRate}/${outputRate}`;
  let f = filterCache.get(key);
  if (f === undefined) {
    f = designPolyphaseFilter(sourceRate, outputRate);
    filterCache.set(key, f);
  }
  return f;
}

export class PolyphaseResampler {
  /** null when sourceRate === outputRate: samples pass through untouched. */
  readonly filter: PolyphaseFilter | null;
  private readonly hist: Float32Array[];
  /** Absolute source index of hist[c][0] (negative at start: the zero history before the track). */
  private histStart: number;
  private histLen: number;
  /** Source position of the next output frame: index `pos` plus `phase`/phases of a sample. */
  private pos = 0;
  private phase = 0;
  private received = 0;
  private produced = 0;
  private flushed = false;
  /** Set when the stereo loop runs as wasm SIMD (exact table, 2 channels, wasm SIMD available). */
  private readonly simd: SimdState | null = null;

  constructor(
    readonly sourceRate: number,
    readonly outputRate: number,
    readonly channels: number,
    options: ResamplerOptions = {},
  ) {
    const filter = options.filter;
    if (!Number.isInteger(channels) || channels < 1 || channels > 64) {
      throw new RangeError(`channels must be an integer in 1..64, got ${channels}`);
    }
    if (filter !== undefined && (filter.sourceRate !== sourceRate || filter.outputRate !== outputRate)) {
      throw new RangeError(`filter is for ${filter.sourceRate} -> ${filter.outputRate} Hz, not ${sourceRate} -> ${outputRate}`);
    }
    this.filter = sourceRate === outputRate ? null : filter ?? cachedFilter(sourceRate, outputRate);
    const lead = this.filter === null ? 0 : this.filter.halfTaps - 1;
    const f = this.filter;
    this.simd = f !== null && f.exact && channels === 2 && options.simd !== false ? simdState(f) : null;
    this.hist = this.simd === null
      ? Array.from({ length: channels }, () => new Float32Array(Math.max(1024, 4 * lead)))
      : [this.simd.histL, this.simd.histR].map((at) => new Float32Array(this.simd!.kernel.memory.buffer, at, SIMD_SLICE_FRAMES + f!.taps + 16));
    this.histStart = -lead;
    this.histLen = lead; // zeros: silence before the first sample
  }

  /** Whether the stereo loop runs as wasm SIMD. */
  get usesSimd(): boolean {
    return this.simd !== null;
  }

  get sourceFrames(): number {
    return this.received;
  }

  get outputFrames(): number {
    return this.produced;
  }

  /** Feeds one chunk (one Float32Array per channel, equal lengths); returns the frames now computable. */
  push(input: readonly Float32Array[]): Float32Array[] {
    if (this.flushed) throw new Error('resampler already flushed');
    const frames = this.checkInput(input);
    this.received += frames;
    if (this.filter === null) {
      this.produced += frames;
      return input.map((ch) => ch.slice(0, frames));
    }
    if (this.simd === null || frames <= SIMD_SLICE_FRAMES) {
      this.append(input, frames, false);
      return this.produce(this.histStart + this.histLen - 1 - this.filter.halfTaps, Infinity);
    }
    const parts: Float32Array[][] = [];
    for (let at = 0; at < frames; at += SIMD_SLICE_FRAMES) {
      const n = Math.min(SIMD_SLICE_FRAMES, frames - at);
      this.append(input.map((ch) => ch.subarray(at, at + n)), n, false);
      parts.push(this.produce(this.histStart + this.histLen - 1 - this.filter.halfTaps, Infinity));
    }
    return concat(parts, this.channels);
  }

  /** Ends the stream: pads with silence and returns the remaining frames up to the exact total. */
  flush(): Float32Array[] {
    if (this.flushed) throw new Error('resampler already flushed');
    this.flushed = true;
    if (this.filter === null) return this.hist.map(() => new Float32Array(0));
    const total = framesAtRate(this.received, this.sourceRate, this.outputRate);
    const zeros = Array.from({ length: this.channels }, () => new Float32Array(this.filter!.halfTaps));
    this.append(zeros, this.filter.halfTaps, true);
    return this.produce(Infinity, total - this.produced);
  }

  private checkInput(input: readonly Float32Array[]): number {
    if (input.length !== this.channels) {
      throw new RangeError(`expected ${this.channels} channels, got ${input.length}`);
    }
    const frames = input[0]!.length;
    for (const ch of input) {
      if (ch.length !== frames) throw new RangeError('channels of one chunk differ in length');
    }
    return frames;
  }

  private append(input: readonly Float32Array[], frames: number, padding: boolean): void {
    const need = this.histLen + frames;
    for (let c = 0; c < this.channels; c++) {
      let h = this.hist[c]!;
      if (h.length < need) {
        if (this.simd !== null) throw new Error(`internal: SIMD history overflow (${need} > ${h.length})`);
        const bigger = new Float32Array(Math.max(need, 2 * h.length));
        bigger.set(h.subarray(0, this.histLen));
        this.hist[c] = h = bigger;
      }
      if (padding) h.fill(0, this.histLen, need);
      else h.set(input[c]!.subarray(0, frames), this.histLen);
    }
    this.histLen = need;
  }

  /** Computes output frames while pos <= lastPos and fewer than maxFrames; drops history no longer needed. */
  private produce(lastPos: number, maxFrames: number): Float32Array[] {
    const f = this.filter!;
    const { taps, halfTaps, phases, step, coeffs, tableRows, exact } = f;
    // Upper bound of frames computable from the buffered samples.
    const avail = Math.min(maxFrames, Math.max(0, Math.floor(((lastPos - this.pos + 1) * phases) / step) + 1));
    if (this.simd !== null) return this.produceSimd(this.simd, lastPos, avail);
    const out = Array.from({ length: this.channels }, () => new Float32Array(avail));
    let k = 0;
    let pos = this.pos;
    let phase = this.phase;
    while (k < avail && pos <= lastPos) {
      const base = pos - halfTaps + 1 - this.histStart;
      if (exact && this.channels === 2) {
        this.dotStereo(out[0]!, out[1]!, k, coeffs, phase * taps, base, taps);
      } else if (exact) {
        const c0 = phase * taps;
        for (let c = 0; c < this.channels; c++) out[c]![k] = dot(coeffs, c0, this.hist[c]!, base, taps);
      } else {
        // Odd rate pairs: interpolate linearly between the two nearest table rows (linear in the
        // coefficients, so it equals filtering with the interpolated row).
        const scaled = phase * tableRows;
        const r = Math.floor(scaled / phases);
        const a = (scaled - r * phases) / phases;
        for (let c = 0; c < this.channels; c++) {
          const h = this.hist[c]!;
          const acc0 = dot(coeffs, r * taps, h, base, taps);
          const acc1 = dot(coeffs, (r + 1) * taps, h, base, taps);
          out[c]![k] = acc0 + a * (acc1 - acc0);
        }
      }
      k++;
      phase += step;
      if (phase >= phases) {
        pos += Math.floor(phase / phases);
        phase %= phases;
      }
    }
    this.pos = pos;
    this.phase = phase;
    this.produced += k;
    this.compact();
    return k === avail ? out : out.map((ch) => ch.subarray(0, k));
  }

  /** produce() through the wasm kernel: the same stepping, in chunks of its output area. */
  private produceSimd(simd: SimdState, lastPos: number, avail: number): Float32Array[] {
    const f = this.filter!;
    const outL = new Float32Array(avail);
    const outR = new Float32Array(avail);
    const mem = simd.kernel.memory.buffer;
    // Positions relative to the history's start; the kernel's tap 0 of the frame at relative
    // position r is history sample r - halfTaps + 1.
    const shift = 4 * (1 - f.halfTaps);
    const lastRel = Math.min(lastPos - this.histStart, 0x7fffffff);
    let k = 0;
    while (k < avail) {
      const n = simd.kernel.run(simd.coef, simd.histL + shift, simd.histR + shift, simd.outL, simd.outR,
        Math.min(simd.outFrames, avail - k), f.taps, f.phases, f.step, this.pos - this.histStart, this.phase, lastRel);
      this.pos = this.histStart + simd.state[0]!;
      this.phase = simd.state[1]!;
      outL.set(new Float32Array(mem, simd.outL, n), k);
      outR.set(new Float32Array(mem, simd.outR, n), k);
      k += n;
      if (n === 0 || this.pos > lastPos) break;
    }
    this.produced += k;
    this.compact();
    return k === avail ? [outL, outR] : [outL.subarray(0, k), outR.subarray(0, k)];
  }

  /** The hot loop (stereo, exact table): both channels share each coefficient load; unrolled by 4. */
  private dotStereo(outL: Float32Array, outR: Float32Array, k: number, coeffs: Float32Array, c0: number,
    base: number, taps: number): void {
    const hL = this.hist[0]!;
    const hR = this.hist[1]!;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (let j = 0; j < taps; j += 4) {
      const ci = c0 + j;
      const hi = base + j;
      const w0 = coeffs[ci]!, w1 = coeffs[ci + 1]!, w2 = coeffs[ci + 2]!, w3 = coeffs[ci + 3]!;
      a0 += w0 * hL[hi]!; b0 += w0 * hR[hi]!;
      a1 += w1 * hL[hi + 1]!; b1 += w1 * hR[hi + 1]!;
      a2 += w2 * hL[hi + 2]!; b2 += w2 * hR[hi + 2]!;
      a3 += w3 * hL[hi + 3]!; b3 += w3 * hR[hi + 3]!;
    }
    outL[k] = (a0 + a1) + (a2 + a3);
    outR[k] = (b0 + b1) + (b2 + b3);
  }

  private compact(): void {
    const keepFrom = this.pos - this.filter!.halfTaps + 1;
    const drop = Math.min(this.histLen, keepFrom - this.histStart);
    if (drop <= 0) return;
    for (const h of this.hist) h.copyWithin(0, drop, this.histLen);
    this.histStart += drop;
    this.histLen -= drop;
  }
}

/** sum of coeffs[c0+j] * h[base+j] for j < taps (taps a multiple of 4), unrolled by 4. */
function dot(coeffs: Float32Array, c0: number, h: Float32Array, base: number, taps: number): number {
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (let j = 0; j < taps; j += 4) {
    const ci = c0 + j;
    const hi = base + j;
    a0 += coeffs[ci]! * h[hi]!;
    a1 += coeffs[ci + 1]! * h[hi + 1]!;
    a2 += coeffs[ci + 2]! * h[hi + 2]!;
    a3 += coeffs[ci + 3]! * h[hi + 3]!;
  }
  return (a0 + a1) + (a2 + a3);
}

/** A wasm SIMD kernel with the filter's table copied into its memory, or null without wasm SIMD. */
function simdState(f: PolyphaseFilter): SimdState | null {
  const histFrames = SIMD_SLICE_FRAMES + f.taps + 16;
  const outFrames = Math.ceil((histFrames * f.phases) / f.step) + 8;
  const align = (n: number): number => Math.ceil(n / 16) * 16;
  const coef = 16;
  const histL = align(coef + f.coeffs.byteLength);
  const histR = align(histL + 4 * histFrames);
  const outL = align(histR + 4 * histFrames);
  const outR = align(outL + 4 * outFrames);
  const kernel = simdKernel(align(outR + 4 * outFrames));
  if (kernel === null) return null;
  new Float32Array(kernel.memory.buffer, coef, f.coeffs.length).set(f.coeffs);
  return { kernel, coef, histL, histR, outL, outR, outFrames, state: new Int32Array(kernel.memory.buffer, 0, 2) };
}

function concat(parts: Float32Array[][], channels: number): Float32Array[] {
  return Array.from({ length: channels }, (_, c) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p[c]!.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p[c]!, o);
      o += p[c]!.length;
    }
    return out;
  });
}
