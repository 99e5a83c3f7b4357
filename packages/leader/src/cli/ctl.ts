// `jaudiosync ctl <command>`: turns a command line into one REST request to the leader and its
// reply into a short human summary (or raw JSON with --json). fetch and output are injected so
// tests run it against fastify without a shell. With a shared key it sends the REST token
// (--token, JAS_TOKEN, or derived from JAS_KEY on a host that has the key).
import { KEY_PREFIX, KeyFormatError, parseKey, restToken } from '@jaudiosync/protocol/auth';
import type { CalibrationBody } from '@jaudiosync/protocol/calibration-rest';
import { calibrate, CommandRecorder, DEFAULT_RECORD_CMD, summarizeCalibration } from './calibrate.js';

export const DEFAULT_LEADER_URL = 'http://localhost:7700';
/** A leader that does not answer within this is reported, not waited for. */
const REQUEST_TIMEOUT_MS = 10_000;

export const CTL_HELP = `Usage: jaudiosync ctl <command> [options]
       jaudiosync keygen [--help]              make or show the group's shared key

Commands:
  status                                   playlist, position, members
  play [--at T] [--index N] [--position-ms N]
  stop [--at T] | resume [--at T] | next [--at T] | previous [--at T]
  seek --position-ms N [--index N] [--at T]
  volume 0..1 [--at T]                     group volume (perceptual: 0.5 ~ half as loud, 0 = mute)
  repeat off|one|all                       repeat nothing, the playing track, or the playlist
  shuffle on|off|again [--seed N]          shuffle the upcoming tracks, back to playlist order, or draw again
  stop-after on|off                        stop at the end of the playing track (or cancel that)
  clock [--confirm]                        set the leader's wall clock from this machine's (needs the token)
  member ID [--volume 0..1] [--delay-ms N] [--channel-mode stereo|mono|left|right]
  loudness [off|track|album] [--target-lufs N]   show, or set loudness normalization (target -16 LUFS)
  crossfade MS                             crossfade between tracks, 0..12000 ms (0 = gapless)
  members                                  list members
  playlist [PATH | --file M3U8]            show, or load a playlist (path on the leader, or upload a file)
  calibrate [--apply] [--force] [--rounds N] [--members A,B] [--record-cmd CMD] [--rate HZ] [--channels N]
                                           this host's microphone hears each member play probes in turn;
                                           prints each member's delay and the output delays that align
                                           them here (--apply sets them). CMD writes raw s16le PCM to
                                           stdout (default: ${DEFAULT_RECORD_CMD}); exits 3 when a
                                           member has no proposal (not heard); docs/calibration.md

Options:
  --leader URL   leader base URL (default: $JAS_LEADER or ${DEFAULT_LEADER_URL})
  --token T      REST token jasr_... when the leader has a key (default: $JAS_TOKEN, or derived
                 from $JAS_KEY); print it with: jaudiosync keygen --show - --token-only
  --at T         when: "18:55:00" (today, leader's time zone), ISO 8601, "+5s", "+250ms"
  --json         print the raw JSON reply
`;

export interface CtlIo {
  env: NodeJS.ProcessEnv;
  fetch: typeof globalThis.fetch;
  out(text: string): void;
  err(text: string): void;
  readFile?(path: string): Promise<string>;
  /** This machine's wall clock (ms), for `clock`. */
  nowMs?(): number;
}

interface Request {
  method: string;
  path: string;
  body?: unknown;
  text?: string;
}

class UsageError extends Error {}

function takeOptions(args: string[]): { positional: string[]; opts: Map<string, string> } {
  const positional: string[] = [];
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (name === 'json' || name === 'help' || name === 'confirm' || name === 'apply' || name === 'force') {
        opts.set(name, 'true');
        continue;
      }
      const value = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      opts.set(name, value);
    } else positional.push(a);
  }
  return { positional, opts };
}

function num(opts: Map<string, string>, name: string): number | undefined {
  const v = opts.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name}: a number expected, got "${v}"`);
  return n;
}

function allowOnly(opts: Map<string, string>, allowed: string[]): void {
  for (const k of opts.keys()) {
    if (!['leader', 'json', 'help', 'token', ...allowed].includes(k)) throw new UsageError(`unknown option --${k} for this command`);
  }
}

async function buildRequest(positional: string[], opts: Map<string, string>, io: CtlIo): Promise<Request> {
  const [cmd, arg] = positional;
  const when = (): Record<string, unknown> => (opts.has('at') ? { at: opts.get('at') } : {});
  switch (cmd) {
    case 'status':
      allowOnly(opts, []);
      return { method: 'GET', path: '/api/status' };
    case 'members':
      allowOnly(opts, []);
      return { method: 'GET', path: '/api/members' };
    case 'play': {
      allowOnly(opts, ['at', 'index', 'position-ms']);
      const body: Record<string, unknown> = when();
      const index = num(opts, 'index');
      const positionMs = num(opts, 'position-ms');
      if (index !== undefined) body['index'] = index;
      if (positionMs !== undefined) body['positionMs'] = positionMs;
      return { method: 'POST', path: '/api/play', body };
    }
    case 'stop': case 'resume': case 'next': case 'previous':
      allowOnly(opts, ['at']);
      return { method: 'POST', path: `/api/${cmd}`, body: when() };
    case 'seek': {
      allowOnly(opts, ['at', 'index', 'position-ms']);
      const positionMs = num(opts, 'position-ms');
      if (positionMs === undefined) throw new UsageError('seek needs --position-ms N');
      const body: Record<string, unknown> = { ...when(), positionMs };
      const index = num(opts, 'index');
      if (index !== undefined) body['index'] = index;
      return { method: 'POST', path: '/api/seek', body };
    }
    case 'volume': {
      allowOnly(opts, ['at']);
      const volume = Number(arg);
      if (arg === undefined || !Number.isFinite(volume)) throw new UsageError('volume needs a number from 0 to 1');
      return { method: 'PUT', path: '/api/volume', body: { ...when(), volume } };
    }
    case 'repeat': {
      allowOnly(opts, []);
      if (arg !== 'off' && arg !== 'one' && arg !== 'all') throw new UsageError('repeat needs off, one or all');
      return { method: 'PUT', path: '/api/repeat', body: { repeat: arg } };
    }
    case 'shuffle': {
      allowOnly(opts, ['seed']);
      const seed = num(opts, 'seed');
      const withSeed = seed !== undefined ? { seed } : {};
      if (arg === 'on') return { method: 'PUT', path: '/api/shuffle', body: { shuffle: true, ...withSeed } };
      if (arg === 'again') return { method: 'POST', path: '/api/shuffle', body: withSeed };
      if (arg === 'off' && seed === undefined) return { method: 'PUT', path: '/api/shuffle', body: { shuffle: false } };
      throw new UsageError(arg === 'off' ? 'shuffle off takes no --seed' : 'shuffle needs on, off or again');
    }
    case 'clock': {
      allowOnly(opts, ['confirm']);
      return { method: 'PUT', path: '/api/clock', body: { wallMs: (io.nowMs ?? Date.now)(), ...(opts.has('confirm') ? { confirm: true } : {}) } };
    }
    case 'stop-after': {
      allowOnly(opts, []);
      if (arg !== 'on' && arg !== 'off') throw new UsageError('stop-after needs on or off');
      return { method: 'PUT', path: '/api/stop-after', body: { stopAfter: arg === 'on' } };
    }
    case 'member': {
      allowOnly(opts, ['volume', 'delay-ms', 'channel-mode']);
      if (arg === undefined) throw new UsageError('member needs an ID');
      const body: Record<string, unknown> = {};
      const volume = num(opts, 'volume');
      const delayMs = num(opts, 'delay-ms');
      if (volume !== undefined) body['volume'] = volume;
      if (delayMs !== undefined) body['outputDelayMs'] = delayMs;
      if (opts.has('channel-mode')) body['channelMode'] = opts.get('channel-mode');
      if (Object.keys(body).length === 0) throw new UsageError('member needs --volume, --delay-ms or --channel-mode');
      return { method: 'PUT', path: `/api/members/${encodeURIComponent(arg)}`, body };
    }
    case 'loudness': {
      allowOnly(opts, ['target-lufs']);
      const body: Record<string, unknown> = {};
      if (arg !== undefined) body['normalize'] = arg;
      const target = num(opts, 'target-lufs');
      if (target !== undefined) body['targetLufs'] = target;
      return Object.keys(body).length === 0 ? { method: 'GET', path: '/api/loudness' } : { method: 'PUT', path: '/api/loudness', body };
    }
    case 'crossfade': {
      allowOnly(opts, []);
      const crossfadeMs = Number(arg);
      if (arg === undefined || arg.trim() === '' || !Number.isFinite(crossfadeMs)) throw new UsageError('crossfade needs milliseconds from 0 to 12000');
      return { method: 'PUT', path: '/api/crossfade', body: { crossfadeMs } };
    }
    case 'playlist': {
      allowOnly(opts, ['file']);
      const file = opts.get('file');
      if (file !== undefined) {
        const read = io.readFile ?? (async (p: string) => (await import('node:fs/promises')).readFile(p, 'utf8'));
        return { method: 'PUT', path: '/api/playlist', text: await read(file) };
      }
      if (arg === undefined) return { method: 'GET', path: '/api/playlist' };
      return { method: 'PUT', path: '/api/playlist', body: { path: arg } };
    }
    default:
      throw new UsageError(cmd === undefined ? 'a command is needed' : `unknown command "${cmd}"`);
  }
}

/** The Authorization header value, or undefined when no token or key is given (keyless leader). */
export function authorizationFor(opts: Map<string, string>, env: NodeJS.ProcessEnv): string | undefined {
  const given = opts.get('token') ?? (env['JAS_TOKEN'] || undefined);
  if (given !== undefined) {
    const token = given.trim();
    if (token.startsWith(KEY_PREFIX)) {
      throw new UsageError(`${opts.has('token') ? '--token' : 'JAS_TOKEN'}: that is the shared key (${KEY_PREFIX}...), not the REST token: set JAS_KEY instead, or pass the token (jaudiosync keygen --show - --token-only)`);
    }
    return `Bearer ${token}`;
  }
  const keyText = env['JAS_KEY'];
  if (keyText === undefined || keyText === '') return undefined;
  try {
    return `Bearer ${restToken(parseKey(keyText))}`;
  } catch (err) {
    if (err instanceof KeyFormatError) throw new UsageError(`JAS_KEY: ${err.message}`);
    throw err;
  }
}

/** Runs `ctl ...` (argv after the program name, starting with "ctl"); returns the exit code. */
export async function runCtl(argv: string[], io: CtlIo): Promise<number> {
  const args = argv[0] === 'ctl' ? argv.slice(1) : argv;
  if (argv[0] !== 'ctl' || args.length === 0 || args.includes('--help') || args[0] === 'help') {
    io.out(CTL_HELP);
    return argv[0] === 'ctl' && (args.includes('--help') || args[0] === 'help') ? 0 : 2;
  }
  let request: Request;
  let opts: Map<string, string>;
  let authorization: string | undefined;
  try {
    const parsed = takeOptions(args);
    opts = parsed.opts;
    if (parsed.positional[0] === 'calibrate') return await runCalibrate(opts, authorizationFor(opts, io.env), io);
    request = await buildRequest(parsed.positional, opts, io);
    authorization = authorizationFor(opts, io.env);
  } catch (err) {
    io.err(`jaudiosync: ${(err as Error).message}\n`);
    return 2;
  }
  const base = (opts.get('leader') ?? io.env['JAS_LEADER'] ?? DEFAULT_LEADER_URL).replace(/\/+$/, '');
  const headers: Record<string, string> = authorization !== undefined ? { authorization } : {};
  const init: RequestInit = { method: request.method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), headers };
  if (request.text !== undefined) init.body = request.text, headers['content-type'] = 'audio/x-mpegurl';
  else if (request.body !== undefined) init.body = JSON.stringify(request.body), headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await io.fetch(`${base}${request.path}`, init);
  } catch (err) {
    io.err(`jaudiosync: cannot reach the leader at ${base}: ${(err as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  if (!res.ok) {
    const e = data as { error?: string; message?: string };
    io.err(`jaudiosync: ${e.error ?? `HTTP ${res.status}`}: ${e.message ?? text}\n`);
    if (res.status === 401) io.err('jaudiosync: the leader has a shared key: give --token / JAS_TOKEN (the REST token), or JAS_KEY on a host that has the key\n');
    return 1;
  }
  io.out(opts.has('json') ? JSON.stringify(data, null, 2) + '\n' : summarize(request, data) + '\n');
  return 0;
}

/** `ctl calibrate`: several requests and a recorder, so not one buildRequest. */
async function runCalibrate(opts: Map<string, string>, authorization: string | undefined, io: CtlIo): Promise<number> {
  allowOnly(opts, ['apply', 'force', 'rounds', 'members', 'record-cmd', 'rate', 'channels']);
  const rate = num(opts, 'rate') ?? 48_000;
  const channels = num(opts, 'channels') ?? 1;
  const rounds = num(opts, 'rounds');
  if (!Number.isInteger(rate) || rate < 8000) throw new UsageError('--rate: a sample rate in Hz expected');
  if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new UsageError('--channels: 1..8 expected');
  const body: CalibrationBody = {};
  if (opts.has('force')) body.force = true;
  if (rounds !== undefined) body.rounds = rounds;
  if (opts.has('members')) body.members = (opts.get('members') ?? '').split(',').filter((x) => x !== '');
  const command = opts.get('record-cmd') ?? (opts.has('rate') || opts.has('channels') ? `arecord -q -t raw -f S16_LE -r ${rate} -c ${channels}` : DEFAULT_RECORD_CMD);
  const base = (opts.get('leader') ?? io.env['JAS_LEADER'] ?? DEFAULT_LEADER_URL).replace(/\/+$/, '');
  try {
    const r = await calibrate({
      baseUrl: base, headers: authorization !== undefined ? { authorization } : {}, fetch: io.fetch,
      recorder: new CommandRecorder(command, rate, channels), body, apply: opts.has('apply'),
    });
    io.out(opts.has('json') ? JSON.stringify({ schedule: r.schedule, report: r.report, applied: r.applied, clockErrorUs: r.clockErrorUs }, null, 2) + '\n' : summarizeCalibration(r) + '\n');
    // 3: some member has no proposal (not heard, or its probes disagree): say so to scripts too.
    return r.report.members.every((m) => m.proposedOutputDelayMs !== undefined) ? 0 : 3;
  } catch (err) {
    io.err(`jaudiosync: calibration: ${(err as Error).message}\n`);
    return 1;
  }
}

function summarize(request: Request, data: unknown): string {
  const d = data as Record<string, unknown>;
  if (request.path === '/api/status') {
    const s = data as {
      playing: boolean; volume: number; position: { index: number; positionMs: number } | null; playlist: { title?: string; artist?: string }[];
      members: { id: string; health: string; connected: boolean }[]; repeat?: string; shuffle?: boolean; stopAfter?: boolean;
    };
    const pos = s.position;
    const track = pos ? s.playlist[pos.index] : undefined;
    const title = `${track?.title ?? ''}${track?.artist !== undefined ? ` (${track.artist})` : ''}`;
    const next = pos ? s.playlist[pos.index + 1]?.title : undefined;
    const order = s.repeat !== undefined ? `, repeat ${s.repeat}${s.shuffle === true ? ', shuffle' : ''}${s.stopAfter === true ? ', stops after this track' : ''}` : '';
    const lines = [
      `${s.playing ? 'playing' : 'stopped'}${pos ? ` track ${pos.index + 1}/${s.playlist.length} "${title}" at ${(pos.positionMs / 1000).toFixed(1)} s` : ' (no playlist)'}, volume ${s.volume}${order}`,
      ...(next !== undefined && s.stopAfter !== true && s.repeat !== 'one' ? [`next: "${next}"`] : []),
      ...s.members.map((m) => `  ${m.id}: ${m.health}`),
    ];
    return lines.join('\n');
  }
  if (request.path === '/api/members') {
    return (data as { id: string; health: string; address: string }[]).map((m) => `${m.id} ${m.address} ${m.health}`).join('\n') || 'no members';
  }
  if (typeof d['method'] === 'string' && typeof d['stepMs'] === 'number') {
    return `ok: leader clock ${d['method'] === 'system' ? 'set' : 'kept as an offset'}, moved ${String(d['stepMs'])} ms${typeof d['detail'] === 'string' ? ` (${d['detail']})` : ''}`;
  }
  if (typeof d['repeat'] === 'string' && typeof d['at'] === 'string') {
    return `ok: repeat ${String(d['repeat'])}, shuffle ${d['shuffle'] === true ? `on (seed ${String(d['seed'])})` : 'off'}${d['stopAfter'] === true ? `, stops at ${String(d['at'])}` : ''}`;
  }
  if (request.path === '/api/loudness' && Array.isArray(d['tracks'])) {
    const tracks = d['tracks'] as { index: number; loudnessLufs: number | null; truePeakDbtp: number | null; gainDb: number; peakLimited: boolean }[];
    const f = (v: number | null, unit: string): string => (v === null ? '-' : `${v.toFixed(1)} ${unit}`);
    return [`normalize ${String(d['normalize'])}, target ${String(d['targetLufs'])} LUFS`,
      ...tracks.map((t) => `  ${t.index + 1}: ${f(t.loudnessLufs, 'LUFS')}, peak ${f(t.truePeakDbtp, 'dBTP')}, gain ${t.gainDb.toFixed(1)} dB${t.peakLimited ? ' (peak-limited)' : ''}`)].join('\n');
  }
  if (request.path === '/api/loudness') return `normalize ${String(d['normalize'])}, target ${String(d['targetLufs'])} LUFS${typeof d['at'] === 'string' ? `, from ${d['at']}` : ''}`;
  if (request.path === '/api/crossfade') return `crossfade ${String(d['crossfadeMs'])} ms${d['crossfadeMs'] === 0 ? ' (gapless)' : ''}`;
  if (typeof d['at'] === 'string' && typeof d['rev'] === 'number') return `ok: rev ${d['rev']} takes effect at ${d['at']}`;
  if (typeof d['tracks'] === 'number') return `loaded ${d['tracks']} tracks, ${(d['problems'] as unknown[]).length} entries skipped`;
  return JSON.stringify(data);
}
