// TrackWindow: a few seconds of one track's PCM in shared memory, so the engine can play a track of
// any length while the whole decoded track stays on disk (a 5-minute track is 58 MB of PCM, a
// one-hour mix 690 MB: too much for a 512 MB Pi). A feeder on the main thread (pcm-feeder.ts)
// keeps the window filled ahead of where the engine reads; the engine reads it without locks.
//
// Layout: an Int32 header, the track's head (its first `headFrames` frames, loaded once and never
// overwritten: every track change, jump and loop starts there), then two rings of `capacity`
// frames for the rest, all interleaved stereo int16. Two rings, because a seek within the playing
// track is known ahead of time (commands carry a future timestamp): one ring follows the engine,
// the other is filled at the landing point before the seek takes effect, then they swap roles.
// Head frames [0, headValid) are valid. In ring r, track frame f >= headFrames lives at slot
// f % capacity; frames [start_r, end_r) are valid. Protocol (one writer, one reader, both through
// Atomics so it holds on ARM's weaker memory order):
// - head: the writer writes frames, then raises `headValid`;
// - append to ring r: the writer first raises `start_r` to at least newEnd - capacity (the frames it
//   is about to overwrite stop being valid), then writes the frames, then publishes `end_r`;
// - reset of ring r (filled elsewhere from now on): `gen_r` becomes odd, start_r = end_r = the new
//   position, `gen_r` becomes even again;
// - the reader snapshots gen/start/end of a ring, copies, then reloads gen and start: a changed gen
//   voids the copy, a raised start voids the frames below it (they may have been overwritten
//   mid-copy). A frame both rings hold has the same samples in both (the same file).
// The reader tells the writer where it reads (`want`) and that it is reading (`reads` counter).

export const WINDOW_CHANNELS = 2;
const BYTES_PER_FRAME = WINDOW_CHANNELS * 2;
/** Track frames are Int32 in the header: 2^31 - 1 frames is 12 hours at 48 kHz. */
export const WINDOW_MAX_TRACK_FRAMES = 0x7fff_ffff;

const H_MAGIC = 0;
const H_CAPACITY = 1;
const H_WANT = 2;
const H_READS = 3;
const H_HEAD_FRAMES = 4;
const H_HEAD_VALID = 5;
/** Ring r's words: gen, start, end at H_RING + 3r. */
const H_RING = 6;
export const WINDOW_RINGS = 2;
const HEADER_INTS = H_RING + 3 * WINDOW_RINGS;
const HEADER_BYTES = HEADER_INTS * 4;
const MAGIC = 0x4a_57_44_31; // "JWD1"

export const MIN_WINDOW_RING_FRAMES = 1024;
const MAX_FRAMES = 1 << 26;

export class TrackWindow {
  /** Ring size in frames. */
  readonly capacity: number;
  /** Head size in frames (track frames [0, headFrames) are served from the head). */
  readonly headFrames: number;
  private readonly header: Int32Array;
  /** Head and ring as int16 samples (reader) and as bytes (the writer's file reads land there). */
  private readonly head: Int16Array;
  readonly headBytes: Uint8Array;
  private readonly rings: Int16Array[] = [];
  /** Each ring as bytes (the writer's file reads land there). */
  readonly ringBytes: Uint8Array[] = [];
  /** readRing's result. */
  private copiedFrom = 0;
  private copiedTo = 0;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_INTS);
    this.capacity = this.header[H_CAPACITY]!;
    this.headFrames = this.header[H_HEAD_FRAMES]!;
    this.head = new Int16Array(buffer, HEADER_BYTES, this.headFrames * WINDOW_CHANNELS);
    this.headBytes = new Uint8Array(buffer, HEADER_BYTES, this.headFrames * BYTES_PER_FRAME);
    for (let r = 0; r < WINDOW_RINGS; r++) {
      const at = HEADER_BYTES + (this.headFrames + r * this.capacity) * BYTES_PER_FRAME;
      this.rings.push(new Int16Array(buffer, at, this.capacity * WINDOW_CHANNELS));
      this.ringBytes.push(new Uint8Array(buffer, at, this.capacity * BYTES_PER_FRAME));
    }
  }

  /** A new, empty window: a head of `headFrames` and two rings of `capacityFrames` frames. */
  static create(capacityFrames: number, headFrames: number): TrackWindow {
    if (!Number.isSafeInteger(capacityFrames) || capacityFrames < MIN_WINDOW_RING_FRAMES || capacityFrames > MAX_FRAMES) {
      throw new RangeError(`window capacity must be an integer in ${MIN_WINDOW_RING_FRAMES}..${MAX_FRAMES} frames, got ${capacityFrames}`);
    }
    if (!Number.isSafeInteger(headFrames) || headFrames < 0 || headFrames > MAX_FRAMES) {
      throw new RangeError(`window head must be an integer in 0..${MAX_FRAMES} frames, got ${headFrames}`);
    }
    const buffer = new SharedArrayBuffer(HEADER_BYTES + (headFrames + WINDOW_RINGS * capacityFrames) * BYTES_PER_FRAME);
    const h = new Int32Array(buffer, 0, HEADER_INTS);
    h[H_CAPACITY] = capacityFrames;
    h[H_HEAD_FRAMES] = headFrames;
    h[H_WANT] = -1;
    Atomics.store(h, H_MAGIC, MAGIC);
    return new TrackWindow(buffer);
  }

  /** Wraps a buffer made by create() (e.g. in another thread), or says why it is not one. */
  static attach(buffer: unknown): TrackWindow | string {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEADER_BYTES) return 'window must be a SharedArrayBuffer made by TrackWindow.create';
    const h = new Int32Array(buffer, 0, HEADER_INTS);
    const cap = Atomics.load(h, H_CAPACITY);
    const head = Atomics.load(h, H_HEAD_FRAMES);
    if (Atomics.load(h, H_MAGIC) !== MAGIC || cap < MIN_WINDOW_RING_FRAMES || cap > MAX_FRAMES || head < 0 || head > MAX_FRAMES
      || buffer.byteLength !== HEADER_BYTES + (head + WINDOW_RINGS * cap) * BYTES_PER_FRAME) {
      return 'window buffer has a bad header';
    }
    return new TrackWindow(buffer);
  }

  // ---- writer side (the feeder) ----

  /** Ring r holds frames [ringStart(r), ringEnd(r)). */
  ringStart(r: number): number {
    return Atomics.load(this.header, H_RING + 3 * r + 1);
  }

  ringEnd(r: number): number {
    return Atomics.load(this.header, H_RING + 3 * r + 2);
  }

  /** Where the reader last read (track frame), -1 before its first read. */
  get want(): number {
    return Atomics.load(this.header, H_WANT);
  }

  /** Counts the reader's reads: a change means the engine is playing from this window. */
  get reads(): number {
    return Atomics.load(this.header, H_READS);
  }

  /** Head frames [0, headValid) are loaded. */
  get headValid(): number {
    return Atomics.load(this.header, H_HEAD_VALID);
  }

  /** Head frames up to `frames` have been written into headBytes: make them readable. */
  commitHead(frames: number): void {
    const n = Math.min(frames, this.headFrames);
    if (n > Atomics.load(this.header, H_HEAD_VALID)) Atomics.store(this.header, H_HEAD_VALID, n);
  }

  /** Empties ring r at `frame` (>= headFrames; the next append starts there). */
  reset(r: number, frame: number): void {
    frame = Math.max(frame, this.headFrames);
    const h = this.header;
    const at = H_RING + 3 * r;
    Atomics.add(h, at, 1); // odd: readers ignore what they see
    Atomics.store(h, at + 1, frame);
    Atomics.store(h, at + 2, frame);
    Atomics.add(h, at, 1);
  }

  /**
   * Before writing frames [end, newEnd) into ring r: frames they overwrite stop being valid.
   * Returns the byte ranges of ringBytes[r] to fill, in order (two when the range wraps).
   */
  beginAppend(r: number, newEnd: number): Array<{ frame: number; byteOffset: number; byteLength: number }> {
    const h = this.header;
    const at = H_RING + 3 * r;
    const end = Atomics.load(h, at + 2);
    if (newEnd <= end) return [];
    if (newEnd - end > this.capacity) throw new RangeError('append larger than the window');
    const floor = newEnd - this.capacity;
    if (Atomics.load(h, at + 1) < floor) Atomics.store(h, at + 1, floor);
    const ranges: Array<{ frame: number; byteOffset: number; byteLength: number }> = [];
    let f = end;
    while (f < newEnd) {
      const slot = f % this.capacity;
      const n = Math.min(newEnd - f, this.capacity - slot);
      ranges.push({ frame: f, byteOffset: slot * BYTES_PER_FRAME, byteLength: n * BYTES_PER_FRAME });
      f += n;
    }
    return ranges;
  }

  /** The frames announced by beginAppend(r, newEnd) are in ring r: make them readable. */
  commitAppend(r: number, newEnd: number): void {
    const at = H_RING + 3 * r + 2;
    if (newEnd > Atomics.load(this.header, at)) Atomics.store(this.header, at, newEnd);
  }

  // ---- reader side (the engine) ----

  /**
   * Fills out[o .. o + 2n) with track frames [f, f + n) as floats; frames the window does not hold
   * (not loaded yet, or overwritten while copying) read as silence. Returns the frames delivered.
   */
  read(f: number, n: number, out: Float32Array, o: number): number {
    const h = this.header;
    Atomics.store(h, H_WANT, f);
    Atomics.add(h, H_READS, 1);
    let delivered = 0;
    if (f < this.headFrames) {
      const m = Math.min(n, this.headFrames - f);
      const valid = Math.max(0, Math.min(f + m, Atomics.load(h, H_HEAD_VALID)) - f);
      const pcm = this.head;
      let w = o;
      for (let s = 2 * f, e = 2 * (f + valid); s < e; s += 2) {
        out[w++] = pcm[s]! * (1 / 32768);
        out[w++] = pcm[s + 1]! * (1 / 32768);
      }
      if (valid < m) out.fill(0, w, o + 2 * m);
      delivered = valid;
      f += m;
      n -= m;
      o += 2 * m;
      if (n === 0) return delivered;
    }
    out.fill(0, o, o + 2 * n);
    this.readRing(0, f, n, out, o);
    const a0 = this.copiedFrom;
    const b0 = this.copiedTo;
    this.readRing(1, f, n, out, o);
    const a1 = this.copiedFrom;
    const b1 = this.copiedTo;
    const overlap = Math.max(0, Math.min(b0, b1) - Math.max(a0, a1));
    return delivered + (b0 - a0) + (b1 - a1) - overlap;
  }

  /**
   * Copies what ring r validly holds of [f, f + n) (the caller zeroed the range) and leaves the
   * frames copied in [copiedFrom, copiedTo) (fields, not a returned pair: this runs per engine
   * chunk, which should make no garbage).
   */
  private readRing(r: number, f: number, n: number, out: Float32Array, o: number): void {
    this.copiedFrom = this.copiedTo = f;
    const h = this.header;
    const at = H_RING + 3 * r;
    const gen = Atomics.load(h, at);
    if ((gen & 1) !== 0) return;
    const start = Atomics.load(h, at + 1);
    const end = Atomics.load(h, at + 2);
    const from = Math.max(f, start);
    const to = Math.min(f + n, end);
    if (to <= from) return;
    const pcm = this.rings[r]!;
    const cap = this.capacity;
    let w = o + 2 * (from - f);
    let slot = from % cap;
    for (let g = from; g < to; g++) {
      out[w++] = pcm[2 * slot]! * (1 / 32768);
      out[w++] = pcm[2 * slot + 1]! * (1 / 32768);
      if (++slot === cap) slot = 0;
    }
    // Anything the writer touched meanwhile is not trusted.
    if (Atomics.load(h, at) !== gen) {
      out.fill(0, o + 2 * (from - f), o + 2 * (to - f));
      return;
    }
    const start2 = Atomics.load(h, at + 1);
    if (start2 > from) {
      const cut = Math.min(start2, to);
      out.fill(0, o + 2 * (from - f), o + 2 * (cut - f));
      if (cut < to) {
        this.copiedFrom = cut;
        this.copiedTo = to;
      }
      return;
    }
    this.copiedFrom = from;
    this.copiedTo = to;
  }
}
