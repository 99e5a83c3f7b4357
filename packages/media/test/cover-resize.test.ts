import { test } from 'node:test';
import assert from 'node:assert/strict';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { phoneSizedCover, PHONE_COVER_PX } from '../src/cover-resize.js';
import { resizeCover } from '../src/cover-resize-worker.js';
import { artworkOf, MAX_ARTWORK_BYTES } from '../src/track-tags.js';

/** A w x h picture: left half red, right half blue (alpha `a`). */
function rgba(w: number, h: number, a = 255): Uint8Array {
  const d = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 4;
    d.set(x < w / 2 ? [220, 20, 20, a] : [20, 20, 220, a], i);
  }
  return d;
}
const jpegOf = (w: number, h: number, q = 90): Uint8Array => new Uint8Array(jpeg.encode({ data: rgba(w, h), width: w, height: h }, q).data);
const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number): number[] => [...img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3)];

test('a large JPEG cover is scaled to fit a phone, keeping its picture', () => {
  const big = jpegOf(1800, 1200);
  const c = phoneSizedCover(big, 'image/jpeg');
  assert.equal(c.resized, true);
  assert.equal(c.mime, 'image/jpeg');
  assert.deepEqual([c.width, c.height], [PHONE_COVER_PX, 400]);
  assert.ok(c.data.length < big.length / 3, `${c.data.length} bytes from ${big.length}`);
  const back = jpeg.decode(c.data, { useTArray: true });
  assert.deepEqual([back.width, back.height], [600, 400]);
  const [r1, , b1] = pixel(back, 100, 200);
  const [r2, , b2] = pixel(back, 500, 200);
  assert.ok(r1! > 180 && b1! < 60, `left ${pixel(back, 100, 200)}`);
  assert.ok(b2! > 180 && r2! < 60, `right ${pixel(back, 500, 200)}`);
});

test('a small light JPEG is sent as it is; a PNG with transparency becomes a JPEG over white', () => {
  const small = jpegOf(300, 300);
  const c = phoneSizedCover(small, 'image/jpeg');
  assert.equal(c.resized, false);
  assert.equal(c.data, small);
  const png = new PNG({ width: 1000, height: 1000 });
  png.data = Buffer.from(rgba(1000, 1000, 0)); // fully transparent
  const p = phoneSizedCover(new Uint8Array(PNG.sync.write(png)), 'image/png');
  assert.equal(p.mime, 'image/jpeg');
  assert.deepEqual([p.width, p.height], [600, 600]);
  const back = jpeg.decode(p.data, { useTArray: true });
  assert.ok(pixel(back, 300, 300).every((v) => v > 240), 'transparent is white');
});

test('bad pictures are refused with an error, bounded before decoding: garbage, a PNG header claiming 100 000 x 100 000', () => {
  assert.throws(() => phoneSizedCover(new Uint8Array([0xff, 0xd8, 0xff, 0, 1, 2, 3]), 'image/jpeg'));
  const png = new PNG({ width: 4, height: 4 });
  png.data = Buffer.from(rgba(4, 4));
  const bytes = new Uint8Array(PNG.sync.write(png));
  new DataView(bytes.buffer).setUint32(16, 100_000);
  new DataView(bytes.buffer).setUint32(20, 100_000);
  assert.throws(() => phoneSizedCover(bytes, 'image/png'), /over the 4.5 MP bound/);
  // GIF and WebP are not decoded: as they are.
  const gif = new TextEncoder().encode('GIF89a....');
  assert.equal(phoneSizedCover(gif, 'image/gif').data, gif);
});

test('the catalog takes JPEG covers up to 8 MiB (they are scaled) but GIF only up to the served cap', () => {
  const big = new Uint8Array(2 * 1024 * 1024);
  big.set([0xff, 0xd8, 0xff]);
  assert.ok('artwork' in artworkOf(big));
  const gif = new Uint8Array(MAX_ARTWORK_BYTES + 1);
  gif.set(new TextEncoder().encode('GIF89a'));
  assert.ok('skipped' in artworkOf(gif));
});

test('resizeCover runs in a worker and rejects a picture it cannot decode', async () => {
  const c = await resizeCover(jpegOf(1200, 1200), 'image/jpeg');
  assert.deepEqual([c.width, c.height, c.resized], [600, 600, true]);
  await assert.rejects(resizeCover(new Uint8Array([0xff, 0xd8, 0xff, 9, 9]), 'image/jpeg'));
});
