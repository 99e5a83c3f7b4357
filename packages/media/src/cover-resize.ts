// Covers sized for a phone: an embedded JPEG or PNG cover larger than PHONE_COVER_PX on its longer
// side is decoded, scaled down by area averaging and sent as a JPEG (pure JavaScript: jpeg-js and
// pngjs, no native build). Decoding is bounded (pixels, memory) because the picture is untrusted
// input; the leader runs this in a worker (cover-resize-worker.ts) so its event loop never waits on it.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { ArtworkMime } from './track-tags.js';

/** Longer side of a cover as sent to a phone (px): sharp on a phone's cover slot, ~30-80 KB. */
export const PHONE_COVER_PX = 600;
/**
 * Largest picture decoded (megapixels): 2100 x 2100. jpeg-js holds ~17 MB per megapixel while it
 * decodes (measured: 64 MB for 2000 x 2000, 154 MB for 3000 x 3000), transient but within what a
 * Pi leader can spare; a larger cover is served as embedded only if small enough, else not at all.
 */
export const MAX_COVER_MEGAPIXELS = 4.5;
const MAX_DECODE_MEMORY_MB = 100;
const JPEG_QUALITY = 82;
/** A cover already this small (and this light) is sent as it is. */
const KEEP_AS_IS_BYTES = 256 * 1024;

export interface SizedCover {
  data: Uint8Array;
  mime: ArtworkMime;
  width: number;
  height: number;
  /** true when it was scaled (or re-encoded) here */
  resized: boolean;
}

interface Rgba { width: number; height: number; data: Uint8Array }

function decode(data: Uint8Array, mime: ArtworkMime): Rgba {
  if (mime === 'image/jpeg') {
    const d = jpeg.decode(data, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_COVER_MEGAPIXELS, maxMemoryUsageInMB: MAX_DECODE_MEMORY_MB });
    return { width: d.width, height: d.height, data: d.data };
  }
  if (mime === 'image/png') {
    // The header first: a PNG's pixel count is known before any of it is inflated.
    if (data.length >= 24) {
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const px = v.getUint32(16) * v.getUint32(20);
      if (px > MAX_COVER_MEGAPIXELS * 1e6) throw new Error(`PNG of ${px} pixels is over the ${MAX_COVER_MEGAPIXELS} MP bound`);
    }
    const p = PNG.sync.read(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return { width: p.width, height: p.height, data: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength) };
  }
  throw new Error(`${mime} is not scaled here`);
}

/** Area-average downscale to w x h; transparent pixels over white (JPEG has no alpha). */
function downscale(src: Rgba, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 4);
  const sx = src.width / w;
  const sy = src.height / h;
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor(y * sy);
    const y1 = Math.max(y0 + 1, Math.min(src.height, Math.floor((y + 1) * sy)));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor(x * sx);
      const x1 = Math.max(x0 + 1, Math.min(src.width, Math.floor((x + 1) * sx)));
      let r = 0;
      let g = 0;
      let b = 0;
      let n = 0;
      for (let yy = y0; yy < y1; yy++) {
        let i = (yy * src.width + x0) * 4;
        for (let xx = x0; xx < x1; xx++, i += 4) {
          const a = src.data[i + 3]! / 255;
          r += src.data[i]! * a + 255 * (1 - a);
          g += src.data[i + 1]! * a + 255 * (1 - a);
          b += src.data[i + 2]! * a + 255 * (1 - a);
          n++;
        }
      }
      const o = (y * w + x) * 4;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
      out[o + 3] = 255;
    }
  }
  return out;
}

/**
 * The cover as a phone should get it: a JPEG or PNG over PHONE_COVER_PX (or heavier than
 * KEEP_AS_IS_BYTES) scaled to fit PHONE_COVER_PX and encoded as JPEG; anything else as it is
 * (GIF and WebP are not decoded here: the catalog caps their size instead). Throws on a picture
 * that cannot be decoded within the bounds.
 */
export function phoneSizedCover(data: Uint8Array, mime: ArtworkMime): SizedCover {
  if (mime !== 'image/jpeg' && mime !== 'image/png') return { data, mime, width: 0, height: 0, resized: false };
  const src = decode(data, mime);
  if (!(src.width > 0 && src.height > 0)) throw new Error('picture without pixels');
  const scale = Math.min(1, PHONE_COVER_PX / Math.max(src.width, src.height));
  if (scale === 1 && data.length <= KEEP_AS_IS_BYTES) return { data, mime, width: src.width, height: src.height, resized: false };
  const w = Math.max(1, Math.round(src.width * scale));
  const h = Math.max(1, Math.round(src.height * scale));
  const rgba = scale === 1 ? downscale(src, src.width, src.height) : downscale(src, w, h);
  const enc = jpeg.encode({ data: rgba, width: w, height: h }, JPEG_QUALITY);
  return { data: new Uint8Array(enc.data.buffer, enc.data.byteOffset, enc.data.byteLength), mime: 'image/jpeg', width: w, height: h, resized: true };
}
