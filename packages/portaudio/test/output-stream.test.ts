// End-to-end test of the addon through ALSA -> PulseAudio null sink, and through libpulse itself
// (api 'pulse') to the same sink: device listing, a tone
// burst scheduled at a DAC time heard on the monitor, timing-ring sanity, DAC rate estimation,
// and underruns that play silence without blocking.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isAvailable, getLoadError, hasPulseApi, listDevices, OutputStream, createPcmRing, createTimingRing, PCM_OFFSETS, type OutputApi } from '../src/index.js';
import { missingPulseTools, startPrivatePulse, recordMonitor } from './private-pulse.js';

const RATE = 48000;
const CHANNELS = 2;
const FRAMES_PER_BUFFER = 256;
const RING_FRAMES = RATE; // 1 s
const TIMING_CAPACITY = 4096; // ~22 s of entries: the whole test
const LEAD_FRAMES = 4800; // the feeder keeps 100 ms queued, like the engine would
const FEED_INTERVAL_MS = 5;
const TONE_AMPLITUDE = 16000;
const TONE_HZ = 1000;
const BURST_FRAMES = 4800; // exactly 100 cycles: starts and ends at a crest
const BURST_SPACING_FRAMES = 24000;
const SCHEDULE_AHEAD_NS = 400_000_000n;
const STALE_VALUE = 7777; // pre-filled ring garbage: must never be played
const STEADY_ENTRIES = 40;
const STEADY_TIMEOUT_MS = 8000;
const RATE_WINDOW_MS = 4000;
const UNDERRUN_MS = 400;

interface Entry {
  deviceFrame: number;
  ringPos: number;
  dacTimeNs: bigint;
  callbackTimeNs: bigint;
}

function monoNowNs(): bigint {
  return process.hrtime.bigint();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readEntries(timing: SharedArrayBuffer): Entry[] {
  const t = new BigInt64Array(timing);
  const count = Number(Atomics.load(t, 0));
  const capacity = new Int32Array(timing, 0, 16)[2] ?? 0;
  const out: Entry[] = [];
  for (let i = Math.max(0, count - capacity + 16); i < count; i++) {
    const b = 8 + 4 * (i % capacity);
    out.push({
      deviceFrame: Number(Atomics.load(t, b)),
      ringPos: Number(Atomics.load(t, b + 1)),
      dacTimeNs: Atomics.load(t, b + 2),
      callbackTimeNs: Atomics.load(t, b + 3),
    });
  }
  return out;
}

// Steady once the last entries all have a plausible delay and DAC times one buffer apart.
function isSteady(entries: readonly Entry[]): boolean {
  if (entries.length < STEADY_ENTRIES) return false;
  const tail = entries.slice(-STEADY_ENTRIES);
  const bufferNs = (FRAMES_PER_BUFFER / RATE) * 1e9;
  return tail.every((e, i) => {
    const delayNs = Number(e.dacTimeNs - e.callbackTimeNs);
    if (delayNs < 500_000 || delayNs > 500_000_000) return false;
    const prev = tail[i - 1];
    return prev === undefined || Math.abs(Number(e.dacTimeNs - prev.dacTimeNs) - bufferNs) < 1_500_000;
  });
}

/** Least-squares frames-per-second of deviceFrame against dacTime, and residuals in µs. */
function fitRate(entries: readonly Entry[]): { rateHz: number; rmsUs: number; worstUs: number } {
  const t0 = entries[0]!.dacTimeNs;
  const xs = entries.map((e) => Number(e.dacTimeNs - t0) / 1e9);
  const ys = entries.map((e) => e.deviceFrame);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const rateHz = sxy / sxx;
  let sumSq = 0;
  let worstUs = 0;
  for (let i = 0; i < n; i++) {
    const resUs = ((ys[i]! - (my + rateHz * (xs[i]! - mx))) / rateHz) * 1e6;
    sumSq += resUs * resUs;
    worstUs = Math.max(worstUs, Math.abs(resUs));
  }
  return { rateHz, rmsUs: Math.sqrt(sumSq / n), worstUs };
}

/** Feeds the PCM ring from the event loop like the engine: silence plus scheduled tone bursts. */
class TestFeeder {
  private readonly pos: BigInt64Array;
  private readonly data: Int16Array;
  private readonly bursts: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(pcm: SharedArrayBuffer) {
    this.pos = new BigInt64Array(pcm, 0, 8);
    this.data = new Int16Array(pcm, 64);
  }

  get writePos(): number {
    return Number(Atomics.load(this.pos, PCM_OFFSETS.writePos / 8));
  }

  get readPos(): number {
    return Number(Atomics.load(this.pos, PCM_OFFSETS.readPos / 8));
  }

  addBurst(ringFrame: number): void {
    this.bursts.push(ringFrame);
  }

  sample(frame: number): number {
    for (const start of this.bursts) {
      if (frame >= start && frame < start + BURST_FRAMES) {
        return Math.round(TONE_AMPLITUDE * Math.cos((2 * Math.PI * TONE_HZ * (frame - start)) / RATE));
      }
    }
    return 0;
  }

  fill(): void {
    const writePos = this.writePos;
    const target = this.readPos + LEAD_FRAMES;
    for (let f = writePos; f < target; f++) {
      const v = this.sample(f);
      const i = (f % RING_FRAMES) * CHANNELS;
      this.data[i] = v;
      this.data[i + 1] = v;
    }
    if (target > writePos) Atomics.store(this.pos, PCM_OFFSETS.writePos / 8, BigInt(target));
  }

  start(): void {
    this.fill();
    this.timer = setInterval(() => this.fill(), FEED_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Onsets (frame index) of the left channel: first loud sample after >= 10 ms of quiet. */
function findOnsets(rec: Int16Array): { onset: number; length: number }[] {
  const found: { onset: number; length: number }[] = [];
  const loud = (i: number): boolean => Math.abs(rec[i * CHANNELS]!) > 1000;
  const frames = rec.length / CHANNELS;
  let quiet = 0;
  for (let i = 0; i < frames; i++) {
    if (loud(i)) {
      if (quiet >= 480) {
        let last = i;
        for (let j = i; j < frames && j - last < 48; j++) if (loud(j)) last = j;
        found.push({ onset: i, length: last - i + 1 });
        i = last;
      }
      quiet = 0;
    } else {
      quiet++;
    }
  }
  return found;
}

function longestRunOf(rec: Int16Array, value: number): number {
  let best = 0;
  let run = 0;
  for (const s of rec) {
    run = s === value ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

const skipReason = !isAvailable()
  ? `native addon not built: ${getLoadError()?.message ?? ''}`
  : missingPulseTools();

test('plays scheduled audio through PulseAudio with DAC timing', { skip: skipReason ?? false, timeout: 45_000 }, async (t) => {
  await playsScheduledAudio(t, 'portaudio');
});

test('plays scheduled audio through libpulse itself with DAC timing from raw server timing', { skip: skipReason ?? (hasPulseApi() ? false : 'addon built without libpulse-dev'), timeout: 45_000 }, async (t) => {
  await playsScheduledAudio(t, 'pulse');
});

async function playsScheduledAudio(t: TestContext, api: OutputApi): Promise<void> {
  const pulse = await startPrivatePulse();
  t.after(() => pulse.stop());

  let device = 'jas'; // libpulse: the null sink by name
  let deviceName = 'PulseAudio sink jas';
  if (api === 'portaudio') {
    const devices = listDevices({ refresh: true });
    const names = devices.map((d) => d.name);
    assert.ok(names.includes('pulse') || names.includes('default'), `pulse/default in ${names.join(', ')}`);
    const pulseDev = devices.find((d) => d.name === 'pulse') ?? devices.find((d) => d.name === 'default')!;
    assert.ok(pulseDev.defaultLowOutputLatencyS > 0 && pulseDev.defaultLowOutputLatencyS < 1, 'latency is a float');
    device = pulseDev.name.toUpperCase(); // names match case-insensitively
    deviceName = pulseDev.name;
  }

  const recorder = recordMonitor(pulse.env);
  let recording: Int16Array | undefined;
  t.after(async () => {
    recording ??= await recorder.stop();
  });

  const pcm = createPcmRing(RING_FRAMES, CHANNELS, RATE);
  new Int16Array(pcm, 64).fill(STALE_VALUE);
  const timing = createTimingRing(TIMING_CAPACITY);
  const feeder = new TestFeeder(pcm);
  t.after(() => feeder.stop());
  const stream = new OutputStream({
    api,
    device,
    sampleRate: RATE,
    channels: CHANNELS,
    framesPerBuffer: FRAMES_PER_BUFFER,
    pcmRing: pcm,
    timingRing: timing,
  });
  t.after(() => stream.close());
  assert.equal(stream.info().deviceName, deviceName);
  feeder.start();
  stream.start();

  // Start-up: ignore entries until the reported delay is steady.
  const startedMs = Date.now();
  while (!isSteady(readEntries(timing)) && Date.now() - startedMs < STEADY_TIMEOUT_MS) await sleep(50);
  const steadyFromCount = readEntries(timing).length;
  assert.ok(isSteady(readEntries(timing)), 'timing became steady');
  t.diagnostic(`steady after ${Date.now() - startedMs} ms (${steadyFromCount} callbacks)`);

  // Schedule two bursts: the first at a DAC time 400 ms from now, the second 0.5 s of frames later.
  const last = readEntries(timing).at(-1)!;
  const targetDacNs = monoNowNs() + SCHEDULE_AHEAD_NS;
  const burstRingFrame = last.ringPos + Math.round((Number(targetDacNs - last.dacTimeNs) * RATE) / 1e9);
  assert.ok(burstRingFrame > feeder.writePos, 'burst is still in the future of the ring');
  feeder.addBurst(burstRingFrame);
  feeder.addBurst(burstRingFrame + BURST_SPACING_FRAMES);

  await sleep(RATE_WINDOW_MS);
  const entries = readEntries(timing);
  const steady = entries.slice(steadyFromCount - STEADY_ENTRIES);

  // The entry whose buffer carried the burst start says when it left the DAC: as scheduled.
  const carrier = steady.find((e) => e.ringPos <= burstRingFrame && burstRingFrame < e.ringPos + FRAMES_PER_BUFFER);
  assert.ok(carrier, 'a callback consumed the burst');
  const burstDacNs = Number(carrier.dacTimeNs) + ((burstRingFrame - carrier.ringPos) / RATE) * 1e9;
  const errorUs = (burstDacNs - Number(targetDacNs)) / 1000;
  t.diagnostic(`burst DAC time vs target: ${errorUs.toFixed(1)} us`);
  assert.ok(Math.abs(errorUs) < 2000, `burst left the DAC ${errorUs} us from its target`);

  // Timing entries: contiguous device frames, ordered times, plausible DAC delay.
  for (let i = 1; i < entries.length; i++) {
    assert.equal(entries[i]!.deviceFrame, entries[i - 1]!.deviceFrame + FRAMES_PER_BUFFER);
    assert.ok(entries[i]!.callbackTimeNs >= entries[i - 1]!.callbackTimeNs, 'callback times ordered');
  }
  const delaysMs: number[] = [];
  for (let i = 1; i < steady.length; i++) {
    assert.ok(steady[i]!.dacTimeNs > steady[i - 1]!.dacTimeNs, 'DAC times increase');
    const delayMs = Number(steady[i]!.dacTimeNs - steady[i]!.callbackTimeNs) / 1e6;
    assert.ok(delayMs > 0 && delayMs < 500, `DAC delay ${delayMs} ms`);
    delaysMs.push(delayMs);
  }
  delaysMs.sort((a, b) => a - b);

  // Estimate, never assume: the null sink's rate is within 2000 ppm of nominal.
  const fit = fitRate(steady);
  const ppm = (fit.rateHz / RATE - 1) * 1e6;
  t.diagnostic(
    `DAC rate ${fit.rateHz.toFixed(2)} Hz (${ppm.toFixed(0)} ppm) over ${steady.length} callbacks; ` +
      `residuals rms ${fit.rmsUs.toFixed(1)} us, worst ${fit.worstUs.toFixed(1)} us; ` +
      `delay median ${delaysMs[delaysMs.length >> 1]!.toFixed(2)} ms`,
  );
  assert.ok(Math.abs(ppm) < 2000, `rate ${fit.rateHz}`);
  assert.ok(fit.rmsUs < 2000, `fit residuals ${fit.rmsUs} us rms`);

  // Underrun: the producer stops; callbacks continue with silence and count it, nothing blocks.
  const before = stream.stats();
  t.diagnostic(`callback thread real-time: ${before.realtime}; device xruns: ${before.outputUnderflowFlags}`);
  feeder.stop();
  await sleep(UNDERRUN_MS);
  const after = stream.stats();
  const header = new BigInt64Array(pcm, 0, 4);
  assert.ok(after.callbacks > before.callbacks + 20, 'callbacks continue during underrun');
  assert.ok(after.underrunEvents > before.underrunEvents, 'underruns counted');
  assert.ok(Atomics.load(header, PCM_OFFSETS.underrunEvents / 8) > 0n, 'ring header counts underrun events');
  assert.ok(Atomics.load(header, PCM_OFFSETS.underrunFrames / 8) > 0n, 'ring header counts underrun frames');
  assert.equal(feeder.readPos, feeder.writePos, 'sink consumed exactly what was written');
  assert.equal(after.active, true);
  const tail = readEntries(timing).slice(-10);
  // Starved buffers are all silence: the next ring frame (writePos) is the next buffer's first frame.
  assert.ok(tail.every((e) => e.ringPos === feeder.writePos - FRAMES_PER_BUFFER), 'ringPos maps the next frame while starved');

  await sleep(300); // let the monitor catch up
  stream.stop();
  recording = await recorder.stop();

  // The recording holds both bursts whole, exactly BURST_SPACING_FRAMES apart, and no stale data.
  const bursts = findOnsets(recording);
  t.diagnostic(`recorded ${recording.length / CHANNELS} frames, bursts ${JSON.stringify(bursts)}`);
  assert.equal(bursts.length, 2, 'two bursts recorded');
  assert.equal(bursts[1]!.onset - bursts[0]!.onset, BURST_SPACING_FRAMES);
  for (const b of bursts) assert.ok(Math.abs(b.length - BURST_FRAMES) <= 2, `burst length ${b.length}`);
  assert.ok(longestRunOf(recording, STALE_VALUE) < 16, 'never played past writePos');
}
