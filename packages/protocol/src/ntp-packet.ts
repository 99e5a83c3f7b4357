// NTPv4 (RFC 5905) 48-byte header codec and conversions between Unix-epoch microseconds and NTP
// 32.32 timestamps. Pure: no I/O, no clocks. Decoding never throws; it returns an error result.

/** Size of the NTP header without extension fields or MAC. */
export const NTP_PACKET_BYTES = 48;
/** Seconds from 1900-01-01 (NTP era 0 start) to 1970-01-01 (Unix epoch). */
export const NTP_UNIX_EPOCH_DELTA_S = 2_208_988_800;
/** 2^32: NTP fraction units per second. */
const FRAC_PER_S = 4_294_967_296;
const FRAC_PER_S_BIG = 4_294_967_296n;

export const NTP_MODE = {
  symmetricActive: 1,
  symmetricPassive: 2,
  client: 3,
  server: 4,
  broadcast: 5,
  control: 6,
  private: 7,
} as const;

export const NTP_LEAP = { none: 0, plus61: 1, minus59: 2, unsynchronized: 3 } as const;

/** A raw NTP 64-bit timestamp: unsigned 32-bit seconds since 1900 (era 0) and 32-bit fraction. */
export interface NtpTimestamp {
  sec: number;
  frac: number;
}

export interface NtpPacket {
  leap: number; // 0..3
  version: number; // 1..4 when decoded
  mode: number; // 0..7
  stratum: number; // 0..255
  poll: number; // signed log2 seconds
  precision: number; // signed log2 seconds
  rootDelayS: number; // seconds, NTP short format (16.16)
  rootDispersionS: number; // seconds, NTP short format (16.16)
  refId: number; // uint32
  reference: NtpTimestamp;
  originate: NtpTimestamp;
  receive: NtpTimestamp;
  transmit: NtpTimestamp;
}

export type NtpDecodeResult =
  | { ok: true; packet: NtpPacket }
  | { ok: false; error: string };

export const NTP_ZERO: NtpTimestamp = Object.freeze({ sec: 0, frac: 0 });

export function isZeroTimestamp(t: NtpTimestamp): boolean {
  return t.sec === 0 && t.frac === 0;
}

export function timestampsEqual(a: NtpTimestamp, b: NtpTimestamp): boolean {
  return a.sec === b.sec && a.frac === b.frac;
}

/**
 * Unix-epoch microseconds (fractional allowed) -> NTP timestamp (era 0 wraps modulo 2^32 s).
 * Keeps whatever sub-µs resolution the double carries (0.25 µs near 2025).
 */
export function unixUsToNtp(unixUs: number): NtpTimestamp {
  if (!Number.isFinite(unixUs)) throw new RangeError(`unixUsToNtp: not finite: ${unixUs}`);
  let s = Math.floor(unixUs / 1e6);
  let remUs = unixUs - s * 1e6;
  if (remUs < 0) {
    s -= 1;
    remUs += 1e6;
  }
  let frac = Math.round((remUs * FRAC_PER_S) / 1e6);
  if (frac >= FRAC_PER_S) {
    frac -= FRAC_PER_S;
    s += 1;
  }
  const sec = mod2p32(s + NTP_UNIX_EPOCH_DELTA_S);
  return { sec, frac };
}

/** Unix-epoch nanoseconds (exact bigint) -> NTP timestamp, rounded to the nearest 2^-32 s. */
export function unixNsToNtp(unixNs: bigint): NtpTimestamp {
  let s = unixNs / 1_000_000_000n;
  let remNs = unixNs - s * 1_000_000_000n;
  if (remNs < 0n) {
    s -= 1n;
    remNs += 1_000_000_000n;
  }
  let frac = (remNs * FRAC_PER_S_BIG + 500_000_000n) / 1_000_000_000n;
  if (frac >= FRAC_PER_S_BIG) {
    frac -= FRAC_PER_S_BIG;
    s += 1n;
  }
  const sec = Number(BigInt.asUintN(32, s + BigInt(NTP_UNIX_EPOCH_DELTA_S)));
  return { sec, frac: Number(frac) };
}

/**
 * NTP timestamp -> Unix-epoch microseconds (fractional). Era is chosen per RFC 4330: seconds with
 * the top bit clear belong to era 1 (2036-02-07 .. 2104), so the range is 1968..2104.
 */
export function ntpToUnixUs(t: NtpTimestamp): number {
  const eraSec = t.sec < 0x8000_0000 ? t.sec + FRAC_PER_S : t.sec;
  return (eraSec - NTP_UNIX_EPOCH_DELTA_S) * 1e6 + (t.frac * 1e6) / FRAC_PER_S;
}

/** Exact difference a - b in µs (handles era wrap; keeps sub-ns resolution for small spans). */
export function ntpDiffUs(a: NtpTimestamp, b: NtpTimestamp): number {
  let ds = a.sec - b.sec;
  if (ds > 0x7fff_ffff) ds -= FRAC_PER_S;
  else if (ds < -0x8000_0000) ds += FRAC_PER_S;
  return ds * 1e6 + ((a.frac - b.frac) * 1e6) / FRAC_PER_S;
}

export function encodeNtpPacket(p: NtpPacket, out?: Buffer): Buffer {
  const b = out ?? Buffer.alloc(NTP_PACKET_BYTES);
  if (b.length < NTP_PACKET_BYTES) throw new RangeError('encodeNtpPacket: buffer shorter than 48');
  b[0] = ((p.leap & 3) << 6) | ((p.version & 7) << 3) | (p.mode & 7);
  b[1] = clampInt(p.stratum, 0, 255);
  b.writeInt8(clampInt(p.poll, -128, 127), 2);
  b.writeInt8(clampInt(p.precision, -128, 127), 3);
  b.writeUInt32BE(toShortFormat(p.rootDelayS), 4);
  b.writeUInt32BE(toShortFormat(p.rootDispersionS), 8);
  b.writeUInt32BE(p.refId >>> 0, 12);
  writeTimestamp(b, 16, p.reference);
  writeTimestamp(b, 24, p.originate);
  writeTimestamp(b, 32, p.receive);
  writeTimestamp(b, 40, p.transmit);
  return b;
}

/**
 * Validates length (>= 48; extension fields and MAC are ignored), version (1..4) and mode (1..7).
 * Never throws.
 */
export function decodeNtpPacket(buf: Uint8Array): NtpDecodeResult {
  if (!(buf instanceof Uint8Array)) return { ok: false, error: 'not a byte buffer' };
  if (buf.length < NTP_PACKET_BYTES) return { ok: false, error: `too short: ${buf.length} bytes` };
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const b0 = b[0] ?? 0;
  const version = (b0 >> 3) & 7;
  const mode = b0 & 7;
  if (version < 1 || version > 4) return { ok: false, error: `bad version ${version}` };
  if (mode === 0) return { ok: false, error: 'reserved mode 0' };
  return {
    ok: true,
    packet: {
      leap: (b0 >> 6) & 3,
      version,
      mode,
      stratum: b[1] ?? 0,
      poll: b.readInt8(2),
      precision: b.readInt8(3),
      rootDelayS: b.readUInt32BE(4) / 65536,
      rootDispersionS: b.readUInt32BE(8) / 65536,
      refId: b.readUInt32BE(12),
      reference: readTimestamp(b, 16),
      originate: readTimestamp(b, 24),
      receive: readTimestamp(b, 32),
      transmit: readTimestamp(b, 40),
    },
  };
}

/** Four ASCII characters (stratum 0/1 reference ids such as "GPS", "LOCL") -> uint32. */
export function refIdFromAscii(code: string): number {
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + ((code.charCodeAt(i) || 0) & 0xff);
  return v >>> 0;
}

export function readTimestamp(b: Buffer, offset: number): NtpTimestamp {
  return { sec: b.readUInt32BE(offset), frac: b.readUInt32BE(offset + 4) };
}

export function writeTimestamp(b: Buffer, offset: number, t: NtpTimestamp): void {
  b.writeUInt32BE(t.sec >>> 0, offset);
  b.writeUInt32BE(t.frac >>> 0, offset + 4);
}

function toShortFormat(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.min(0xffff_ffff, Math.round(seconds * 65536)) >>> 0;
}

function clampInt(v: number, lo: number, hi: number): number {
  if (!Number.isFinite(v)) return lo;
  return Math.max(lo, Math.min(hi, Math.trunc(v)));
}

function mod2p32(s: number): number {
  const m = s % FRAC_PER_S;
  return m < 0 ? m + FRAC_PER_S : m;
}
