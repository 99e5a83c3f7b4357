// The native boundary refuses rings whose headers do not fit their buffers (the real-time
// callback trusts them) and reports bad options as PortAudioError, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAvailable, getLoadError, OutputStream, PortAudioError, createPcmRing, createTimingRing } from '../src/index.js';

const skip = isAvailable() ? false : `native addon not built: ${getLoadError()?.message ?? ''}`;

function options(pcmRing: SharedArrayBuffer, timingRing: SharedArrayBuffer) {
  return { sampleRate: 48000, channels: 2, pcmRing, timingRing };
}

test('rejects rings that do not match the stream or their buffers', { skip }, () => {
  const timing = createTimingRing(64);
  assert.throws(() => new OutputStream(options(createPcmRing(480, 1, 48000), timing)), PortAudioError);
  assert.throws(() => new OutputStream(options(createPcmRing(480, 2, 44100), timing)), /44100 Hz/);

  const lying = createPcmRing(480, 2, 48000);
  new Int32Array(lying, 0, 16)[9] = 100_000; // capacityFrames beyond the buffer
  assert.throws(() => new OutputStream(options(lying, timing)), /capacityFrames does not fit/);

  const small = new SharedArrayBuffer(64 + 8 * 32);
  new Int32Array(small, 0, 16)[2] = 8; // below the reader's safety margin
  assert.throws(() => new OutputStream(options(createPcmRing(480, 2, 48000), small)), /timing ring capacity/);

  const plain = new ArrayBuffer(64) as unknown as SharedArrayBuffer;
  assert.throws(() => new OutputStream(options(createPcmRing(480, 2, 48000), plain)), /SharedArrayBuffers/);
});

test('rejects bad numeric options', { skip }, () => {
  const make = (extra: Record<string, unknown>) => () =>
    new OutputStream({ ...options(createPcmRing(480, 2, 48000), createTimingRing(64)), ...extra });
  assert.throws(make({ sampleRate: 1 }), PortAudioError);
  assert.throws(make({ channels: 2.5 }), PortAudioError);
  assert.throws(make({ framesPerBuffer: -1 }), /framesPerBuffer/);
  assert.throws(make({ suggestedLatencyS: 5 }), /suggestedLatencyS/);
  assert.throws(make({ device: 'no-such-device-anywhere' }), /no output device matching/);
});
