// The real audio path in the default suite (issue #13): 60 s of music through a private PulseAudio
// (members through libpulse), then through a private PipeWire (through PipeWire's own ALSA device),
// two members on the left and right of one null sink, one
// recording. Fails on any 1 s window with the members more than 500 µs apart (bench:realpath's
// targets are 10x tighter; this leaves room for a loaded CI machine) or a gap of a member's own, and
// checks that the report is complete. The figures themselves come from bench:realpath.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isAvailable, getLoadError, hasPulseApi } from '@jaudiosync/portaudio';
import { audioServerMissing, type AudioServerKind } from './lib/audio-server.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = fileURLToPath(new URL('./realpath.js', import.meta.url));
const BINS = ['packages/leader/dist/src/bin/jaudiosync-leader.js', 'packages/member/dist/src/bin/jaudiosync-member.js'];
const MUSIC_S = 60;
/**
 * Members run this long before the play, as daemons started at boot do; here only their clock
 * sync needs it. On PulseAudio they play through libpulse itself (bench:realpath's `--device
 * auto`), whose raw server timing is right from the first entry (docs/audio-output.md, "The
 * native PulseAudio output"); PipeWire's own ALSA plugin reports cleanly from the first entry too.
 */
const SETTLE_S: Record<string, number> = { pulse: 5, pipewire: 5 };
/** Per run: server + daemons (~6 s), settle, 2 s play lead, music, analysis and stop (~5 s). */
const RUN_TIMEOUT_MS = 150_000;
/** No window may read the members further apart than this (µs). */
const MAX_WINDOW_US = 500;
/** Both servers are held to the bound from the first window of music. */
const START_GRACE_S: Record<string, number> = { pulse: 0, pipewire: 0 };

function skipReason(kind: AudioServerKind): string | false {
  const missing = audioServerMissing(kind);
  if (missing) return missing;
  if (!isAvailable()) return `PortAudio addon not available: ${getLoadError()?.message ?? 'unknown reason'}`;
  const unbuilt = BINS.filter((p) => !existsSync(path.join(REPO_DIR, p)));
  return unbuilt.length > 0 ? `daemons not built: ${unbuilt.join(', ')}` : false;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'jas-bench-realpath-smoke-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function runBench(kind: AudioServerKind, out: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BENCH, '--server', kind, '--seconds', String(MUSIC_S), '--settle-s', String(SETTLE_S[kind] ?? 15), '--seed', '3', '--out', out], { cwd: REPO_DIR, timeout: RUN_TIMEOUT_MS }, (err, so, se) =>
      err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so),
    );
  });
}

for (const kind of ['pulse', 'pipewire'] as const) {
  test(`real path on ${kind}: two members heard within ${MAX_WINDOW_US} µs of each other in every window of ${MUSIC_S} s, no gap of their making`, { skip: skipReason(kind), timeout: RUN_TIMEOUT_MS + 5_000 }, async () => {
    const out = path.join(dir, `realpath-${kind}.json`);
    const stdout = await runBench(kind, out);
    try {
      checkRun(kind, out, stdout);
    } catch (err) {
      // The run's JSON and plot outlive the scratch directory: a CI failure can be read afterwards.
      const keep = path.join(REPO_DIR, 'test-artifacts', 'realpath');
      mkdirSync(keep, { recursive: true });
      for (const f of [out, out.replace(/\.json$/, '.svg')]) if (existsSync(f)) copyFileSync(f, path.join(keep, path.basename(f)));
      throw err;
    }
  });
}

function checkRun(kind: AudioServerKind, out: string, stdout: string): void {
  assert.match(stdout, new RegExp(`"server":"${kind}"`));
  const r = JSON.parse(readFileSync(out, 'utf8')) as Record<string, any>;
  assert.equal(r.failure, null);
  for (const k of ['server', 'seconds', 'fake_clocks', 'load', 'latency_ms', 'offset_us', 'first_second_us', 'in_sync_after_s', 'reported_vs_measured_us',
    'dropouts', 'schedule_error_us', 'windows', 'series', 'status_series', 'member_log_warnings', 'params', 'host']) assert.ok(k in r, `missing ${k}`);
  assert.equal(r.server, kind);
  // Through pipewire-pulse the members are only good to ~1-2 ms (docs/audio-output.md): on
  // PipeWire they must use its own ALSA plugin, which scripts/setup unpacks beside PulseAudio.
  if (kind === 'pipewire') assert.equal(r.device, 'pipewire', 'members did not play through PipeWire\'s own ALSA plugin (scripts/setup unpacks it)');
  assert.equal(r.seconds, MUSIC_S);
  if (kind === 'pulse' && hasPulseApi()) assert.equal(r.device, 'native', 'PulseAudio members play through libpulse');
  assert.equal(r.params.seed, 3);
  // Most 1 s windows measured (one may be lost to a dropout on a busy machine, or to a member
  // starting late: that is the members' business, reported in start_vs_schedule_ms).
  const lateS = Math.max(0, ...Object.values(r.start_vs_schedule_ms as Record<string, number>)) / 1000;
  assert.ok(r.windows.total >= MUSIC_S - 3 - Math.ceil(lateS), `only ${r.windows.total} windows (members late by up to ${lateS} s)`);
  assert.ok(r.windows.accepted >= 3, `windows ${JSON.stringify(r.windows)}`);
  assert.ok(r.windows.accepted >= 0.7 * r.windows.total - Math.ceil(lateS), `windows ${JSON.stringify(r.windows)}`);
  assert.equal(r.series.length, r.windows.accepted);
  for (const k of ['p50', 'p99', 'max']) assert.equal(typeof r.offset_us[k], 'number', `offset_us.${k}`);
  assert.ok(r.offset_us.p50 <= r.offset_us.p99 && r.offset_us.p99 <= r.offset_us.max);
  // A server-side dropout on both channels (PipeWire skipping a graph cycle on this 2-core VM) can
  // delay one member's stream and not the other's: that member sees the step in its reports and
  // corrects it (issue #13: "real discontinuities ... corrected inaudibly ... within 1 s"). The
  // 1 s windows from the dropout to 1 s after it are excused; every later one is held to the bound.
  const both = (r.dropouts.list as Array<{ kind: string; t_s: number; ms: number }>).filter((d) => d.kind === 'both');
  const excused = (tS: number): boolean => both.some((d) => tS + 0.5 > d.t_s && tS - 0.5 < d.t_s + d.ms / 1000 + 1);
  const held = (r.series as Array<{ tS: number; offsetUs: number }>).filter((x) => x.tS >= START_GRACE_S[kind]! && !excused(x.tS));
  assert.ok(held.length >= 0.6 * r.series.length, `only ${held.length} of ${r.series.length} windows outside dropouts`);
  const worst = held.reduce((w, x) => (Math.abs(x.offsetUs) > Math.abs(w.offsetUs) ? x : w), { tS: NaN, offsetUs: 0 });
  assert.ok(Math.abs(worst.offsetUs) <= MAX_WINDOW_US, `members ${worst.offsetUs} µs apart at ${worst.tS} s (device ${r.device}; p50 ${r.offset_us.p50}, p99 ${r.offset_us.p99} µs)`);
  const last = r.status_series[r.status_series.length - 1];
  // No gap of the members' making: their PCM rings never ran dry. The audio server can still
  // drop one stream's buffer once when the host stalls it (a 16 ms PulseAudio server-side underrun
  // of one member in a 60 s clean-clone run, 2026-12-07; one in a 600 s bench run before): at most
  // one such short gap is let through (the windows it touches are not measured; all others are
  // held to the bound above).
  const own = (r.dropouts.list as Array<{ kind: string; ms: number }>).filter((d) => d.kind !== 'both');
  assert.ok(own.length <= 1 && own.every((d) => d.ms <= 25), `a member's own gaps: ${JSON.stringify(r.dropouts)}`);
  for (const m of ['member1', 'member2']) assert.equal(last[m]?.audio?.underruns, 0, `${m}'s PCM ring ran dry`);
  // Windows that could not be measured because a member was silent, off by more than the search
  // range, or played something else are failures too, not gaps in the evidence.
  const bad = Object.keys(r.windows.rejected as Record<string, number>).filter((k) => !['partial', 'no_bursts', 'dropout_left', 'dropout_right'].includes(k));
  assert.deepEqual(bad, [], `windows rejected: ${JSON.stringify(r.windows.rejected)}`);
  // null when nothing of the first second could be measured (a member not playing yet)
  if (r.first_second_us === null) assert.ok(r.first_second_unmeasured > 0, 'first_second_us null without a reason');
  else assert.equal(typeof r.first_second_us, 'number');
  for (const k of ['both', 'left', 'right']) assert.equal(typeof r.dropouts[k], 'number');
  for (const m of ['member1', 'member2']) {
    const s = r.schedule_error_us[m];
    assert.ok(s.n >= 0.7 * (MUSIC_S - lateS) * 4, `${m}: only ${s.n} bursts matched to the schedule`);
    assert.equal(typeof s.median_us, 'number');
    assert.ok(Math.abs(s.median_us) < 100_000, `${m}: heard ${s.median_us} µs from the schedule`);
  }
  assert.ok(r.status_series.length >= MUSIC_S, `only ${r.status_series.length} status polls`);
  for (const m of ['member1', 'member2']) assert.equal(last[m]?.audio?.sink, 'portaudio', `${m} is not on its PortAudio sink`);
  assert.equal(r.params.leader_time_map.method, 'anchor');
  const svg = readFileSync(out.replace(/\.json$/, '.svg'), 'utf8');
  assert.match(svg, /^<svg /);
  assert.match(svg, /right - left/);
}
