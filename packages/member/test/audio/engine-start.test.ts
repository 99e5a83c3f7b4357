// How the audio engine starts (issue #18, rejoin within 1 s): its sink starts beside its worker,
// with silence queued for the worker's start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AudioEngine, START_PREFILL_MS } from '../../src/audio/audio-engine.js';
import { DacTimingRing } from '../../src/audio/dac-timing-ring.js';
import { PcmRing } from '../../src/audio/pcm-ring.js';
import type { AudioSink, AudioSinkStats } from '../../src/audio/sink.js';
import { ClockModelShare } from '../../src/clock/clock-model.js';

const RATE = 48_000;

/** A sink the test drives by hand: it records what start() found and reads the ring only when told. */
class ManualSink implements AudioSink {
  readonly kind = 'capture' as const;
  readonly sampleRate = RATE;
  readonly channels = 2;
  readonly framesPerBuffer = 256;
  readonly trustedReports = true;
  readonly ring = PcmRing.create(RATE, 2, RATE);
  readonly pcmRing = this.ring.sab;
  readonly timingRing = DacTimingRing.create(1024).sab;
  startedWithFill: number | null = null;
  workerUpAtStart: boolean | null = null;
  engine: AudioEngine | null = null;
  failStart = false;
  stopped = false;

  start(): Promise<void> {
    this.startedWithFill = this.ring.fillFrames;
    this.workerUpAtStart = this.engine?.threadPriority !== null;
    return this.failStart ? Promise.reject(new Error('no device')) : Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  stats(): AudioSinkStats {
    return { kind: 'capture', running: this.startedWithFill !== null, buffers: 0, deviceFrames: 0, ringFillFrames: this.ring.fillFrames, underrunFrames: 0, underrunEvents: 0 };
  }

}

function engineFor(sink: ManualSink): AudioEngine {
  const engine = new AudioEngine({ sink, clockShare: new ClockModelShare().buffer, outputRate: RATE, realtime: false });
  sink.engine = engine;
  return engine;
}

test('the sink starts beside the engine worker, with silence queued for the worker\'s start', async (t) => {
  const sink = new ManualSink();
  const engine = engineFor(sink);
  t.after(() => engine.stop());
  await engine.start();
  assert.equal(sink.workerUpAtStart, false, 'sink.start() was called before the worker reported');
  assert.equal(sink.startedWithFill, Math.round((START_PREFILL_MS * RATE) / 1000));
  assert.notEqual(engine.threadPriority, null, 'start() resolves once the worker runs too');
});

test('a sink that fails to start stops the engine and fails its start', async () => {
  const sink = new ManualSink();
  sink.failStart = true;
  const engine = engineFor(sink);
  await assert.rejects(engine.start(), /no device/);
  assert.equal(sink.stopped, true);
});
