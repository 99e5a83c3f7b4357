// Worker thread of NtpServer: answers NTP client requests (RFC 5905 server mode) with timestamps of
// the leader timescale computed from the same anchor as the main thread. Never crashes on input.
import { parentPort, workerData } from 'node:worker_threads';
import dgram from 'node:dgram';
import {
  NTP_MODE,
  NTP_PACKET_BYTES,
  encodeNtpPacket,
  unixNsToNtp,
  writeTimestamp,
  type NtpTimestamp,
} from '@jaudiosync/protocol/ntp-packet';
import { SocketStamps } from '@jaudiosync/netstamp';
import { STAT, type NtpWorkerData } from './ntp-server.js';

/** Requests longer than this (extension fields, MACs) are not for us: ignore without parsing. */
const MAX_REQUEST_BYTES = 1024;
/** log2 seconds of our timestamp resolution (~1 µs). */
const PRECISION_LOG2 = -20;
/** Root dispersion we claim (s): our own timestamping error budget, far below any client limit. */
const ROOT_DISPERSION_S = 0.0001;
/** 127.127.1.1: the conventional reference id of an undisciplined local clock (as chrony `local`). */
const REFID_LOCAL = 0x7f7f0101;

const data = workerData as NtpWorkerData;
const stats = new Int32Array(data.stats);
const anchorNs = BigInt(Math.round(data.anchorWallUs)) * 1000n - BigInt(data.anchorMonoNs);
const leaderNtpNow = (): NtpTimestamp => unixNsToNtp(process.hrtime.bigint() + anchorNs);
const leaderNtpAt = (monoNs: bigint): NtpTimestamp => unixNsToNtp(monoNs + anchorNs);

const socket = dgram.createSocket({ type: data.host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
/** Kernel timestamps (docs/clock.md): null until bound, or without the addon. */
let stamps: SocketStamps | null = null;

socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
  // The kernel's receive time: this thread's wake-up latency is not path delay.
  const rxMonoNs = stamps?.rxMonoNs() ?? null;
  const t2Mono = rxMonoNs === null ? process.hrtime.bigint() : BigInt(Math.round(rxMonoNs));
  Atomics.add(stats, STAT.received, 1);
  Atomics.add(stats, rxMonoNs === null ? STAT.userRxStamps : STAT.kernelRxStamps, 1);
  if (msg.length < NTP_PACKET_BYTES) return void Atomics.add(stats, STAT.short, 1);
  if (msg.length > MAX_REQUEST_BYTES) return void Atomics.add(stats, STAT.oversize, 1);
  const b0 = msg[0] ?? 0;
  const version = (b0 >> 3) & 7;
  const mode = b0 & 7;
  if (version < 1 || version > 4) return void Atomics.add(stats, STAT.badVersion, 1);
  if (mode !== NTP_MODE.client) return void Atomics.add(stats, STAT.notClient, 1);
  const t2 = leaderNtpAt(t2Mono);
  const reply = encodeNtpPacket({
    leap: 0,
    version,
    mode: NTP_MODE.server,
    stratum: data.stratum,
    poll: Math.max(-7, Math.min(17, msg.readInt8(2))),
    precision: PRECISION_LOG2,
    rootDelayS: 0,
    rootDispersionS: ROOT_DISPERSION_S,
    refId: REFID_LOCAL,
    reference: { sec: t2.sec, frac: 0 },
    originate: { sec: msg.readUInt32BE(40), frac: msg.readUInt32BE(44) },
    receive: t2,
    transmit: t2,
  });
  // Transmit timestamp right before the syscall (natively: dgram's send to an address first waits
  // a tick for a lookup); else as late as possible before dgram's send.
  if (stamps?.sendNtpStamped(reply, 40, anchorNs, rinfo.address, rinfo.port) === true) {
    Atomics.add(stats, STAT.answered, 1);
    return;
  }
  writeTimestamp(reply, 40, leaderNtpNow());
  socket.send(reply, rinfo.port, rinfo.address, (err) => {
    if (err) Atomics.add(stats, STAT.sendErrors, 1);
    else Atomics.add(stats, STAT.answered, 1);
  });
});

socket.on('error', (err) => {
  parentPort?.postMessage({ type: 'error', message: err.message });
});

socket.bind({ port: data.port, address: data.host, exclusive: true }, () => {
  stamps = SocketStamps.attach(socket);
  Atomics.store(stats, STAT.kernelTimestamps, stamps === null ? 0 : 1);
  parentPort?.postMessage({ type: 'listening', port: socket.address().port });
});

parentPort?.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'stop') {
    try {
      socket.close(() => parentPort?.postMessage({ type: 'stopped' }));
    } catch {
      parentPort?.postMessage({ type: 'stopped' });
    }
  }
});
