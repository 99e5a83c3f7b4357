// Prints the estimator's simulated accuracy per profile and polling schedule (numbers for
// docs/clock.md). Run: node packages/member/dist/test/clock/sim-report.js [seeds] [durationS]
import { PROFILES, absErrStats, convergedAtS, simulate } from './delay-sim.js';

const seeds = Number(process.argv[2] ?? 5);
const durationS = Number(process.argv[3] ?? 300);
const schedules = [
  { burstHz: 50, burstS: 10, steadyHz: 10 },
  { burstHz: 50, burstS: 10, steadyHz: 5 },
  { burstHz: 20, burstS: 10, steadyHz: 2 },
];
for (const [name, profile] of Object.entries(PROFILES)) {
  for (const sch of schedules) {
    const rows: { seed: number; rate: number; conv100: number; p50: number; p99: number; max: number; holeMax: number; afterMax: number }[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const rate = ((seed % 5) - 2) * 50; // -100..+100 ppm
      const { points } = simulate({
        seed, profile, durationS, offsetUs: 3.7e6 * (seed % 2 ? 1 : -1), ratePpm: rate, ...sch,
        timestampNoiseUs: 5, serverProcUs: 30, evalEveryMs: 50,
        blackhole: { fromS: durationS - 100, toS: durationS - 40 },
      });
      const steady = absErrStats(points, 10, durationS - 100);
      const hole = absErrStats(points, durationS - 100, durationS - 40);
      const after = absErrStats(points, durationS - 40);
      rows.push({ seed, rate, conv100: convergedAtS(points.filter((p) => p.tS < durationS - 100), 100), p50: steady.p50, p99: steady.p99, max: steady.max, holeMax: hole.max, afterMax: after.max });
    }
    const f = (k: keyof (typeof rows)[number]) => rows.map((r) => (r[k] as number).toFixed(1)).join(' ');
    console.log(`${name} burst ${sch.burstHz}Hz/${sch.burstS}s steady ${sch.steadyHz}Hz`);
    console.log(`  conv<100us s: ${f('conv100')}\n  p50: ${f('p50')}\n  p99: ${f('p99')}\n  max: ${f('max')}\n  blackhole max: ${f('holeMax')}\n  after max: ${f('afterMax')}`);
  }
}
