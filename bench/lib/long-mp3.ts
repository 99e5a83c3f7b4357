// A long MP3 for decode benchmarks without an encoder: the audio frames of the example playlist's
// MP3 (Xing/Info frame and ID3 tags dropped) repeated until the wanted length. Frame joins decode
// with a few frames of bit-reservoir glitches, which costs the decoder the same as any frame.
import { readFileSync, writeFileSync } from 'node:fs';

const BITRATES_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const RATES_V1 = [44100, 48000, 32000];
const SAMPLES_PER_FRAME = 1152;

interface Mp3Frames {
  rate: number;
  frames: Buffer[];
}

/** MPEG-1 Layer III frames of `buf` in order, without the Xing/Info header frame. */
export function mp3Frames(buf: Buffer): Mp3Frames {
  let at = 0;
  if (buf.toString('latin1', 0, 3) === 'ID3') {
    at = 10 + ((buf[6]! << 21) | (buf[7]! << 14) | (buf[8]! << 7) | buf[9]!);
  }
  const frames: Buffer[] = [];
  let rate = 0;
  while (at + 4 <= buf.length) {
    if (buf[at] !== 0xff || (buf[at + 1]! & 0xfe) !== 0xfa) {
      at++; // not an MPEG-1 Layer III sync (padding, a trailing tag)
      continue;
    }
    const kbps = BITRATES_V1_L3[buf[at + 2]! >> 4];
    const r = RATES_V1[(buf[at + 2]! >> 2) & 3];
    if (kbps === undefined || kbps === 0 || r === undefined) {
      at++;
      continue;
    }
    const len = Math.floor((144 * kbps * 1000) / r) + ((buf[at + 2]! >> 1) & 1);
    if (at + len > buf.length) break;
    const frame = buf.subarray(at, at + len);
    const mono = buf[at + 3]! >> 6 === 3;
    const tag = frame.toString('latin1', 4 + (mono ? 17 : 32), 8 + (mono ? 17 : 32));
    if (tag !== 'Xing' && tag !== 'Info') frames.push(frame);
    rate = r;
    at += len;
  }
  if (frames.length === 0) throw new Error('no MPEG-1 Layer III frames found');
  return { rate, frames };
}

/** Writes an MP3 of about `seconds` built from `sourceMp3`'s frames; returns its sample rate. */
export function writeLongMp3(sourceMp3: string, file: string, seconds: number): number {
  const { rate, frames } = mp3Frames(readFileSync(sourceMp3));
  const want = Math.ceil((seconds * rate) / SAMPLES_PER_FRAME);
  const out: Buffer[] = [];
  for (let k = 0; k < want; k++) out.push(frames[k % frames.length]!);
  writeFileSync(file, Buffer.concat(out));
  return rate;
}
