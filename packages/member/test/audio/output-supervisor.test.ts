import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutputSupervisor } from '../../src/audio/output-supervisor.js';
import type { AudioSink, AudioSinkStats } from '../../src/audio/sink.js';

/** A sink whose progress the test drives, and whose start() fails `failures` times. */
class FakeSink implements AudioSink {
  readonly kind = 'portaudio' as const;
  readonly sampleRate = 48_000;
  readonly channels = 2;
  readonly framesPerBuffer = 256;
  readonly trustedReports = false;
  readonly pcmRing = new SharedArrayBuffer(8);
  readonly timingRing = new SharedArrayBuffer(8);
  buffers = 0;
  running = true;
  active = true;
  failures = 0;
  starts = 0;
  stops = 0;
  discards = 0;
  async start(): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('Connection refused');
    }
    this.starts++;
    this.running = true;
    this.active = true;
    this.buffers = 0;
  }
  async stop(): Promise<void> {
    this.stops++;
    this.running = false;
  }
  discardQueued(): void {
    this.discards++;
  }
  stats(): AudioSinkStats {
    return { kind: this.kind, running: this.running, buffers: this.buffers, deviceFrames: this.buffers * 256, ringFillFrames: 0, underrunFrames: 0, underrunEvents: 0, deviceActive: this.active };
  }
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

test('OutputSupervisor: a stalled output is reported lost, reopened after failed attempts, and its gap is measured', async () => {
  const sink = new FakeSink();
  let now = 0;
  const logs: string[] = [];
  let restarts = 0;
  const sup = new OutputSupervisor({ sink, onRestart: () => restarts++, log: (l, m) => logs.push(`${l}: ${m}`), now: () => now, stallMs: 500, retryMs: [1] });
  // Progress every 100 ms: never lost.
  for (let i = 0; i < 20; i++) {
    now += 100;
    sink.buffers += 4;
    sup.poll();
  }
  assert.equal(sup.status().lost, false);
  assert.equal(restarts, 0);
  // The server dies: no progress. Not lost at 400 ms, lost at 500 ms.
  now += 400;
  sup.poll();
  assert.equal(sup.status().lost, false);
  sink.failures = 3; // the server is still down for three attempts
  now += 100;
  sup.poll();
  const lost = sup.status();
  assert.equal(lost.lost, true);
  assert.match(lost.reason ?? '', /no audio buffer for 500 ms/);
  assert.equal(restarts, 1, 'the engine was told once');
  for (let i = 0; i < 50 && sink.starts === 0; i++) await tick();
  assert.equal(sink.starts, 1, 'reopened after the failures');
  assert.equal(sink.stops, 1, 'the lost stream was closed first');
  assert.equal(sink.discards, 4, 'the PCM ring was emptied before every attempt');
  assert.equal(sup.status().attempts, 3);
  assert.ok(logs.some((l) => /warn: audio output lost/.test(l)));
  assert.ok(logs.some((l) => /still unavailable \(attempt 1\): Connection refused/.test(l)));
  // Still lost until the new stream plays; polls while it does not are no new loss.
  now += 100;
  sup.poll();
  assert.equal(sup.status().lost, true);
  now += 1500;
  sink.buffers = 3;
  sup.poll();
  const back = sup.status();
  assert.equal(back.lost, false);
  assert.equal(back.restarts, 1);
  assert.equal(back.lastGapMs, 2100, 'from the last buffer before the loss to the first after it');
  assert.equal(restarts, 1);
  assert.ok(logs.some((l) => /info: audio output back after a 2100 ms gap/.test(l)));
  await sup.stop();
});

test('OutputSupervisor: a stopped sink is not a lost one, and stop() ends a reopen in progress', async () => {
  const sink = new FakeSink();
  let now = 0;
  const sup = new OutputSupervisor({ sink, onRestart: () => undefined, log: () => undefined, now: () => now, stallMs: 500, retryMs: [1] });
  sink.running = false;
  now += 5000;
  sup.poll();
  assert.equal(sup.status().lost, false);
  sink.running = true;
  sink.failures = Number.POSITIVE_INFINITY;
  now += 600;
  sup.poll();
  now += 600;
  sup.poll();
  assert.equal(sup.status().lost, true);
  await tick();
  await sup.stop();
  const attempts = sup.status().attempts;
  await tick();
  assert.equal(sup.status().attempts, attempts, 'no attempts after stop()');
});

test('OutputSupervisor: a stream that ended on its own (server killed) is lost at the next poll, not after the stall time', async () => {
  const sink = new FakeSink();
  let now = 0;
  let restarts = 0;
  const sup = new OutputSupervisor({ sink, onRestart: () => restarts++, log: () => undefined, now: () => now, stallMs: 2000, retryMs: [1] });
  now += 100;
  sink.buffers = 5;
  sup.poll();
  sink.active = false;
  now += 100;
  sup.poll();
  assert.equal(sup.status().lost, true);
  assert.match(sup.status().reason ?? '', /stream ended/);
  assert.equal(restarts, 1);
  for (let i = 0; i < 50 && sink.starts === 0; i++) await tick();
  assert.equal(sink.starts, 1);
  now += 300;
  sink.buffers = 2;
  sup.poll();
  assert.equal(sup.status().lost, false);
  assert.equal(sup.status().lastGapMs, 400);
  await sup.stop();
});

test('OutputSupervisor: after a long outage attempts slow down, and stop() does not wait out the slow retry', async () => {
  const sink = new FakeSink();
  let now = 0;
  const sup = new OutputSupervisor({ sink, onRestart: () => undefined, log: () => undefined, now: () => now, stallMs: 500, retryMs: [1], slowRetryAfterMs: 1000, slowRetryMs: 60_000 });
  now += 100;
  sink.buffers = 5;
  sup.poll();
  sink.failures = Number.POSITIVE_INFINITY;
  sink.active = false;
  now += 100;
  sup.poll();
  assert.equal(sup.status().lost, true);
  for (let i = 0; i < 5; i++) await tick();
  const quick = sup.status().attempts;
  assert.ok(quick >= 3, `attempts every 1 ms at first (${quick})`);
  now += 2000; // the outage is now longer than slowRetryAfterMs: the next wait is 60 s
  await tick();
  const slow = sup.status().attempts;
  for (let i = 0; i < 5; i++) await tick();
  assert.ok(sup.status().attempts <= slow + 1, `no quick attempts after the switch (${slow} -> ${sup.status().attempts})`);
  const t0 = performance.now();
  await sup.stop();
  assert.ok(performance.now() - t0 < 1000, 'stop() ends the wait');
});
