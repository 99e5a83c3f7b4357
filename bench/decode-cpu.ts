// bench:decode-cpu: what decoding one 5-minute track costs a member. A 5-minute 44.1 kHz MP3 is
// built from the example playlist's MP3 frames (lib/long-mp3.ts, no encoder needed) and decoded to
// 48 kHz int16 stereo the way a member does it: TrackDecoder (one worker at nice 19) writing into
// a file descriptor. Reports the decode thread's own CPU time (/proc/self/task/<tid>/stat, worker
// start-up, wasm compilation and the resampler included), the whole process's CPU per wall time
// (the "never more than one core" check), the thread's nice, and the leader's measure-only cost.
//
//   node bench/dist/decode-cpu.js [--runs 3] [--seconds 300] [--out FILE.json]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { framesAtRate, TrackDecoder } from '@jaudiosync/media';
import { missingNodeFlags } from '@jaudiosync/member/node-flags';
import { ArgError, Args } from './lib/args.js';
import { writeLongMp3 } from './lib/long-mp3.js';
import { CLK_TCK, readCpuTicks } from './lib/proc-sampler.js';
import { defaultOutPath, hostInfo, writeJson } from './lib/report-writer.js';
import { percentile } from './lib/stats.js';

const SOURCE_MP3 = fileURLToPath(new URL('../../Music/02-pluck-parade.mp3', import.meta.url));
const OUTPUT_RATE = 48_000;

interface Run {
  decode_thread_cpu_s: number;
  process_cpu_s: number;
  wall_s: number;
  process_cores: number;
  decode_thread_nice: number;
}

async function decodeOnce(file: string, seconds: number, dir: string): Promise<Run> {
  // A fresh pool per run: a member's worker exits when idle, so every decode pays its start-up.
  const decoder = new TrackDecoder({ idleMs: 60_000 });
  const target = path.join(dir, 'decoded.pcm');
  const fd = openSync(target, 'w');
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await decoder.decode(file, { outputRate: OUTPUT_RATE, targetFile: { fd, frames: framesAtRate(Math.ceil(seconds * 44100) + 44100, 44100, OUTPUT_RATE) } });
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const thread = decoder.threads()[0];
    if (thread === undefined || thread.tid === 0) throw new Error('decode worker thread id unknown');
    const ticks = readCpuTicks(process.pid, thread.tid);
    if (ticks === undefined) throw new Error('decode worker thread gone before it was measured');
    const processCpu = (cpu.user + cpu.system) / 1e6;
    return {
      decode_thread_cpu_s: ticks / CLK_TCK,
      process_cpu_s: Number(processCpu.toFixed(3)),
      wall_s: Number(wall.toFixed(3)),
      process_cores: Number((processCpu / wall).toFixed(2)),
      decode_thread_nice: thread.nice,
    };
  } finally {
    closeSync(fd);
    await decoder.close();
  }
}

async function main(): Promise<void> {
  // The member's V8 flags (--single-threaded: its GC runs on the decode thread itself, not on
  // helper threads) decide where the decoder's CPU goes: run under them as a member does.
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    const r = spawnSync(process.execPath, [...process.execArgv, ...missing, ...process.argv.slice(1)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  let args: Args;
  try {
    args = new Args(process.argv.slice(2), ['runs', 'seconds', 'out']);
  } catch (e) {
    if (e instanceof ArgError) {
      process.stderr.write(`${e.message}\nusage: decode-cpu [--runs 3] [--seconds 300] [--out FILE.json]\n`);
      process.exit(2);
    }
    throw e;
  }
  const runsN = args.num('runs', 3, 1, 20, true);
  const seconds = args.num('seconds', 300, 10, 3600);
  const out = args.optStr('out') ?? defaultOutPath('decode-cpu');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-decode-cpu-'));
  try {
    const mp3 = path.join(dir, 'long.mp3');
    const sourceRate = writeLongMp3(SOURCE_MP3, mp3, seconds);
    const runs: Run[] = [];
    for (let i = 0; i < runsN; i++) runs.push(await decodeOnce(mp3, seconds, dir));
    const measurer = new TrackDecoder({ idleMs: 60_000 });
    const m0 = process.cpuUsage();
    await measurer.measure(mp3);
    const m = process.cpuUsage(m0);
    await measurer.close();
    const perTrack = (x: number): number => Number(((x * 300) / seconds).toFixed(3));
    const report = {
      bench: 'decode-cpu', host: hostInfo(), source: { format: 'mp3', rate: sourceRate, seconds, kbps: 128 }, output_rate: OUTPUT_RATE,
      decode_cpu_s_per_track: perTrack(percentile(runs.map((r) => r.decode_thread_cpu_s), 50)),
      decode_process_cpu_s_per_track: perTrack(percentile(runs.map((r) => r.process_cpu_s), 50)),
      process_cores_max: Math.max(...runs.map((r) => r.process_cores)),
      measure_cpu_s_per_track: perTrack((m.user + m.system) / 1e6),
      runs,
    };
    writeJson(out, report);
    process.stdout.write(`decode_cpu_s_per_track ${report.decode_cpu_s_per_track} (process ${report.decode_process_cpu_s_per_track}, at most ${report.process_cores_max} cores, nice ${runs[0]!.decode_thread_nice}); measure ${report.measure_cpu_s_per_track} s\nwrote ${out}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
