// The REST API (/api/*, /healthz): one table of routes with their JSON Schemas (protocol/rest.ts),
// used both to register them and to generate the OpenAPI 3 document, plus server-sent events for
// UIs. Handlers only translate HTTP to controller/leader calls; rules live in those.
import type { EventEmitter } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { JasError } from '@jaudiosync/protocol/errors';
import * as Rest from '@jaudiosync/protocol/rest';
import { spanFrames } from '@jaudiosync/protocol/timeline';
import type { MemberView } from '../members/member-registry.js';
import type { CatalogTrack } from '../playlist/track-catalog.js';
import type { PlaylistProblem } from '../playlist/m3u8-parser.js';
import type { TimelineController, MemberSettings } from '../timeline/timeline-controller.js';
import { PLAYLIST_CONTENT_TYPES } from './http-server.js';

/** UIs rarely need more than a few status pushes per second. */
const SSE_MIN_INTERVAL_MS = 250;
/** A comment line keeps proxies and idle timeouts from closing the stream. */
const SSE_KEEPALIVE_MS = 15_000;
/** Event streams open at once; more is a misbehaving client. */
const MAX_SSE_CLIENTS = 32;

export interface PlaylistLoadReply {
  path: string | null;
  tracks: number;
  problems: PlaylistProblem[];
}

export interface RestDeps {
  controller: TimelineController;
  members(): MemberView[];
  tracks(): readonly CatalogTrack[];
  playlistPath(): string | undefined;
  playlistProblems(): PlaylistProblem[];
  /** Loads a playlist from a path, or from uploaded m3u8 text (entries relative to the music dir). */
  loadPlaylist(source: { path?: string } | { bytes: Uint8Array }): Promise<PlaylistLoadReply>;
  leader(): Rest.LeaderStatus;
  /** Loudness normalization: the setting and each track's loudness and gain. */
  loudness(): Rest.LoudnessReply;
  loudnessSettings(): { normalize: Rest.LoudnessReply['normalize']; targetLufs: number };
  setLoudness(body: Rest.LoudnessBody): Rest.LoudnessSetReply;
  /** Emits `change` whenever status may have changed (SSE). */
  events: EventEmitter;
  /** Leader software version (OpenAPI info). */
  version: string;
  /** The leader's wall clock (PUT /api/clock); `settable` only when requests are authenticated (a shared key). */
  clock?: { settable: boolean; set(wallMs: number): Promise<{ method: 'system' | 'offset'; stepMs: number; detail?: string }>; nowMs(): number };
  /** The cover image with this sha256 of a track of the playlist (undefined: none). */
  artwork?(sha256: string): Promise<{ data: Uint8Array; mime: string } | undefined>;
  /** Routes of other parts (the calibration), registered and documented like these. */
  extraRoutes?: RouteDef[];
}

export interface RouteDef {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  url: string;
  summary: string;
  body?: TSchema;
  params?: TSchema;
  reply?: TSchema;
  /** Accepts an m3u8 text body besides JSON. */
  acceptsText?: boolean;
  /** Replies with bytes of this media type instead of JSON (OpenAPI). */
  binary?: string;
  handler(request: FastifyRequest, reply: FastifyReply): Promise<unknown> | unknown;
}

type Body<T> = FastifyRequest<{ Body: T }>;

export function buildStatus(deps: RestDeps): Rest.StatusReply {
  const c = deps.controller;
  const tl = c.timeline;
  const pos = c.positionNow();
  const catalog = deps.tracks();
  const o = c.orderState();
  // The play order: the timeline's tracks (shuffled or not), each with its place in the m3u8.
  const order = o.order.length === catalog.length ? o.order : catalog.map((_t, i) => i);
  const playlist = order.flatMap((m3u, index) => {
    const t = catalog[m3u];
    if (t === undefined) return [];
    const gainDb = tl.tracks[index]?.id === t.id ? tl.tracks[index]?.gainDb : undefined;
    return [{
      index, playlistIndex: m3u, id: t.id, title: t.title, path: t.path, frames: t.frames, durationMs: c.msOfFrames(t.frames),
      ...(gainDb !== undefined ? { gainDb } : {}),
      ...(t.artist !== undefined ? { artist: t.artist } : {}),
      ...(t.album !== undefined ? { album: t.album } : {}),
      ...(t.artwork !== undefined ? { artwork: t.artwork.sha256 } : {}),
    }];
  });
  // Time until playback ends: the rest of this track, and the tracks after it unless it stops after this one.
  let remainingMs: number | null = null;
  if (pos.playing && !pos.ended && (o.stopAfter || o.repeat === 'off')) {
    // Through to the end, each track plays until its successor starts (a crossfade overlaps them).
    const xf = tl.crossfadeFrames ?? 0;
    let frames = (o.stopAfter ? (tl.tracks[pos.index]?.frames ?? 0) : spanFrames(tl.tracks, pos.index, false, xf)) - pos.frame;
    if (!o.stopAfter) for (let i = pos.index + 1; i < tl.tracks.length; i++) frames += spanFrames(tl.tracks, i, false, xf);
    remainingMs = c.msOfFrames(Math.max(0, frames));
  }
  return {
    playlist,
    position: tl.tracks.length === 0 ? null : { rev: tl.rev, index: pos.index, frame: pos.frame, positionMs: c.msOfFrames(pos.frame), atUs: pos.atUs },
    playing: pos.playing,
    loop: tl.loop,
    repeat: o.repeat,
    shuffle: o.shuffle,
    seed: o.seed,
    stopAfter: o.stopAfter,
    remainingMs,
    volume: tl.volume?.gain ?? 1,
    loudness: deps.loudnessSettings(),
    crossfadeMs: c.crossfadeMs,
    members: deps.members().map((m) => memberStatus(m, c.memberSettings(m.id), deps.tracks())),
    leader: deps.leader(),
  };
}

function memberStatus(m: MemberView, settings: MemberSettings, tracks: readonly CatalogTrack[]): Rest.MemberStatus {
  const problems: string[] = [];
  const st = m.state;
  if (!m.connected) problems.push(m.error?.message ?? `not connected (${m.status})`);
  if (st && !st.clock.synced) problems.push('clock not synchronized');
  if (st && st.audio.underruns > 0) problems.push(`${st.audio.underruns} underruns`);
  if (st?.audio.output?.lost) problems.push(`audio output lost: ${st.audio.output.reason ?? 'no reason given'} (reopening)`);
  for (const e of st?.errors.slice(0, 3) ?? []) problems.push(`${e.code}: ${e.message}`);
  for (const e of m.trackErrors.slice(0, 3)) problems.push(`track ${e.trackId.slice(0, 12)}: ${e.reason}`);
  const cached = new Set(st?.cache.trackIds ?? []);
  const health: Rest.MemberHealth = !m.connected ? 'offline'
    : st && (!st.clock.synced || st.errors.length > 0) ? 'bad'
      : problems.length > 0 || !st ? 'warn' : 'ok';
  const out: Rest.MemberStatus = {
    id: m.id,
    hostname: m.hostname ?? '',
    address: m.endpoint,
    connected: m.connected,
    clock: st ? { mode: st.clock.mode, synced: st.clock.synced, offsetUs: st.clock.offsetUs, uncertaintyUs: st.clock.uncertaintyUs, rttUs: st.clock.rttUs, ratePpm: st.clock.ratePpm } : null,
    audio: st ? { ...st.audio } : null,
    volume: settings.volume,
    outputDelayMs: settings.outputDelayMs,
    channelMode: settings.channelMode,
    health,
  };
  if (st) {
    out.ready = tracks.filter((t) => cached.has(t.id)).length;
    const decoded = new Set(st.decode.filter((d) => d.progress >= 1 && d.error === undefined).map((d) => d.trackId));
    out.decoded = tracks.filter((t) => decoded.has(t.id)).length;
  }
  if (problems.length > 0) out.problems = problems;
  return out;
}

function routes(deps: RestDeps): RouteDef[] {
  const c = deps.controller;
  const when = (b: { at?: string; delayMs?: number } | undefined): { at?: string; delayMs?: number } => {
    const out: { at?: string; delayMs?: number } = {};
    if (b?.at !== undefined) out.at = b.at;
    if (b?.delayMs !== undefined) out.delayMs = b.delayMs;
    return out;
  };
  const command = (fn: (b: Rest.StopBody) => { rev: number; atUs: number; at: string }) =>
    (request: FastifyRequest) => {
      const r = fn((request.body ?? {}) as Rest.StopBody);
      return { rev: r.rev, atUs: r.atUs, at: r.at };
    };
  const membersRoute = (request: FastifyRequest) => {
    const { id } = request.params as Rest.MemberParams;
    const body = request.body as Rest.MemberSettingsBody;
    const known = deps.members().some((m) => m.id === id);
    if (!known) throw new JasError('JAS_ERR_NOT_FOUND', { what: `member ${id}` });
    const patch: Partial<MemberSettings> = {};
    if (body.volume !== undefined) patch.volume = body.volume;
    if (body.outputDelayMs !== undefined) patch.outputDelayMs = body.outputDelayMs;
    if (body.channelMode !== undefined) patch.channelMode = body.channelMode;
    const { settings, atUs } = c.updateMemberSettings(id, patch);
    return { id, ...settings, atUs, at: c.wallIsoOf(atUs) };
  };
  const playlistRoute = async (request: FastifyRequest) => {
    // Uploaded m3u8: the body string holds the bytes as Latin-1 (see http-server.ts).
    if (typeof request.body === 'string') return deps.loadPlaylist({ bytes: Buffer.from(request.body, 'latin1') });
    const body = (request.body ?? {}) as Rest.PlaylistBody;
    const path = body.path ?? deps.playlistPath();
    if (path === undefined) throw new JasError('JAS_ERR_NO_PLAYLIST', {});
    return deps.loadPlaylist({ path });
  };
  const playlistGet = () => ({
    path: deps.playlistPath() ?? null,
    tracks: deps.tracks().map((t, index) => ({ index, id: t.id, title: t.title, path: t.path, frames: t.frames, durationMs: c.msOfFrames(t.frames) })),
    problems: deps.playlistProblems(),
  });
  const volumeRoute = (request: FastifyRequest) => {
    const b = request.body as Rest.VolumeBody;
    return c.setVolume({ volume: b.volume, ...when(b) });
  };
  const shuffleRoute = (request: FastifyRequest) => {
    const b = request.body as Rest.ShuffleBody;
    return c.setShuffle(b.shuffle, b.seed);
  };
  const clockRoute = async (request: FastifyRequest) => {
    const b = request.body as Rest.ClockBody;
    const clock = deps.clock;
    if (clock === undefined || !clock.settable) {
      throw new JasError('JAS_ERR_UNAUTHORIZED', { detail: "setting the leader's clock needs a shared key on the leader, so that the request is authenticated (docs/security.md)" });
    }
    const ahead = c.wallTimedAheadUs();
    if (ahead.length > 0 && b.confirm !== true) {
      throw new JasError('JAS_ERR_CONFLICT', {
        detail: `${ahead.length} command(s) given as a time of day are scheduled (the first at ${c.wallIsoOf(ahead[0] as number)}); they keep their moment, which the new clock calls another time: send "confirm": true to set it anyway`,
      }, { field: '/confirm' });
    }
    const r = await clock.set(b.wallMs);
    deps.events.emit('change');
    return { ...r, wallMs: Math.round(clock.nowMs()) };
  };
  const artworkRoute = async (request: FastifyRequest, reply: FastifyReply) => {
    const { sha256 } = request.params as Rest.ArtworkParams;
    const image = await deps.artwork?.(sha256);
    if (image === undefined) throw new JasError('JAS_ERR_NOT_FOUND', { what: `artwork ${sha256}` });
    // Named by its content hash: it never changes, a phone may keep it.
    const etag = `"${sha256}"`;
    void reply.header('etag', etag).header('cache-control', 'private, max-age=31536000, immutable').header('x-content-type-options', 'nosniff');
    if ((request.headers['if-none-match'] ?? '').split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) return reply.code(304).send();
    return reply.type(image.mime).send(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength));
  };
  return [
    { method: 'GET', url: '/healthz', summary: 'Liveness probe', handler: () => ({ ok: true }) },
    { method: 'GET', url: '/api/status', summary: 'Playlist, position, volume, members and leader info', reply: Rest.StatusReply, handler: () => buildStatus(deps) },
    {
      method: 'POST', url: '/api/play', summary: 'Play (from the resume point, or track `index` at `positionMs`)', body: Rest.PlayBody, reply: Rest.CommandReply,
      handler: (request: Body<Rest.PlayBody>) => {
        const b = request.body ?? {};
        const r = c.play({ ...when(b), ...(b.index !== undefined ? { index: b.index } : {}), ...(b.positionMs !== undefined ? { positionMs: b.positionMs } : {}) });
        return { rev: r.rev, atUs: r.atUs, at: r.at };
      },
    } as RouteDef,
    { method: 'POST', url: '/api/stop', summary: 'Stop (keeps the resume point)', body: Rest.StopBody, reply: Rest.CommandReply, handler: command((b) => c.stop(when(b))) },
    { method: 'POST', url: '/api/resume', summary: 'Resume from the resume point', body: Rest.ResumeBody, reply: Rest.CommandReply, handler: command((b) => c.resume(when(b))) },
    { method: 'POST', url: '/api/next', summary: 'Next track', body: Rest.NextBody, reply: Rest.CommandReply, handler: command((b) => c.next(when(b))) },
    { method: 'POST', url: '/api/previous', summary: 'Previous track (or restart the current one after 3 s)', body: Rest.PreviousBody, reply: Rest.CommandReply, handler: command((b) => c.previous(when(b))) },
    {
      method: 'POST', url: '/api/seek', summary: 'Seek to `positionMs` of track `index` (default: current)', body: Rest.SeekBody, reply: Rest.CommandReply,
      handler: (request: Body<Rest.SeekBody>) => {
        const b = request.body;
        const r = c.seek({ ...when(b), positionMs: b.positionMs, ...(b.index !== undefined ? { index: b.index } : {}) });
        return { rev: r.rev, atUs: r.atUs, at: r.at };
      },
    } as RouteDef,
    { method: 'GET', url: '/api/loudness', summary: 'Loudness normalization: the setting, each track\'s measured loudness, true peak and gain', reply: Rest.LoudnessReply, handler: () => deps.loudness() },
    {
      method: 'PUT', url: '/api/loudness', summary: 'Loudness normalization: `normalize` off | track | album, `targetLufs` (default -16)', body: Rest.LoudnessBody, reply: Rest.LoudnessSetReply,
      handler: (request: Body<Rest.LoudnessBody>) => deps.setLoudness(request.body),
    } as RouteDef,
    {
      method: 'PUT', url: '/api/crossfade', summary: 'Crossfade between consecutive tracks, `crossfadeMs` 0..12000 (0: gapless, the default)', body: Rest.CrossfadeBody, reply: Rest.CrossfadeReply,
      handler: (request: Body<Rest.CrossfadeBody>) => c.setCrossfade(request.body.crossfadeMs),
    } as RouteDef,
    { method: 'PUT', url: '/api/volume', summary: 'Group volume (0..1, perceptual: gain = volume^1.5)', body: Rest.VolumeBody, handler: volumeRoute },
    { method: 'POST', url: '/api/volume', summary: 'Group volume, same as PUT', body: Rest.VolumeBody, handler: volumeRoute },
    {
      method: 'PUT', url: '/api/repeat', summary: 'Repeat: off, one (the playing track), all (the playlist; `loop`)', body: Rest.RepeatBody, reply: Rest.OrderReply,
      handler: (request: Body<Rest.RepeatBody>) => c.setRepeat(request.body.repeat),
    } as RouteDef,
    { method: 'PUT', url: '/api/shuffle', summary: 'Shuffle the upcoming tracks (optional `seed`) or put them back in playlist order', body: Rest.ShuffleBody, reply: Rest.OrderReply, handler: shuffleRoute },
    {
      method: 'POST', url: '/api/shuffle', summary: 'Shuffle the upcoming tracks again (a new seed, or `seed`)', body: Rest.ReshuffleBody, reply: Rest.OrderReply,
      handler: (request: Body<Rest.ReshuffleBody>) => c.setShuffle(true, request.body?.seed),
    } as RouteDef,
    {
      method: 'PUT', url: '/api/stop-after', summary: 'Stop at the end of the playing track (true), or cancel that (false)', body: Rest.StopAfterBody, reply: Rest.OrderReply,
      handler: (request: Body<Rest.StopAfterBody>) => c.setStopAfter(request.body.stopAfter),
    } as RouteDef,
    {
      method: 'PUT', url: '/api/clock', summary: "Set the leader's wall clock from a phone's (times of day are read against it; the leader timescale does not move)", body: Rest.ClockBody, reply: Rest.ClockReply,
      handler: clockRoute,
    },
    {
      method: 'GET', url: '/api/artwork/:sha256', summary: "A track's embedded cover sized for a phone (JPEG or PNG scaled to 600 px as JPEG; GIF or WebP up to 512 KiB as embedded), by the sha256 /api/status gives", params: Rest.ArtworkParams,
      binary: 'image/*', handler: artworkRoute,
    },
    { method: 'GET', url: '/api/members', summary: 'Members with their last state', handler: () => buildStatus(deps).members },
    { method: 'PUT', url: '/api/members/:id', summary: "A member's volume, output delay and channel mode", params: Rest.MemberParams, body: Rest.MemberSettingsBody, handler: membersRoute },
    { method: 'PATCH', url: '/api/members/:id', summary: 'Same as PUT /api/members/:id', params: Rest.MemberParams, body: Rest.MemberSettingsBody, handler: membersRoute },
    { method: 'GET', url: '/api/playlist', summary: 'Tracks of the loaded playlist and the entries that were skipped', handler: playlistGet },
    { method: 'PUT', url: '/api/playlist', summary: 'Load a playlist: JSON {path} on the leader, or the m3u8 text itself (text/plain, audio/x-mpegurl)', body: Rest.PlaylistBody, acceptsText: true, handler: playlistRoute },
    { method: 'POST', url: '/api/playlist', summary: 'Same as PUT /api/playlist', body: Rest.PlaylistBody, acceptsText: true, handler: playlistRoute },
  ];
}

/** Bodies must be JSON, except the playlist upload; anything else is 415 before validation. */
function checkContentType(request: FastifyRequest, acceptsText: boolean): void {
  if (request.body === undefined || request.body === null) {
    request.body = {};
    return;
  }
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') return;
  if (acceptsText && (type === 'text/plain' || PLAYLIST_CONTENT_TYPES.includes(type))) return;
  throw new JasError('JAS_ERR_UNSUPPORTED_MEDIA', { contentType: JSON.stringify(type) });
}

export function registerRestRoutes(app: FastifyInstance, deps: RestDeps): void {
  const table = [...routes(deps), ...(deps.extraRoutes ?? [])];
  for (const r of table) {
    const schema: Record<string, unknown> = {};
    if (r.params) schema['params'] = r.params;
    if (r.body) schema['body'] = r.acceptsText ? { anyOf: [r.body, { type: 'string' }] } : r.body;
    app.route({
      method: r.method,
      url: r.url,
      schema,
      preValidation: async (request) => {
        if (r.method === 'GET') return;
        checkContentType(request, r.acceptsText === true);
      },
      handler: async (request, reply) => r.handler(request, reply),
    });
  }
  app.get('/api/openapi.json', async () => openApiDocument(table, deps.version));
  registerEvents(app, deps);
}

function registerEvents(app: FastifyInstance, deps: RestDeps): void {
  let clients = 0;
  app.get('/api/events', async (request, reply) => {
    if (clients >= MAX_SSE_CLIENTS) throw new JasError('JAS_ERR_CONFLICT', { detail: `more than ${MAX_SSE_CLIENTS} event streams open` });
    clients++;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    let lastSentMs = 0;
    let pending: NodeJS.Timeout | null = null;
    let eventId = 0;
    const send = (): void => {
      pending = null;
      lastSentMs = Date.now();
      try {
        res.write(`id: ${++eventId}\nevent: status\ndata: ${JSON.stringify(buildStatus(deps))}\n\n`);
      } catch {
        cleanup();
      }
    };
    const onChange = (): void => {
      if (pending) return;
      const waitMs = Math.max(0, SSE_MIN_INTERVAL_MS - (Date.now() - lastSentMs));
      pending = setTimeout(send, waitMs);
    };
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    let closed = false;
    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      clients--;
      clearInterval(keepalive);
      if (pending) clearTimeout(pending);
      deps.events.off('change', onChange);
    };
    res.on('close', cleanup);
    request.raw.on('close', cleanup);
    deps.events.on('change', onChange);
    send();
  });
}

/** OpenAPI 3.0 document generated from the route table. */
export function openApiDocument(table: RouteDef[], version: string): object {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorResponse = { description: 'Error (`error` is a JAS_ERR_* code)', content: { 'application/json': { schema: Rest.ErrorReply } } };
  for (const r of table) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
      responses: {
        200: { description: 'OK', content: r.binary !== undefined ? { [r.binary]: { schema: { type: 'string', format: 'binary' } } } : { 'application/json': { schema: r.reply ?? { type: 'object' } } } },
        400: errorResponse, 404: errorResponse, 415: errorResponse, 422: errorResponse,
      },
    };
    if (r.params) {
      const props = (r.params as { properties?: Record<string, unknown> }).properties ?? {};
      op['parameters'] = Object.entries(props).map(([name, schema]) => ({ name, in: 'path', required: true, schema }));
    }
    if (r.body) {
      const content: Record<string, unknown> = { 'application/json': { schema: r.body } };
      if (r.acceptsText) for (const t of ['text/plain', ...PLAYLIST_CONTENT_TYPES]) content[t] = { schema: { type: 'string' } };
      op['requestBody'] = { required: false, content };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  paths['/api/events'] = { get: { summary: 'Server-sent events: `status` events with the /api/status body on every change', responses: { 200: { description: 'text/event-stream' } } } };
  paths['/tracks/{sha256}'] = {
    get: {
      summary: 'Audio file of a track of the current playlist, by content hash (Range supported)',
      parameters: [{ name: 'sha256', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } }],
      responses: { 200: { description: 'the file' }, 206: { description: 'a byte range' }, 304: { description: 'not modified' }, 404: errorResponse, 416: errorResponse },
    },
  };
  return {
    openapi: '3.0.3',
    info: { title: 'JAudioSync leader', version, description: 'Times are leader-timescale µs; errors are `{error, message, field?}`.' },
    paths,
  };
}
