// WAV bytes for test fixtures (the one encoder lives in @jaudiosync/test-support), and where a WAV
// file's sound starts as a member plays it.
import { readFileSync } from 'node:fs';
export { wavBytes } from '@jaudiosync/test-support';

/**
 * Time (s) of the first sample of a 16-bit PCM WAV whose level (full scale 1) exceeds `threshold`
 * when played from its start with a linear fade-in over `fadeS` (the members' start fade).
 */
export function wavOnsetS(wavPath: string, threshold: number, fadeS: number): number {
  const b = readFileSync(wavPath);
  let off = 12;
  let rate = 0;
  let channels = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
      if (b.readUInt16LE(off + 22) !== 16) throw new Error(`${wavPath}: expects 16-bit PCM`);
    } else if (id === 'data') {
      for (let i = off + 8; i + 1 < off + 8 + size; i += 2) {
        const tS = Math.floor((i - off - 8) / 2 / channels) / rate;
        if (Math.abs(b.readInt16LE(i)) / 32768 * Math.min(1, tS / fadeS) > threshold) return tS;
      }
    }
    off += 8 + size + (size % 2);
  }
  throw new Error(`no onset in ${wavPath}`);
}
