// An MP3 with the ID3v2.3 tag tests need (title, artist, album, a cover picture), made from an
// existing MP3 by replacing its tag: no encoder or tagging tool on the test machine.

/** A valid 1x1 PNG (the smallest cover a browser shows). */
export const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

function syncsafe(n: number): Buffer {
  return Buffer.from([(n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f]);
}

function frame(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(10);
  head.write(id, 0, 'latin1');
  head.writeUInt32BE(body.length, 4); // ID3v2.3 frame sizes are plain 32-bit
  return Buffer.concat([head, body]);
}

const textFrame = (id: string, text: string): Buffer => frame(id, Buffer.concat([Buffer.from([0]), Buffer.from(text, 'latin1')]));

export interface Id3Fields {
  title?: string;
  artist?: string;
  album?: string;
  /** Front cover (APIC type 3). */
  picture?: { mime: string; data: Buffer };
}

/** `mp3` with its ID3v2 tag (if any) replaced by one holding `fields`. */
export function withId3(mp3: Buffer, fields: Id3Fields): Buffer {
  let audio = mp3;
  if (mp3.subarray(0, 3).toString('latin1') === 'ID3') {
    const size = ((mp3[6]! & 0x7f) << 21) | ((mp3[7]! & 0x7f) << 14) | ((mp3[8]! & 0x7f) << 7) | (mp3[9]! & 0x7f);
    audio = mp3.subarray(10 + size);
  }
  const frames: Buffer[] = [];
  if (fields.title !== undefined) frames.push(textFrame('TIT2', fields.title));
  if (fields.artist !== undefined) frames.push(textFrame('TPE1', fields.artist));
  if (fields.album !== undefined) frames.push(textFrame('TALB', fields.album));
  if (fields.picture) {
    frames.push(frame('APIC', Buffer.concat([
      Buffer.from([0]), Buffer.from(`${fields.picture.mime}\0`, 'latin1'), Buffer.from([3]), Buffer.from([0]), fields.picture.data,
    ])));
  }
  const body = Buffer.concat(frames);
  const header = Buffer.concat([Buffer.from('ID3', 'latin1'), Buffer.from([3, 0, 0]), syncsafe(body.length)]);
  return Buffer.concat([header, body, audio]);
}
