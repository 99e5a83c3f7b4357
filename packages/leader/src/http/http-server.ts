// The leader's fastify instance with the error contract every route shares: replies are always
// `{error: "JAS_ERR_...", message, field?}` with a fitting 4xx/5xx; validation errors name the
// field; unknown routes 404; bodies are limited; wrong content types are 415. With a shared key,
// every request but the public ones (`GET /healthz`, the web page) needs the REST bearer token.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { checkBearer, type AuthKey } from '@jaudiosync/protocol/auth';
import { JasError, type JasErrorCode } from '@jaudiosync/protocol/errors';

/** JSON bodies are tiny; an uploaded m3u8 of 10 000 entries fits in 1 MiB. */
export const BODY_LIMIT_BYTES = 1024 * 1024;
/** Content types accepted as an uploaded playlist (text). */
export const PLAYLIST_CONTENT_TYPES = ['audio/x-mpegurl', 'audio/mpegurl', 'application/vnd.apple.mpegurl', 'application/x-mpegurl'];

export interface HttpServerOptions {
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  bodyLimit?: number;
  /** Shared key: requests need `Authorization: Bearer <restToken(key)>` (docs/security.md). */
  key?: AuthKey | undefined;
}

/** Reachable without the token: the liveness probe (monitoring, install checks). */
const PUBLIC_PATHS = new Set(['/healthz']);
/** Realm of the 401 challenge. */
const AUTH_REALM = 'jaudiosync';

/**
 * Public: `GET/HEAD /healthz` and routes registered with `config: {public: true}` (the web page's
 * static files, which hold no data and ask for the token). Everything else, including `/tracks`,
 * `/api/events` and unknown routes (no probing for what exists), needs the token.
 */
export function isPublicRequest(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const config = request.routeOptions.config as { public?: unknown } | undefined;
  if (config?.public === true) return true;
  const url = request.routeOptions.url;
  return url !== undefined && PUBLIC_PATHS.has(url);
}

interface AjvError { instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> }

/** Maps ajv errors to one JAS_ERR_VALIDATION naming the field (a JSON pointer). */
export function validationError(errors: AjvError[], dataVar: string): JasError {
  const e = errors[0] ?? {};
  let field = e.instancePath ?? '';
  if (e.keyword === 'required' && typeof e.params?.['missingProperty'] === 'string') field += `/${e.params['missingProperty']}`;
  if (e.keyword === 'additionalProperties' && typeof e.params?.['additionalProperty'] === 'string') field += `/${e.params['additionalProperty']}`;
  const where = field === '' ? dataVar : `${dataVar}${field}`;
  let detail = e.message ?? 'invalid';
  if (e.keyword === 'additionalProperties') detail = 'unknown field';
  if (e.keyword === 'required') detail = 'required field missing';
  return new JasError('JAS_ERR_VALIDATION', { field: where, detail }, { field: field === '' ? '/' : field });
}

/** Turns anything thrown in a route into the error reply contract. */
export function toJasError(err: unknown): JasError {
  if (err instanceof JasError) return err;
  const fe = err as Partial<FastifyError> & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(fe.validation)) return validationError(fe.validation, fe.validationContext ?? 'body');
  const map: Record<string, [JasErrorCode, Record<string, string | number>]> = {
    FST_ERR_CTP_BODY_TOO_LARGE: ['JAS_ERR_TOO_LARGE', { bytes: 'more', limit: BODY_LIMIT_BYTES }],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['JAS_ERR_UNSUPPORTED_MEDIA', { contentType: 'of the request' }],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['JAS_ERR_VALIDATION', { field: 'content-length', detail: 'does not match the body' }],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['JAS_ERR_BAD_JSON', { detail: 'empty body' }],
    FST_ERR_CTP_INVALID_JSON_BODY: ['JAS_ERR_BAD_JSON', { detail: fe.message ?? '' }],
  };
  const mapped = fe.code !== undefined ? map[fe.code] : undefined;
  if (mapped) return new JasError(mapped[0], mapped[1]);
  if (err instanceof SyntaxError) return new JasError('JAS_ERR_BAD_JSON', { detail: err.message });
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const e = new JasError('JAS_ERR_VALIDATION', { field: 'request', detail: fe.message ?? 'bad request' });
    return Object.assign(e, { statusCode: fe.statusCode });
  }
  return JasError.from(err);
}

/** Concurrent HTTP connections (REST clients, event streams and members' track downloads). */
const MAX_HTTP_CONNECTIONS = 256;
/** Requests must finish within this (a 5-min WAV to a member over bad WiFi fits comfortably). */
const CONNECTION_TIMEOUT_MS = 10 * 60_000;
const KEEP_ALIVE_TIMEOUT_MS = 10_000;

export function createHttpServer(options: HttpServerOptions = {}): FastifyInstance {
  const bodyLimit = options.bodyLimit ?? BODY_LIMIT_BYTES;
  const app = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? false }),
    bodyLimit,
    // Strict types: "5" is not a number here (coercion would hide client bugs).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: (errors, dataVar) => validationError(errors as AjvError[], dataVar),
    return503OnClosing: true,
    forceCloseConnections: true,
    // A phone, a laptop and a few UIs; idle keep-alive sockets must not pile up on a Pi.
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  }) as unknown as FastifyInstance;
  app.server.maxConnections = MAX_HTTP_CONNECTIONS;

  // JSON: an empty body means "no options" (curl -X POST .../api/stop with a content type).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (err) {
      done(new JasError('JAS_ERR_BAD_JSON', { detail: (err as Error).message }), undefined);
    }
  });
  // The m3u8 parser decides a playlist's encoding (UTF-8 with or without BOM, or Latin-1), which a
  // UTF-8 string parser would already have mangled into U+FFFD. Latin-1 maps every byte to one
  // char, so the body is a string for the schema and `Buffer.from(body, 'latin1')` is the bytes sent.
  app.addContentTypeParser([...PLAYLIST_CONTENT_TYPES, 'text/plain'], { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, (body as Buffer).toString('latin1')));

  const key = options.key;
  if (key) {
    // onRequest: before the body is read, so an unauthenticated client cannot even upload.
    // Only the header counts: a token in a query string would end up in logs and histories.
    app.addHook('onRequest', async (request, reply) => {
      if (isPublicRequest(request)) return;
      const check = checkBearer(request.headers.authorization, key);
      if (check.ok) return;
      const jas = new JasError('JAS_ERR_UNAUTHORIZED', { detail: check.reason });
      request.log.info({ code: jas.code, url: request.url.split('?')[0], reason: check.reason }, 'request refused');
      void reply.code(401).header('www-authenticate', `Bearer realm="${AUTH_REALM}"`).type('application/json').send(jas.toReply());
      return reply;
    });
  }

  app.setErrorHandler((err, request, reply) => {
    const jas = toJasError(err);
    if (jas.statusCode >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: jas.code, msg: jas.message }, 'request refused');
    void reply.code(jas.statusCode).type('application/json').send(jas.toReply());
  });
  app.setNotFoundHandler((request, reply) => {
    const jas = new JasError('JAS_ERR_NOT_FOUND', { what: `route ${request.method} ${request.url.split('?')[0] ?? ''}` });
    void reply.code(404).type('application/json').send(jas.toReply());
  });
  return app;
}
