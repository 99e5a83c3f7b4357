// The real audio path: a leader and two members with `--sink portaudio`, each member's ALSA
// `pulse` device on its own private PulseAudio null sink, parec recording both monitors. Asserts
// that each recording holds exactly the source track's clicks (shape, level, channels) with no
// silent gap, heard when the play command said, and that the two members play in step.
// JAS_E2E_KEEP=1 keeps the working dir (logs, raw recordings, arrival times) for analysis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAvailable, getLoadError } from '@jaudiosync/portaudio';
import { decodeToPcm } from '@jaudiosync/media';
import { Cluster, sleep, type ClusterStatus, type Spawner } from '../helpers/cluster.js';
import {
  missingPulseTools, RecordingTimeMap, startPulse,
  type MonitorRecorder, type MonitorRecording, type PulseServer,
} from '../helpers/pulse.js';
import { CLICK_FRAMES, CLICK_RATE_HZ, makeClickTrack, writeWav } from './click-track.js';
import { locateClicks, silentGaps, type ClickMatch, type ClickSearch } from './click-locator.js';

const MEMBERS = ['memberA', 'memberB'] as const;
/** ~20 clicks: enough statistics, short enough to keep the test well under a minute. */
const TRACK_MS = 6000;
/** Play this far ahead: the DAC fit needs ~2 s of steady PortAudio callbacks after start-up. */
const PLAY_DELAY_MS = 2500;
/**
 * The track starts this long after the members did, as on a real install where the daemons start
 * at boot. Through the ALSA pulse plugin the reported DAC times take seconds to settle after a
 * stream opens (docs/audio-output.md, "Start-up"): with the play ~4 s after start on a loaded
 * 2-core machine one member was heard 2-8 ms off in half the runs (CI: 6.5 ms); with 15 s, 6/6
 * runs within 2 ms under the same load.
 */
const DAC_WARMUP_MS = 15_000;
/** Keep recording this long after the track's end (monitor delivery latency, stragglers). */
const RECORD_TAIL_MS = 800;
const READY_TIMEOUT_MS = 30_000;
const TEST_TIMEOUT_MS = 90_000;
/** Clicks must look like the source: the resampler and int16 rounding leave ncc ≈ 0.99+. */
const MIN_CLICK_CORRELATION = 0.9;
/** Level through the whole path (volume 1): the path has no gain stage, so ±20 % is generous. */
const MIN_GAIN = 0.8;
const MAX_GAIN = 1.25;
/** parec fragment (ms). The null sink renders up to one monitor fragment ahead of real time and
 *  posts it to the monitor at once, so a recording's time map runs early by about this much. */
const RECORD_LATENCY_MS = 10;
/** Expected heard - scheduled: the time map's render-ahead bias (measured -9.6..-10.0 ms at 10 ms,
 *  -15..-25 ms at 25 ms fragments). */
const START_BIAS_US = -RECORD_LATENCY_MS * 1000;
/**
 * Allowed |heard - scheduled - START_BIAS_US| per click. Covers the arrival-envelope error of the
 * time map (< 1 ms), PortAudio's DAC time through the ALSA pulse plugin (pulse's smoothed latency,
 * a few ms under load) and the drift over the track. Measured within 5 ms of the bias on passing
 * runs; a playback that is a whole fragment off is a failure.
 */
const MAX_START_ERROR_US = 10_000;
/**
 * Allowed |member B - member A| per click. Both servers are configured identically, so their
 * render-ahead biases cancel; what remains is each recording's time-map error and each member's
 * PortAudio/pulse latency estimate. Measured 0.14-0.29 ms on clean runs, up to 3.4 ms on runs with
 * xruns. (The capture-sink e2e tests measure the sync logic itself at µs level.)
 */
const MAX_INTER_MEMBER_US = 5_000;
/** Gap search skips this much at both ends of the track (fade-in/out, first/last block). */
const GAP_MARGIN_MS = 20;
/** A null sink runs at the host clock's rate; the engine's DAC estimate sees pulse's smoothing. */
const MAX_ABS_DRIFT_PPM = 5000;

interface Anchor {
  anchorWallUs: number;
  anchorMonoNs: bigint;
}

function skipReason(): string | undefined {
  const missing = missingPulseTools();
  if (missing) return missing;
  if (!isAvailable()) return `PortAudio addon not available: ${getLoadError()?.message ?? 'unknown reason'}`;
  return undefined;
}

/** The leader logs its timescale anchor once at start (pino JSON lines). */
async function readAnchor(logPath: string, timeoutMs: number): Promise<Anchor> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(logPath, 'utf8');
    } catch {
      // not yet written
    }
    for (const line of text.split('\n')) {
      if (!line.includes('"leader timescale"')) continue;
      try {
        const o = JSON.parse(line) as { anchorWallUs?: unknown; anchorMonoNs?: unknown };
        if (typeof o.anchorWallUs === 'number' && (typeof o.anchorMonoNs === 'string' || typeof o.anchorMonoNs === 'number')) {
          return { anchorWallUs: o.anchorWallUs, anchorMonoNs: BigInt(o.anchorMonoNs) };
        }
      } catch {
        // partial line
      }
    }
    await sleep(100);
  }
  throw new Error(`no "leader timescale" anchor line in ${logPath}`);
}

/** Host CLOCK_MONOTONIC ns of a leader timescale instant. */
function hostNsOfLeaderUs(a: Anchor, leaderUs: number): number {
  return Number(a.anchorMonoNs) + (leaderUs - a.anchorWallUs) * 1000;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]!;
}

function maxAbs(xs: readonly number[]): number {
  return xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

/** Playback speed on the host clock (= the leader timescale's rate), from the first and last click
 *  heard (ppm; 0 = exactly outputRate source frames per second). */
function heardRatePpm(heardNs: ReadonlyMap<number, number>): number {
  const frames = [...heardNs.keys()].sort((x, y) => x - y);
  const f0 = frames[0];
  const f1 = frames[frames.length - 1];
  if (f0 === undefined || f1 === undefined || f1 === f0) return Number.NaN;
  const spanS = (heardNs.get(f1)! - heardNs.get(f0)!) / 1e9;
  return (((f1 - f0) / CLICK_RATE_HZ) / spanS - 1) * 1e6;
}

const fmt = (us: number): string => `${(us / 1000).toFixed(2)} ms`;

test('real path: PortAudio -> PulseAudio null sinks, recorded monitors hold the track in time on both members', {
  skip: skipReason() ?? false,
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  t.diagnostic(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'jas-e2e-pa-'));
  const pulses = new Map<string, PulseServer>();
  const recorders = new Map<string, MonitorRecorder>();
  let cluster: Cluster | undefined;
  t.after(async () => {
    await cluster?.stop();
    await Promise.all([...pulses.values()].map((p) => p.stop()));
    if (process.env['JAS_E2E_KEEP']) t.diagnostic(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  // Source: a click track (and its exact decoded PCM, as the members will play it).
  const track = makeClickTrack(TRACK_MS);
  const wavPath = join(dir, 'clicks.wav');
  writeWav(wavPath, track.pcm);
  const playlistPath = join(dir, 'clicks.m3u8');
  writeFileSync(playlistPath, `#EXTM3U\n#EXTINF:${Math.round(TRACK_MS / 1000)},JAudioSync real-path clicks\nclicks.wav\n`);
  const decoded = await decodeToPcm(wavPath);
  assert.equal(decoded.frames, track.frames);

  // One private PulseAudio per member, recording from before the members start (the monitor
  // takes ~2 s to deliver its first chunk).
  for (const id of MEMBERS) {
    const p = await startPulse({ name: id });
    pulses.set(id, p);
    recorders.set(id, p.record(RECORD_LATENCY_MS));
  }

  // Each member process gets its own pulse through the environment; ports are explicit because a
  // custom spawner makes Cluster assume one host per member. 22000-30000: above Cluster's default
  // ranges (17700-21700), below the ephemeral ports.
  const base = 22000 + (process.pid % 1000) * 8;
  const memberPorts = MEMBERS.map((_, i) => base + 2 + i);
  const spawner: Spawner = (host, cmd, args, env) =>
    spawn(cmd, args, { env: { ...env, ...(pulses.get(host)?.clientEnv ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const membersStartMs = Date.now();
  cluster = await Cluster.start({
    dir,
    playlist: playlistPath,
    spawner,
    httpPort: base,
    ntpPort: base + 1,
    memberAddress: (_m, i) => `127.0.0.1:${memberPorts[i]!}`,
    members: MEMBERS.map((id, i) => ({ id, extraArgs: ['--port', String(memberPorts[i]!), '--sink', 'portaudio', '--device', 'pulse'] })),
  });
  const c = cluster;
  const anchor = await readAnchor(c.logPath('leader'), 10_000);
  await c.waitFor(
    (s) => s.playlist.length === 1 && s.members.every((m) => m.clock?.synced === true && m.audio !== null && (m.ready ?? 0) >= 1),
    READY_TIMEOUT_MS,
    'members synced, PortAudio sinks reporting, track decoded',
  );

  await sleep(Math.max(0, membersStartMs + DAC_WARMUP_MS - PLAY_DELAY_MS - Date.now()));
  const play = await c.api<{ rev: number; atUs: number }>('POST', '/api/play', { index: 0, positionMs: 0, delayMs: PLAY_DELAY_MS });
  assert.equal(play.status, 200, `play refused: ${JSON.stringify(play.body)}`);
  const atUs = play.body.atUs;
  const trackStartNs = hostNsOfLeaderUs(anchor, atUs);
  const endNs = trackStartNs + TRACK_MS * 1e6 + RECORD_TAIL_MS * 1e6;

  // While it plays: the engine's DAC rate estimates (driftPpm) and underruns.
  const drift = new Map<string, number[]>(MEMBERS.map((id) => [id, []]));
  let last: ClusterStatus | undefined;
  while (Number(process.hrtime.bigint()) < endNs) {
    await sleep(500);
    try {
      last = await c.status();
    } catch {
      continue;
    }
    if (Number(process.hrtime.bigint()) < trackStartNs) continue;
    for (const m of last.members) if (m.audio) drift.get(m.id)?.push(m.audio.driftPpm);
  }
  for (const m of last?.members ?? []) {
    t.diagnostic(`${m.id}: status at the end: health ${m.health} ${JSON.stringify(m['problems'] ?? [])}, audio ${JSON.stringify(m.audio)}, clock ${JSON.stringify(m.clock)}`);
    const audio = m.audio as (NonNullable<ClusterStatus['members'][number]['audio']> & { sink?: string }) | null;
    assert.equal(audio?.sink, 'portaudio', `${m.id} plays through ${audio?.sink ?? 'nothing'}`);
  }
  await c.stop();
  const recordings = new Map<string, MonitorRecording>();
  for (const id of MEMBERS) {
    const rec = await recorders.get(id)!.stop();
    recordings.set(id, rec);
    if (process.env['JAS_E2E_KEEP']) {
      writeFileSync(join(dir, `${id}.raw`), rec.samples);
      writeFileSync(join(dir, `${id}.arrivals.json`), JSON.stringify({ startMonoNs: rec.startMonoNs, trackStartNs, arrivals: rec.arrivals }));
    }
  }

  // Per member: the clicks, their shape and level, gaps, and when they were heard. Everything is
  // measured and reported first, then asserted, so a failure comes with the whole picture.
  const results = new Map<string, MemberResult>();
  for (const id of MEMBERS) {
    const r = analyseMember(recordings.get(id)!, decoded.pcm, track.clickFrames, track.frames, trackStartNs);
    results.set(id, r);
    const rec = r.recording;
    const corr = r.search.matches.map((m) => m.correlation);
    const gl = r.search.matches.map((m) => m.gainLeft);
    const gr = r.search.matches.map((m) => m.gainRight);
    t.diagnostic(`${id}: recorded ${(rec.frames / CLICK_RATE_HZ).toFixed(2)} s in ${rec.arrivals.length} chunks, monitor ${r.monitorRateHz.toFixed(1)} Hz; ` +
      `onsets ${r.search.recordedOnsets}, clicks found ${r.search.patternMatched}/${track.clickFrames.length}; ` +
      `correlation min ${Math.min(...corr).toFixed(4)}, gain L ${Math.min(...gl).toFixed(3)}..${Math.max(...gl).toFixed(3)}, ` +
      `R ${Math.min(...gr).toFixed(3)}..${Math.max(...gr).toFixed(3)}, playback rate ${heardRatePpm(r.heardNs).toFixed(1)} ppm`);
    if (r.gaps.length > 0) t.diagnostic(`${id}: silent gaps (ms into the track): ${r.gaps.map((g) => `${g.fromMs.toFixed(0)}-${g.toMs.toFixed(0)}`).join(', ')}`);
    if (r.errorsUs.length > 0) {
      t.diagnostic(`${id}: heard - scheduled: first click ${fmt(r.errorsUs[0]!)}, median ${fmt(median(r.errorsUs))}, ` +
        `range ${fmt(Math.min(...r.errorsUs))}..${fmt(Math.max(...r.errorsUs))}`);
    }
    t.diagnostic(`${id}: engine DAC drift estimates while playing: ${(drift.get(id) ?? []).map((x) => x.toFixed(0)).join(', ')} ppm`);
  }
  const a = results.get(MEMBERS[0])!.heardNs;
  const b = results.get(MEMBERS[1])!.heardNs;
  const diffsUs: number[] = [];
  for (const [frame, ta] of a) {
    const tb = b.get(frame);
    if (tb !== undefined) diffsUs.push((tb - ta) / 1000);
  }
  if (diffsUs.length > 0) {
    t.diagnostic(`${MEMBERS[1]} - ${MEMBERS[0]} per click: median ${fmt(median(diffsUs))}, ` +
      `range ${fmt(Math.min(...diffsUs))}..${fmt(Math.max(...diffsUs))} over ${diffsUs.length} clicks`);
  }

  for (const id of MEMBERS) {
    const r = results.get(id)!;
    const n = track.clickFrames.length;
    assert.equal(r.search.patternMatched, n, `${id}: only ${r.search.patternMatched} of ${n} clicks were recorded`);
    assert.equal(r.search.recordedOnsets, n, `${id}: ${r.search.recordedOnsets} onsets recorded for ${n} clicks (other sounds?)`);
    assert.deepEqual(r.gaps, [], `${id}: playback had silent gaps`);
    assert.equal(r.good.length, n, `${id}: ${n - r.good.length} clicks do not look like the source`);
    for (const m of r.search.matches) {
      assert.ok(m.gainLeft >= MIN_GAIN && m.gainLeft <= MAX_GAIN, `${id}: left gain ${m.gainLeft.toFixed(3)} at source frame ${m.srcFrame}`);
      assert.ok(m.gainRight >= MIN_GAIN && m.gainRight <= MAX_GAIN, `${id}: right gain ${m.gainRight.toFixed(3)} at source frame ${m.srcFrame}`);
    }
    assert.equal(r.errorsUs.length, n, `${id}: no time map for some clicks`);
    const offBias = r.errorsUs.map((e) => e - START_BIAS_US);
    assert.ok(maxAbs(offBias) <= MAX_START_ERROR_US, `${id}: a click was heard ${fmt(maxAbs(offBias))} off its scheduled time (after the ${fmt(START_BIAS_US)} monitor bias)`);
    const d = drift.get(id) ?? [];
    assert.ok(d.length > 0, `${id}: no audio status while playing`);
    for (const x of d) assert.ok(Number.isFinite(x) && Math.abs(x) <= MAX_ABS_DRIFT_PPM, `${id}: DAC drift estimate ${x} ppm`);
  }
  assert.equal(diffsUs.length, track.clickFrames.length);
  assert.ok(maxAbs(diffsUs) <= MAX_INTER_MEMBER_US, `members up to ${fmt(maxAbs(diffsUs))} apart`);
});

interface MemberResult {
  recording: MonitorRecording;
  /** the monitor's fitted frames per host second */
  monitorRateHz: number;
  search: ClickSearch;
  /** matches that look like the source click */
  good: ClickMatch[];
  gaps: Array<{ fromMs: number; toMs: number }>;
  /** host ns at which each good click (by source frame) was heard */
  heardNs: Map<number, number>;
  /** heard - scheduled, per good click */
  errorsUs: number[];
}

/** Where the track's clicks are in one recording, how they look, and when they were heard. */
function analyseMember(rec: MonitorRecording, src: Int16Array, clickFrames: readonly number[], trackFrames: number, trackStartNs: number): MemberResult {
  const search = locateClicks({ samples: rec.samples, channels: rec.channels }, { samples: src, channels: 2 }, clickFrames, CLICK_FRAMES);
  const good = search.matches.filter((m) => m.correlation >= MIN_CLICK_CORRELATION);
  const shift = good.length > 0 ? median(good.map((m) => m.recFrame - m.srcFrame)) : search.shiftFrames;
  const gaps: MemberResult['gaps'] = [];
  if (shift !== null) {
    const margin = Math.round((GAP_MARGIN_MS / 1000) * CLICK_RATE_HZ);
    for (const g of silentGaps({ samples: rec.samples, channels: rec.channels }, shift + margin, shift + trackFrames - margin)) {
      gaps.push({ fromMs: ((g.fromFrame - shift) / CLICK_RATE_HZ) * 1000, toMs: ((g.toFrame - shift) / CLICK_RATE_HZ) * 1000 });
    }
  }
  const map = new RecordingTimeMap(rec);
  const heardNs = new Map<number, number>();
  const errorsUs: number[] = [];
  for (const m of good) {
    const ns = map.hostNsOf(m.recFrame);
    if (ns === null) continue;
    heardNs.set(m.srcFrame, ns);
    errorsUs.push((ns - (trackStartNs + (m.srcFrame / CLICK_RATE_HZ) * 1e9)) / 1000);
  }
  return { recording: rec, monitorRateHz: map.rateHz, search, good, gaps, heardNs, errorsUs };
}
