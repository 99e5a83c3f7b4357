// CaptureSink: a simulated DAC in real time. Pacing against host CLOCK_MONOTONIC (generous bounds:
// the machine is shared), timing entries exactly on the true-rate formula, the capture file holds
// what the producer wrote at the device frames the timing ring says.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCapture } from '../../src/audio/capture-file.js';
import { CaptureSink } from '../../src/audio/capture-sink.js';
import { DacTimingRing } from '../../src/audio/dac-timing-ring.js';
import { PcmRing } from '../../src/audio/pcm-ring.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sample value of ring frame p, channel c: never zero, so silence is only what the sink inserts. */
const valueAt = (p: number, c: number) => ((p % 20000) + 1) * (c === 0 ? 1 : -1);

/** Keeps the ring topped up with the valueAt sequence until stopped. */
function startProducer(ring: PcmRing, untilFrame = Infinity): () => void {
  let pos = ring.writePos;
  const tick = () => {
    const n = Math.min(ring.freeFrames(), untilFrame - pos);
    if (n <= 0) return;
    const r = ring.reserve(n);
    let i = 0;
    for (const part of [r.first, r.second]) {
      for (let s = 0; s < part.length; s += ring.channels, i++) {
        for (let c = 0; c < ring.channels; c++) part[s + c] = valueAt(pos + i, c);
      }
    }
    ring.commit(r.frames);
    pos += r.frames;
  };
  tick();
  const timer = setInterval(tick, 5);
  return () => clearInterval(timer);
}

test('consumes the ring in real time at the true rate; timing entries follow the exact formula', async (t) => {
  const ratePpm = 300;
  const sink = new CaptureSink({ sampleRate: 48000, channels: 2, ratePpm, latencyMs: 20, framesPerBuffer: 256 });
  t.after(() => sink.stop());
  const ring = new PcmRing(sink.pcmRing);
  const stopProducer = startProducer(ring);
  t.after(stopProducer);
  await sink.start();
  const t0DacNs = sink.t0DacNs!;
  const t0Ns = t0DacNs - 20_000_000n;
  await sleep(1000);
  // Stats first, then the clock: a buffer is consumed only once due, so "ahead" is a hard bound.
  const stats = sink.stats();
  const nowNs = process.hrtime.bigint();
  const trueRate = 48000 * (1 + ratePpm / 1e6);
  const expectedFrames = (Number(nowNs - t0Ns) / 1e9) * trueRate;
  // Never ahead of the true DAC (a buffer is consumed when due), and behind by at most a stall.
  assert.ok(stats.deviceFrames <= expectedFrames + 256, `ahead: ${stats.deviceFrames} > ${expectedFrames}`);
  assert.ok(stats.deviceFrames >= expectedFrames - 9600, `behind: ${stats.deviceFrames} << ${expectedFrames}`);
  assert.ok(stats.deviceFrames > 30000);
  assert.equal(stats.underrunEvents, 0, 'the producer kept up');
  assert.equal(stats.running, true);

  const timing = new DacTimingRing(sink.timingRing);
  const entries = timing.latest(1000);
  assert.ok(entries.length > 100);
  const nsPerFrame = 1e9 / trueRate;
  for (const e of entries) {
    assert.equal(e.deviceFrame, e.index * 256);
    assert.equal(e.ringPos, e.deviceFrame, 'no underrun: ring and device frames coincide');
    assert.equal(e.dacTimeNs, t0DacNs + BigInt(Math.round(e.deviceFrame * nsPerFrame)));
    // The callback ran at or after the buffer was due (t0 + frame time), and before it left the DAC
    // (or up to 0.5 s late on a stalled machine: catch-up consumption).
    const dueNs = t0Ns + BigInt(Math.round(e.deviceFrame * nsPerFrame));
    assert.ok(e.callbackTimeNs >= dueNs - 1000n, `callback before due at entry ${e.index}`);
    assert.ok(e.callbackTimeNs - dueNs < 500_000_000n);
  }
  // The fitted rate is the true one, not nominal.
  const first = entries[0]!;
  const last = entries[entries.length - 1]!;
  const fittedRate = ((last.deviceFrame - first.deviceFrame) * 1e9) / Number(last.dacTimeNs - first.dacTimeNs);
  assert.ok(Math.abs(fittedRate - trueRate) < 0.01, `rate ${fittedRate}`);
  await sink.stop();
  assert.equal(sink.stats().running, false);
  const after = sink.stats().buffers;
  await sleep(30);
  assert.equal(sink.stats().buffers, after, 'nothing consumed after stop');
  await assert.rejects(sink.start(), /once/);
});

test('the capture file holds what was written, on the device frames of the timing ring', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-capture-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'm.jascap');
  const sink = new CaptureSink({ ratePpm: -150, latencyMs: 15, framesPerBuffer: 128, file, ringCapacityFrames: 4800 });
  t.after(() => sink.stop());
  const ring = new PcmRing(sink.pcmRing);
  ring.writeSilence(2000); // idle silence first, as the engine does
  const pcmStart = ring.writePos;
  const stopProducer = startProducer(ring, pcmStart + 12000); // 0.25 s of audio, then an underrun
  t.after(stopProducer);
  await sink.start();
  await sleep(600);
  await sink.stop();
  stopProducer();
  const stats = sink.stats();
  assert.ok(stats.captureBytes > 0);
  assert.ok(stats.underrunEvents > 0, 'ran dry after the audio');

  const cap = readCapture(file);
  assert.equal(cap.sampleRate, 48000);
  assert.equal(cap.channels, 2);
  assert.equal(cap.ratePpm, -150);
  assert.equal(cap.latencyNs, 15_000_000n);
  assert.equal(cap.t0DacNs, sink.t0DacNs);
  assert.equal(cap.firstFrame, 0);
  assert.equal(cap.endFrame, stats.deviceFrames, 'every device frame played is in the file');
  // Silent first 2000 frames, 12000 audio frames, then silence: run-length blocks for the silence.
  assert.equal(cap.blocks[0]!.silent, true);
  assert.equal(cap.blocks[cap.blocks.length - 1]!.silent, true);
  // Buffers are whole (128 frames): the ones straddling the edges hold audio and zeros.
  const audio = cap.blocks.filter((b) => !b.silent);
  let audioFrames = 0;
  for (const b of audio) {
    const s = b.samples!;
    for (let f = 0; f < b.frames; f++) {
      const d = b.deviceFrame + f;
      if (d < 2000 || d >= 14000) {
        if (s[2 * f] !== 0 || s[2 * f + 1] !== 0) assert.fail(`frame ${d} should be silent`);
        continue;
      }
      // Sample-exact: device frame 2000 + i carries ring frame pcmStart + i.
      const p = pcmStart + d - 2000;
      if (s[2 * f] !== valueAt(p, 0) || s[2 * f + 1] !== valueAt(p, 1)) assert.fail(`frame ${d} wrong`);
      audioFrames++;
    }
  }
  assert.equal(audioFrames, 12000);
  assert.equal(audio[0]!.deviceFrame, 1920, 'the block starts with the buffer holding frame 2000');
  // Timing ring and capture file agree on the true DAC times.
  const timing = new DacTimingRing(sink.timingRing);
  for (const e of timing.latest(50)) {
    assert.equal(Number(e.dacTimeNs), Math.round(cap.trueTimeOfFrame(e.deviceFrame)));
  }
});

test('timing jitter perturbs the reported DAC times only', async (t) => {
  const sink = new CaptureSink({ timingJitterUs: 50, ratePpm: 0 });
  t.after(() => sink.stop());
  new PcmRing(sink.pcmRing).writeSilence(48000);
  await sink.start();
  await sleep(400);
  await sink.stop();
  const entries = new DacTimingRing(sink.timingRing).latest(1000);
  assert.ok(entries.length > 20);
  const errorsUs = entries.map((e) => (Number(e.dacTimeNs) - sink.trueDacTimeNs(e.deviceFrame)!) / 1000);
  const rmsUs = Math.sqrt(errorsUs.reduce((a, x) => a + x * x, 0) / errorsUs.length);
  assert.ok(rmsUs > 20 && rmsUs < 100, `rms ${rmsUs} µs`);
});

test('rejects bad options', () => {
  assert.throws(() => new CaptureSink({ sampleRate: 0 }), RangeError);
  assert.throws(() => new CaptureSink({ framesPerBuffer: 1.5 }), RangeError);
  assert.throws(() => new CaptureSink({ ratePpm: Number.NaN }), RangeError);
  assert.throws(() => new CaptureSink({ latencyMs: -1 }), RangeError);
  assert.throws(() => new CaptureSink({ ringCapacityFrames: 10 }), RangeError);
  assert.throws(() => new CaptureSink({ file: '' }), TypeError);
});

test('an unwritable capture file is reported but the DAC keeps running', async (t) => {
  const sink = new CaptureSink({ file: '/nonexistent-dir/x/y.jascap' });
  t.after(() => sink.stop());
  new PcmRing(sink.pcmRing).writeSilence(48000);
  await sink.start();
  await sleep(100);
  const stats = sink.stats();
  assert.match(stats.lastError ?? '', /capture file/);
  assert.ok(stats.buffers > 0);
  await sink.stop();
});
