import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noisyReportsWarning, REPORT_QUALITY_MIN_BINS } from '../../src/audio/dac-report-quality.js';

const sources = (reportScaleUs: number) => ({ reportScaleUs, callbackScaleUs: 40, reportShare: 0.001, callbackLeadUs: 60_000 });

test('noisyReportsWarning: warns about pipewire-pulse-like reports once the window is long enough', () => {
  const w = noisyReportsWarning(sources(2100), REPORT_QUALITY_MIN_BINS);
  assert.ok(w !== null && w.includes('2100 µs') && w.includes('--device pipewire'));
  assert.equal(noisyReportsWarning(sources(2100), REPORT_QUALITY_MIN_BINS - 1), null, 'not during the start-up transient');
  assert.equal(noisyReportsWarning(sources(45), 480), null, "PulseAudio's clean reports");
  assert.equal(noisyReportsWarning(sources(Number.NaN), 480), null);
});
