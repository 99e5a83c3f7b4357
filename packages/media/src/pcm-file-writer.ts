// Writes resampled stereo float frames as interleaved int16 (host byte order, little-endian on
// every Pi and PC; the reader is the same host) into a file the caller opened (its descriptor),
// front to back from byte 0, so a reader can stream a track from disk while it is still
// decoding: every byte below the file's size is final. Frames beyond the expected length are
// counted but dropped, as with a fixed PcmAccumulator target.
import { writeSync } from 'node:fs';
import { DEFAULT_INT16_SCALE, toInt16, type Int16Scale } from './pcm-accumulator.js';

const CHANNELS = 2;
const BYTES_PER_FRAME = CHANNELS * 2;
/** Frames converted per write call: one syscall per ~85 ms of 48 kHz audio, a 16 KiB scratch. */
const BLOCK_FRAMES = 4096;

export class PcmFileWriter {
  private frames = 0;
  private readonly scratch = new Int16Array(BLOCK_FRAMES * CHANNELS);
  private readonly bytes = new Uint8Array(this.scratch.buffer);

  /**
   * `fd`: a file descriptor open for writing (the caller closes it). `capacity`: the expected
   * frame count; frames beyond it are dropped. `scale`: as PcmAccumulator's.
   */
  constructor(private readonly fd: number, private readonly capacity: number, private readonly scale: Int16Scale = DEFAULT_INT16_SCALE) {}

  /** Frames written so far, including those beyond the capacity that were dropped. */
  get length(): number {
    return this.frames;
  }

  write(left: Float32Array, right: Float32Array): void {
    const total = left.length;
    const n = Math.max(0, Math.min(total, this.capacity - this.frames));
    const { neg, pos } = this.scale;
    const out = this.scratch;
    for (let i = 0; i < n; i += BLOCK_FRAMES) {
      const m = Math.min(BLOCK_FRAMES, n - i);
      let o = 0;
      for (let j = i; j < i + m; j++) {
        out[o++] = toInt16(left[j]!, neg, pos);
        out[o++] = toInt16(right[j]!, neg, pos);
      }
      const position = (this.frames + i) * BYTES_PER_FRAME;
      const len = m * BYTES_PER_FRAME;
      let done = 0;
      // A regular file takes the whole write; loop anyway, a short write is legal.
      while (done < len) {
        const w = writeSync(this.fd, this.bytes, done, len - done, position + done);
        if (w <= 0) throw new Error(`could not write decoded audio (wrote ${w} bytes)`);
        done += w;
      }
    }
    this.frames += total;
  }
}
