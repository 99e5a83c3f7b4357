// Title, artist, album and the embedded cover picture of an audio file, from its tags (parsed by
// music-metadata in file-tags.ts). The picture is checked (its bytes must be the image type it claims, one of
// the types every phone browser shows) and bounded: JPEG and PNG covers are scaled for a phone
// when served (cover-resize.ts), GIF and WebP are not decoded here and are served only when small.
import { createHash } from 'node:crypto';
import { parseFile, type ICommonTagsResult } from 'music-metadata';

/** Largest GIF or WebP cover served as it is (bytes): typical 500-1000 px covers are 50-300 KB. */
export const MAX_ARTWORK_BYTES = 512 * 1024;
/** Largest JPEG or PNG cover taken (bytes): it is scaled for a phone before it is served. */
export const MAX_SCALED_ARTWORK_BYTES = 8 * 1024 * 1024;
/** Longest tag text kept (characters). */
export const MAX_TAG_CHARS = 200;

export type ArtworkMime = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

export interface TrackArtwork {
  /** sha256 hex of the image bytes: its name in GET /api/artwork/<sha256>. */
  sha256: string;
  mime: ArtworkMime;
  bytes: number;
}

export interface TrackTags {
  title?: string;
  artist?: string;
  album?: string;
  artwork?: TrackArtwork;
  /** Why an embedded picture was not taken (too large, not an image a browser shows). */
  artworkSkipped?: string;
}

/** The image type the bytes are, by their signature; undefined when none of the served ones. */
export function sniffImage(b: Uint8Array): ArtworkMime | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png';
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'image/gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  // Control characters never belong in a title; they would end up in logs and on the page.
  const t = v.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return t === '' ? undefined : t.slice(0, MAX_TAG_CHARS);
}

interface Picture { data: Uint8Array; type?: string }

/** The front cover when the file marks one, else the first picture. */
function coverOf(pictures: readonly Picture[] | undefined): Picture | undefined {
  if (!pictures || pictures.length === 0) return undefined;
  return pictures.find((p) => /front/i.test(p.type ?? '')) ?? pictures[0];
}

/** Checks a picture and names it by hash; or says why it is not served. */
export function artworkOf(data: Uint8Array): { artwork: TrackArtwork } | { skipped: string } {
  const mime = sniffImage(data);
  if (mime === undefined) return { skipped: 'embedded picture is not a JPEG, PNG, GIF or WebP image' };
  const cap = mime === 'image/jpeg' || mime === 'image/png' ? MAX_SCALED_ARTWORK_BYTES : MAX_ARTWORK_BYTES;
  if (data.length > cap) return { skipped: `embedded picture is ${data.length} bytes, over the ${cap} byte cap for ${mime}` };
  return { artwork: { sha256: createHash('sha256').update(data).digest('hex'), mime, bytes: data.length } };
}

/** Title, artist, album and cover from a file's parsed tags (file-tags.ts parses them). */
export function trackTagsOf(c: ICommonTagsResult): TrackTags {
  const tags: TrackTags = {};
  const title = text(c.title);
  const artist = text(c.artist);
  const album = text(c.album);
  if (title !== undefined) tags.title = title;
  if (artist !== undefined) tags.artist = artist;
  if (album !== undefined) tags.album = album;
  const cover = coverOf(c.picture);
  if (cover) {
    const a = artworkOf(cover.data);
    if ('artwork' in a) tags.artwork = a.artwork;
    else tags.artworkSkipped = a.skipped;
  }
  return tags;
}

/** The cover bytes of a file if they still hash to `sha256` (the file may have changed since). */
export async function readArtwork(path: string, sha256: string): Promise<{ data: Uint8Array; mime: ArtworkMime } | undefined> {
  let meta;
  try {
    meta = await parseFile(path, { duration: false, skipCovers: false, skipPostHeaders: true });
  } catch {
    return undefined;
  }
  for (const p of meta.common.picture ?? []) {
    const a = artworkOf(p.data);
    if ('artwork' in a && a.artwork.sha256 === sha256) return { data: p.data, mime: a.artwork.mime };
  }
  return undefined;
}
