// `jaudiosync ctl calibrate`: the laptop is the microphone. Reads the leader's time over REST
// (best of a few round trips), starts a recorder command (arecord by default: raw 16-bit PCM on
// stdout), asks the leader to play the probes, records until the last one has arrived, finds each
// probe, prints every member's delay and the proposed output delays, and with --apply sets them
// (PUT /api/members/:id, persisted like a hand-set delay).
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { calibrationReplyProblem, type CalibrationBody, type CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import { analyseCalibration, type CalibrationReport } from '../calibration/calibration-analysis.js';

export const DEFAULT_RECORD_CMD = 'arecord -q -t raw -f S16_LE -r 48000 -c 1';
/** Round trips to the leader's clock; the shortest one sets the offset (its half is the error bound). */
const CLOCK_PROBES = 5;
/** The leader waits for every member to decode the probe track before it answers. */
const START_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Recording continues this long after the last search window (recorder buffering). */
const RECORD_TAIL_MS = 500;
/** A recorder that delivers nothing within this is broken (no device, wrong command). */
const FIRST_AUDIO_TIMEOUT_MS = 5_000;

export interface RecordedAudio {
  /** Mono samples, full scale 1. */
  samples: Float32Array;
  rate: number;
  /** Local time (performance.now() ms) at which the first sample was captured (an estimate). */
  firstSampleLocalMs: number;
}

export interface Recorder {
  /** Resolves once audio flows. */
  start(): Promise<void>;
  stop(): Promise<RecordedAudio>;
}

/** Records raw signed 16-bit little-endian PCM from a shell command's stdout. */
export class CommandRecorder implements Recorder {
  private child: ChildProcess | undefined;
  private chunks: Buffer[] = [];
  private firstLocalMs = Number.NaN;
  private stderr = '';

  constructor(private readonly command: string, private readonly rate: number, private readonly channels: number, private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** Everything recorded so far, as the command wrote it (all channels). */
  get raw(): Buffer {
    return Buffer.concat(this.chunks);
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', this.command], { stdio: ['ignore', 'pipe', 'pipe'], env: this.env, detached: true });
      this.child = child;
      const timer = setTimeout(() => reject(new Error(`recorder gave no audio within ${FIRST_AUDIO_TIMEOUT_MS} ms: ${this.command} ${this.stderr.trim()}`)), FIRST_AUDIO_TIMEOUT_MS);
      child.stdout!.on('data', (b: Buffer) => {
        if (this.chunks.length === 0) {
          // The first chunk's samples were captured before it arrived.
          this.firstLocalMs = performance.now() - (b.length / (2 * this.channels) / this.rate) * 1000;
          clearTimeout(timer);
          resolve();
        }
        this.chunks.push(b);
      });
      child.stderr!.on('data', (b: Buffer) => { if (this.stderr.length < 2000) this.stderr += b.toString(); });
      child.on('error', (err) => { clearTimeout(timer); reject(err); });
      child.on('exit', (code) => {
        if (this.chunks.length === 0) { clearTimeout(timer); reject(new Error(`recorder exited (${code}) without audio: ${this.command} ${this.stderr.trim()}`)); }
      });
    });
  }

  async stop(): Promise<RecordedAudio> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      // The whole process group: the shell's children (the recorder itself, a pipeline) too.
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      await exited;
    }
    child?.stdout?.destroy();
    child?.stderr?.destroy();
    return { samples: pcmToMono(Buffer.concat(this.chunks), this.channels), rate: this.rate, firstSampleLocalMs: this.firstLocalMs };
  }
}

/** One channel of interleaved s16le as floats. */
export function pcmChannel(b: Buffer, channels: number, channel: number): Float32Array {
  const frames = Math.floor(b.length / (2 * channels));
  const out = new Float32Array(frames);
  for (let f = 0; f < frames; f++) out[f] = b.readInt16LE((f * channels + channel) * 2) / 32768;
  return out;
}

/** Interleaved s16le of `channels` channels, averaged to mono floats. */
export function pcmToMono(b: Buffer, channels: number): Float32Array {
  const frames = Math.floor(b.length / (2 * channels));
  const out = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += b.readInt16LE((f * channels + c) * 2);
    out[f] = s / channels / 32768;
  }
  return out;
}

export interface CalibrateOptions {
  baseUrl: string;
  headers: Record<string, string>;
  fetch: typeof globalThis.fetch;
  recorder: Recorder;
  body: CalibrationBody;
  apply: boolean;
}

export interface CalibrateResult {
  schedule: CalibrationReply;
  report: CalibrationReport;
  recording: RecordedAudio;
  /** Leader time of the recording's first sample (estimate) and the clock read's error bound. */
  firstSampleLeaderUs: number;
  clockErrorUs: number;
  applied: string[];
}

/** One calibration from the recorder's side; throws with the leader's message on a refusal. */
export async function calibrate(o: CalibrateOptions, analyse: (r: RecordedAudio, s: CalibrationReply, leaderUs: number) => CalibrationReport = defaultAnalysis): Promise<CalibrateResult> {
  const clock = await readLeaderClock(o);
  await o.recorder.start();
  let schedule: CalibrationReply;
  let recording: RecordedAudio;
  try {
    schedule = checkedSchedule(await request<unknown>(o, 'POST', '/api/calibration', o.body, START_TIMEOUT_MS));
    const untilUs = schedule.endUs + schedule.searchAfterMs * 1000;
    const waitMs = (untilUs - clock.leaderUsAt(performance.now())) / 1000 + RECORD_TAIL_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, waitMs)));
  } finally {
    recording = await o.recorder.stop();
  }
  const firstSampleLeaderUs = clock.leaderUsAt(recording.firstSampleLocalMs);
  const report = analyse(recording, schedule, firstSampleLeaderUs);
  const applied = o.apply ? await applyProposal(o, report) : [];
  return { schedule, report, recording, firstSampleLeaderUs, clockErrorUs: clock.errorUs, applied };
}

/** The leader's reply, checked before any of it is used (a wrong or old leader says so here). */
function checkedSchedule(data: unknown): CalibrationReply {
  const problem = calibrationReplyProblem(data);
  if (problem !== null) throw new Error(`the leader's calibration schedule is not usable: ${problem}`);
  return data as CalibrationReply;
}

/** Sets every proposed output delay (PUT /api/members/:id); returns the members changed. */
export async function applyProposal(o: Pick<CalibrateOptions, 'baseUrl' | 'headers' | 'fetch'>, report: CalibrationReport): Promise<string[]> {
  const applied: string[] = [];
  for (const m of report.members) {
    if (m.proposedOutputDelayMs === undefined) continue;
    await request(o, 'PUT', `/api/members/${encodeURIComponent(m.memberId)}`, { outputDelayMs: m.proposedOutputDelayMs }, REQUEST_TIMEOUT_MS);
    applied.push(m.memberId);
  }
  return applied;
}

function defaultAnalysis(r: RecordedAudio, s: CalibrationReply, leaderUs: number): CalibrationReport {
  return analyseCalibration(s, { samples: r.samples, rate: r.rate, firstSampleLeaderUs: leaderUs });
}

/** The leader's time as a function of local time, from the shortest of a few REST round trips. */
async function readLeaderClock(o: Pick<CalibrateOptions, 'baseUrl' | 'headers' | 'fetch'>): Promise<{ leaderUsAt(localMs: number): number; errorUs: number }> {
  let best = { rttMs: Infinity, offsetUs: 0 };
  for (let i = 0; i < CLOCK_PROBES; i++) {
    const t0 = performance.now();
    const s = await request<{ leader: { nowUs: number } }>(o, 'GET', '/api/status', undefined, REQUEST_TIMEOUT_MS);
    const t1 = performance.now();
    if (t1 - t0 < best.rttMs) best = { rttMs: t1 - t0, offsetUs: s.leader.nowUs - ((t0 + t1) / 2) * 1000 };
  }
  return { leaderUsAt: (localMs) => localMs * 1000 + best.offsetUs, errorUs: (best.rttMs / 2) * 1000 };
}

async function request<T>(o: Pick<CalibrateOptions, 'baseUrl' | 'headers' | 'fetch'>, method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  const headers: Record<string, string> = { ...o.headers };
  const init: RequestInit = { method, headers, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) { init.body = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  const res = await o.fetch(`${o.baseUrl}${path}`, init);
  const text = await res.text();
  let data: unknown = text;
  try { data = JSON.parse(text); } catch { /* not JSON: keep the text */ }
  if (!res.ok) {
    const e = data as { error?: string; message?: string };
    throw new Error(`${e.error ?? `HTTP ${res.status}`}: ${e.message ?? text}`);
  }
  return data as T;
}

/** Human summary of a run: one line per member. */
export function summarizeCalibration(r: CalibrateResult): string {
  const lines = [`calibration ${r.report.runId}: ${(r.recording.samples.length / r.recording.rate).toFixed(1)} s recorded, recorder clock ${r.report.recorderRatePpm.toFixed(0)} ppm`];
  for (const m of r.report.members) {
    if (m.delayMs === undefined) {
      lines.push(`  ${m.memberId}: NOT HEARD (${m.problem ?? 'no probe'}); its delay is not changed`);
      continue;
    }
    lines.push(`  ${m.memberId}: +${m.relativeMs!.toFixed(2)} ms after the earliest (arrives ${m.delayMs.toFixed(1)} ms after schedule ±${(r.clockErrorUs / 1000).toFixed(1)} ms, `
      + `${m.heard}/${m.probes} probes, ${m.confidenceDb!.toFixed(1)} dB, spread ${m.spreadUs!.toFixed(0)} µs)`
      + (m.proposedOutputDelayMs !== undefined ? ` -> outputDelayMs ${m.outputDelayMs} => ${m.proposedOutputDelayMs}` : '')
      + (m.problem !== undefined ? ` [${m.problem}]` : ''));
  }
  lines.push(r.applied.length > 0 ? `applied to ${r.applied.join(', ')}` : 'not applied (add --apply)');
  return lines.join('\n');
}
