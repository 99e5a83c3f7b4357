// Prints the estimator's simulated accuracy per profile, process model and polling schedule
// (numbers for docs/clock.md). Run: node packages/member/dist/test/clock/sim-report.js [seeds] [durationS] [filter]
import { PROFILES, REAL_PROCESSES, absErrStats, convergedAtS, simulate, type SimOptions } from './delay-sim.js';

const seeds = Number(process.argv[2] ?? 5);
const durationS = Number(process.argv[3] ?? 300);
const only = process.argv[4] ?? '';
const schedules: Array<{ name: string } & Pick<SimOptions, 'burstHz' | 'burstS' | 'steadyHz' | 'pairing' | 'wake' | 'hub'>> = [
  { name: 'ideal endpoints, single, 50 Hz/10 Hz', burstHz: 50, burstS: 10, steadyHz: 10, pairing: 'none' },
  { name: 'wake+switch latency, single, 50 Hz/10 Hz', burstHz: 50, burstS: 10, steadyHz: 10, pairing: 'none', ...REAL_PROCESSES },
  { name: 'wake+switch latency, paired, 50 Hz/10 Hz', burstHz: 50, burstS: 10, steadyHz: 10, pairing: 'reply', ...REAL_PROCESSES },
];
for (const [name, profile] of Object.entries(PROFILES)) {
  for (const sch of schedules) {
    const label = `${name}: ${sch.name}`;
    if (!label.includes(only)) continue;
    const rows: { seed: number; rate: number; conv100: number; p50: number; p99: number; max: number; bias: number; cover: number; holeMax: number; afterMax: number }[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const rate = ((seed % 5) - 2) * 50; // -100..+100 ppm
      const { points } = simulate({
        seed, profile, durationS, offsetUs: 3.7e6 * (seed % 2 ? 1 : -1), ratePpm: rate, ...sch,
        timestampNoiseUs: 5, serverProcUs: 30, evalEveryMs: 50,
        blackhole: { fromS: durationS - 100, toS: durationS - 40 },
      });
      const steadyPts = points.filter((p) => p.tS >= 10 && p.tS < durationS - 100);
      const steady = absErrStats(points, 10, durationS - 100);
      const hole = absErrStats(points, durationS - 100, durationS - 40);
      const after = absErrStats(points, durationS - 40);
      const bias = steadyPts.reduce((a, p) => a + p.errUs, 0) / Math.max(1, steadyPts.length);
      const cover = steadyPts.filter((p) => Math.abs(p.errUs) <= p.uncertaintyUs).length / Math.max(1, steadyPts.length);
      rows.push({ seed, rate, conv100: convergedAtS(points.filter((p) => p.tS < durationS - 100), 100), p50: steady.p50, p99: steady.p99, max: steady.max, bias, cover, holeMax: hole.max, afterMax: after.max });
    }
    const f = (k: keyof (typeof rows)[number], d = 1) => rows.map((r) => (r[k] as number).toFixed(d)).join(' ');
    console.log(label);
    console.log(`  conv<100us s: ${f('conv100')}\n  p50: ${f('p50')}\n  p99: ${f('p99')}\n  max: ${f('max')}\n  mean error: ${f('bias')}\n  uncertainty coverage: ${f('cover', 2)}\n  blackhole max: ${f('holeMax')}\n  after max: ${f('afterMax')}`);
  }
}
