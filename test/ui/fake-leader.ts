// An in-process leader (the real Leader composition with its REST routes and the web UI) whose
// members are fake: WebSocket servers on loopback that say hello, answer pings and send state
// reports with moving clock numbers, and record the settings they receive. With a key, the
// leader's real bearer check guards the API. No NTP, no decoding, no audio.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import type { AuthKey } from '@jaudiosync/protocol/auth';
import { encodeMessage } from '@jaudiosync/protocol/codec';
import { Leader, WallClock } from '@jaudiosync/leader/leader';
import { defaultConfig } from '@jaudiosync/leader/leader-config';
import { registerUiRoutes } from '@jaudiosync/leader/ui-routes';

/** Fake members report faster than real ones (1/s) so plots fill within a short test. */
const STATE_INTERVAL_MS = 200;
/** Real offsets are leader (Unix epoch) minus member monotonic (since boot) µs: huge. */
const FAKE_OFFSET_BASE_US = 1_795_000_000_000_000;
/** Every fake track is this long (no decoding). */
const FAKE_TRACK_S = 20;

export interface FakeMember {
  id: string;
  port: number;
  /** settings messages received from the leader, oldest first */
  settings: Array<{ volume: number; outputDelayUs: number; channelMode: string }>;
  timelines: number;
  close(): Promise<void>;
}

async function startFakeMember(id: string): Promise<FakeMember> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  const timers = new Set<NodeJS.Timeout>();
  const fake: FakeMember = {
    id, port: (wss.address() as AddressInfo).port, settings: [], timelines: 0,
    close: async () => {
      for (const t of timers) clearInterval(t);
      for (const s of wss.clients) s.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  const phase = id.charCodeAt(id.length - 1) * 0.7;
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      let msg: { type?: string; seq?: number; sentUs?: number; volume?: number; outputDelayUs?: number; channelMode?: string };
      try { msg = JSON.parse(raw.toString()) as typeof msg; } catch { return; }
      if (msg.type === 'ping') ws.send(encodeMessage({ type: 'pong', seq: msg.seq ?? 0, echoUs: msg.sentUs ?? 0 }));
      if (msg.type === 'timeline') fake.timelines++;
      if (msg.type === 'settings') fake.settings.push({ volume: msg.volume ?? -1, outputDelayUs: msg.outputDelayUs ?? 0, channelMode: msg.channelMode ?? '' });
    });
    ws.send(encodeMessage({ type: 'hello', memberId: id, hostname: `${id}-host`, version: '0.1.0', outputRate: 48000, channels: 2, sink: 'capture', clockMode: 'leader' }));
    let n = 0;
    const timer = setInterval(() => {
      n++;
      const x = n / 5 + phase;
      ws.send(encodeMessage({
        type: 'state', memberId: id,
        clock: { mode: 'leader', synced: true, offsetUs: FAKE_OFFSET_BASE_US + Math.round(40 * Math.sin(x)), uncertaintyUs: 15 + Math.round(5 * Math.cos(x)), rttUs: 300 + (n % 7) * 20, ratePpm: 12.5, samples: n },
        cache: { trackIds: [], bytes: 0 },
        decode: [],
        audio: { sink: 'capture', underruns: 0, driftPpm: 3.2, correctionPpm: Math.round(10 * Math.sin(x / 2)) / 10, dropped: 0, duplicated: 0, dacLatencyUs: 20_000, syncErrorUs: Math.round(30 * Math.cos(x / 3)) / 10 },
        errors: [],
      }));
    }, STATE_INTERVAL_MS);
    timers.add(timer);
    ws.on('close', () => { clearInterval(timer); timers.delete(timer); });
  });
  return fake;
}

export interface FakeLeader {
  url: string;
  leader: Leader;
  members: FakeMember[];
  /** Destroys every open event stream (the page must reconnect). */
  dropEventStreams(): number;
  close(): Promise<void>;
}

/** Fake members cannot answer the key handshake: use `key` only with no members. */
/** `wallOffsetMs`: the leader's system clock is that far off (a Pi without RTC, booted offline). */
export async function startFakeLeader(opts: { playlist: string; memberIds: string[]; key?: AuthKey; wallOffsetMs?: number }): Promise<FakeLeader> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jas-ui-'));
  const members = await Promise.all(opts.memberIds.map((id) => startFakeMember(id)));
  const config = {
    ...defaultConfig(),
    httpPort: 0, host: '127.0.0.1', stateDir: dir, mdns: false, leaderId: 'ui-test-leader', logLevel: 'silent',
    members: members.map((m) => `127.0.0.1:${m.port}`), playlist: opts.playlist, minLeadMs: 250,
    ...(opts.key ? { key: opts.key } : {}),
  };
  const t0Us = Date.now() * 1000 - performance.now() * 1000;
  const clock = { timescale: { nowUs: () => t0Us + performance.now() * 1000 }, start: async () => undefined, stop: async () => undefined };
  const analyzer = {
    analyze: async () => ({ sourceRate: 48000, sourceFrames: 48000 * FAKE_TRACK_S, channels: 2 }),
    close: async () => undefined,
  };
  const off = opts.wallOffsetMs ?? 0;
  const wallClock = new WallClock({ stateDir: dir, systemNowMs: () => Date.now() + off });
  const leader = new Leader(config, { log: pino({ level: 'silent' }), clock, analyzer, wallClock });
  const streams = new Set<IncomingMessage>();
  const fake: FakeLeader = {
    url: '', leader, members,
    dropEventStreams: () => {
      const n = streams.size;
      for (const r of streams) r.socket.destroy();
      streams.clear();
      return n;
    },
    close: async () => {
      await leader.close();
      await Promise.all(members.map((m) => m.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  leader.app.addHook('onRequest', async (request) => {
    if ((request.url.split('?')[0] ?? '') === '/api/events') {
      streams.add(request.raw);
      request.raw.once('close', () => streams.delete(request.raw));
    }
  });
  // Until leader.ts registers the page itself (then this is a no-op).
  if (!leader.app.hasRoute({ method: 'GET', url: '/' })) registerUiRoutes(leader.app);
  try {
    const { httpPort } = await leader.start();
    fake.url = `http://127.0.0.1:${httpPort}`;
  } catch (err) {
    await fake.close();
    throw err;
  }
  return fake;
}
