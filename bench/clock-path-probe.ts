// Probe for bench/clock-path: `server PORT` answers each datagram with its own receive and send
// CLOCK_MONOTONIC times; `client HOST PORT COUNT INTERVAL_MS [PAIR]` sends COUNT requests (or
// request pairs) and prints one JSON line per answer {t1Ns,t2Ns,t3Ns,t4Ns,tag} (all on the shared
// host clock, so one-way delays are exact). Lost datagrams are simply missing.
// PAIR: 'none' (default), 'reply' (a second request, tag 1, as soon as the first's answer arrives),
// 'chainN' (N requests, tags 0..N-1, each on the previous one's answer) or a gap in ms (second
// request that long after the first): the later ones find both ends awake.
import { createSocket } from 'node:dgram';

const LINGER_MS = 1500; // wait for late answers before exiting

const [mode, a, b, c, d, e] = process.argv.slice(2);
const now = (): bigint => process.hrtime.bigint();

if (mode === 'server') {
  const sock = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const t2 = now();
    if (msg.length !== 32) return;
    msg.writeBigUInt64BE(t2, 8);
    msg.writeBigUInt64BE(now(), 16);
    sock.send(msg, rinfo.port, rinfo.address);
  });
  sock.bind(Number(a), () => console.log('ready'));
  process.on('SIGTERM', () => sock.close(() => process.exit(0)));
} else if (mode === 'client') {
  const count = Math.min(100_000, Math.max(1, Number(c)));
  const intervalMs = Math.min(10_000, Math.max(1, Number(d)));
  const pair = e ?? 'none';
  const chain = pair === 'reply' ? 2 : pair.startsWith('chain') ? Math.min(8, Math.max(1, Number(pair.slice(5)) || 1)) : 1;
  const gapMs = pair === 'none' || chain > 1 ? 0 : Math.min(1000, Math.max(1, Number(pair)));
  const sock = createSocket('udp4');
  const send = (tag: number): void => {
    const buf = Buffer.alloc(32);
    buf.writeUInt8(tag, 24);
    buf.writeBigUInt64BE(now(), 0);
    sock.send(buf, Number(b), String(a));
  };
  sock.on('message', (msg) => {
    const t4 = now();
    if (msg.length !== 32) return;
    const tag = msg.readUInt8(24);
    console.log(JSON.stringify({ t1Ns: String(msg.readBigUInt64BE(0)), t2Ns: String(msg.readBigUInt64BE(8)), t3Ns: String(msg.readBigUInt64BE(16)), t4Ns: String(t4), tag }));
    if (tag + 1 < chain) send(tag + 1);
  });
  let sent = 0;
  const timer = setInterval(() => {
    send(0);
    if (gapMs > 0) setTimeout(() => send(1), gapMs);
    if (++sent >= count) {
      clearInterval(timer);
      setTimeout(() => sock.close(), LINGER_MS);
    }
  }, intervalMs);
} else {
  console.error('usage: clock-path-probe.js server PORT | client HOST PORT COUNT INTERVAL_MS [none|reply|GAP_MS]');
  process.exit(2);
}
