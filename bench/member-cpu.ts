// bench:member-cpu: what a member costs while it plays, thread by thread. A leader and one member
// (capture sink) on loopback play the example playlist in a loop; after a warm-up (the clock's
// start-up burst has left its 120 s fit window, whose fits cost up to twice as much while it holds
// the burst's samples; the first decodes are over) the member's threads are sampled from
// /proc/<pid>/task/*/stat for --seconds. Threads are named from the member's own log line
// `audio threads ...` (engine, capture DAC tids) and by elimination (main = pid); the busiest
// remaining thread is the clock-sync worker. Writes JSON (--out), prints one summary line.
//
//   node bench/dist/member-cpu.js [--warmup-s 130] [--seconds 30] [--out FILE.json]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, EXAMPLE_PLAYLIST, sleep } from '@jaudiosync/testkit/helpers/cluster.js';
import { ArgError, Args } from './lib/args.js';
import { CLK_TCK, readCpuTicks } from './lib/proc-sampler.js';
import { defaultOutPath, hostInfo, writeJson } from './lib/report-writer.js';

interface ThreadTicks {
  ticks: number;
  comm: string;
}

function threadTicks(pid: number): Map<number, ThreadTicks> {
  const out = new Map<number, ThreadTicks>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const ticks = readCpuTicks(pid, Number(t));
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
    } catch {
      // the thread ended between readdir and read
    }
    if (ticks !== undefined) out.set(Number(t), { ticks, comm });
  }
  return out;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = new Args(process.argv.slice(2), ['warmup-s', 'seconds', 'out']);
  } catch (e) {
    if (e instanceof ArgError) {
      process.stderr.write(`${e.message}\nusage: member-cpu [--warmup-s 130] [--seconds 30] [--out FILE.json]\n`);
      process.exit(2);
    }
    throw e;
  }
  // Steady state: the clock's fit window (FIT_WINDOW_US, 120 s) holds only steady polls by then.
  const warmupS = args.num('warmup-s', 130, 0, 600);
  const seconds = args.num('seconds', 30, 5, 3600);
  const out = args.optStr('out') ?? defaultOutPath('member-cpu');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-member-cpu-'));
  const cluster = await Cluster.start({ dir, playlist: EXAMPLE_PLAYLIST, members: [{ id: 'member1' }], leaderArgs: ['--loop'] });
  try {
    await cluster.waitFor((s) => s.playlist.length > 0 && s.members.every((m) => m.clock?.synced === true && m.ready === s.playlist.length), 120_000, 'member synced with every track cached');
    const play = await cluster.api<{ atUs: number }>('POST', '/api/play', {});
    if (play.status !== 200) throw new Error(`play refused: ${JSON.stringify(play.body)}`);
    await sleep(warmupS * 1000);
    const line = readFileSync(path.join(dir, 'member1.log'), 'utf8').split('\n').find((l) => l.includes('"audio threads'));
    const names = new Map<number, string>();
    if (line !== undefined) {
      const threads = (JSON.parse(line) as { threads?: Record<string, string> }).threads ?? {};
      for (const [name, desc] of Object.entries(threads)) {
        const tid = /tid (\d+)/.exec(desc)?.[1];
        if (tid !== undefined) names.set(Number(tid), name);
      }
    }
    const pid = cluster.memberPid('member1');
    if (pid === undefined) throw new Error('member pid unknown');
    names.set(pid, 'main');
    const a = threadTicks(pid);
    await sleep(seconds * 1000);
    const b = threadTicks(pid);
    const rows = [...b].map(([tid, t]) => ({ tid, comm: t.comm, name: names.get(tid) ?? null, cpuPct: ((t.ticks - (a.get(tid)?.ticks ?? t.ticks)) / CLK_TCK / seconds) * 100 }));
    rows.sort((x, y) => y.cpuPct - x.cpuPct);
    const clock = rows.find((r) => r.name === null && r.comm === 'node' && r.cpuPct > 0);
    if (clock) clock.name = 'clock (busiest other thread)';
    const status = await cluster.status();
    const m = status.members[0];
    const totalPct = rows.reduce((s, r) => s + r.cpuPct, 0);
    const byName = (n: string): number | null => rows.find((r) => r.name === n)?.cpuPct ?? null;
    const report = {
      bench: 'member-cpu',
      date: new Date().toISOString(),
      params: { warmupS, seconds, playlist: EXAMPLE_PLAYLIST, sink: 'capture' },
      host: hostInfo(),
      cpu_pct: Math.round(totalPct * 100) / 100,
      cpu_pct_without_capture_sink: Math.round((totalPct - (byName('captureDac') ?? 0)) * 100) / 100,
      threads: rows.map((r) => ({ ...r, cpuPct: Math.round(r.cpuPct * 100) / 100 })),
      member_audio: m?.audio ?? null,
      target_pct: 5,
    };
    writeJson(out, report);
    process.stdout.write(`member CPU ${report.cpu_pct.toFixed(1)} % of a core (${report.cpu_pct_without_capture_sink.toFixed(1)} % without the capture sink); ` +
      `${rows.filter((r) => r.cpuPct >= 0.05).map((r) => `${r.name ?? r.tid} ${r.cpuPct.toFixed(1)}`).join(', ')} -> ${out}\n`);
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`member-cpu: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
