// Builds small 16-bit PCM WAV files in memory for decoder tests.
import { wavBytes } from '@jaudiosync/test-support';

/** Interleaved int16 samples of `channels` channels at `rate` as a canonical PCM WAV file. */
export function wavFile(samples: Int16Array, channels: number, rate: number): Buffer {
  return wavBytes(samples, channels, rate);
}

/** Deterministic pseudo-random int16 samples. */
export function noiseInt16(n: number, seed: number, amplitude = 20000): Int16Array {
  let s = seed >>> 0;
  return Int16Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return Math.round((s / 2 ** 32 - 0.5) * 2 * amplitude);
  });
}
