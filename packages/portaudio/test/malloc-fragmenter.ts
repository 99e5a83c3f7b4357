// Child process for malloc-tuning.test.ts: frees a few-MiB buffer 40 times, each beside a small
// buffer that stays (a member's tracks and the small objects allocated meanwhile), and prints how
// much RSS grew. Run with --expose-gc; argv[2] === 'tune' applies tuneMalloc first.
import { readFileSync } from 'node:fs';
import { tuneMalloc } from '../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const tuned = process.argv[2] === 'tune' ? tuneMalloc(2, 128 * 1024) : null;
const rssMiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const kept: Uint8Array[] = [];
const before = rssMiB();
/** One "track": used, then dropped while a small buffer allocated meanwhile stays. */
function cycle(i: number): void {
  // Sizes vary like tracks do, so a freed hole rarely fits the next buffer exactly.
  const big = new Uint8Array(new SharedArrayBuffer((3 + (i % 7)) * 1024 * 1024)).fill(1);
  kept.push(new Uint8Array(new ArrayBuffer(48 * 1024)).fill(big[0]! + 1));
}
for (let i = 0; i < 40; i++) {
  cycle(i);
  gc();
}
process.stdout.write(`${JSON.stringify({ tuned, growthMiB: rssMiB() - before, kept: kept.length })}\n`);
