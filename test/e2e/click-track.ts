// A synthetic test track for real-path timing: short clicks (Hann-windowed, low-passed pseudo-noise)
// at irregular, known frames, written as a 16-bit stereo WAV. Irregular spacing makes the pattern
// match at exactly one offset; wide-band clicks give a sharp cross-correlation peak.
import { writeFileSync } from 'node:fs';
import { wavBytes } from '../helpers/wav.js';

export const CLICK_RATE_HZ = 48000;
/** 2 ms: a sharp transient that still holds a few cycles of its lowest frequencies. */
export const CLICK_FRAMES = 96;
/** Noise low-passed to 0.4 × Nyquist (9.6 kHz): the engine's resampler passes it unchanged at any
 *  fractional phase (white noise loses up to 30 % of its top band there, blurring the shape test). */
const LOWPASS_CUTOFF = 0.4;
const LOWPASS_HALF_TAPS = 12;
/** Left peak around half of full scale: loud against silence, far from clipping. */
const CLICK_AMPLITUDE = 16000;
/** Right = left × this: lets a test check that both channels arrive, in the right order. */
export const RIGHT_GAIN = 0.6;
/** Spacing range: irregular so that no shift but the true one lines several clicks up. */
const MIN_GAP_MS = 180;
const MAX_GAP_MS = 420;
/** The first click is after the engine's 6 ms stream-start fade-in. */
const FIRST_CLICK_MS = 150;
/** Silence after the last click, so it is not cut by the end of the track. */
const TAIL_MS = 200;
/** A quiet continuous pilot tone under the clicks: any stretch of silence in a recording is then a
 *  gap in playback. Far below the onset threshold of click-locator.ts, and a whole number of
 *  cycles per second so it has no phase jump anywhere. */
export const PILOT_HZ = 250;
export const PILOT_AMPLITUDE = 500;

export interface ClickTrack {
  /** interleaved int16 stereo at CLICK_RATE_HZ */
  pcm: Int16Array;
  frames: number;
  /** first frame of each click */
  clickFrames: number[];
}

/** Deterministic 32-bit LCG in [0, 1): the same track on every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Builds a track about `durationMs` long. */
export function makeClickTrack(durationMs: number, seed = 12345): ClickTrack {
  if (!Number.isFinite(durationMs) || durationMs < FIRST_CLICK_MS + TAIL_MS + 100 || durationMs > 600_000) {
    throw new RangeError('makeClickTrack: durationMs out of range');
  }
  const rnd = lcg(seed);
  const frames = Math.round((durationMs / 1000) * CLICK_RATE_HZ);
  const clickFrames: number[] = [];
  const lastStart = frames - Math.round((TAIL_MS / 1000) * CLICK_RATE_HZ) - CLICK_FRAMES;
  for (let f = Math.round((FIRST_CLICK_MS / 1000) * CLICK_RATE_HZ); f <= lastStart;) {
    clickFrames.push(f);
    const gapMs = MIN_GAP_MS + rnd() * (MAX_GAP_MS - MIN_GAP_MS);
    f += Math.round((gapMs / 1000) * CLICK_RATE_HZ);
  }
  const left = new Float64Array(frames);
  for (let f = 0; f < frames; f++) left[f] = PILOT_AMPLITUDE * Math.sin((2 * Math.PI * PILOT_HZ * f) / CLICK_RATE_HZ);
  for (const start of clickFrames) {
    const shape = clickShape(rnd);
    for (let i = 0; i < CLICK_FRAMES; i++) left[start + i]! += CLICK_AMPLITUDE * shape[i]!;
  }
  const pcm = new Int16Array(frames * 2);
  for (let f = 0; f < frames; f++) {
    pcm[f * 2] = Math.round(left[f]!);
    pcm[f * 2 + 1] = Math.round(left[f]! * RIGHT_GAIN);
  }
  return { pcm, frames, clickFrames };
}

/** One click: low-passed noise under a Hann window, peak normalised to 1. */
function clickShape(rnd: () => number): Float64Array {
  const noise = new Float64Array(CLICK_FRAMES + 2 * LOWPASS_HALF_TAPS);
  for (let i = 0; i < noise.length; i++) noise[i] = 2 * rnd() - 1;
  const out = new Float64Array(CLICK_FRAMES);
  let peak = 0;
  for (let i = 0; i < CLICK_FRAMES; i++) {
    let acc = 0;
    for (let k = -LOWPASS_HALF_TAPS; k <= LOWPASS_HALF_TAPS; k++) {
      const sinc = k === 0 ? LOWPASS_CUTOFF : Math.sin(Math.PI * LOWPASS_CUTOFF * k) / (Math.PI * k);
      const win = 0.5 + 0.5 * Math.cos((Math.PI * k) / (LOWPASS_HALF_TAPS + 1));
      acc += noise[i + LOWPASS_HALF_TAPS + k]! * sinc * win;
    }
    out[i] = acc * (0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / CLICK_FRAMES));
    peak = Math.max(peak, Math.abs(out[i]!));
  }
  if (peak > 0) for (let i = 0; i < CLICK_FRAMES; i++) out[i]! /= peak;
  return out;
}

/** Writes interleaved int16 samples as a canonical PCM WAV file. */
export function writeWav(path: string, pcm: Int16Array, rate = CLICK_RATE_HZ, channels = 2): void {
  writeFileSync(path, wavBytes(pcm, channels, rate));
}
