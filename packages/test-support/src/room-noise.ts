// Seeded white "room noise" for calibration tests: added to a recording in software so a run's
// signal-to-noise ratio is known and reproducible.
import { gaussian, mulberry32 } from './seeded-random.js';

/** Mean square of `x[from, to)`. */
export function meanSquare(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return to > from ? s / (to - from) : 0;
}

/**
 * A copy of `x` with Gaussian noise whose power is `signalPower` / 10^(snrDb/10): snrDb = -20 gives
 * noise 10x the signal's rms.
 */
export function withRoomNoise(x: Float32Array, signalPower: number, snrDb: number, seed: number): Float32Array {
  const rms = Math.sqrt(signalPower / 10 ** (snrDb / 10));
  const draw = mulberry32(seed);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! + rms * gaussian(draw);
  return out;
}
