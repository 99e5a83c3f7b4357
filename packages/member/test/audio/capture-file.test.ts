// Capture file: writer/reader round trip, silence run-length blocks, true time axis, damaged files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  Capture,
  CaptureFileWriter,
  type CaptureHeader,
  parseCapture,
  readCapture,
} from '../../src/audio/capture-file.js';

const header: CaptureHeader = {
  sampleRate: 48000,
  channels: 2,
  ratePpm: 100,
  t0DacNs: 5_000_000_000_123n,
  nsPerFrame: 1e9 / (48000 * (1 + 100 / 1e6)),
  latencyNs: 20_000_000n,
  framesPerBuffer: 4,
};

function buf(first: number, frames: number, silent = false): Int16Array {
  const out = new Int16Array(frames * 2);
  if (!silent) for (let f = 0; f < frames; f++) [out[2 * f], out[2 * f + 1]] = [first + f + 1, -(first + f + 1)];
  return out;
}

test('writer/reader round trip with merged audio blocks and run-length silence', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-capture-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'a.jascap');
  const w = new CaptureFileWriter(path, header);
  w.append(0, buf(0, 4), 4);
  w.append(4, buf(4, 4), 4); // merges with the previous block
  w.append(8, buf(0, 4, true), 4); // silence starts a silent block
  w.append(12, buf(0, 4, true), 4);
  w.append(16, buf(16, 4), 4);
  w.append(40, buf(40, 4), 4); // gap: new block
  w.close();
  w.close(); // idempotent
  const c = readCapture(path);
  assert.equal(c.sampleRate, 48000);
  assert.equal(c.channels, 2);
  assert.equal(c.ratePpm, 100);
  assert.equal(c.t0DacNs, header.t0DacNs);
  assert.equal(c.nsPerFrame, header.nsPerFrame);
  assert.equal(c.latencyNs, header.latencyNs);
  assert.equal(c.framesPerBuffer, 4);
  assert.deepEqual(
    c.blocks.map((b) => [b.deviceFrame, b.frames, b.silent]),
    [[0, 8, false], [8, 8, true], [16, 4, false], [40, 4, false]],
  );
  assert.deepEqual(c.blocks[0]!.samples, buf(0, 8));
  assert.equal(c.blocks[1]!.samples, null);
  assert.equal(c.blocks[3]!.trueDacTimeNs, header.t0DacNs + BigInt(Math.round(40 * header.nsPerFrame)));
  assert.equal(c.firstFrame, 0);
  assert.equal(c.endFrame, 44);
  // file size: header + 4 block headers + 16 audio frames of 4 bytes (silence costs no samples)
  assert.equal(readFileSync(path).length, 64 + 4 * 24 + 16 * 4);
  // mono view: channels averaged -> the stereo pair (x, -x) gives 0, so check a mono-capable layout
  const m = c.monoSamples(6, 4);
  assert.deepEqual([...m], [0, 0, 0, 0]);
  assert.equal(c.blockAt(10)!.silent, true);
  assert.equal(c.blockAt(30), undefined);
  assert.equal(c.blockAt(44), undefined);
});

test('true time axis: trueTimeOfFrame and frameAtTrueTime are inverse and follow the rate error', () => {
  const c = new Capture(header, []);
  const t0 = Number(header.t0DacNs);
  assert.equal(c.trueTimeOfFrame(0), t0);
  // 48000 frames of a +100 ppm DAC take 1 s / 1.0001
  assert.ok(Math.abs(c.trueTimeOfFrame(48000) - t0 - 1e9 / 1.0001) < 1);
  for (const f of [0, 1.5, 12345.25, 4.8e6]) assert.ok(Math.abs(c.frameAtTrueTime(c.trueTimeOfFrame(f)) - f) < 1e-4);
});

test('monoSamples averages channels, scales to [-1, 1) and zero-fills gaps', () => {
  const mono: CaptureHeader = { ...header, channels: 1 };
  const samples = Int16Array.from([16384, -16384, 8192]);
  const c = Capture.fromSamples(mono, 10, samples);
  assert.deepEqual([...c.monoSamples(8, 6)], [0, 0, 0.5, -0.5, 0.25, 0]);
  const stereo = Capture.fromSamples(header, 0, Int16Array.from([32767, 32767, 16384, 0]));
  assert.ok(Math.abs(stereo.monoSamples(0, 2)[0]! - 32767 / 32768) < 1e-6);
  assert.equal(stereo.monoSamples(0, 2)[1], 0.25);
});

test('a truncated tail is dropped; bad headers are rejected', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-capture-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'b.jascap');
  const w = new CaptureFileWriter(path, header);
  w.append(0, buf(0, 4), 4);
  w.append(4, buf(0, 4, true), 4);
  w.append(8, buf(8, 4), 4);
  w.close();
  const bytes = readFileSync(path);
  const cut = parseCapture(bytes.subarray(0, bytes.length - 3));
  assert.deepEqual(cut.blocks.map((b) => b.deviceFrame), [0, 4]);
  const bad = Buffer.from(bytes);
  bad.writeUInt32LE(0x12345678, 0);
  assert.throws(() => parseCapture(bad), /magic/);
  const v2 = Buffer.from(bytes);
  v2.writeUInt32LE(2, 4);
  assert.throws(() => parseCapture(v2), /version/);
  assert.throws(() => parseCapture(bytes.subarray(0, 20)), /header/);
  writeFileSync(path, bytes.subarray(0, 64));
  assert.equal(readCapture(path).blocks.length, 0, 'header only: an empty capture');
  assert.throws(() => new CaptureFileWriter(join(dir, 'c'), { ...header, channels: 0 }), RangeError);
});
