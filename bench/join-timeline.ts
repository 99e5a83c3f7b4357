// bench/join-timeline: where a late or restarted member's start-up time goes (issue #18). Reads a
// bench:sync report and the run directory kept with --keep, and lays each late/restarted member's
// own log lines, and the leader's about it, on one axis: ms since its process was spawned.
//   node bench/dist/join-timeline.js --report REPORT.json --dir RUN_DIR
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ArgError, Args } from './lib/args.js';
import { joinTimeline, type TimelineInstance } from './join-timeline-analysis.js';

const USAGE = 'usage: node bench/dist/join-timeline.js --report REPORT.json --dir RUN_DIR  (a bench:sync run kept with --keep)';

function main(): number {
  let args: Args;
  try {
    args = new Args(process.argv.slice(2), ['report', 'dir', 'help']);
  } catch (err) {
    process.stderr.write(`${(err as ArgError).message}\n${USAGE}\n`);
    return 2;
  }
  const reportPath = args.optStr('report');
  const dir = args.optStr('dir');
  if (args.flag('help') || reportPath === undefined || dir === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return args.flag('help') ? 0 : 2;
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as {
    params: { play: { atUs: number } };
    per_member: Array<TimelineInstance & { label: string }>;
  };
  const leaderLog = readFileSync(path.join(dir, 'leader.log'), 'utf8');
  for (const inst of report.per_member) {
    if (inst.kind === 'initial') continue;
    const memberLog = readFileSync(path.join(dir, `${inst.member}.log`), 'utf8');
    const t = joinTimeline(inst, report.params.play.atUs, memberLog, leaderLog);
    process.stdout.write(`${JSON.stringify({ label: inst.label, events_ms: t })}\n`);
  }
  return 0;
}

process.exitCode = main();
