import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSampleLog, replayExchanges, type LoggedExchange } from './clock-replay-analysis.js';

const anchor = { anchorWallUs: 1_796_000_000_000_000, anchorMonoNs: 50_000_000_000_000n };
const params = { host: 'member1', offsetUs: 2.5e6, ratePpm: 40 };
const anchorMonoUs = 50_000_000_000;
const local = (hostUs: number) => hostUs * (1 + params.ratePpm / 1e6) + params.offsetUs;
const leader = (hostUs: number) => anchor.anchorWallUs + hostUs - anchorMonoUs;

/** Exchanges 20 ms apart with the given one-way delays (µs) and a 30 µs server turnaround. */
function exchanges(n: number, upOf: (i: number) => number, downOf: (i: number) => number): LoggedExchange[] {
  const out: LoggedExchange[] = [];
  for (let i = 0; i < n; i++) {
    const h1 = anchorMonoUs + 1e6 + i * 20_000;
    const h2 = h1 + upOf(i);
    const h3 = h2 + 30;
    const h4 = h3 + downOf(i);
    out.push({ t1: local(h1), t2: leader(h2), t3: leader(h3), t4: local(h4), kernel: true });
  }
  return out;
}

test('sample log lines parse; malformed ones are counted', () => {
  const { exchanges: xs, bad } = parseSampleLog('1 2 3 4 1\n5 6 7 8 0\n\n1 2 3\nx 2 3 4 1\n1 2 3 4 7\n');
  assert.deepEqual(xs, [{ t1: 1, t2: 2, t3: 3, t4: 4, kernel: true }, { t1: 5, t2: 6, t3: 7, t4: 8, kernel: false }]);
  assert.equal(bad, 3);
});

test('replay: true one-way delays and asymmetry recovered exactly; the filter converges on a symmetric link', () => {
  const xs = exchanges(500, (i) => 200 + (i % 7) * 10, (i) => 200 + ((i * 3) % 7) * 10);
  const r = replayExchanges(xs, params, anchor, 5);
  assert.equal(r.exchanges, 500);
  assert.deepEqual(r.lowest_up_us.slice(0, 1), [200]);
  assert.deepEqual(r.lowest_down_us.slice(0, 1), [200]);
  assert.ok(Math.abs(r.median_asymmetry_us ?? NaN) <= 5, `median asymmetry ${r.median_asymmetry_us}`);
  assert.ok(r.error_us.p99 !== null && r.error_us.p99 < 20, `p99 ${r.error_us.p99}`);
  assert.ok(r.converge_s < 5, `converged at ${r.converge_s}`);
});

test('replay: a constant path asymmetry shows as error of half of it (no two-way exchange can see it)', () => {
  const xs = exchanges(500, () => 300, () => 200);
  const r = replayExchanges(xs, params, anchor, 5);
  assert.equal(r.median_asymmetry_us, 50);
  assert.ok(r.error_us.p50 !== null && Math.abs(r.error_us.p50 - 50) < 2, `p50 ${r.error_us.p50}`);
});
