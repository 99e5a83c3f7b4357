// The one error type of this package: a JasError with code JAS_ERR_TRACK plus a machine-readable
// `kind` and a human `reason`, so callers can report why a track is unusable without parsing text.
import { JasError } from '@jaudiosync/protocol/errors';

export type TrackErrorKind =
  | 'empty' // zero-length input
  | 'not-audio' // no known audio signature
  | 'unsupported' // recognised, but no decoder or parameters we do not handle
  | 'corrupt' // the decoder failed or produced no audio
  | 'truncated' // fewer frames than the header declares
  | 'io' // the file cannot be read
  | 'crashed' // the decode worker died
  | 'closed' // the decoder was closed before the job finished
  | 'aborted' // the caller's AbortSignal fired (DecodeHooks.signal)
  | 'invalid-argument'; // bad options

export class TrackError extends JasError {
  readonly kind: TrackErrorKind;
  readonly reason: string;
  /** Name of the track in messages (file name or 'input' for a buffer). */
  readonly track: string;

  constructor(kind: TrackErrorKind, reason: string, track = 'input', options: { cause?: unknown } = {}) {
    super('JAS_ERR_TRACK', { track, detail: reason }, options);
    this.name = 'TrackError';
    this.kind = kind;
    this.reason = reason;
    this.track = track;
  }

  /** Plain object that survives postMessage between threads. */
  toTransfer(): TrackErrorTransfer {
    return { code: 'JAS_ERR_TRACK', kind: this.kind, reason: this.reason, track: this.track };
  }

  static fromTransfer(t: TrackErrorTransfer): TrackError {
    return new TrackError(t.kind, t.reason, t.track);
  }

  /** Wraps anything thrown while decoding into a TrackError of the given kind. */
  static wrap(err: unknown, kind: TrackErrorKind, track?: string): TrackError {
    if (err instanceof TrackError) return err;
    const detail = err instanceof Error ? err.message : String(err);
    return new TrackError(kind, detail, track, { cause: err });
  }
}

export interface TrackErrorTransfer {
  code: 'JAS_ERR_TRACK';
  kind: TrackErrorKind;
  reason: string;
  track: string;
}
