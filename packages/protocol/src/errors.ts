// The one registry of JAudioSync error codes (`JAS_ERR_*`): HTTP status for REST replies, WebSocket
// close code for errors that end a connection, message template, and how to solve it (docs/errors.md).
// Also `JasError`, the Error subclass that carries a registry code through throw/catch.

/** WebSocket close reasons are limited to 123 bytes of UTF-8 (RFC 6455 5.5: 125-byte control frame minus the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

export interface ErrorSpec {
  /** HTTP status used when this error answers a REST request (4xx or 5xx). */
  readonly statusCode: number;
  /** WebSocket close code (4000-4999) if this error ends a connection; absent if it never does. */
  readonly closeCode?: number;
  /** Message template; `{name}` placeholders are filled by `formatErrorMessage`. */
  readonly message: string;
  /** One line on how to solve it (rendered in docs/errors.md). */
  readonly solve: string;
}

export const ERRORS = {
  JAS_ERR_BAD_JSON: {
    statusCode: 400, closeCode: 4001,
    message: 'payload is not valid JSON: {detail}',
    solve: 'Send one UTF-8 JSON object per WebSocket message / request body.',
  },
  JAS_ERR_VALIDATION: {
    statusCode: 400, closeCode: 4002,
    message: '{field}: {detail}',
    solve: 'Fix the field named in `field` (a JSON pointer); docs/protocol.md lists types, units and bounds.',
  },
  JAS_ERR_UNKNOWN_TYPE: {
    statusCode: 400, closeCode: 4003,
    message: 'unknown message type {type}',
    solve: 'Check the message `type` and direction; a newer minor version may add types (they are answered with this error, not a close).',
  },
  JAS_ERR_VERSION: {
    statusCode: 426, closeCode: 4004,
    message: 'protocol {peer}.x not supported, this {role} speaks {ours}.x',
    solve: 'Run the same major version of JAudioSync on the leader and every member.',
  },
  JAS_ERR_TOO_LARGE: {
    statusCode: 413, closeCode: 4005,
    message: 'payload of {bytes} bytes exceeds the limit of {limit} bytes',
    solve: 'Split the playlist or raise the limit (WebSocket messages: 4 MiB by default).',
  },
  JAS_ERR_UNAUTHORIZED: {
    statusCode: 401, closeCode: 4006,
    message: 'not authorized: {detail}',
    solve: 'Give the leader and members the same shared secret / credentials.',
  },
  JAS_ERR_HANDSHAKE: {
    statusCode: 400, closeCode: 4007,
    message: 'handshake failed: {detail}',
    solve: 'The first message of a member must be `hello` and of a leader `welcome`, within the handshake timeout.',
  },
  JAS_ERR_CONFLICT: {
    statusCode: 409, closeCode: 4008,
    message: 'conflict: {detail}',
    solve: 'Another leader already drives this member, or the member id is used twice: give each member a unique id and run one leader.',
  },
  JAS_ERR_TIMEOUT: {
    statusCode: 504, closeCode: 4009,
    message: 'timed out: {detail}',
    solve: 'The peer stopped answering (ping/pong); check the network and that the peer process is alive.',
  },
  JAS_ERR_SHUTTING_DOWN: {
    statusCode: 503, closeCode: 4010,
    message: 'shutting down',
    solve: 'The peer is stopping or restarting; it reconnects when it comes back.',
  },
  JAS_ERR_INTERNAL: {
    statusCode: 500, closeCode: 4011,
    message: 'internal error: {detail}',
    solve: 'A bug: look at the log line with the same time, and report it with that log.',
  },
  JAS_ERR_UNSUPPORTED_MEDIA: {
    statusCode: 415,
    message: 'unsupported content type {contentType}',
    solve: 'Send `application/json` (or `text/plain` / `audio/x-mpegurl` for an m3u8 playlist upload).',
  },
  JAS_ERR_NOT_FOUND: {
    statusCode: 404,
    message: '{what} not found',
    solve: 'Check the id or path: `GET /api/status` lists members and tracks.',
  },
  JAS_ERR_TIME_IN_PAST: {
    statusCode: 422,
    message: 'requested time {at} is in the past (or too soon to reach every member)',
    solve: 'Give a later `at`, or a `delayMs` of at least the leader\'s minimum start margin.',
  },
  JAS_ERR_TIME_TOO_FAR: {
    statusCode: 422,
    message: 'requested time {at} is too far in the future (limit {limit})',
    solve: 'Schedule commands at most 24 hours ahead.',
  },
  JAS_ERR_BAD_TIME: {
    statusCode: 400,
    message: 'cannot parse time {at}: {detail}',
    solve: 'Use a time of day "HH:MM[:SS]", an ISO 8601 timestamp with offset, or a delay like "+5s" / "+250ms".',
  },
  JAS_ERR_NO_PLAYLIST: {
    statusCode: 409,
    message: 'no playlist loaded',
    solve: 'Load a playlist first: `POST /api/playlist`.',
  },
  JAS_ERR_PLAYLIST: {
    statusCode: 400,
    message: 'playlist unusable: {detail}',
    solve: 'Check the m3u8 file: paths relative to the playlist, files readable, at most 10000 entries.',
  },
  JAS_ERR_TRACK: {
    statusCode: 422,
    message: 'track {track} unusable: {detail}',
    solve: 'The file cannot be read or decoded; replace or remove it from the playlist.',
  },
  JAS_ERR_FETCH: {
    statusCode: 502,
    message: 'cannot fetch {url}: {detail}',
    solve: 'The member cannot download a track from the leader: check the leader address, port 7700 and the firewall.',
  },
  JAS_ERR_AUDIO_DEVICE: {
    statusCode: 503,
    message: 'audio output failed: {detail}',
    solve: 'Check the sound card (`aplay -l`), that no other program holds it, and the configured device name.',
  },
  JAS_ERR_CLOCK: {
    statusCode: 503,
    message: 'clock not synchronized: {detail}',
    solve: 'The member cannot reach the leader\'s NTP port (UDP 11123/123): check the firewall; playback waits for sync.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type JasErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as JasErrorCode[];

const CODE_BY_CLOSE = new Map<number, JasErrorCode>();
for (const code of ERROR_CODES) {
  const spec: ErrorSpec = ERRORS[code];
  if (spec.closeCode !== undefined) CODE_BY_CLOSE.set(spec.closeCode, code);
}

export function isJasErrorCode(value: unknown): value is JasErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

export function errorSpec(code: JasErrorCode): ErrorSpec {
  return ERRORS[code];
}

/** The registry code a WebSocket close code stands for, if any. */
export function errorCodeFromCloseCode(closeCode: number): JasErrorCode | undefined {
  return CODE_BY_CLOSE.get(closeCode);
}

export type ErrorParams = Readonly<Record<string, string | number | undefined>>;

/** Fills `{name}` placeholders of the code's template; missing params render as `?`. */
export function formatErrorMessage(code: JasErrorCode, params: ErrorParams = {}): string {
  return ERRORS[code].message.replace(/\{([a-zA-Z]+)\}/g, (_m, name: string) => {
    const value = Object.hasOwn(params, name) ? params[name] : undefined;
    return value === undefined ? '?' : String(value);
  });
}

/** `{code, message, field?}` as carried by the WebSocket `error` message and decode results. */
export interface WireError {
  code: JasErrorCode;
  message: string;
  field?: string;
}

/** REST error body (see rest.ts `ErrorReply`). */
export interface ErrorReplyBody {
  error: JasErrorCode;
  message: string;
  field?: string;
}

export interface JasErrorOptions {
  field?: string;
  cause?: unknown;
}

export class JasError extends Error {
  readonly code: JasErrorCode;
  readonly statusCode: number;
  readonly closeCode: number | undefined;
  readonly field: string | undefined;

  constructor(code: JasErrorCode, params: ErrorParams | string = {}, options: JasErrorOptions = {}) {
    // A plain string is taken as the finished message (for messages built elsewhere, e.g. the codec).
    super(typeof params === 'string' ? params : formatErrorMessage(code, params),
      options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'JasError';
    this.code = code;
    const spec: ErrorSpec = ERRORS[code];
    this.statusCode = spec.statusCode;
    this.closeCode = spec.closeCode;
    this.field = options.field;
  }

  static fromWire(error: WireError): JasError {
    return new JasError(error.code, error.message, error.field === undefined ? {} : { field: error.field });
  }

  /** Wraps anything thrown into a JasError; non-JasErrors become JAS_ERR_INTERNAL. */
  static from(err: unknown): JasError {
    if (err instanceof JasError) return err;
    const detail = err instanceof Error ? err.message : String(err);
    return new JasError('JAS_ERR_INTERNAL', { detail }, { cause: err });
  }

  toWire(): WireError {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }

  toReply(): ErrorReplyBody {
    return this.field === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, field: this.field };
  }

  /** WebSocket close reason, "<code>: <message>" cut to 123 UTF-8 bytes. */
  closeReason(): string {
    return closeReason(this.code, this.message);
  }
}

export function isJasError(value: unknown): value is JasError {
  return value instanceof JasError;
}

/** "<code>: <message>" truncated on a character boundary to fit a WebSocket close frame. */
export function closeReason(code: JasErrorCode, message: string): string {
  const full = `${code}: ${message}`;
  if (Buffer.byteLength(full, 'utf8') <= MAX_CLOSE_REASON_BYTES) return full;
  let out = '';
  let bytes = 0;
  for (const ch of full) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > MAX_CLOSE_REASON_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}
