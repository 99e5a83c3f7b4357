// TypeBox schemas (= TS types + runtime validators) of every WebSocket message between leader and
// member. Shapes and bounds only; cross-field rules (ascending revisions, ...) live in codec.ts.
// Times are integer µs on the leader timescale, frames are integer counts at `outputRate`.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

// ---- bounds (why each one) --------------------------------------------------------------------
/** Largest integer a JS number holds exactly; the leader timescale (wall-anchored µs) fits until year 2255. */
export const MAX_US = Number.MAX_SAFE_INTEGER;
/** 2^40 frames = 265 days at 48 kHz: far beyond any track, small enough that frame maths stays exact. */
export const MAX_FRAMES = 2 ** 40;
/** A playlist longer than this is a mistake (and a 10000-track timeline is ~1 MB of JSON). */
export const MAX_TRACKS = 10_000;
/** Revisions kept by the leader (pruned once superseded); same bound as timeline.ts. */
export const MAX_REVISIONS = 1_000;
/** Errors a member reports at once (most recent first); more is noise. */
export const MAX_REPORTED_ERRORS = 64;
/** Free-text fields (messages, reasons, titles). */
export const MAX_TEXT_LENGTH = 1024;
/** Short names (hostname, software version, device name). */
export const MAX_NAME_LENGTH = 256;
/** Output sample rates a sink can sensibly run at. */
export const MIN_OUTPUT_RATE = 8_000;
export const MAX_OUTPUT_RATE = 768_000;
export const MAX_CHANNELS = 32;
/** Clock rate errors beyond ±10% are a broken clock, not drift. */
export const MAX_ABS_PPM = 100_000;
/** Output delay trim, µs: -1 s (speaker ahead) to +5 s (e.g. a Bluetooth or network sink). */
export const MIN_OUTPUT_DELAY_US = -1_000_000;
export const MAX_OUTPUT_DELAY_US = 5_000_000;

export const ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
export const TRACK_ID_PATTERN = '^[0-9a-f]{64}$';
export const ERROR_CODE_PATTERN = '^JAS_ERR_[A-Z0-9_]{1,48}$';
/** "major.minor", each 1-4 digits. */
export const VERSION_PATTERN = '^[0-9]{1,4}\\.[0-9]{1,4}$';
export const HTTP_URL_PATTERN = '^https?://[^\\s/?#]+(/[^\\s]*)?$';

// ---- reusable field schemas --------------------------------------------------------------------
export const TimeUs = Type.Integer({ minimum: 0, maximum: MAX_US, description: 'µs on the leader timescale' });
export const DurationUs = Type.Number({ minimum: 0, maximum: MAX_US, description: 'µs, may be fractional' });
export const SignedUs = Type.Number({ minimum: -MAX_US, maximum: MAX_US });
export const Frames = Type.Integer({ minimum: 0, maximum: MAX_FRAMES });
export const Count = Type.Integer({ minimum: 0, maximum: MAX_US });
export const Ppm = Type.Number({ minimum: -MAX_ABS_PPM, maximum: MAX_ABS_PPM });
export const Gain = Type.Number({ minimum: 0, maximum: 1 });
export const Progress = Type.Number({ minimum: 0, maximum: 1 });
export const NodeId = Type.String({ pattern: ID_PATTERN, maxLength: 64 });
export const TrackId = Type.String({ pattern: TRACK_ID_PATTERN, maxLength: 64 });
export const Name = Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH });
export const Text = Type.String({ maxLength: MAX_TEXT_LENGTH });
export const ErrorCodeText = Type.String({ pattern: ERROR_CODE_PATTERN, maxLength: 56 });
export const Version = Type.String({ pattern: VERSION_PATTERN, maxLength: 9 });
export const OutputRate = Type.Integer({ minimum: MIN_OUTPUT_RATE, maximum: MAX_OUTPUT_RATE });
export const Channels = Type.Integer({ minimum: 1, maximum: MAX_CHANNELS });
export const SinkKind = Type.Union([Type.Literal('portaudio'), Type.Literal('capture'), Type.Literal('none')]);
export const ClockMode = Type.Union([Type.Literal('leader'), Type.Literal('system')]);
export const ChannelMode = Type.Union([
  Type.Literal('stereo'), Type.Literal('mono'), Type.Literal('left'), Type.Literal('right'),
]);
export const HttpUrl = Type.String({ pattern: HTTP_URL_PATTERN, maxLength: 2048 });

// Handshake authentication (docs/security.md, protocol 1.1). These equal auth.ts's `AuthNonce` and
// `AuthProofHex` (a test pins that); they are spelled out here because auth.ts imports this module
// and an import back would be a cycle that breaks loading whichever module comes first.
/** base64url (no padding) of 32 random bytes. */
export const HandshakeNonce = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', minLength: 43, maxLength: 43 });
/** HMAC-SHA256 as 64 lower-case hex digits. */
export const HandshakeProof = Type.String({ pattern: '^[0-9a-f]{64}$', minLength: 64, maxLength: 64 });

export type SinkKind = Static<typeof SinkKind>;
export type ClockMode = Static<typeof ClockMode>;
export type ChannelMode = Static<typeof ChannelMode>;

// Every object is closed (additionalProperties: false) so typos are caught; the codec relaxes this
// for peers of a newer minor version, whose extra fields are ignored (see docs/protocol.md).
const closed = { additionalProperties: false } as const;

function message<T extends string, P extends Record<string, TSchema>>(type: T, props: P) {
  return Type.Object({ type: Type.Literal(type), v: Version, ...props }, closed);
}

// ---- member -> leader --------------------------------------------------------------------------
export const HelloMessage = message('hello', {
  memberId: NodeId,
  hostname: Name,
  version: Name,
  outputRate: OutputRate,
  channels: Channels,
  sink: SinkKind,
  clockMode: ClockMode,
  /** the member's fresh nonce Nm (only with a shared key) */
  challenge: Type.Optional(HandshakeNonce),
  /** memberProof(K, {leaderNonce, memberNonce, memberId}) answering the upgrade's x-jas-challenge */
  proof: Type.Optional(HandshakeProof),
});

export const ClockReport = Type.Object({
  mode: ClockMode,
  synced: Type.Boolean(),
  /** leaderUs - localUs */
  offsetUs: SignedUs,
  uncertaintyUs: DurationUs,
  rttUs: DurationUs,
  ratePpm: Ppm,
  samples: Count,
}, closed);

export const CacheReport = Type.Object({
  trackIds: Type.Array(TrackId, { maxItems: MAX_TRACKS }),
  bytes: Count,
}, closed);

export const DecodeReport = Type.Object({
  trackId: TrackId,
  progress: Progress,
  error: Type.Optional(Text),
}, closed);

export const PositionReport = Type.Object({
  rev: Count,
  index: Type.Integer({ minimum: 0, maximum: MAX_TRACKS }),
  frame: Frames,
  leaderUs: TimeUs,
}, closed);

export const AudioReport = Type.Object({
  sink: SinkKind,
  device: Type.Optional(Name),
  underruns: Count,
  /** DAC rate vs the leader timescale */
  driftPpm: Ppm,
  /** resampling correction currently applied */
  correctionPpm: Ppm,
  dropped: Count,
  duplicated: Count,
  dacLatencyUs: DurationUs,
  /** DAC clock re-anchors so far (device xruns, start-up stall); each one is a glitch the device made */
  dacResyncs: Type.Optional(Count),
  /**
   * 1.3: how far the member believes its playback is from the timeline (µs, + = ahead): the
   * drift loop's error at the frame it last rendered, on its model of the DAC. Absent while not playing.
   */
  syncErrorUs: Type.Optional(SignedUs),
  /**
   * 1.4: the audio output's health. `lost` from a stall (no device buffer for 0.5 s: the audio server
   * went away, the device was unplugged) until the reopened stream plays again; the member keeps
   * its clock, cache and timeline meanwhile. Absent from sinks that cannot be lost.
   */
  output: Type.Optional(Type.Object({
    lost: Type.Boolean(),
    reason: Type.Optional(Text),
    restarts: Count,
    lastGapMs: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_US })),
  }, closed)),
}, closed);

export const ReportedError = Type.Object({
  code: ErrorCodeText,
  message: Text,
  atUs: Type.Optional(TimeUs),
}, closed);

export const StateMessage = message('state', {
  memberId: NodeId,
  clock: ClockReport,
  cache: CacheReport,
  decode: Type.Array(DecodeReport, { maxItems: MAX_TRACKS }),
  position: Type.Optional(PositionReport),
  audio: AudioReport,
  errors: Type.Array(ReportedError, { maxItems: MAX_REPORTED_ERRORS }),
});

export const PongMessage = message('pong', {
  seq: Count,
  /** the `sentUs` of the ping being answered */
  echoUs: Type.Optional(TimeUs),
});

export const TrackErrorMessage = message('track-error', {
  trackId: TrackId,
  reason: Text,
});

// ---- leader -> member --------------------------------------------------------------------------
export const WelcomeMessage = message('welcome', {
  leaderId: NodeId,
  ntpPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  /** tracks are fetched from `${trackBaseUrl}/${id}` */
  trackBaseUrl: HttpUrl,
  serverTimeUs: TimeUs,
  /** 1.2: names the leader timescale (changes when it is re-anchored); a member keeps its clock fit
   *  across its own restarts only while this stays the same */
  timescaleId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' })),
  /** leaderProof(K, {memberNonce, leaderNonce, memberId, leaderId}) answering hello.challenge */
  proof: Type.Optional(HandshakeProof),
});

export const WireTrack = Type.Object({
  id: TrackId,
  /** length at the timeline's outputRate (0: an empty track, skipped) */
  frames: Frames,
  title: Type.Optional(Type.String({ maxLength: 200 })),
  /** 1.5: loudness-normalization gain of the track, dB (absent: 0) */
  gainDb: Type.Optional(Type.Number({ minimum: -60, maximum: 24 })),
}, closed);

export const WireRevision = Type.Object({
  atUs: TimeUs,
  playing: Type.Boolean(),
  index: Type.Integer({ minimum: 0, maximum: MAX_TRACKS }),
  frame: Frames,
}, closed);

export const WireVolume = Type.Object({
  gain: Gain,
  atUs: TimeUs,
}, closed);

export const TimelineMessage = message('timeline', {
  rev: Count,
  outputRate: OutputRate,
  loop: Type.Boolean(),
  tracks: Type.Array(WireTrack, { maxItems: MAX_TRACKS }),
  revisions: Type.Array(WireRevision, { minItems: 1, maxItems: MAX_REVISIONS }),
  volume: WireVolume,
  /** 1.5: leader time from which the tracks' gainDb apply (members ramp from the previous ones) */
  trackGainAtUs: Type.Optional(TimeUs),
  /** 1.5: crossfade between consecutive tracks, frames at outputRate (absent: gapless; at most 12 s) */
  crossfadeFrames: Type.Optional(Type.Integer({ minimum: 0, maximum: 12 * 768_000 })),
});

export const SettingsMessage = message('settings', {
  volume: Gain,
  atUs: TimeUs,
  outputDelayUs: Type.Integer({ minimum: MIN_OUTPUT_DELAY_US, maximum: MAX_OUTPUT_DELAY_US }),
  channelMode: ChannelMode,
});

export const PingMessage = message('ping', {
  seq: Count,
  sentUs: TimeUs,
});

// ---- both directions ---------------------------------------------------------------------------
export const ErrorMessage = message('error', {
  code: ErrorCodeText,
  message: Text,
  field: Type.Optional(Type.String({ maxLength: MAX_NAME_LENGTH })),
});

// ---- registry ----------------------------------------------------------------------------------
export const MESSAGE_SCHEMAS = {
  hello: HelloMessage,
  state: StateMessage,
  pong: PongMessage,
  'track-error': TrackErrorMessage,
  welcome: WelcomeMessage,
  timeline: TimelineMessage,
  settings: SettingsMessage,
  ping: PingMessage,
  error: ErrorMessage,
} as const;

export type MessageType = keyof typeof MESSAGE_SCHEMAS;
export const MESSAGE_TYPES = Object.keys(MESSAGE_SCHEMAS) as MessageType[];

/** Who sends a message. */
export type Role = 'leader' | 'member';

export const MEMBER_MESSAGE_TYPES = ['hello', 'state', 'pong', 'track-error', 'error'] as const satisfies readonly MessageType[];
export const LEADER_MESSAGE_TYPES = ['welcome', 'timeline', 'settings', 'ping', 'error'] as const satisfies readonly MessageType[];

export type HelloMessage = Static<typeof HelloMessage>;
export type StateMessage = Static<typeof StateMessage>;
export type PongMessage = Static<typeof PongMessage>;
export type TrackErrorMessage = Static<typeof TrackErrorMessage>;
export type WelcomeMessage = Static<typeof WelcomeMessage>;
export type TimelineMessage = Static<typeof TimelineMessage>;
export type SettingsMessage = Static<typeof SettingsMessage>;
export type PingMessage = Static<typeof PingMessage>;
export type ErrorMessage = Static<typeof ErrorMessage>;
export type ClockReport = Static<typeof ClockReport>;
export type CacheReport = Static<typeof CacheReport>;
export type DecodeReport = Static<typeof DecodeReport>;
export type PositionReport = Static<typeof PositionReport>;
export type AudioReport = Static<typeof AudioReport>;
export type ReportedError = Static<typeof ReportedError>;
export type WireTrack = Static<typeof WireTrack>;
export type WireRevision = Static<typeof WireRevision>;
export type WireVolume = Static<typeof WireVolume>;

export type MessageOf<T extends MessageType> = Static<(typeof MESSAGE_SCHEMAS)[T]>;
export type Message = { [T in MessageType]: MessageOf<T> }[MessageType];
export type MemberMessage = MessageOf<(typeof MEMBER_MESSAGE_TYPES)[number]>;
export type LeaderMessage = MessageOf<(typeof LEADER_MESSAGE_TYPES)[number]>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A message as built by code: `v` is filled by `encodeMessage`. */
export type MessageInput = DistributiveOmit<Message, 'v'> & { v?: string };
export type MessageInputOf<T extends MessageType> = Omit<MessageOf<T>, 'v'> & { v?: string };
