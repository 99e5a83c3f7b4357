// measureTrack: the leader's one decode pass also yields the loudness, true peak and ReplayGain tags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureTrack } from '../src/decode-to-pcm.js';
import { readFileTags } from '../src/file-tags.js';
import { wavFile } from './wav-fixture.js';

function sineWav(db: number, seconds: number, rate: number): Buffer {
  const n = seconds * rate;
  const pcm = new Int16Array(2 * n);
  const amp = 10 ** (db / 20) * 32767;
  for (let i = 0; i < n; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(amp * Math.sin((2 * Math.PI * 1000 * i) / rate));
  return wavFile(pcm, 2, rate);
}

/** An ID3v2.3 tag with TXXX frames, as a WAV `id3 ` chunk appended to `wav` (RIFF size fixed up). */
function withId3(wav: Buffer, txxx: Record<string, string>): Buffer {
  const frames = Object.entries(txxx).map(([k, v]) => {
    const body = Buffer.concat([Buffer.from([0]), Buffer.from(k, 'latin1'), Buffer.from([0]), Buffer.from(v, 'latin1')]);
    const head = Buffer.alloc(10);
    head.write('TXXX', 0, 'latin1');
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  });
  const payload = Buffer.concat(frames);
  const id3 = Buffer.alloc(10);
  id3.write('ID3', 0, 'latin1');
  id3[3] = 3;
  const size = payload.length;
  id3[6] = (size >> 21) & 0x7f;
  id3[7] = (size >> 14) & 0x7f;
  id3[8] = (size >> 7) & 0x7f;
  id3[9] = size & 0x7f;
  let tag = Buffer.concat([id3, payload]);
  if (tag.length % 2 === 1) tag = Buffer.concat([tag, Buffer.from([0])]);
  const chunk = Buffer.alloc(8);
  chunk.write('id3 ', 0, 'latin1');
  chunk.writeUInt32LE(tag.length, 4);
  const out = Buffer.concat([wav, chunk, tag]);
  out.writeUInt32LE(out.length - 8, 4);
  return out;
}

test('measureTrack reports the loudness and true peak of a -20 dBFS stereo sine (44.1 kHz WAV)', async () => {
  const m = await measureTrack(new Uint8Array(sineWav(-20, 6, 44_100)));
  assert.equal(m.sourceFrames, 6 * 44_100);
  assert.ok(m.loudness.integratedLufs !== null && Math.abs(m.loudness.integratedLufs + 20) <= 0.1, `${String(m.loudness.integratedLufs)} LUFS`);
  assert.ok(Math.abs(m.loudness.truePeakDbtp + 20) <= 0.2, `${m.loudness.truePeakDbtp} dBTP`);
  assert.deepEqual(m.tags, {});
  assert.deepEqual(m.trackTags, {});
});

test('ReplayGain tags are read; implausible values are dropped', async () => {
  const wav = withId3(sineWav(-20, 1, 48_000), {
    REPLAYGAIN_TRACK_GAIN: '-6.50 dB', REPLAYGAIN_TRACK_PEAK: '0.5', REPLAYGAIN_ALBUM_GAIN: '+900 dB',
  });
  const tags = (await readFileTags(new Uint8Array(wav))).gain;
  assert.equal(tags.replayGain?.trackGainDb, -6.5);
  assert.ok(Math.abs((tags.replayGain?.trackPeakDb ?? 0) + 6.02) < 0.01);
  assert.equal(tags.replayGain?.albumGainDb, undefined);
  const m = await measureTrack(new Uint8Array(wav));
  assert.equal(m.tags.replayGain?.trackGainDb, -6.5);
});

test('a file whose tags cannot be parsed has none (no throw)', async () => {
  assert.deepEqual(await readFileTags(new Uint8Array([1, 2, 3, 4])), { track: {}, gain: {} });
});
