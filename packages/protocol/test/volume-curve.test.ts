// The volume curve: what 0..1 means (docs/audio-engine.md, "Volume").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dbToGain, gainToVolume, volumeToGain } from '../src/volume-curve.js';

const db = (g: number): number => 20 * Math.log10(g);

test('1 is 0 dB, 0.5 about half as loud (-9 dB), 0.01 is -60 dB, 0 and below mute', () => {
  assert.equal(volumeToGain(1), 1);
  assert.ok(Math.abs(db(volumeToGain(0.5)) + 9.03) < 0.01);
  assert.ok(Math.abs(db(volumeToGain(0.1)) + 30) < 0.01);
  assert.ok(Math.abs(db(volumeToGain(0.01)) + 60) < 0.01);
  assert.equal(volumeToGain(0), 0);
  assert.equal(volumeToGain(-1), 0);
  assert.equal(volumeToGain(Number.NaN), 0);
  assert.equal(volumeToGain(2), 1);
});

test('monotonic, and gainToVolume inverts it', () => {
  let prev = -1;
  for (let v = 0; v <= 1.0001; v += 0.01) {
    const g = volumeToGain(v);
    assert.ok(g > prev || (g === 0 && prev === -1));
    prev = g;
    assert.ok(Math.abs(gainToVolume(g) - Math.min(1, v)) < 1e-9);
  }
  assert.ok(Math.abs(dbToGain(-6.0206) - 0.5) < 1e-4);
});
