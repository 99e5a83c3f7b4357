// bench/clock-replay: replays the NTP exchanges a bench:clock run logged (--sample-log DIR) through
// the member's current TimeFilter, against the exact truth; prints one JSON line per member. For
// trying estimator changes on real exchanges without a new run (docs/benchmarks.md).
//   node bench/dist/clock-replay.js --report REPORT.json [--from-s 10]
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ArgError, Args } from './lib/args.js';
import { parseLeaderAnchor } from './clock-analysis.js';
import { parseSampleLog, replayExchanges } from './clock-replay-analysis.js';

const USAGE = 'usage: node bench/dist/clock-replay.js --report REPORT.json [--from-s S (10)]  (a bench:clock report written with --sample-log DIR)';

function main(): number {
  let args: Args;
  let fromS: number;
  try {
    args = new Args(process.argv.slice(2), ['report', 'from-s', 'help']);
    fromS = args.num('from-s', 10, 0, 3600);
  } catch (err) {
    process.stderr.write(`${(err as ArgError).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.flag('help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const reportPath = args.optStr('report');
  if (reportPath === undefined || reportPath === 'true') {
    process.stderr.write(`--report is required\n${USAGE}\n`);
    return 2;
  }
  let report: { params?: { sample_log_dir?: string | null; leader_anchor?: { anchorWallUs: number; anchorMonoNs: string } | null }; per_member?: Array<{ host: string; offset_us: number; rate_ppm: number }> };
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8')) as typeof report;
  } catch (err) {
    process.stderr.write(`cannot read ${reportPath}: ${(err as Error).message}\n`);
    return 2;
  }
  const dir = report.params?.sample_log_dir;
  const anchor = report.params?.leader_anchor ? parseLeaderAnchor(JSON.stringify(report.params.leader_anchor)) : undefined;
  if (!dir || anchor === undefined || !Array.isArray(report.per_member)) {
    process.stderr.write(`${reportPath}: no sample logs or no leader anchor (run bench:clock with --sample-log DIR)\n`);
    return 2;
  }
  for (const m of report.per_member) {
    const file = path.join(dir, `${m.host}.samples`);
    if (!existsSync(file)) {
      process.stdout.write(`${JSON.stringify({ host: m.host, error: `missing ${file}` })}\n`);
      continue;
    }
    const { exchanges, bad } = parseSampleLog(readFileSync(file, 'utf8'));
    const r = replayExchanges(exchanges, { host: m.host, offsetUs: m.offset_us, ratePpm: m.rate_ppm }, anchor, fromS);
    process.stdout.write(`${JSON.stringify({ host: m.host, bad_lines: bad, ...r })}\n`);
  }
  return 0;
}

process.exitCode = main();
