// Device selection by index or name and the --list-devices text: pure functions, no addon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDeviceList, type DeviceInfo } from '../src/format-device-list.js';
import { resolveDevice, PortAudioError } from '../src/index.js';

function dev(index: number, name: string, maxOutputChannels: number, isDefaultOutput = false): DeviceInfo {
  return {
    index,
    name,
    hostApi: 'ALSA',
    maxOutputChannels,
    defaultSampleRate: 48000,
    defaultLowOutputLatencyS: 0.008684807,
    defaultHighOutputLatencyS: 0.034807256,
    isDefaultOutput,
  };
}

const DEVICES = [
  dev(0, 'USB Audio: Mic (hw:1,0)', 0),
  dev(1, 'HiFiBerry DAC: HiFi (hw:0,0)', 2),
  dev(2, 'pulse', 32),
  dev(3, 'default', 32, true),
];

test('resolveDevice by index, numeric string, exact and partial name', () => {
  assert.equal(resolveDevice(DEVICES, 1, 2).index, 1);
  assert.equal(resolveDevice(DEVICES, ' 2 ', 2).index, 2);
  assert.equal(resolveDevice(DEVICES, 'DEFAULT', 2).index, 3);
  assert.equal(resolveDevice(DEVICES, 'hifiberry', 2).index, 1);
  assert.equal(resolveDevice(DEVICES, 'hw:0', 2).index, 1);
});

test('resolveDevice rejects input-only, unknown and empty choices with the list', () => {
  assert.throws(() => resolveDevice(DEVICES, 0, 2), PortAudioError);
  assert.throws(() => resolveDevice(DEVICES, 'mic', 2), /no output device matching "mic".*1:HiFiBerry/);
  assert.throws(() => resolveDevice(DEVICES, 'hifiberry', 8), /8 channels/);
  assert.throws(() => resolveDevice(DEVICES, '  ', 2), /empty/);
});

test('renderDeviceList shows outputs only, marks the default, keeps fractional latency', () => {
  const text = renderDeviceList(DEVICES);
  assert.doesNotMatch(text, /Mic/);
  assert.match(text, /\*\s+3 {2}default \(ALSA\) {2}32 ch {2}48000 Hz {2}latency 8\.7-34\.8 ms/);
  assert.match(text, /^ \s+1 {2}HiFiBerry/m);
  assert.equal(renderDeviceList([]), 'No PortAudio output devices found.\n');
});
