// Builds small 16-bit PCM WAV files in memory for decoder tests.

/** Interleaved int16 samples of `channels` channels at `rate` as a WAV file. */
export function wavFile(samples: Int16Array, channels: number, rate: number): Buffer {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** Deterministic pseudo-random int16 samples. */
export function noiseInt16(n: number, seed: number, amplitude = 20000): Int16Array {
  let s = seed >>> 0;
  return Int16Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return Math.round((s / 2 ** 32 - 0.5) * 2 * amplitude);
  });
}
