// THE formula for a track's length in frames at the output rate. The leader (timeline lengths) and
// every member (the resampler's output count) use this one function, so they agree to the frame.

/** Largest rate we accept anywhere (Hz): bounds the integer products below well inside 2^53. */
export const MAX_SAMPLE_RATE_HZ = 768_000;
/** Longest track we accept, in source frames (67 h at 48 kHz): keeps frames * rate < 2^53. */
export const MAX_SOURCE_FRAMES = Math.floor(Number.MAX_SAFE_INTEGER / MAX_SAMPLE_RATE_HZ);

export function gcd(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y !== 0) {
    const t = x % y;
    x = y;
    y = t;
  }
  return x;
}

export function assertSampleRate(name: string, rate: number): void {
  if (!Number.isSafeInteger(rate) || rate < 1 || rate > MAX_SAMPLE_RATE_HZ) {
    throw new RangeError(`${name} must be an integer in 1..${MAX_SAMPLE_RATE_HZ} Hz, got ${rate}`);
  }
}

/**
 * Number of output frames for `sourceFrames` frames at `sourceRate` resampled to `outputRate`:
 * output frame k (at source time k * sourceRate / outputRate) exists iff that time is < sourceFrames,
 * i.e. ceil(sourceFrames * outputRate / sourceRate), computed exactly in integers.
 */
export function framesAtRate(sourceFrames: number, sourceRate: number, outputRate: number): number {
  if (!Number.isSafeInteger(sourceFrames) || sourceFrames < 0 || sourceFrames > MAX_SOURCE_FRAMES) {
    throw new RangeError(`sourceFrames must be an integer in 0..${MAX_SOURCE_FRAMES}, got ${sourceFrames}`);
  }
  assertSampleRate('sourceRate', sourceRate);
  assertSampleRate('outputRate', outputRate);
  if (sourceRate === outputRate) return sourceFrames;
  const g = gcd(sourceRate, outputRate);
  const down = sourceRate / g;
  const num = sourceFrames * (outputRate / g); // exact: < 2^53 by the bounds above
  let q = Math.floor(num / down);
  // Float division may be off by one near integers; fix up with exact integer products.
  while (q * down > num) q -= 1;
  while ((q + 1) * down <= num) q += 1;
  return q * down === num ? q : q + 1;
}
