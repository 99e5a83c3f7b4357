// Builds a temporary playlist of long WAV tracks (for bench:sync --long-tracks memory figures) by
// looping the PCM of the example playlist's WAV track. Nothing is committed: the files go to a temp dir.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Finds the fmt and data chunks of a PCM WAV file. */
function parseWav(buf: Buffer): { fmt: Buffer; data: Buffer } {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let off = 12;
  let fmt: Buffer | undefined;
  let data: Buffer | undefined;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = buf.subarray(off + 8, Math.min(buf.length, off + 8 + size));
    if (id === 'fmt ') fmt = body;
    if (id === 'data') data = body;
    off += 8 + size + (size % 2);
  }
  if (fmt === undefined || data === undefined) throw new Error('WAV without fmt or data chunk');
  return { fmt, data };
}

/** Writes `count` tracks of about `seconds` each (the source looped) and a playlist; returns its path. */
export function writeLongPlaylist(sourceWav: string, dir: string, seconds: number, count = 2): string {
  const { fmt, data } = parseWav(readFileSync(sourceWav));
  const sampleRate = fmt.readUInt32LE(4);
  const blockAlign = fmt.readUInt16LE(12);
  const wantBytes = Math.round(seconds * sampleRate) * blockAlign;
  const lines = ['#EXTM3U'];
  for (let k = 0; k < count; k++) {
    const out = Buffer.alloc(wantBytes);
    // each track starts at a different point of the source, so consecutive tracks differ
    const shift = (Math.floor((k * data.length) / (count + 1) / blockAlign) * blockAlign) % data.length;
    for (let o = 0; o < wantBytes; ) {
      const from = (shift + o) % data.length;
      const n = Math.min(data.length - from, wantBytes - o);
      data.copy(out, o, from, from + n);
      o += n;
    }
    const header = Buffer.alloc(12 + 8 + fmt.length + 8);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(header.length - 8 + out.length, 4);
    header.write('WAVE', 8, 'ascii');
    header.write('fmt ', 12, 'ascii');
    header.writeUInt32LE(fmt.length, 16);
    fmt.copy(header, 20);
    header.write('data', 20 + fmt.length, 'ascii');
    header.writeUInt32LE(out.length, 24 + fmt.length);
    const name = `long-${k + 1}.wav`;
    writeFileSync(path.join(dir, name), Buffer.concat([header, out]));
    lines.push(`#EXTINF:${Math.round(seconds)},Long track ${k + 1}`, name);
  }
  const playlist = path.join(dir, 'long.m3u8');
  writeFileSync(playlist, `${lines.join('\n')}\n`);
  return playlist;
}
