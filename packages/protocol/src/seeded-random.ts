// The one seeded pseudo-random generator (mulberry32): the leader's shuffle order draws from it, so
// a persisted seed always gives the same order, and tests and benchmarks (through
// @jaudiosync/test-support) reproduce from a seed.

/** Uniform numbers in [0, 1) from a 32-bit seed: small, fast, well distributed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
