// The main job on one machine: a leader and two members (separate processes on loopback) play the
// example playlist. Each member gets its own clock error (seconds of offset, tens of ppm of rate)
// and its own simulated DAC crystal error, so what you see is sync earned, not shared hardware.
// Prints, while it plays, each member's clock estimate and the offset between the two members'
// audio measured from what their sinks really played (true host-monotonic times of the frames).
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCapture } from '@jaudiosync/member/capture-file';
import { Cluster, EXAMPLE_PLAYLIST, sleep, type ClusterStatus } from '@jaudiosync/testkit/helpers/cluster.js';
import { measureOffset } from '@jaudiosync/testkit/helpers/capture-analysis.js';

const HELP = `Usage: scripts/demo [--seconds N] [--sink auto|capture|portaudio] [--keep]

Starts a leader and two members on this machine, plays Music/Playlist.m3u8 in sync and prints
every few seconds each member's clock sync and the offset between the members' audio, measured
from what their capture sinks really played.
  --seconds N   stop after N seconds of playback (default: the whole playlist)
  --sink S      auto (default): member1 plays through the default audio device when PortAudio has
                one (you hear it; member2 still captures), else both capture; capture: both
                capture (no sound card needed); portaudio: member1 must use the default device
  --keep        keep the working directory (captures, logs) instead of deleting it`;

const REPORT_EVERY_MS = 3000;
/** Audio window analysed per report: long enough for several transients of the example music. */
const ANALYSIS_WINDOW_NS = 3e9;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, sink: { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const sink = values.sink ?? 'auto';
  if (!['auto', 'capture', 'portaudio'].includes(sink)) throw new Error('--sink must be auto, capture or portaudio');
  const speaker = sink === 'portaudio' || (sink === 'auto' && (await hasDefaultOutput()));
  if (sink === 'portaudio' && !(await hasDefaultOutput())) throw new Error('no PortAudio output device here (see jaudiosync-member --list-devices)');
  const dir = mkdtempSync(join(tmpdir(), 'jaudiosync-demo-'));
  console.log(`demo: working directory ${dir}; member1 ${speaker ? 'plays through the default audio device' : 'captures'}, member2 captures`);
  const cluster = await Cluster.start({
    dir,
    playlist: EXAMPLE_PLAYLIST,
    members: [
      { id: 'member1', clockOffsetUs: 2_500_000, clockRatePpm: 60, dacPpm: 80, latencyMs: 20, ...(speaker ? { extraArgs: ['--sink', 'portaudio'] } : {}) },
      { id: 'member2', clockOffsetUs: -1_300_000, clockRatePpm: -45, dacPpm: -70, latencyMs: 35 },
    ],
  });
  const stop = async (): Promise<void> => {
    await cluster.stop();
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const ready = await cluster.waitFor((s) => s.playlist.length > 0 && s.members.every((m) => m.clock?.synced), 30_000, 'clocks synced');
    const totalMs = ready.playlist.reduce((a, t) => a + Number(t['durationMs'] ?? (Number(t.frames ?? 0) / 48)), 0);
    const seconds = values.seconds ? Number(values.seconds) : Math.ceil(totalMs / 1000) + 1;
    if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('--seconds must be a positive number');
    const play = await cluster.api('POST', '/api/play', { delayMs: 2000 });
    if (play.status !== 200) throw new Error(`play refused: ${JSON.stringify(play.body)}`);
    console.log(`demo: playing ${ready.playlist.length} tracks for ${seconds} s (Ctrl-C stops)`);
    const endAt = Date.now() + 2000 + seconds * 1000;
    while (Date.now() < endAt) {
      await sleep(Math.min(REPORT_EVERY_MS, Math.max(0, endAt - Date.now())));
      report(await cluster.status().catch(() => null), cluster);
    }
  } finally {
    await stop();
  }
}

async function hasDefaultOutput(): Promise<boolean> {
  try {
    const pa = await import('@jaudiosync/portaudio');
    return pa.isAvailable() && pa.listDevices().some((d) => d.isDefaultOutput && d.maxOutputChannels >= 2);
  } catch {
    return false;
  }
}

function report(s: ClusterStatus | null, cluster: Cluster): void {
  if (!s) return;
  const pos = s.position ? `track ${s.position.index + 1} at ${(s.position.positionMs / 1000).toFixed(1)} s` : 'stopped';
  const members = s.members.map((m) => {
    const c = m.clock;
    const a = m.audio;
    return `${m.id}: clock ${c?.synced ? 'synced' : 'syncing'} ±${c ? Math.round(c.uncertaintyUs) : '?'} µs (rtt ${c ? (c.rttUs / 1000).toFixed(2) : '?'} ms), DAC ${a ? a.driftPpm.toFixed(0) : '?'} ppm, underruns ${a?.underruns ?? '?'}`;
  });
  let audio = '';
  const p1 = cluster.capturePath('member1');
  const p2 = cluster.capturePath('member2');
  if (existsSync(p1) && existsSync(p2)) {
    try {
      const a = readCapture(p1);
      const b = readCapture(p2);
      const toNs = Math.min(a.trueTimeOfFrame(a.endFrame), b.trueTimeOfFrame(b.endFrame)) - 0.5e9;
      const r = measureOffset(a, b, { fromNs: toNs - ANALYSIS_WINDOW_NS, toNs });
      audio = r.stats.count > 0
        ? `member2 - member1 audio offset: median ${r.stats.medianUs.toFixed(1)} µs, max |${r.stats.maxAbsUs.toFixed(1)}| µs over ${r.stats.count} transients`
        : 'audio offset: (no transients in the last window)';
    } catch (err) {
      audio = `audio offset: not measurable yet (${(err as Error).message})`;
    }
  }
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${s.playing ? 'playing' : 'idle'} ${pos}\n  ${members.join('\n  ')}${audio ? `\n  ${audio}` : ''}`);
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exit(1);
});
