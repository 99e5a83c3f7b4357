// Tests for bench:clock's error computation against the true leader time and its summaries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeMember, analyzeOutage, clockErrorUs, convergeTimeS, hostMonoUsOf, parseLeaderAnchor, parseProbeReport, type ClockSample } from './clock-analysis.js';

test('error is exact after undoing the injected offset and rate', () => {
  const anchor = { anchorWallUs: 1_764_000_000_123_456, anchorMonoNs: 987_654_321_987n };
  const p = { host: 'member1', offsetUs: -4_321_987, ratePpm: 87.5 };
  for (const hostMonoUs of [987_700_000, 1_500_000_000.5, 90_000_000_000]) {
    const truth = anchor.anchorWallUs + (hostMonoUs - 987_654_321.987);
    const localUs = hostMonoUs * (1 + p.ratePpm / 1e6) + p.offsetUs;
    assert.ok(Math.abs(hostMonoUsOf(localUs, p) - hostMonoUs) < 0.01);
    for (const injected of [0, 37, -250]) {
      const e = clockErrorUs({ localUs, leaderEstUs: truth + injected, synced: true, uncertaintyUs: 1, rttUs: 1 }, p, anchor);
      assert.ok(Math.abs(e - injected) < 0.5, `error ${e} for injected ${injected}`);
    }
  }
});

test('parses probe lines and rejects junk', () => {
  assert.deepEqual(parseProbeReport('{"localUs":1,"leaderEstUs":2,"synced":true,"uncertaintyUs":3,"rttUs":4}'), { localUs: 1, leaderEstUs: 2, synced: true, uncertaintyUs: 3, rttUs: 4 });
  assert.deepEqual(parseProbeReport('{"localUs":1,"leaderEstUs":2,"synced":true,"uncertaintyUs":3,"rttUs":4,"kernelTimestamps":true,"midpointShare":0.93}'),
    { localUs: 1, leaderEstUs: 2, synced: true, uncertaintyUs: 3, rttUs: 4, kernelTimestamps: true, midpointShare: 0.93 });
  assert.equal(parseProbeReport('{"localUs":1,"synced":true}'), undefined);
  assert.equal(parseProbeReport('starting...'), undefined);
  assert.equal(parseProbeReport('null'), undefined);
  assert.deepEqual(parseLeaderAnchor('{"anchorWallUs":5,"anchorMonoNs":"123"}'), { anchorWallUs: 5, anchorMonoNs: 123n });
  assert.equal(parseLeaderAnchor('{"anchorWallUs":5,"anchorMonoNs":123}'), undefined);
});

function series(errs: Array<[number, number, boolean?]>): ClockSample[] {
  return errs.map(([tS, errUs, synced]) => ({ tS, errUs, synced: synced ?? true, uncertaintyUs: 50, rttUs: 1000 + tS }));
}

test('convergence = first sample after which all stay below 100 µs', () => {
  assert.equal(convergeTimeS(series([[0, 5e6, false], [1, 300], [2, 50], [3, 120], [4, 20], [5, -30]])), 4);
  assert.equal(convergeTimeS(series([[0, 10], [1, 20]])), 0);
  assert.equal(convergeTimeS(series([[0, 10], [1, 200]])), null);
  assert.equal(convergeTimeS(series([[0, 10], [1, 20, false]])), null);
  // an excluded outage window does not break convergence
  assert.equal(convergeTimeS(series([[0, 500], [1, 10], [2, 900], [3, 10]]), [{ fromS: 2, toS: 3 }]), 1);
  assert.equal(convergeTimeS([]), null);
});

test('member statistics use steady samples only and outages are reported apart', () => {
  const s = series(Array.from({ length: 200 }, (_, i) => [i * 0.1, i < 20 ? 1e6 : i >= 100 && i < 110 ? 400 : (i % 2 ? 10 : -10)] as [number, number]));
  const a = analyzeMember(s, { runSeconds: 20, exclude: [{ fromS: 10, toS: 11 }] });
  assert.equal(a.steady_from_s, 10);
  assert.equal(a.error_us.max, 10);
  assert.equal(a.converge_s, 2);
  assert.equal(a.uncertainty_coverage, 1);
  const o = analyzeOutage(s, { fromS: 10, toS: 11 });
  assert.equal(o.max_error_during_us, 400);
  assert.equal(o.max_error_after_us, 10);
  assert.equal(o.reconverge_after_end_s, 0);
});
