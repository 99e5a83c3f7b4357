// GET/HEAD /tracks/:sha256: serves a track file of the current catalog, looked up by its content
// hash (never by a path, so nothing outside the playlist can be reached), with a strong ETag
// (the hash itself), Content-Length and single-range requests for members that resume downloads.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { JasError } from '@jaudiosync/protocol/errors';

export const TRACK_ID_RE = /^[0-9a-f]{64}$/;
/** Track bytes never change under a hash: members and proxies may cache them for long. */
const CACHE_CONTROL = 'public, max-age=31536000, immutable';

export interface ServedTrack {
  path: string;
  sizeBytes: number;
  /** mtime when hashed: a file changed since then is not served under the old hash. */
  mtimeMs: number;
}

export interface TrackRoutesOptions {
  lookup(sha256: string): ServedTrack | undefined;
  /** Content-Type by file path; audio/* guesses from the extension by default. */
  contentType?(path: string): string;
}

const TYPES: Record<string, string> = {
  mp3: 'audio/mpeg', flac: 'audio/flac', wav: 'audio/wav', wave: 'audio/wav', ogg: 'audio/ogg', oga: 'audio/ogg',
  opus: 'audio/ogg', m4a: 'audio/mp4', mp4: 'audio/mp4', aac: 'audio/aac', aif: 'audio/aiff', aiff: 'audio/aiff',
  webm: 'audio/webm', qoa: 'audio/qoa',
};

export function audioContentType(filePath: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(filePath)?.[1]?.toLowerCase() ?? '';
  return TYPES[ext] ?? 'application/octet-stream';
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range (inclusive end); undefined = ignore the header and send everything. */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined; // multi-range or malformed: RFC 9110 allows ignoring Range
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

function notFound(reply: FastifyReply, what: string): FastifyReply {
  const err = new JasError('JAS_ERR_NOT_FOUND', { what });
  return reply.code(404).type('application/json').send(err.toReply());
}

export function registerTrackRoutes(app: FastifyInstance, options: TrackRoutesOptions): void {
  const contentType = options.contentType ?? audioContentType;
  app.get<{ Params: { sha256: string } }>('/tracks/:sha256', {
    schema: {
      params: {
        type: 'object',
        properties: { sha256: { type: 'string', pattern: TRACK_ID_RE.source } },
        required: ['sha256'],
        additionalProperties: false,
      },
    },
  }, async (request, reply) => {
    const id = request.params.sha256;
    const track = options.lookup(id);
    if (!track) return notFound(reply, `track ${id}`);
    let size: number;
    try {
      const st = await stat(track.path);
      if (!st.isFile() || st.size !== track.sizeBytes || Math.abs(st.mtimeMs - track.mtimeMs) > 1) {
        return notFound(reply, `track ${id} (the file changed since it was hashed; reload the playlist)`);
      }
      size = st.size;
    } catch {
      return notFound(reply, `track ${id} (file gone)`);
    }
    const etag = `"${id}"`;
    reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', CACHE_CONTROL);
    const inm = request.headers['if-none-match'];
    if (inm !== undefined && (inm === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
      return reply.code(304).send();
    }
    // If-Range with another validator means "the copy I have is different: send it all".
    const ifRange = typeof request.headers['if-range'] === 'string' ? request.headers['if-range'] : undefined;
    const range = ifRange !== undefined && ifRange.trim() !== etag ? undefined : parseRange(request.headers.range, size);
    reply.type(contentType(track.path));
    if (range === 'unsatisfiable') {
      const err = new JasError('JAS_ERR_VALIDATION', { field: 'range', detail: `no byte of the range lies within 0-${size - 1}` }, { field: 'range' });
      return reply.code(416).header('content-range', `bytes */${size}`).type('application/json').send(err.toReply());
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = size === 0 ? 0 : end - start + 1;
    if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
    reply.header('content-length', String(length));
    if (request.method === 'HEAD' || length === 0) return reply.send();
    return reply.send(createReadStream(track.path, { start, end }));
  });
}
