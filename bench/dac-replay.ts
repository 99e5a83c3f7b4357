// bench:dac-replay - replays DAC timing logs (JAS_DAC_TIMING_LOG, e.g. from bench:realpath --keep)
// through the member's DacClock, offline and in seconds, and reports how far its answer is from a
// reference line. What it is for: trying a DAC model change on recorded server behaviour (the
// PulseAudio callback sawtooth, pipewire-pulse's report segments, start-up wander) before a
// 10-minute bench:realpath run.
//
// The reference is a robust straight line through the reports' 250 ms bin medians from
// --ref-from-s to the end of the log: a null sink's clock is a straight line, and PulseAudio's and
// PipeWire's reports settle onto it after ~15 s (docs/audio-output.md). It is only a reference for
// logs without real discontinuities (xruns move the true line) and with reports that are clean
// after --ref-from-s (not pipewire-pulse's: replay those against bench:realpath's recording).
//   npm run bench:dac-replay -- --logs A.ndjson[,B.ndjson] [--ref-from-s 40] [--eval-from-s 20] [--out FILE.json]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DacClock } from '@jaudiosync/member/dac-clock';
import { ArgError, Args } from './lib/args.js';
import { defaultOutPath, hostInfo, writeJson } from './lib/report-writer.js';
import { round, roundSummary, summarize } from './lib/stats.js';

const USAGE = `usage: npm run bench:dac-replay -- --logs FILE[,FILE...] [--ref-from-s S (40)] [--eval-from-s S (20)] [--rate HZ (48000)] [--trusted-reports] [--out FILE.json]
  --trusted-reports: the logs' reports are measured timing (a capture sink, libpulse), as the member tells its DacClock`;
const BIN_S = 0.25;
/** The span after the first lock that first_3s_max_error_us covers. */
const FIRST_SECONDS = 3;

export interface TimingEntry {
  deviceFrame: number;
  ringPos: number;
  dacTimeNs: number;
  callbackTimeNs: number;
}

/** Parses "deviceFrame ringPos dacTimeNs callbackTimeNs" lines; malformed lines are counted, not fatal. */
export function parseTimingLog(text: string): { entries: TimingEntry[]; malformed: number } {
  const entries: TimingEntry[] = [];
  let malformed = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length !== 4 || !f.every((v) => Number.isFinite(v))) {
      malformed++;
      continue;
    }
    entries.push({ deviceFrame: f[0]!, ringPos: f[1]!, dacTimeNs: f[2]!, callbackTimeNs: f[3]! });
  }
  return { entries, malformed };
}

/**
 * Reference DAC line (ns = a + b * frame) through the median report of each bin from `fromS`
 * (seconds of callback time after the first entry), refitted with bins beyond 4 robust sigmas
 * (at least 20 µs) left out. Null when fewer than 8 bins qualify.
 */
export function referenceLine(entries: readonly TimingEntry[], fromS: number, nominalRate: number): { a: number; b: number } | null {
  if (entries.length === 0) return null;
  const c0 = entries[0]!.callbackTimeNs;
  const nsPerFrame = 1e9 / nominalRate;
  const bins = new Map<number, { sx: number; res: number[] }>();
  for (const e of entries) {
    const t = (e.callbackTimeNs - c0) / 1e9;
    if (t < fromS) continue;
    const k = Math.floor(t / BIN_S);
    let bin = bins.get(k);
    if (!bin) bins.set(k, (bin = { sx: 0, res: [] }));
    bin.sx += e.deviceFrame;
    bin.res.push(e.dacTimeNs - e.deviceFrame * nsPerFrame);
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (const bin of bins.values()) {
    const x = bin.sx / bin.res.length;
    const sorted = bin.res.sort((p, q) => p - q);
    xs.push(x);
    ys.push(sorted[sorted.length >> 1]! + x * nsPerFrame);
  }
  if (xs.length < 8) return null;
  let keep = xs.map(() => true);
  let line = leastSquares(xs, ys, keep);
  for (let it = 0; it < 5; it++) {
    const res = xs.map((x, i) => Math.abs(ys[i]! - (line.a + line.b * x)));
    const mad = [...res].sort((p, q) => p - q)[res.length >> 1]! * 1.4826;
    keep = res.map((r) => r < 4 * Math.max(mad, 20_000));
    line = leastSquares(xs, ys, keep);
  }
  return line;
}

function leastSquares(xs: readonly number[], ys: readonly number[], keep: readonly boolean[]): { a: number; b: number } {
  let n = 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!keep[i]) continue;
    n++;
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!keep[i]) continue;
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const b = sxy / sxx;
  return { a: my - b * mx, b };
}

export interface ReplayResult {
  entries: number;
  malformed: number;
  reference_rate_ppm: number | null;
  ready_after_s: number | null;
  /** |model - reference| at the first locked entry, and at most over the 3 s after it (µs): what the first sound is placed by */
  first_lock_error_us: number | null;
  first_3s_max_error_us: number | null;
  error_us: Record<string, number | null> | null;
  rate_ppm_end: number | null;
  steps: number;
  resets: number;
  /** one point per second: [s, model minus reference (µs), model rate (ppm), reports' share] */
  series: [number, number, number, number][];
}

/** Replays one log through a fresh DacClock; errors are taken at each entry's own device frame. */
export function replayLog(text: string, opts: { refFromS: number; evalFromS: number; nominalRate: number; trustedReports?: boolean }): ReplayResult {
  const { entries, malformed } = parseTimingLog(text);
  const ref = referenceLine(entries, opts.refFromS, opts.nominalRate);
  const dc = new DacClock({ nominalRate: opts.nominalRate, clock: { fromHostMonoUs: (us) => us, toHostMonoUs: (us) => us }, trustedReports: opts.trustedReports ?? false });
  const errors: number[] = [];
  const series: [number, number, number, number][] = [];
  let readyAt: number | null = null;
  let firstLockErr: number | null = null;
  let first3sMax: number | null = null;
  let nextPoint = 0;
  const c0 = entries[0]?.callbackTimeNs ?? 0;
  for (const e of entries) {
    dc.add(e);
    const t = (e.callbackTimeNs - c0) / 1e9;
    if (!dc.ready || ref === null) continue;
    readyAt ??= t;
    const errUs = (dc.hostNsOfDeviceFrame(e.deviceFrame) - (ref.a + ref.b * e.deviceFrame)) / 1000;
    firstLockErr ??= Math.abs(errUs);
    if (t < readyAt + FIRST_SECONDS) first3sMax = Math.max(first3sMax ?? 0, Math.abs(errUs));
    if (t >= opts.evalFromS) errors.push(Math.abs(errUs));
    if (t >= nextPoint) {
      nextPoint = Math.floor(t) + 1;
      series.push([round(t, 2)!, round(errUs, 1)!, round(dc.ratePpm, 1)!, round(dc.sources.reportShare, 3)!]);
    }
  }
  return {
    entries: entries.length,
    malformed,
    reference_rate_ppm: ref ? round((1e9 / ref.b / opts.nominalRate - 1) * 1e6, 2) : null,
    ready_after_s: readyAt === null ? null : round(readyAt, 2),
    first_lock_error_us: firstLockErr === null ? null : round(firstLockErr, 1),
    first_3s_max_error_us: first3sMax === null ? null : round(first3sMax, 1),
    error_us: errors.length > 0 ? roundSummary(summarize(errors), 1) : null,
    rate_ppm_end: dc.ready ? round(dc.ratePpm, 2) : null,
    steps: dc.discontinuityCount,
    resets: dc.resetCount,
    series,
  };
}

function main(): number {
  let args: Args;
  let logs: string[];
  let refFromS: number;
  let evalFromS: number;
  let nominalRate: number;
  let trustedReports: boolean;
  try {
    args = new Args(process.argv.slice(2), ['logs', 'ref-from-s', 'eval-from-s', 'rate', 'trusted-reports', 'out', 'help']);
    if (args.flag('help')) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    logs = args.str('logs', '').split(',').filter((s) => s !== '');
    if (logs.length === 0) throw new ArgError('--logs is required');
    refFromS = args.num('ref-from-s', 40, 0, 86_400);
    evalFromS = args.num('eval-from-s', 20, 0, 86_400);
    nominalRate = args.num('rate', 48_000, 8_000, 384_000, true);
    trustedReports = args.flag('trusted-reports');
  } catch (err) {
    process.stderr.write(`[bench:dac-replay] ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const results: Record<string, ReplayResult> = {};
  for (const file of logs) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      process.stderr.write(`[bench:dac-replay] ${file}: ${(err as Error).message}\n`);
      return 1;
    }
    const r = replayLog(text, { refFromS, evalFromS, nominalRate, trustedReports });
    results[file] = r;
    const e = r.error_us;
    process.stderr.write(
      `[bench:dac-replay] ${path.basename(path.dirname(file))}/${path.basename(file)}: ready after ${r.ready_after_s ?? '-'} s ` +
        `(off by ${r.first_lock_error_us ?? '-'} µs, max ${r.first_3s_max_error_us ?? '-'} µs in the 3 s after), ` +
        `|model - reference| from ${evalFromS} s p50 ${e?.['p50'] ?? '-'} p99 ${e?.['p99'] ?? '-'} max ${e?.['max'] ?? '-'} µs, ` +
        `rate ${r.rate_ppm_end ?? '-'} ppm (reference ${r.reference_rate_ppm ?? '-'}), steps ${r.steps}\n`,
    );
  }
  const out = args.str('out', defaultOutPath('dac-replay'));
  writeJson(out, { bench: 'dac-replay', params: { ref_from_s: refFromS, eval_from_s: evalFromS, rate: nominalRate, trusted_reports: trustedReports }, logs: results, host: hostInfo(), date: new Date().toISOString() });
  process.stderr.write(`[bench:dac-replay] wrote ${out}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) process.exitCode = main();
