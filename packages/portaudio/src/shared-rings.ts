// Allocates the PCM ring and the DAC timing ring as SharedArrayBuffers with their headers laid out
// per docs/audio-shared-memory.md. Byte-compatible with the engine's reader/writer classes in
// packages/member/src/audio/; this file only creates them.

export const RING_HEADER_BYTES = 64;
export const PCM_OFFSETS = {
  writePos: 0,
  readPos: 8,
  underrunFrames: 16,
  underrunEvents: 24,
  channels: 32,
  capacityFrames: 36,
  sampleFormat: 40,
  sampleRate: 44,
} as const;
export const SAMPLE_FORMAT_INT16 = 0;
export const TIMING_OFFSETS = { count: 0, capacity: 8 } as const;
export const TIMING_ENTRY_BYTES = 32;
// Readers drop entries within 16 of being overwritten (see the doc); the addon insists on margin.
export const TIMING_MIN_CAPACITY = 32;
// int16 frames * channels must stay addressable by the int32 header fields and a sane allocation.
const PCM_MAX_BYTES = 1 << 30;

function assertInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
}

/** A PCM ring: int16 interleaved frames, `capacityFrames` long, header filled in, positions 0. */
export function createPcmRing(capacityFrames: number, channels: number, sampleRate: number): SharedArrayBuffer {
  assertInt('channels', channels, 1, 32);
  assertInt('sampleRate', sampleRate, 8000, 384000);
  assertInt('capacityFrames', capacityFrames, 1, Math.floor((PCM_MAX_BYTES - RING_HEADER_BYTES) / (2 * channels)));
  const sab = new SharedArrayBuffer(RING_HEADER_BYTES + capacityFrames * channels * 2);
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  header[PCM_OFFSETS.channels / 4] = channels;
  header[PCM_OFFSETS.capacityFrames / 4] = capacityFrames;
  header[PCM_OFFSETS.sampleFormat / 4] = SAMPLE_FORMAT_INT16;
  header[PCM_OFFSETS.sampleRate / 4] = sampleRate;
  return sab;
}

/** A timing ring of `capacity` entries (deviceFrame, ringPos, dacTimeNs, callbackTimeNs), count 0. */
export function createTimingRing(capacity: number): SharedArrayBuffer {
  assertInt('capacity', capacity, TIMING_MIN_CAPACITY, 1 << 20);
  const sab = new SharedArrayBuffer(RING_HEADER_BYTES + capacity * TIMING_ENTRY_BYTES);
  new Int32Array(sab, 0, RING_HEADER_BYTES / 4)[TIMING_OFFSETS.capacity / 4] = capacity;
  return sab;
}

/** Header fields of a PCM ring, for validation at the native boundary. */
export function readPcmRingHeader(sab: SharedArrayBuffer): {
  channels: number;
  capacityFrames: number;
  sampleFormat: number;
  sampleRate: number;
} {
  if (sab.byteLength < RING_HEADER_BYTES) throw new RangeError('PCM ring is smaller than its header');
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  return {
    channels: Atomics.load(header, PCM_OFFSETS.channels / 4),
    capacityFrames: Atomics.load(header, PCM_OFFSETS.capacityFrames / 4),
    sampleFormat: Atomics.load(header, PCM_OFFSETS.sampleFormat / 4),
    sampleRate: Atomics.load(header, PCM_OFFSETS.sampleRate / 4),
  };
}
