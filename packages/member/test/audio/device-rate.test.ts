import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseDeviceRate } from '../../src/audio/device-rate.js';

const only = (...rates: number[]) => (r: number): string | null => (rates.includes(r) ? null : 'Invalid sample rate');

test('the timeline rate when the device takes it', () => {
  assert.equal(chooseDeviceRate(48_000, 0, 44_100, only(44_100, 48_000)).rate, 48_000);
});

test('a device that only opens at 44.1 kHz: its default rate, with the reason', () => {
  const c = chooseDeviceRate(48_000, 0, 44_100, only(44_100));
  assert.equal(c.rate, 44_100);
  assert.match(c.reason, /does not open at 48000 Hz \(Invalid sample rate\): resampling to 44100/);
});

test('a default rate the device refuses is skipped for a common rate it takes', () => {
  assert.equal(chooseDeviceRate(48_000, 0, 22_050, only(96_000)).rate, 96_000);
  assert.equal(chooseDeviceRate(48_000, 0, Number.NaN, only(32_000)).rate, 32_000);
});

test('forced rate wins without asking; nothing confirmed falls back to the timeline rate', () => {
  let asked = 0;
  assert.equal(chooseDeviceRate(48_000, 44_100, 48_000, () => { asked++; return null; }).rate, 44_100);
  assert.equal(asked, 0);
  const c = chooseDeviceRate(48_000, 0, 48_000, () => 'Host error');
  assert.equal(c.rate, 48_000);
  assert.match(c.reason, /no rate confirmed/);
});
