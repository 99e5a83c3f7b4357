// The bench:realpath test track: stereo 48 kHz int16, L == R, a continuous noise floor at -40 dBFS
// rms (never digital silence, so a dropout shows as near-zero samples) with 2 ms noise bursts
// peaking at -6 dBFS at random 100-400 ms intervals (sharp, irregular transients: a correlation
// cannot lock one period off, and onsets are easy to find). Everything is low-passed at 16 kHz
// (circularly, so the loop seam is as band-limited as the rest): content near Nyquist would be
// shaped differently by each member's drift resampler and would not interpolate cleanly.
// The bench plays it with the leader's --loop, so a long run needs no long file.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { wavBytes } from '@jaudiosync/testkit/helpers/wav.js';
import { SeededRandom } from './lib/rng.js';

export const TRACK_RATE_HZ = 48_000;
export const TRACK_SECONDS = 60;
const FLOOR_RMS = 10 ** (-40 / 20);
const BURST_PEAK = 10 ** (-6 / 20);
const BURST_MS = 2;
const GAP_MIN_MS = 100;
const GAP_MAX_MS = 400;
/** No burst closer than this to the loop seam, so bursts across it are >= 100 ms apart as well. */
const SEAM_GUARD_MS = 100;
const LOWPASS_HZ = 16_000;
/** Low-pass FIR length (odd): ~0.5 dB ripple-free passband to 15 kHz with a Blackman window. */
const LOWPASS_TAPS = 127;
/** Gaussian noise clipped at this many sigma before filtering (keeps the burst peak predictable). */
const NOISE_CLIP_SIGMA = 3;

export interface TestTrack {
  rate: number;
  frames: number;
  /** interleaved stereo int16, L == R */
  pcm: Int16Array;
  /** first frame of each burst, ascending */
  bursts: number[];
  seed: number;
}

export interface TrackOptions {
  seed: number;
  /** length in seconds (default 60) or exact frames */
  seconds?: number;
  frames?: number;
  rate?: number;
}

/** Standard normal samples (Box-Muller) from a seeded generator, clipped at NOISE_CLIP_SIGMA. */
function gaussian(rng: SeededRandom): number {
  const u = Math.max(rng.next(), 1e-12);
  const v = rng.next();
  const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.max(-NOISE_CLIP_SIGMA, Math.min(NOISE_CLIP_SIGMA, g));
}

function lowpassKernel(rate: number): Float64Array {
  const h = new Float64Array(LOWPASS_TAPS);
  const mid = (LOWPASS_TAPS - 1) / 2;
  const fc = LOWPASS_HZ / rate;
  let sum = 0;
  for (let i = 0; i < LOWPASS_TAPS; i++) {
    const t = i - mid;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (LOWPASS_TAPS - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (LOWPASS_TAPS - 1));
    h[i] = sinc * w;
    sum += h[i]!;
  }
  for (let i = 0; i < LOWPASS_TAPS; i++) h[i] = h[i]! / sum;
  return h;
}

/** Circular convolution of x with the centred kernel h over [from, to) (indices wrap). */
function filterCircular(x: Float64Array, h: Float64Array, from = 0, to = x.length): Float64Array {
  const n = x.length;
  const mid = (h.length - 1) / 2;
  const out = new Float64Array(to - from);
  for (let i = from; i < to; i++) {
    let acc = 0;
    for (let k = 0; k < h.length; k++) {
      let j = i - k + mid;
      if (j < 0) j += n;
      else if (j >= n) j -= n;
      acc += h[k]! * x[j]!;
    }
    out[i - from] = acc;
  }
  return out;
}

/** The test track and where its bursts start. Deterministic in the seed. */
export function makeTestTrack(opts: TrackOptions): TestTrack {
  const rate = opts.rate ?? TRACK_RATE_HZ;
  const frames = opts.frames ?? Math.round((opts.seconds ?? TRACK_SECONDS) * rate);
  if (!Number.isInteger(frames) || frames < rate / 2) throw new RangeError(`makeTestTrack: need at least 0.5 s, got ${frames} frames`);
  const rng = new SeededRandom(opts.seed);
  const h = lowpassKernel(rate);
  const ms = (x: number): number => Math.round((x / 1000) * rate);

  // Burst positions first (the RNG stream for them does not depend on the length of the noise).
  const bursts: number[] = [];
  const burstLen = ms(BURST_MS);
  let at = ms(rng.uniform(GAP_MIN_MS, GAP_MAX_MS));
  for (let guard = 0; guard < frames && at + burstLen + ms(SEAM_GUARD_MS) <= frames; guard++) {
    bursts.push(at);
    at += ms(rng.uniform(GAP_MIN_MS, GAP_MAX_MS));
  }

  // Floor: white Gaussian noise, low-passed, scaled to its rms.
  const floorRaw = new Float64Array(frames);
  for (let i = 0; i < frames; i++) floorRaw[i] = gaussian(rng);
  const floor = filterCircular(floorRaw, h);
  let e = 0;
  for (let i = 0; i < frames; i++) e += floor[i]! * floor[i]!;
  const floorScale = FLOOR_RMS / Math.sqrt(e / frames);

  // Bursts: gated noise, low-passed where it is (sparse), scaled so the loudest peaks at BURST_PEAK.
  const burstRaw = new Float64Array(frames);
  for (const b of bursts) for (let i = b; i < b + burstLen; i++) burstRaw[i] = gaussian(rng);
  const span = Math.ceil(LOWPASS_TAPS / 2);
  const burstShaped = new Map<number, Float64Array>();
  let peak = 0;
  for (const b of bursts) {
    const seg = filterCircular(burstRaw, h, Math.max(0, b - span), Math.min(frames, b + burstLen + span));
    burstShaped.set(b, seg);
    for (const v of seg) peak = Math.max(peak, Math.abs(v));
  }
  const burstScale = peak > 0 ? BURST_PEAK / peak : 0;
  const mix = new Float64Array(frames);
  for (let i = 0; i < frames; i++) mix[i] = floor[i]! * floorScale;
  for (const [b, seg] of burstShaped) {
    const from = Math.max(0, b - span);
    for (let i = 0; i < seg.length; i++) mix[from + i] = mix[from + i]! + seg[i]! * burstScale;
  }

  const pcm = new Int16Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    const v = Math.max(-32768, Math.min(32767, Math.round(mix[i]! * 32768)));
    pcm[2 * i] = v;
    pcm[2 * i + 1] = v;
  }
  return { rate, frames, pcm, bursts, seed: opts.seed };
}

/** Writes `<dir>/realpath-noise.wav` and a one-entry playlist beside it; returns both paths. */
export function writeTestTrack(dir: string, track: TestTrack): { wav: string; playlist: string } {
  const wav = path.join(dir, 'realpath-noise.wav');
  writeFileSync(wav, wavBytes(track.pcm, 2, track.rate));
  const playlist = path.join(dir, 'realpath.m3u8');
  writeFileSync(playlist, `#EXTM3U\n#EXTINF:${Math.round(track.frames / track.rate)},JAudioSync bench:realpath noise bursts (seed ${track.seed})\nrealpath-noise.wav\n`);
  return { wav, playlist };
}
