// Acoustic calibration on the real audio path. Three members play through PortAudio, each into
// its own null sink (its "speaker"; PortAudio's DAC timing needs a real sink) in one private
// PulseAudio. Each speaker's monitor reaches a 4-channel null sink "room" twice through
// module-loopback: into the microphone channel (front-left) after BASE_MS + its extra delay (0, 37
// or 180 ms: the stand-ins for a wired and two Bluetooth speakers), and into its own channel after
// BASE_MS. One recording of the room holds both. The microphone channel, with seeded white noise
// added at -20 dB SNR, is what the calibration hears.
//
// The same recording gives the truth independently of the calibration: per probe, each member's
// extra path (microphone minus own channel, no schedule involved) and each member's output error
// against the schedule (its own channel; the own-channel loopbacks cancel out of the difference
// spk37 - spk0). The calibration must find each member's extra delay at the microphone relative to
// spk0 within 0.5 ms; after its proposal is applied, a second run through `jaudiosync ctl
// calibrate` must read every member within 1 ms at the microphone once what each member's output
// moved by itself between the runs (its own channel again) is taken out; the raw spread is
// reported beside it. JAS_E2E_KEEP=1 keeps the working dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isAvailable, getLoadError } from '@jaudiosync/portaudio';
import { meanSquare, withRoomNoise } from '@jaudiosync/test-support';
import { applyProposal, calibrate, CommandRecorder, pcmChannel, type RecordedAudio, type Recorder } from '@jaudiosync/leader/calibrate';
import { analyseCalibration, type CalibrationReport } from '@jaudiosync/leader/calibration-analysis';
import type { CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import { ProbeDetector } from '@jaudiosync/leader/probe-detector';
import { DEFAULT_PROBE, probeSamples } from '@jaudiosync/leader/probe-signal';
import { Cluster, REPO_ROOT, sleep, type Spawner } from '../helpers/cluster.js';
import { missingPulseTools, startPulse, type PulseServer } from '../helpers/pulse.js';

const RATE = 48_000;
const ROOM = 'room';
/** Channels of the room sink (PulseAudio's default 4-channel map): the microphone, then each member's own output. */
const ROOM_CHANNELS = ['front-left', 'front-center', 'front-right', 'rear-center'] as const;
const MIC_CHANNEL = 0;
/** Nominal extra delays: a wired speaker, a fast and a slow Bluetooth one. */
const MEMBERS = [
  { id: 'spk0', loopbackMs: 0, channel: 1 },
  { id: 'spk37', loopbackMs: 37, channel: 2 },
  { id: 'spk180', loopbackMs: 180, channel: 3 },
] as const;
/** Every speaker reaches the room through a loopback of at least this latency. */
const BASE_MS = 20;
const SNR_DB = -20;
const NOISE_SEED = 20;
/** The issue's bounds. */
const MAX_DELAY_ERROR_MS = 0.5;
const MAX_SPREAD_AFTER_MS = 1;
/**
 * parec's fragment: the microphone needs no fine time map (arrivals are found by content), so no
 * 10 ms fragments (and their wake-ups on a loaded machine) either.
 */
const RECORD_LATENCY_MS = 100;
/** PortAudio DAC times through the ALSA pulse plugin settle seconds after a stream opens (portaudio-path.test.ts). */
const DAC_WARMUP_MS = 12_000;
/** module-loopback slews to its target once audio flows: two readings this close in a row = settled. */
const LOOPBACK_STEADY_MS = 0.2;
const LOOPBACK_SETTLE_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 180_000;

function skipReason(): string | undefined {
  const missing = missingPulseTools();
  if (missing) return missing;
  if (!isAvailable()) return `PortAudio addon not available: ${getLoadError()?.message ?? 'unknown reason'}`;
  return undefined;
}

function pactl(p: PulseServer, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('pactl', args, { env: p.env, timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pactl ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

function parecCmd(p: PulseServer, source: string, channels: number): string {
  const env = Object.entries(p.clientEnv).map(([k, v]) => `${k}='${v}'`).join(' ');
  // The room's own channel map, or parec remixes into its default 4-channel layout.
  const map = channels === ROOM_CHANNELS.length ? ` --channel-map=${ROOM_CHANNELS.join(',')}` : '';
  return `env ${env} parec -d ${source} --format=s16le --rate=${RATE} --channels=${channels}${map} --latency-msec=${RECORD_LATENCY_MS}`;
}

/** Records the whole room; hands the calibration the microphone channel with room noise added. */
class RoomRecorder implements Recorder {
  private readonly inner: CommandRecorder;
  raw: Buffer = Buffer.alloc(0);
  constructor(p: PulseServer, private readonly noisePower: number) {
    this.inner = new CommandRecorder(parecCmd(p, `${ROOM}.monitor`, ROOM_CHANNELS.length), RATE, ROOM_CHANNELS.length, p.env);
  }
  start(): Promise<void> {
    return this.inner.start();
  }
  async stop(): Promise<RecordedAudio> {
    const r = await this.inner.stop();
    this.raw = this.inner.raw;
    const mic = pcmChannel(this.raw, ROOM_CHANNELS.length, MIC_CHANNEL);
    return { ...r, samples: withRoomNoise(mic, this.noisePower, SNR_DB, NOISE_SEED) };
  }
  channel(c: number): Float32Array {
    return pcmChannel(this.raw, ROOM_CHANNELS.length, c);
  }
}

const probe = probeSamples({ ...DEFAULT_PROBE, rate: RATE });
const detector = new ProbeDetector(probe, RATE);

/** Arrival of the probe in `x` within [from, to] samples (NaN: not heard). */
function arrival(x: Float32Array, from: number, to: number): number {
  const m = detector.find(x, Math.max(0, from), Math.min(x.length - probe.length - 1, to));
  return m?.heard ? m.positionSamples : Number.NaN;
}

/** A member's extra path (ms): its arrival at the microphone after its arrival on its own channel. */
function extraPathMs(room: RoomRecorder, ownAt: number): number {
  const mic = arrival(room.channel(MIC_CHANNEL), ownAt - RATE * 0.1, ownAt + RATE * 0.4);
  return ((mic - ownAt) / RATE) * 1000;
}

/** The extra paths now: a probe played into each speaker sink (beside the member's silence). */
async function measureExtraPaths(p: PulseServer, dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const pcm = Buffer.alloc((probe.length + RATE / 2) * 2);
  probe.forEach((v, i) => pcm.writeInt16LE(Math.round(v * 32767), (RATE / 4 + i) * 2));
  const file = join(dir, 'probe.raw');
  writeFileSync(file, pcm);
  // One recording, the members' probes one after another: each pacat plays 1.5 s, so a probe
  // arrives >= 1.5 s after the one before, apart from a member's microphone search (0.1 s before
  // to 0.4 s after its own arrival, plus the probe's 1 s); its own channel holds only its probe.
  const room = new RoomRecorder(p, 0);
  await room.start();
  for (const m of MEMBERS) {
    await new Promise<void>((resolve, reject) => {
      const c = spawn('pacat', ['--playback', '-d', `spk_${m.id}`, '--format=s16le', `--rate=${RATE}`, '--channels=1', file], { env: p.env, stdio: 'ignore' });
      c.on('error', reject);
      c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pacat exited ${code}`))));
    });
  }
  await sleep(700);
  await room.stop();
  for (const m of MEMBERS) {
    const own = room.channel(m.channel);
    out.set(m.id, extraPathMs(room, arrival(own, 0, own.length)));
  }
  return out;
}

function delayOf(r: CalibrationReport, id: string): number {
  return r.members.find((m) => m.memberId === id)?.delayMs ?? Number.NaN;
}

const f3 = (x: number): string => x.toFixed(3);

test('calibration on the real path: finds extra delays within 0.5 ms at -20 dB SNR, the applied proposal aligns within 1 ms', {
  skip: skipReason() ?? false,
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  t.diagnostic(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const t0 = performance.now();
  const phase = (name: string): void => t.diagnostic(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${name}`);
  const dir = mkdtempSync(join(tmpdir(), 'jas-e2e-cal-'));
  let pulse: PulseServer | undefined;
  let cluster: Cluster | undefined;
  t.after(async () => {
    await cluster?.stop();
    await pulse?.stop();
    if (process.env['JAS_E2E_KEEP']) t.diagnostic(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  pulse = await startPulse({ name: 'calib', sinkName: ROOM, rate: RATE, channels: ROOM_CHANNELS.length });
  phase('pulse up');
  const p = pulse;
  const ch = (i: number): string => ROOM_CHANNELS[i]!;
  // The microphone: a mono sink on FL (the loopbacks play into it) and a source on FL (the CLI records it).
  await pactl(p, ['load-module', 'module-remap-sink', 'sink_name=mic', `master=${ROOM}`, 'channels=1', `master_channel_map=${ch(MIC_CHANNEL)}`, 'channel_map=mono', 'remix=no']);
  await pactl(p, ['load-module', 'module-remap-source', 'source_name=mic_in', `master=${ROOM}.monitor`, 'channels=1', `master_channel_map=${ch(MIC_CHANNEL)}`, 'channel_map=mono', 'remix=no']);
  for (const m of MEMBERS) {
    await pactl(p, ['load-module', 'module-remap-sink', `sink_name=own_${m.id}`, `master=${ROOM}`, 'channels=1', `master_channel_map=${ch(m.channel)}`, 'channel_map=mono', 'remix=no']);
    await pactl(p, ['load-module', 'module-null-sink', `sink_name=spk_${m.id}`, `rate=${RATE}`, 'channels=2']);
    await pactl(p, ['load-module', 'module-loopback', `source=spk_${m.id}.monitor`, `sink=own_${m.id}`, `latency_msec=${BASE_MS}`, `rate=${RATE}`, 'channels=1']);
    await pactl(p, ['load-module', 'module-loopback', `source=spk_${m.id}.monitor`, 'sink=mic', `latency_msec=${BASE_MS + m.loopbackMs}`, `rate=${RATE}`, 'channels=1']);
  }

  phase('modules loaded');
  const base = 30_000 + (process.pid % 1000) * 8;
  const ports = MEMBERS.map((_, i) => base + 2 + i);
  const spawner: Spawner = (host, cmd, args, env) =>
    spawn(cmd, args, { env: { ...env, ...p.clientEnv, ...(MEMBERS.some((m) => m.id === host) ? { PULSE_SINK: `spk_${host}` } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const startedMs = Date.now();
  cluster = await Cluster.start({
    dir, spawner, httpPort: base, ntpPort: base + 1,
    memberAddress: (_m, i) => `127.0.0.1:${ports[i]!}`,
    members: MEMBERS.map((m, i) => ({ id: m.id, extraArgs: ['--port', String(ports[i]!), '--sink', 'portaudio', '--device', 'pulse'] })),
  });
  phase('cluster started');
  const c = cluster;
  await c.waitFor((s) => s.members.every((m) => m.audio !== null), 30_000, 'PortAudio sinks reporting');
  phase('sinks open');
  // module-loopback slews its latency to the target over ~20 s once audio flows (measured: 254 ms
  // falling to 180.06 ms for latency_msec=180); wait until two readings of every extra path agree.
  // Audio flows once the members' streams are open: this runs while their clocks sync.
  const settleLoopbacks = async (): Promise<void> => {
    let loops = await measureExtraPaths(p, dir);
    phase('first extra paths measured');
    const settleDeadline = Date.now() + LOOPBACK_SETTLE_TIMEOUT_MS;
    for (;;) {
      const next = await measureExtraPaths(p, dir);
      const moved = Math.max(...MEMBERS.map((m) => Math.abs(next.get(m.id)! - loops.get(m.id)!)));
      loops = next;
      phase(`extra paths (microphone - own channel): ${MEMBERS.map((m) => `${m.id} ${f3(next.get(m.id)!)} ms`).join(', ')} (moved ${f3(moved)} ms)`);
      if (moved <= LOOPBACK_STEADY_MS) break; // NaN (a probe not heard) never passes
      assert.ok(Date.now() < settleDeadline, 'the loopbacks did not settle');
    }
  };
  const synced = async (): Promise<void> => {
    await c.waitFor((s) => s.members.every((m) => m.clock?.synced === true && m.audio !== null), 30_000, 'members synced with PortAudio sinks reporting');
    phase('members synced');
  };
  await Promise.all([settleLoopbacks(), synced()]);
  t.diagnostic(`streams: ${(await pactl(p, ['list', 'short', 'sink-inputs'])).replace(/\n/g, ' | ')}`);
  t.diagnostic(`sinks: ${(await pactl(p, ['list', 'short', 'sinks'])).replace(/\n/g, ' | ')}`);
  phase('loopbacks settled');
  await sleep(Math.max(0, startedMs + DAC_WARMUP_MS - Date.now()));

  // Run 1: the noisy microphone. A member whose playback moved during the run (PulseAudio starved
  // on a loaded machine: the members log "DAC timeline stepped") gets no proposal; a user runs it
  // again, and so does this test, once.
  phase('DAC warm-up done');
  const api = { baseUrl: c.leaderUrl, headers: {}, fetch: globalThis.fetch };
  let room = new RoomRecorder(p, meanSquare(probe));
  let run1 = await calibrate({ ...api, recorder: room, body: {}, apply: false });
  if (run1.report.members.some((m) => m.proposedOutputDelayMs === undefined)) {
    t.diagnostic(`run 1 again: ${run1.report.members.filter((m) => m.problem).map((m) => `${m.memberId}: ${m.problem}`).join('; ')}`);
    room = new RoomRecorder(p, meanSquare(probe));
    run1 = await calibrate({ ...api, recorder: room, body: {}, apply: false });
  }
  phase('run 1 done');
  const r1 = run1.report;
  for (const m of (await c.status()).members) t.diagnostic(`${m.id} after run 1: ${JSON.stringify({ audio: m.audio, problems: m['problems'] })}`);
  if (process.env['JAS_E2E_KEEP']) {
    writeFileSync(join(dir, 'run1.json'), JSON.stringify({ schedule: run1.schedule, report: r1, firstSampleLeaderUs: run1.firstSampleLeaderUs }, null, 2));
    writeFileSync(join(dir, 'run1-room.raw'), room.raw);
  }

  // The truth from the same recording: each member's output error against the schedule (its own
  // channel, clean) and each probe's loopback delay (microphone minus own channel, no schedule).
  // All own channels summed (each member's probes are alone in their turn): one analysis, so one
  // recorder rate for all, as the calibration has.
  const owns = MEMBERS.map((m) => room.channel(m.channel));
  const ownSum = new Float32Array(owns[0]!.length);
  for (const o of owns) for (let i = 0; i < ownSum.length; i++) ownSum[i] = ownSum[i]! + o[i]!;
  const own = analyseCalibration(run1.schedule, { samples: ownSum, rate: RATE, firstSampleLeaderUs: run1.firstSampleLeaderUs });
  const truth = new Map<string, { outputMs: number; loopMs: number[] }>();
  for (const m of MEMBERS) {
    const mine = own.probes.filter((x) => x.memberId === m.id);
    t.diagnostic(`${m.id} own channel: ${mine.map((x) => `${x.positionSamples.toFixed(1)} (${x.peakToNoiseDb.toFixed(1)} dB${x.outlier ? ', left out' : ''})`).join(', ')}`);
    assert.ok(mine.every((x) => x.heard), `${m.id}: its own output does not hold its probes`);
    truth.set(m.id, { outputMs: delayOf(own, m.id), loopMs: mine.filter((x) => !x.outlier).map((x) => extraPathMs(room, x.positionSamples)) });
  }
  const ref = truth.get('spk0')!;
  const expectedMs = (id: string): number => {
    const tr = truth.get(id)!;
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    return tr.outputMs - ref.outputMs + mean(tr.loopMs) - mean(ref.loopMs);
  };
  for (const m of MEMBERS) {
    const r = r1.members.find((x) => x.memberId === m.id)!;
    const tr = truth.get(m.id)!;
    const gains = r1.probes.filter((x) => x.memberId === m.id).map((x) => x.gain);
    t.diagnostic(`run 1 ${m.id}: extra path nominal ${m.loopbackMs} ms, measured ${tr.loopMs.map((x, i) => f3(x - (ref.loopMs[i] ?? Number.NaN))).join('/')} ms `
      + `(microphone - own channel ${tr.loopMs.map(f3).join('/')} ms); output vs spk0 ${f3(tr.outputMs - ref.outputMs)} ms; `
      + `calibration ${f3(delayOf(r1, m.id) - delayOf(r1, 'spk0'))} ms (expected ${f3(expectedMs(m.id))}), ${r.heard}/${r.probes} probes, `
      + `${r.confidenceDb?.toFixed(1)} dB, spread ${r.spreadUs?.toFixed(0)} µs, arrival gain ${gains.map((g) => g.toFixed(2)).join('/')}, `
      + `proposal ${r.proposedOutputDelayMs} ms${r.problem ? ` [${r.problem}]` : ''}`);
  }
  t.diagnostic(`run 1: recorder clock ${r1.recorderRatePpm.toFixed(0)} ppm, REST clock read ±${(run1.clockErrorUs / 1000).toFixed(2)} ms`);
  for (const m of MEMBERS) {
    const r = r1.members.find((x) => x.memberId === m.id)!;
    assert.equal(r.heard, r.probes, `${m.id}: ${r.heard} of ${r.probes} probes heard in run 1`);
    assert.equal(r.inconsistent, undefined, `${m.id}: ${r.problem}`);
    const err = Math.abs(delayOf(r1, m.id) - delayOf(r1, 'spk0') - expectedMs(m.id));
    assert.ok(err <= MAX_DELAY_ERROR_MS, `${m.id}: calibration off by ${f3(err)} ms`);
  }
  phase('run 1 analysed');
  const applied = await applyProposal(api, r1);
  assert.deepEqual([...applied].sort(), MEMBERS.map((m) => m.id).sort());

  phase('applied');
  await sleep(2000);
  // Run 2: the CLI as a user runs it, recording the microphone source (again once if a playback moved).
  const runCli = (): Promise<{ code: number | null; out: string; err: string }> => new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'packages/leader/dist/src/bin/jaudiosync.js'), 'ctl', 'calibrate', '--leader', c.leaderUrl, '--json', '--record-cmd', parecCmd(p, 'mic_in', 1)],
      { env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
  // The room is recorded beside the CLI: the members' own channels show how far each member's
  // output moved between the runs by itself (PulseAudio's latency estimate wanders under load).
  const runCliRecorded = async (): Promise<{ cli: Awaited<ReturnType<typeof runCli>>; room: RoomRecorder; firstSampleLeaderUs: number }> => {
    const rec = new RoomRecorder(p, 0);
    const t0 = performance.now();
    const status = await c.status();
    const offsetUs = (status as unknown as { leader: { nowUs: number } }).leader.nowUs - ((t0 + performance.now()) / 2) * 1000;
    await rec.start();
    const out = await runCli();
    const audio = await rec.stop();
    return { cli: out, room: rec, firstSampleLeaderUs: audio.firstSampleLocalMs * 1000 + offsetUs };
  };
  phase('sleep 2 s done');
  let run2 = await runCliRecorded();
  if (run2.cli.code === 3) {
    const problems = (JSON.parse(run2.cli.out) as { report: CalibrationReport }).report.members.filter((m) => m.problem).map((m) => `${m.memberId}: ${m.problem}`);
    t.diagnostic(`run 2 again: ${problems.join('; ')}`);
    run2 = await runCliRecorded();
  }
  phase('run 2 done');
  const cli = run2.cli;
  assert.equal(cli.code, 0, `ctl calibrate failed (${cli.code}): ${cli.err}${cli.out}`);
  const out2 = JSON.parse(cli.out) as { report: CalibrationReport; schedule: CalibrationReply };
  const r2 = out2.report;
  for (const m of r2.members) {
    t.diagnostic(`run 2 ${m.memberId}: outputDelayMs ${m.outputDelayMs}, ${f3(m.relativeMs ?? Number.NaN)} ms after the earliest, ${m.heard}/${m.probes} probes, ${m.confidenceDb?.toFixed(1)} dB${m.problem ? ` [${m.problem}]` : ''}`);
  }

  const after = MEMBERS.map((m) => delayOf(r2, m.id));
  assert.ok(after.every((d) => Number.isFinite(d)), 'run 2: a member was not measured');
  const spread = Math.max(...after) - Math.min(...after);
  // Each member's output relative to spk0 in run 2 against run 1, less the delay it was told to
  // take: what its playback moved by itself between the runs.
  const owns2 = MEMBERS.map((m) => run2.room.channel(m.channel));
  const ownSum2 = new Float32Array(owns2[0]!.length);
  for (const o of owns2) for (let i = 0; i < ownSum2.length; i++) ownSum2[i] = ownSum2[i]! + o[i]!;
  const own2 = analyseCalibration(out2.schedule, { samples: ownSum2, rate: RATE, firstSampleLeaderUs: run2.firstSampleLeaderUs });
  const proposalOf = (id: string): number => r1.members.find((x) => x.memberId === id)!.proposedOutputDelayMs!;
  const movedMs = (id: string): number => (delayOf(own2, id) - delayOf(own2, 'spk0')) - (truth.get(id)!.outputMs - ref.outputMs) + (proposalOf(id) - proposalOf('spk0'));
  const residual = MEMBERS.map((m) => delayOf(r2, m.id) - delayOf(r2, 'spk0') - movedMs(m.id));
  const residualSpread = Math.max(...residual) - Math.min(...residual);
  t.diagnostic(`run 2: members within ${f3(spread)} ms at the microphone; their outputs moved by themselves between the runs by `
    + `${MEMBERS.map((m) => `${m.id} ${f3(movedMs(m.id))}`).join(', ')} ms; without that, within ${f3(residualSpread)} ms`);
  // The proposal's own residual must meet the issue's 1 ms; the raw spread also includes the
  // members' own wander under load, which no calibration can remove (docs/calibration.md, figures).
  assert.ok(residualSpread <= MAX_SPREAD_AFTER_MS, `after applying, the proposal leaves members ${f3(residualSpread)} ms apart at the microphone (raw ${f3(spread)} ms)`);
});
