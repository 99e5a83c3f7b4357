// The RTT estimate behind the leader's lead, with synthetic pongs on a fake clock: a congestion
// that has passed stops refusing a 250 ms lead within seconds; RTTs that are high now still refuse it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JasError } from '@jaudiosync/protocol/errors';
import { RECENT_WINDOW_MS, RttStats } from '../../src/members/rtt-stats.js';
import { LEAD_MARGIN_US, TimelineController } from '../../src/timeline/timeline-controller.js';

const RATE = 48000;

/** A fake monotonic clock, members' RTT stats on it, and a controller whose lead follows them. */
function setup(members: number) {
  const clock = { ms: 1_000_000 };
  const stats = Array.from({ length: members }, () => new RttStats(() => clock.ms));
  const c = new TimelineController({
    timescale: { nowUs: () => clock.ms * 1000 }, outputRate: RATE, wallNowMs: () => clock.ms,
    minLeadMs: 250,
    memberRtts: () => stats.map((s) => s.recentUs()).filter((v) => v !== undefined),
  });
  c.setTracks([{ id: 'a'.repeat(64), frames: 600 * RATE }]);
  /** One ping a second: each member's pong with the RTT `rttOf(member, second)`. */
  const second = (rttOf: (member: number) => number | undefined) => {
    clock.ms += 1000;
    stats.forEach((s, i) => {
      const rtt = rttOf(i);
      if (rtt !== undefined) s.add(rtt);
    });
  };
  /** Whether a play 250 ms ahead is accepted now; the refusal's message otherwise. */
  const try250 = (): true | string => {
    try {
      c.play({ delayMs: 250 });
      return true;
    } catch (err) {
      assert.ok(err instanceof JasError && err.code === 'JAS_ERR_TIME_IN_PAST', String(err));
      return err.message;
    }
  };
  return { clock, stats, c, second, try250 };
}

test('congestion, then calm: 250 ms refused while congested, accepted within 10 s of the calm', () => {
  const { stats, second, try250 } = setup(100);
  // Two minutes of a busy start: RTTs of 200-600 ms at every member (the playlist going out).
  for (let t = 0; t < 120; t++) second((i) => 200_000 + ((i * 7 + t * 13) % 400) * 1000);
  const refused = try250();
  assert.match(String(refused), /members need at least \d+ ms/);
  // Then the calm: 2-8 ms.
  let acceptedAfterS: number | null = null;
  for (let t = 1; t <= 60 && acceptedAfterS === null; t++) {
    second((i) => 2_000 + ((i + t) % 7) * 1000);
    if (try250() === true) acceptedAfterS = t;
  }
  assert.ok(acceptedAfterS !== null && acceptedAfterS <= 10, `accepted after ${acceptedAfterS} s of calm`);
  // The minute's window (what the lead used to follow) would still have refused it.
  assert.ok(Math.max(...stats.map((s) => s.percentileUs(90) ?? 0)) > 100_000);
});

test('steady high RTT at one member: still refused, with the lead it needs', () => {
  const { c, second, try250 } = setup(20);
  for (let t = 0; t < 120; t++) {
    second((i) => (i === 3 ? 150_000 + (t % 5) * 1000 : 3_000));
    if (t >= 1) assert.match(String(try250()), /members need at least 35\d ms/, `second ${t}`);
  }
  // p90 154 ms + p50 152 ms + the margin: a path slow throughout keeps about two round trips.
  assert.equal(c.leadTimeUs(), 154_000 + 152_000 + LEAD_MARGIN_US);
});

test('congestion at every member: the lead grows with the RTTs', () => {
  const { c, second, try250 } = setup(100);
  for (let t = 0; t < 20; t++) second(() => 3_000);
  assert.equal(try250(), true);
  let before = c.leadTimeUs();
  // All RTTs rise together (a saturated access point): 100 ms, then 300 ms, then 600 ms.
  for (const rttUs of [100_000, 300_000, 600_000]) {
    for (let t = 0; t < 10; t++) second((i) => rttUs + (i % 10) * 1000);
    const lead = c.leadTimeUs();
    assert.ok(lead >= 2 * rttUs + LEAD_MARGIN_US, `RTTs ${rttUs / 1000} ms: lead ${lead / 1000} ms`);
    assert.ok(lead > before);
    before = lead;
  }
  assert.match(String(try250()), /members need at least 1\d{3} ms/);
});

test('1 % loss (the wifi profile): pongs delayed by a TCP retransmission do not double the lead', () => {
  // 100 members at 15-25 ms; a ping or its pong lost (1 % each way) arrives one RTO (>= 200 ms on
  // Linux) later. Over 10 s some member often holds two such pongs: its p90 is ~240 ms. A command
  // needs at most one retransmission plus a one-way trip, which p90 + p50 covers; 2 x p90 (the rule
  // before) asked over 500 ms for it (issue #14, docs/benchmarks.md "Fanout").
  const { c, stats, second } = setup(100);
  let seed = 2;
  const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  let oldRuleOver500 = 0;
  for (let t = 0; t < 300; t++) {
    second(() => 15_000 + random() * 10_000 + (random() < 0.02 ? 215_000 : 0));
    if (t < 10) continue;
    assert.ok(c.leadTimeUs() <= 500_000, `second ${t}: lead ${c.leadTimeUs() / 1000} ms`);
    const oldRule = Math.max(...stats.map((s) => 2 * (s.recentPercentileUs(90) ?? 0) + LEAD_MARGIN_US));
    if (oldRule > 500_000) oldRuleOver500++;
  }
  assert.ok(oldRuleOver500 > 200, `2 x p90 asked > 500 ms in ${oldRuleOver500} of 290 s`); // 258
});

test('slow pongs recurring (one in four) still refuse; one stray slow pong does not', () => {
  const recurring = setup(5);
  for (let t = 0; t < 60; t++) {
    recurring.second((i) => (i === 0 && t % 4 === 0 ? 300_000 : 3_000));
    if (t >= 8) assert.notEqual(recurring.try250(), true, `second ${t}`);
  }
  const stray = setup(5);
  for (let t = 0; t < 60; t++) {
    stray.second((i) => (i === 0 && t === 30 ? 900_000 : 3_000));
    if (t >= 1) assert.equal(stray.try250(), true, `second ${t}`);
  }
});

test('congestion setting in: refused after two slow pongs', () => {
  const { second, try250 } = setup(10);
  for (let t = 0; t < 30; t++) second(() => 3_000);
  assert.equal(try250(), true);
  second((i) => (i === 5 ? 400_000 : 3_000));
  second((i) => (i === 5 ? 400_000 : 3_000));
  // p90 400 ms + p50 3 ms + margin: the slow round trip once, plus an ordinary one.
  assert.match(String(try250()), /members need at least 453 ms/);
});

test('a window of 9 pongs: one slow pong is not its p90; two are', () => {
  const clock = { ms: 0 };
  const s = new RttStats(() => clock.ms);
  // 9 pongs in the 10 s (one ping's pong fell on the far side of the window's edge), one of them
  // delayed by a TCP retransmission.
  for (let i = 0; i < 9; i++) {
    clock.ms += 1100;
    s.add(i === 4 ? 230_000 : 15_000 + i * 1000);
  }
  assert.equal(s.recentPercentileUs(90), 230_000, 'nearest rank: the largest of 9');
  assert.deepEqual(s.recentUs(), { p50Us: 20_000, p90Us: 23_000 });
  clock.ms += 1100;
  s.add(240_000);
  assert.deepEqual(s.recentUs(), { p50Us: 20_000, p90Us: 230_000 });
  // A new connection's first few pongs: the largest counts.
  const fresh = new RttStats(() => clock.ms);
  fresh.add(15_000);
  fresh.add(230_000);
  fresh.add(16_000);
  assert.deepEqual(fresh.recentUs(), { p50Us: 16_000, p90Us: 230_000 });
});

test('a member whose samples are all old does not hold the lead up', () => {
  const { stats, second, try250 } = setup(3);
  for (let t = 0; t < 30; t++) second((i) => (i === 2 ? 500_000 : 3_000));
  assert.notEqual(try250(), true);
  // Member 2 answers no more pings (it is dropped after DEAD_AFTER_MS); its old RTTs expire.
  for (let t = 0; t < 11; t++) second((i) => (i === 2 ? undefined : 3_000));
  assert.equal(stats[2]?.recentPercentileUs(90), undefined);
  assert.equal(stats[2]?.count, 30, 'the minute\'s window still shows them');
  assert.equal(try250(), true);
});

test('window edges: samples exactly RECENT_WINDOW_MS old count, older ones do not; bursts are one sample', () => {
  const clock = { ms: 0 };
  const s = new RttStats(() => clock.ms);
  assert.equal(s.recentPercentileUs(90), undefined);
  s.add(700_000);
  clock.ms += RECENT_WINDOW_MS;
  s.add(1_000);
  assert.equal(s.recentPercentileUs(100), 700_000);
  clock.ms += 1;
  assert.equal(s.recentPercentileUs(100), 1_000);
  s.add(2_000, true); // same burst as the previous pong: replaces it
  assert.equal(s.count, 2);
  assert.equal(s.lastUs, 2_000);
  s.add(Number.NaN);
  s.add(-1);
  assert.equal(s.count, 2);
  s.clear();
  assert.equal(s.recentPercentileUs(90), undefined);
});
