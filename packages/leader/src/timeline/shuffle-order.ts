// The shuffled play order: a seeded Fisher-Yates over the part of the order that has not played
// yet, so a seed (persisted with the state) always gives the same order, and the track that plays
// (and everything before it) keeps its place: members play on without a jump.
import { mulberry32 } from '@jaudiosync/protocol/seeded-random';

/** Largest seed accepted (32 bits: what the generator consumes). */
export const MAX_SHUFFLE_SEED = 0xffff_ffff;

/** `order` with positions [from, end) shuffled by `seed`; positions before `from` unchanged. */
export function shuffleFrom(order: readonly number[], from: number, seed: number): number[] {
  const out = [...order];
  const next = mulberry32(seed);
  for (let i = out.length - 1; i > from; i--) {
    const j = from + Math.floor(next() * (i - from + 1));
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

/** `order` with positions [from, end) back in playlist order; positions before `from` unchanged. */
export function unshuffleFrom(order: readonly number[], from: number): number[] {
  return [...order.slice(0, from), ...order.slice(from).sort((a, b) => a - b)];
}

/** Whether `order` is a permutation of 0..n-1 (a saved order is checked before it is used). */
export function isPermutation(order: unknown, n: number): order is number[] {
  if (!Array.isArray(order) || order.length !== n) return false;
  const seen = new Uint8Array(n);
  for (const v of order) {
    if (!Number.isSafeInteger(v) || v < 0 || v >= n || seen[v] === 1) return false;
    seen[v] = 1;
  }
  return true;
}
