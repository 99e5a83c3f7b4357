import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimingLog, referenceLine, replayLog } from './dac-replay.js';

/** A log of a DAC at +120 ppm with clean reports and callbacks that run PulseAudio's sawtooth. */
function sawtoothLog(seconds: number): string {
  const lines: string[] = [];
  const nsPerFrame = 1e9 / (48_000 * (1 + 120e-6));
  const t0 = 9_000_000_000_000;
  let seed = 5;
  const noise = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return (seed / 2 ** 31 - 0.5) * 40_000;
  };
  for (let k = 0; k * 256 * nsPerFrame < seconds * 1e9; k++) {
    const f = k * 256;
    const trueNs = t0 + f * nsPerFrame;
    const cb = trueNs - 200e6 - ((trueNs - t0) % 12e9) * 750e-6;
    lines.push(`${f} ${f} ${Math.round(trueNs + noise())} ${Math.round(cb)}`);
  }
  return lines.join('\n');
}

test('dac-replay: parses timing lines and counts malformed ones', () => {
  const { entries, malformed } = parseTimingLog('0 0 100 50\nbad line\n256 256 5433 5383\n1 2 3\n\n');
  assert.equal(entries.length, 2);
  assert.equal(malformed, 2);
  assert.deepEqual(entries[1], { deviceFrame: 256, ringPos: 256, dacTimeNs: 5433, callbackTimeNs: 5383 });
});

test('dac-replay: the reference line recovers the DAC rate, and the model follows the reports past the sawtooth', () => {
  const text = sawtoothLog(60);
  const ref = referenceLine(parseTimingLog(text).entries, 10, 48_000);
  assert.ok(ref);
  assert.ok(Math.abs((1e9 / ref.b / 48_000 - 1) * 1e6 - 120) < 1, 'reference rate 120 ppm');
  const r = replayLog(text, { refFromS: 10, evalFromS: 20, nominalRate: 48_000 });
  assert.equal(r.malformed, 0);
  assert.ok(r.ready_after_s !== null && r.ready_after_s < 3, `ready after ${r.ready_after_s} s`);
  assert.ok(r.error_us !== null && (r.error_us['max'] ?? Infinity) < 30, `max error ${r.error_us?.['max']} µs`);
  assert.equal(r.steps, 0);
  assert.ok(r.series.length > 50);
});

test('dac-replay: a log too short for a reference reports no error instead of a wrong one', () => {
  const r = replayLog(sawtoothLog(5), { refFromS: 40, evalFromS: 0, nominalRate: 48_000 });
  assert.equal(r.error_us, null);
  assert.equal(r.reference_rate_ppm, null);
});
