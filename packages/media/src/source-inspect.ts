// Looks at the first and last bytes of an encoded file, before decoding: which format it is (or a
// clear "not audio"), and what length its header declares, to size buffers and detect truncation.
import audioType, { skipId3 } from 'audio-type';
import { TrackError } from './track-error.js';

/** Bytes read from the start and from the end of a file for inspection. */
export const INSPECT_BYTES = 64 * 1024;

/** Formats audio-decode has decoders for (its registry names). Tested: wav, mp3, flac, oga, opus. */
export const DECODABLE_FORMATS: ReadonlySet<string> = new Set([
  'wav', 'mp3', 'flac', 'oga', 'opus', 'm4a', 'aac', 'aiff', 'caf', 'webm', 'qoa', 'wma', 'amr',
]);

export interface SourceInfo {
  /** audio-decode format name ('wav', 'mp3', 'flac', 'oga' = Ogg Vorbis, 'opus', ...). */
  format: string;
  /** Frames the header declares, when the header is authoritative (truncation check), else undefined. */
  declaredFrames: number | undefined;
  /** Best guess of the decoded length in frames (for buffer sizing), else undefined. */
  estimatedFrames: number | undefined;
  /** Set when the header alone proves the file is cut short. */
  truncatedReason: string | undefined;
}

/** Inspects `head` (first bytes), `tail` (last bytes) of a file of `size` bytes. Throws TrackError. */
export function inspectSource(head: Uint8Array, tail: Uint8Array, size: number, track: string): SourceInfo {
  if (size === 0) throw new TrackError('empty', 'empty file (0 bytes)', track);
  const format = audioType(head);
  if (format === undefined) throw new TrackError('not-audio', 'not an audio file (no known audio signature)', track);
  if (!DECODABLE_FORMATS.has(format)) {
    throw new TrackError('unsupported', `format '${format}' is recognised but not supported`, track);
  }
  const info: SourceInfo = { format, declaredFrames: undefined, estimatedFrames: undefined, truncatedReason: undefined };
  if (format === 'wav') inspectWav(head, size, info);
  else if (format === 'flac' && isNativeFlac(head)) inspectFlac(head, info);
  else if (format === 'mp3') inspectMp3(head, size, info);
  if (format === 'oga' || format === 'opus' || (format === 'flac' && !isNativeFlac(head))) inspectOgg(tail, info);
  return info;
}

function ascii(b: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len && at + i < b.length; i++) s += String.fromCharCode(b[at + i]!);
  return s;
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

function u32be(b: Uint8Array, at: number): number {
  return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/** RIFF chunks up to 'data': declared data bytes / block align; cut short if the chunk runs past EOF. */
function inspectWav(head: Uint8Array, size: number, info: SourceInfo): void {
  let at = 12;
  let blockAlign = 0;
  while (at + 8 <= head.length) {
    const id = ascii(head, at, 4);
    const len = u32le(head, at + 4);
    if (id === 'fmt ' && at + 8 + 14 <= head.length) blockAlign = head[at + 20]! | (head[at + 21]! << 8);
    if (id === 'data') {
      // 0 and 0xFFFFFFFF mean "unknown/streaming": nothing declared.
      if (blockAlign > 0 && len !== 0 && len !== 0xffffffff) {
        info.declaredFrames = Math.floor(len / blockAlign);
        info.estimatedFrames = info.declaredFrames;
        const available = size - (at + 8);
        if (len > available) {
          info.truncatedReason = `WAV data chunk declares ${len} bytes but the file holds ${Math.max(0, available)}`;
        }
      }
      return;
    }
    at += 8 + len + (len % 2);
  }
}

function isNativeFlac(head: Uint8Array): boolean {
  const at = skipId3(head);
  return ascii(head, at, 4) === 'fLaC';
}

/** STREAMINFO: 36-bit total samples (0 = unknown). */
function inspectFlac(head: Uint8Array, info: SourceInfo): void {
  const at = skipId3(head) + 4;
  if (at + 4 + 18 > head.length || (head[at]! & 0x7f) !== 0) return;
  const si = at + 4;
  const hi = head[si + 13]! & 0x0f;
  const total = hi * 2 ** 32 + u32be(head, si + 14);
  if (total > 0) {
    info.declaredFrames = total;
    info.estimatedFrames = total;
  }
}

const MP3_BITRATES_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MP3_BITRATES_V2_L3 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const MP3_RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/** First MPEG frame header; a Xing/Info/VBRI tag in it declares the frame count. */
function inspectMp3(head: Uint8Array, size: number, info: SourceInfo): void {
  const start = skipId3(head);
  if (start + 4 > head.length) return;
  let at = start;
  // The sync may follow some padding after the tag.
  while (at + 4 <= head.length && !(head[at] === 0xff && (head[at + 1]! & 0xe0) === 0xe0)) at++;
  if (at + 4 > head.length) return;
  const version = (head[at + 1]! >> 3) & 3; // 3 = MPEG1, 2 = MPEG2, 0 = MPEG2.5
  const layer = (head[at + 1]! >> 1) & 3; // 1 = Layer III
  const rate = MP3_RATES[version]?.[(head[at + 2]! >> 2) & 3];
  const bitrateKbps = (version === 3 ? MP3_BITRATES_V1_L3 : MP3_BITRATES_V2_L3)[head[at + 2]! >> 4];
  if (layer !== 1 || rate === undefined || bitrateKbps === undefined || bitrateKbps === 0) return;
  const mono = head[at + 3]! >> 6 === 3;
  const samplesPerFrame = version === 3 ? 1152 : 576;
  const sideInfo = version === 3 ? (mono ? 17 : 32) : mono ? 9 : 17;
  const xing = at + 4 + sideInfo;
  const tag = ascii(head, xing, 4);
  if ((tag === 'Xing' || tag === 'Info') && xing + 12 <= head.length && (head[xing + 7]! & 1) === 1) {
    // Includes encoder delay and padding (~2-3 k samples), which the decoder trims.
    info.declaredFrames = u32be(head, xing + 8) * samplesPerFrame;
  } else if (ascii(head, at + 36, 4) === 'VBRI' && at + 36 + 18 <= head.length) {
    info.declaredFrames = u32be(head, at + 36 + 14) * samplesPerFrame;
  }
  info.estimatedFrames = info.declaredFrames ?? Math.ceil((((size - start) * 8) / (bitrateKbps * 1000)) * rate);
}

/** The last Ogg page must carry end-of-stream; its granule position is the stream's length. */
function inspectOgg(tail: Uint8Array, info: SourceInfo): void {
  for (let at = tail.length - 27; at >= 0; at--) {
    if (tail[at] !== 0x4f || ascii(tail, at, 4) !== 'OggS' || tail[at + 4] !== 0) continue;
    const flags = tail[at + 5]!;
    const granule = u32le(tail, at + 6) + u32le(tail, at + 10) * 2 ** 32;
    if ((flags & 0x04) === 0) info.truncatedReason = 'the last Ogg page has no end-of-stream flag (file cut short)';
    else if (granule > 0 && granule < Number.MAX_SAFE_INTEGER) info.estimatedFrames = granule;
    return;
  }
}
