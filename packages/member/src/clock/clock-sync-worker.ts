// Worker thread of ClockSync: NTP client (leader mode) or system-clock sampler (system mode), feeding
// TimeFilter and publishing the model into the shared seqlock. Reads time only via ClockSource.
import { parentPort, workerData } from 'node:worker_threads';
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import {
  NTP_MODE,
  NTP_PACKET_BYTES,
  decodeNtpPacket,
  encodeNtpPacket,
  ntpToUnixUs,
  NTP_ZERO,
} from '@jaudiosync/protocol/ntp-packet';
import { readBootId } from '@jaudiosync/protocol/boot-id';
import { SocketStamps } from '@jaudiosync/netstamp';
import { ClockSource } from './clock-source.js';
import { ClockModelShare, type ClockModel } from './clock-model.js';
import { loadClockMemory, saveClockMemory, type ClockMemoryKey } from './clock-memory.js';
import { TimeFilter } from './time-filter.js';
import { SampleLog } from './sample-log.js';
import { CLOCK_MEMORY_EARLY_MS, CLOCK_MEMORY_EARLY_SAVE_MS, CLOCK_MEMORY_SAVE_MS, WARMUPS_PER_POLL, PollSchedule, emptyStats, type ClockSyncStats, type ClockSyncWorkerData } from './clock-sync.js';

/** Replies slower than this are discarded (their request is forgotten). */
const REPLY_TIMEOUT_MS = 1_000;
/** Bound on outstanding requests (burst 50 Hz pairs x timeout 1 s). */
const MAX_PENDING = 128;
/** System mode: sampling interval of the wall clock against the monotonic clock. */
const SYSTEM_POLL_MS = 250;
/** System mode: longest spin waiting for a Date.now() millisecond edge. */
const SYSTEM_EDGE_MAX_SPIN_US = 2_000;
/** Stats to the main thread at most this often. */
const STATS_EVERY_MS = 1_000;

const data = workerData as ClockSyncWorkerData;
const clock = new ClockSource(data.clock);
const share = new ClockModelShare(data.share);
const filter = new TimeFilter();
const stats: ClockSyncStats = emptyStats(data.mode);
const schedule = new PollSchedule(clock.nowUs());
const { log: sampleLog, error: sampleLogError } = SampleLog.open(process.env['JAS_CLOCK_SAMPLE_LOG']);
if (sampleLogError !== null) stats.lastError = sampleLogError;
const pending = new Map<string, { t1: number; warmup: boolean }>(); // nonce -> request
const nonceSalt = randomBytes(4).readUInt32BE(0);
let seq = 0;
let socket: dgram.Socket | null = null;
/** Kernel timestamps on `socket`; null: user-space timestamps only (no addon). */
let stamps: SocketStamps | null = null;
let serverGen = 0;
let timer: NodeJS.Timeout | null = null;
/** Nonce key of the current poll's warm-up request whose reply releases the next request. */
let warmupKey: string | null = null;
/** Warm-ups of the current poll still to send before the measured request. */
let warmupsLeft = 0;
let stopped = false;
let lastStatsUs = 0;
const bootId = readBootId();
/** What the current server's fit is remembered under; null: nothing to remember (no file, no
 *  boot id, a leader that names no timescale). */
let memoryKey: ClockMemoryKey | null = null;
let timescaleId: string | null = null;
let lastRememberedUs = -Infinity;
let firstRememberedUs: number | null = null;
let remembering = false;
/** The first synced model for the current server was reported (the daemon logs it: join timeline). */
let syncReported = false;

function publish(nowUs: number): void {
  const m: ClockModel | null = filter.update(nowUs);
  if (!m) return;
  // Readers take it from the shared memory (ClockSync.model(), the audio engine): no message per update.
  share.publish(m);
  if (m.synced && !syncReported) {
    syncReported = true;
    parentPort?.postMessage({ type: 'synced', samples: m.samples, uncertaintyUs: m.uncertaintyUs, prior: filter.stats().prior });
  }
}

function sendStats(nowUs: number, force = false): void {
  if (!force && nowUs - lastStatsUs < STATS_EVERY_MS * 1000) return;
  lastStatsUs = nowUs;
  const f = filter.stats();
  Object.assign(stats, { outliers: f.outliers, steps: f.steps, resets: f.resets, rejected: f.rejected, holdover: schedule.holdover(nowUs), prior: f.prior, priorRejection: f.priorRejection, midpointShare: f.midpointShare });
  parentPort?.postMessage({ type: 'stats', stats: { ...stats } });
}

function onReply(msg: Buffer): void {
  // The kernel's receive time: this thread's wake-up latency (µs to ms) is not path delay.
  const rxMonoNs = stamps?.rxMonoNs() ?? null;
  const t4 = rxMonoNs === null ? clock.nowUs() : clock.fromHostMonoUs(rxMonoNs / 1000);
  if (rxMonoNs === null) stats.userRxStamps++;
  else stats.kernelRxStamps++;
  stats.received++;
  const r = decodeNtpPacket(msg);
  if (!r.ok) return void stats.rejected++;
  const p = r.packet;
  if (p.mode !== NTP_MODE.server || p.stratum === 0 || p.stratum > 15 || p.leap === 3) return void stats.rejected++;
  const key = `${p.originate.sec}:${p.originate.frac}`;
  const req = pending.get(key);
  if (req === undefined) return void stats.mismatched++; // unknown, duplicate or already expired
  pending.delete(key);
  const t1 = req.t1;
  if (t4 - t1 > REPLY_TIMEOUT_MS * 1000) return void stats.late++;
  if (req.warmup) {
    // Its timestamps carry the wake-up latency of an idle leader: not a sample. The measured
    // request goes out now (only for the current poll's warm-up).
    stats.warmupReplies++;
    if (key === warmupKey) {
      warmupKey = null;
      if (warmupsLeft > 0) sendWarmup();
      else sendRequest(false);
    }
    return;
  }
  const t2 = ntpToUnixUs(p.receive);
  const t3 = ntpToUnixUs(p.transmit);
  const res = filter.addSample({ t1LocalUs: t1, t2LeaderUs: t2, t3LeaderUs: t3, t4LocalUs: t4 });
  if (!res.accepted) return;
  sampleLog?.write(t1, t2, t3, t4, rxMonoNs !== null);
  stats.accepted++;
  schedule.onReply(t4, res.delayUs);
  publish(t4);
}

/**
 * One poll = a warm-up request, then the measured one as soon as the warm-up's reply arrives. A
 * receiver idle for long timestamps late by its wake-up latency (hundreds of µs on a loaded VM;
 * idle states and cpufreq on a Pi), which NTP reads as path asymmetry: a leader polled every
 * 100 ms is always cold, this member (which has just sent) is not. After the warm-up, the leader
 * has been idle for (warm-up reply + measured request) when the measured request arrives, and this
 * member for (measured request + its reply) when the reply arrives: the same distribution, so the
 * delay-floor envelopes meet equally warm ends. Sent on the reply (not on a timer) so the two
 * requests never queue behind each other on a jittery link (docs/clock.md, "Wake-up asymmetry").
 */
function sendPair(): void {
  warmupsLeft = WARMUPS_PER_POLL;
  sendWarmup();
}

function sendWarmup(): void {
  warmupsLeft--;
  const key = sendRequest(true);
  if (key !== null) warmupKey = key;
}

/** Sends one request; returns its nonce key (null without a socket). */
function sendRequest(warmup: boolean): string | null {
  const s = socket;
  if (!s) return null;
  const nowUs = clock.nowUs();
  for (const [k, { t1 }] of pending) {
    if (nowUs - t1 > REPLY_TIMEOUT_MS * 1000 || pending.size >= MAX_PENDING) {
      pending.delete(k);
      stats.timeouts++;
    }
  }
  // Transmit field carries an unguessable nonce; the reply echoes it as originate. T1 stays local.
  seq = (seq + 1) >>> 0;
  const nonce = { sec: (nonceSalt ^ (seq >>> 16)) >>> 0, frac: (Math.floor(Math.random() * 0x10000) << 16 | (seq & 0xffff)) >>> 0 };
  const buf = encodeNtpPacket({
    leap: 0, version: 4, mode: NTP_MODE.client, stratum: 0, poll: 0, precision: -20, rootDelayS: 0, rootDispersionS: 0,
    refId: 0, reference: NTP_ZERO, originate: NTP_ZERO, receive: NTP_ZERO, transmit: nonce,
  });
  const key = `${nonce.sec}:${nonce.frac}`;
  stats.sent++;
  if (warmup) stats.warmups++;
  // Stamped in native code right before the syscall, as the leader stamps its reply: both ends'
  // transmit timestamps then miss the same (tiny) part of the path.
  const sentMonoNs = stamps?.sendConnected(buf) ?? null;
  if (sentMonoNs !== null) {
    pending.set(key, { t1: clock.fromHostMonoUs(sentMonoNs / 1000), warmup });
    return key;
  }
  pending.set(key, { t1: clock.nowUs(), warmup }); // as late as possible before the send
  s.send(buf, 0, NTP_PACKET_BYTES, (err) => {
    if (err) stats.lastError = err.message;
  });
  return key;
}

function tick(): void {
  timer = null;
  if (stopped) return;
  const nowUs = clock.nowUs();
  if (data.mode === 'system') systemSample();
  else sendPair();
  publish(clock.nowUs()); // holdover: uncertainty grows, slew completes
  const interval = data.mode === 'system' ? SYSTEM_POLL_MS : schedule.intervalMs(nowUs);
  stats.pollIntervalMs = interval;
  sendStats(nowUs);
  remember(nowUs);
  timer = setTimeout(tick, interval);
}

/** Keeps the synced fit in the clock memory file: every CLOCK_MEMORY_EARLY_SAVE_MS in the first
 *  minute after the first sync, then every CLOCK_MEMORY_SAVE_MS (async I/O: this thread's
 *  timestamps never wait for a disk). */
function remember(nowUs: number): void {
  const key = memoryKey;
  const early = firstRememberedUs === null || nowUs - firstRememberedUs < CLOCK_MEMORY_EARLY_MS * 1000;
  if (key === null || remembering || nowUs - lastRememberedUs < (early ? CLOCK_MEMORY_EARLY_SAVE_MS : CLOCK_MEMORY_SAVE_MS) * 1000) return;
  const fit = filter.rememberedFit(nowUs);
  if (fit === null) return;
  remembering = true;
  lastRememberedUs = nowUs;
  firstRememberedUs ??= nowUs;
  saveClockMemory(data.memoryFile!, key, fit)
    .catch((e: Error) => { stats.lastError = `clock memory: ${e.message}`; })
    .finally(() => { remembering = false; });
}

/** One sample of CLOCK_REALTIME at a millisecond edge, bracketed by local clock reads. */
function systemSample(): void {
  const startUs = clock.nowUs();
  const ms0 = Date.now();
  for (;;) {
    const before = clock.nowUs();
    const ms = Date.now();
    const after = clock.nowUs();
    if (ms !== ms0) {
      const wallUs = ms * 1000;
      const res = filter.addSample({ t1LocalUs: before, t2LeaderUs: wallUs, t3LeaderUs: wallUs, t4LocalUs: after });
      if (res.accepted) {
        stats.accepted++;
        schedule.onReply(after);
      }
      stats.sent++;
      stats.received++;
      return;
    }
    if (after - startUs > SYSTEM_EDGE_MAX_SPIN_US) return;
  }
}

async function setServer(host: string, port: number, newTimescaleId: string | null): Promise<void> {
  const gen = ++serverGen;
  let address: string;
  let family: number;
  try {
    const r = await dns.lookup(host);
    address = r.address;
    family = r.family;
  } catch (e) {
    stats.lastError = `cannot resolve ${host}: ${(e as Error).message}`;
    sendStats(clock.nowUs(), true);
    return;
  }
  if (gen !== serverGen || stopped) return;
  const old = socket;
  socket = null;
  stamps = null;
  if (old) old.close();
  pending.clear();
  warmupKey = null;
  // Another server, or the same one naming another timescale: start over. The first name for a
  // server configured by --leader (synced before the welcome) only tells what to remember under.
  const changed = stats.server?.host !== host || stats.server?.port !== port || (timescaleId !== null && newTimescaleId !== timescaleId);
  const named = newTimescaleId !== timescaleId;
  stats.server = { host, port };
  timescaleId = newTimescaleId;
  if (changed) {
    syncReported = false;
    filter.restart();
    schedule.restart(clock.nowUs());
  }
  if (changed || named) {
    memoryKey = data.memoryFile !== null && bootId !== null && newTimescaleId !== null
      ? { bootId, timescaleId: newTimescaleId, clock: { offsetUs: clock.params.offsetUs, ratePpm: clock.params.ratePpm } }
      : null;
    lastRememberedUs = -Infinity;
    firstRememberedUs = null;
    const fit = memoryKey === null ? null : await loadClockMemory(data.memoryFile!, memoryKey);
    if (gen !== serverGen || stopped) return;
    if (fit !== null && filter.rememberedFit(clock.nowUs()) === null) filter.seedPrior(fit, clock.nowUs());
    sendStats(clock.nowUs(), true);
  }
  const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  s.on('message', onReply);
  s.on('error', (err) => {
    stats.lastError = err.message;
  });
  s.connect(port, address, () => {
    if (gen !== serverGen || stopped) return void s.close();
    socket = s;
    stamps = SocketStamps.attach(s);
    stats.kernelTimestamps = stamps !== null;
    parentPort?.postMessage({ type: 'socket', kernelTimestamps: stats.kernelTimestamps });
    if (!timer) tick();
  });
}

parentPort?.on('message', (m: { type?: string; host?: string; port?: number; timescaleId?: string | null }) => {
  if (m.type === 'server' && typeof m.host === 'string' && typeof m.port === 'number') {
    void setServer(m.host, m.port, typeof m.timescaleId === 'string' ? m.timescaleId : null);
  } else if (m.type === 'stop') {
    stopped = true;
    if (timer) clearTimeout(timer);
    socket?.close();
    socket = null;
    stamps = null;
    sampleLog?.close();
    process.exit(0);
  }
});

if (data.mode === 'system') tick();
