// Seeded pseudo-random numbers, so that tests and benchmark parameters reproduce. The generator is
// the protocol's (the leader's shuffle draws from it too); this adds what only tests need.
import { mulberry32 } from '@jaudiosync/protocol/seeded-random';

export { mulberry32 };

/** One standard normal deviate from a uniform source (Box-Muller). */
export function gaussian(uniform: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** The same generator as an object, for callers that keep one per run. */
export class SeededRandom {
  private readonly draw: () => number;

  constructor(readonly seed: number) {
    this.draw = mulberry32(seed);
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.draw();
  }

  /** uniform in [lo, hi) */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.draw();
  }
}
