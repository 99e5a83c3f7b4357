import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NTP_MODE,
  NTP_PACKET_BYTES,
  decodeNtpPacket,
  encodeNtpPacket,
  ntpDiffUs,
  ntpToUnixUs,
  refIdFromAscii,
  unixNsToNtp,
  unixUsToNtp,
  type NtpPacket,
} from '../src/ntp-packet.js';

test('Unix epoch maps to NTP second 2208988800', () => {
  assert.deepEqual(unixUsToNtp(0), { sec: 2_208_988_800, frac: 0 });
  assert.deepEqual(unixNsToNtp(0n), { sec: 2_208_988_800, frac: 0 });
  assert.equal(ntpToUnixUs({ sec: 2_208_988_800, frac: 0 }), 0);
});

test('half a second is fraction 2^31, and sub-µs resolution survives', () => {
  assert.deepEqual(unixUsToNtp(500_000), { sec: 2_208_988_800, frac: 2 ** 31 });
  const t = unixUsToNtp(1.25); // 1.25 µs
  assert.ok(Math.abs(ntpToUnixUs(t) - 1.25) < 0.001);
  const n = unixNsToNtp(1_700_000_000_123_456_789n);
  const back = ntpToUnixUs(n);
  // Near 2023 a double holds µs with 0.25 µs resolution.
  assert.ok(Math.abs(back - 1_700_000_000_123_456.789) <= 0.25, String(back));
});

test('round trip at present-day magnitudes stays within the double resolution', () => {
  for (const us of [1_764_000_000_000_000.5, 1_764_000_000_999_999.75, 1_000_000_000_000_000]) {
    const back = ntpToUnixUs(unixUsToNtp(us));
    assert.ok(Math.abs(back - us) <= 0.25, `${us} -> ${back}`);
  }
});

test('fraction carry at the top of a second', () => {
  const t = unixUsToNtp(999_999.99999999);
  assert.equal(t.sec, 2_208_988_801);
  assert.equal(t.frac, 0);
});

test('era 1 (after 2036-02-07) decodes past 2^32 seconds', () => {
  const us2040 = Date.UTC(2040, 0, 1) * 1000;
  const t = unixUsToNtp(us2040);
  assert.ok(t.sec < 2 ** 31);
  assert.equal(ntpToUnixUs(t), us2040);
});

test('ntpDiffUs is exact for short spans and across the era wrap', () => {
  const a = unixNsToNtp(1_700_000_000_000_000_000n);
  const b = unixNsToNtp(1_700_000_000_000_001_500n);
  assert.ok(Math.abs(ntpDiffUs(b, a) - 1.5) < 0.001);
  assert.ok(Math.abs(ntpDiffUs({ sec: 1, frac: 0 }, { sec: 0xffff_ffff, frac: 0 }) - 2e6) < 1e-6);
});

function samplePacket(): NtpPacket {
  return {
    leap: 0,
    version: 4,
    mode: NTP_MODE.server,
    stratum: 10,
    poll: -3,
    precision: -20,
    rootDelayS: 0.5,
    rootDispersionS: 0.001,
    refId: refIdFromAscii('LOCL'),
    reference: { sec: 3_900_000_000, frac: 1 },
    originate: { sec: 0xdeadbeef, frac: 0x01020304 },
    receive: { sec: 3_900_000_001, frac: 0x80000000 },
    transmit: { sec: 3_900_000_001, frac: 0x80001000 },
  };
}

test('encode/decode round trip keeps every field', () => {
  const p = samplePacket();
  const buf = encodeNtpPacket(p);
  assert.equal(buf.length, NTP_PACKET_BYTES);
  assert.equal(buf[0], 0x24); // LI 0, VN 4, mode 4
  const r = decodeNtpPacket(buf);
  assert.ok(r.ok);
  assert.equal(r.packet.rootDispersionS.toFixed(4), '0.0010');
  assert.deepEqual({ ...r.packet, rootDispersionS: 0.001 }, p);
});

test('decode rejects short, bad version, mode 0; never throws on garbage', () => {
  assert.equal(decodeNtpPacket(Buffer.alloc(47)).ok, false);
  assert.equal(decodeNtpPacket(Buffer.alloc(0)).ok, false);
  const v0 = Buffer.alloc(48);
  v0[0] = 0x03; // version 0, mode 3
  assert.equal(decodeNtpPacket(v0).ok, false);
  const v5 = Buffer.alloc(48);
  v5[0] = (5 << 3) | 3;
  assert.equal(decodeNtpPacket(v5).ok, false);
  const m0 = Buffer.alloc(48);
  m0[0] = 4 << 3;
  assert.equal(decodeNtpPacket(m0).ok, false);
  // Longer packets (extension fields, MAC) decode from the first 48 bytes.
  const long = Buffer.concat([encodeNtpPacket(samplePacket()), Buffer.alloc(1000, 0xff)]);
  assert.equal(decodeNtpPacket(long).ok, true);
  let seed = 12345;
  for (let i = 0; i < 2000; i++) {
    const len = i % 97;
    const g = Buffer.alloc(len);
    for (let k = 0; k < len; k++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      g[k] = seed >>> 24;
    }
    const r = decodeNtpPacket(g);
    assert.equal(typeof r.ok, 'boolean');
  }
  assert.equal(decodeNtpPacket('nope' as unknown as Uint8Array).ok, false);
});

test('decode works on a Uint8Array view with an offset', () => {
  const whole = Buffer.concat([Buffer.alloc(7), encodeNtpPacket(samplePacket())]);
  const view = new Uint8Array(whole.buffer, whole.byteOffset + 7, 48);
  const r = decodeNtpPacket(view);
  assert.ok(r.ok);
  assert.equal(r.packet.stratum, 10);
});
