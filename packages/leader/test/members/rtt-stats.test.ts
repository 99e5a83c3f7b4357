// The RTT estimate behind the leader's lead, with synthetic pongs on a fake clock: a congestion
// that has passed stops refusing a 250 ms lead within seconds; RTTs that are high now still refuse it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JasError } from '@jaudiosync/protocol/errors';
import { RECENT_WINDOW_MS, RttStats } from '../../src/members/rtt-stats.js';
import { TimelineController } from '../../src/timeline/timeline-controller.js';

const RATE = 48000;

/** A fake monotonic clock, members' RTT stats on it, and a controller whose lead follows them. */
function setup(members: number) {
  const clock = { ms: 1_000_000 };
  const stats = Array.from({ length: members }, () => new RttStats(() => clock.ms));
  const c = new TimelineController({
    timescale: { nowUs: () => clock.ms * 1000 }, outputRate: RATE, wallNowMs: () => clock.ms,
    minLeadMs: 250,
    memberRttP90Us: () => stats.map((s) => s.recentPercentileUs(90)).filter((v): v is number => v !== undefined),
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
  assert.equal(c.leadTimeUs(), 2 * 154_000 + 50_000);
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
  assert.match(String(try250()), /members need at least 850 ms/);
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
