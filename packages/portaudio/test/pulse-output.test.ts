// The libpulse backend (api 'pulse') at its edges: a sink that does not exist, no server at all,
// and a server that dies under a playing stream (the member must see it, and close at once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isAvailable, getLoadError, hasPulseApi, OutputStream, createPcmRing, createTimingRing, formatDeviceList, pulseServerInfo } from '../src/index.js';
import { missingPulseTools, startPrivatePulse } from './private-pulse.js';

const RATE = 48000;
const CHANNELS = 2;

const skip = !isAvailable()
  ? `native addon not built: ${getLoadError()?.message ?? ''}`
  : !hasPulseApi()
    ? 'addon built without libpulse-dev'
    : missingPulseTools() ?? false;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function rings(): { pcmRing: SharedArrayBuffer; timingRing: SharedArrayBuffer } {
  return { pcmRing: createPcmRing(RATE, CHANNELS, RATE), timingRing: createTimingRing(1024) };
}

function entryCount(timing: SharedArrayBuffer): number {
  return Number(Atomics.load(new BigInt64Array(timing), 0));
}

test('libpulse: the server is found and listed; an unknown sink is a clear error, not a crash', { skip, timeout: 30_000 }, async (t) => {
  const pulse = await startPrivatePulse();
  t.after(() => pulse.stop());
  const info = pulseServerInfo(2000);
  assert.ok(!('error' in info), JSON.stringify(info));
  assert.equal(info.defaultSink, 'jas');
  assert.match(formatDeviceList(), /PulseAudio \(--audio-api pulse\): \S+ [\d.]+, default sink jas/);
  assert.throws(
    () => new OutputStream({ api: 'pulse', device: 'no_such_sink', sampleRate: RATE, channels: CHANNELS, ...rings() }),
    (err: Error) => /PulseAudio/.test(err.message) && /no_such_sink/.test(err.message),
  );
  assert.throws(
    () => new OutputStream({ api: 'pulse', device: 3, sampleRate: RATE, channels: CHANNELS, ...rings() }),
    /by name, not by index/,
  );
});

test('libpulse: no server is an error within the connect timeout', { skip, timeout: 30_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jas-nopulse-'));
  const saved = process.env['PULSE_SERVER'];
  process.env['PULSE_SERVER'] = `unix:${path.join(dir, 'nothing-here')}`;
  try {
    const started = Date.now();
    assert.throws(
      () => new OutputStream({ api: 'pulse', sampleRate: RATE, channels: CHANNELS, ...rings() }),
      /PulseAudio: connect/,
    );
    assert.match(JSON.stringify(pulseServerInfo(1000)), /"error":"PulseAudio: connect/);
    assert.ok(Date.now() - started < 5000, 'failed within the timeout');
  } finally {
    if (saved === undefined) delete process.env['PULSE_SERVER'];
    else process.env['PULSE_SERVER'] = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('libpulse: a server that dies ends the stream (active false) and the close does not hang', { skip, timeout: 30_000 }, async (t) => {
  const pulse = await startPrivatePulse();
  let stopped = false;
  t.after(() => (stopped ? undefined : pulse.stop()));
  const r = rings();
  const stream = new OutputStream({ api: 'pulse', device: 'jas', sampleRate: RATE, channels: CHANNELS, ...r });
  stream.start();
  const deadline = Date.now() + 5000;
  while (entryCount(r.timingRing) < 20 && Date.now() < deadline) await sleep(20);
  assert.ok(entryCount(r.timingRing) >= 20, 'timing entries while playing');
  assert.equal(stream.stats().active, true);
  assert.match(stream.info().deviceName, /PulseAudio sink jas/);

  await pulse.stop();
  stopped = true;
  const killedAt = Date.now();
  while (stream.stats().active && Date.now() - killedAt < 3000) await sleep(10);
  assert.equal(stream.stats().active, false, 'the stream saw the server go');
  t.diagnostic(`noticed ${Date.now() - killedAt} ms after the server stopped`);
  const closeStarted = Date.now();
  assert.equal(await stream.closeAsync(2000), 'closed');
  assert.ok(Date.now() - closeStarted < 1000, 'closed at once');
});
