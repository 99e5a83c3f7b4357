// TypeBox schemas of the leader's REST API (bodies, params, replies). Only plain JSON Schema kinds
// (object, string, number, integer, boolean, array, const/anyOf, null) so fastify's ajv validates
// them as they are. Bodies are closed (additionalProperties: false); replies are open.
import { Type, type Static } from '@sinclair/typebox';
import { ChannelMode, ClockMode, MAX_TRACKS, NodeId, SinkKind, TrackId } from './messages.js';

/** 24 h: scheduling further ahead is a typo (same bound as the leader's start-time parser). */
export const MAX_DELAY_MS = 24 * 3600 * 1000;
/** Positions beyond 2^40 frames at 48 kHz are not in any track. */
export const MAX_POSITION_MS = 2 ** 40 / 48;
/** Output delay trim accepted over REST, ms (the wire carries µs, see messages.ts). */
export const MIN_OUTPUT_DELAY_MS = -1000;
export const MAX_OUTPUT_DELAY_MS = 5000;
/** Longest `at` text; the parser (leader timeline/start-time.ts) explains anything it cannot read. */
export const MAX_AT_LENGTH = 64;
/** Playlist paths: Linux PATH_MAX. */
export const MAX_PATH_LENGTH = 4096;

const closed = { additionalProperties: false } as const;

/**
 * When a command takes effect: a time of day "HH:MM[:SS]" (leader's local zone, today), an ISO 8601
 * timestamp ("2025-06-21T18:55:00+02:00"), or a delay "+5s" / "+250ms". Omitted: as soon as every
 * member can follow (the leader's start margin).
 */
export const At = Type.String({ minLength: 1, maxLength: MAX_AT_LENGTH });
/** Alternative to `at`: delay from now in ms. */
export const DelayMs = Type.Integer({ minimum: 0, maximum: MAX_DELAY_MS });
export const PositionMs = Type.Number({ minimum: 0, maximum: MAX_POSITION_MS });
export const TrackIndex = Type.Integer({ minimum: 0, maximum: MAX_TRACKS - 1 });
export const Volume = Type.Number({ minimum: 0, maximum: 1 });
export const OutputDelayMs = Type.Number({ minimum: MIN_OUTPUT_DELAY_MS, maximum: MAX_OUTPUT_DELAY_MS });

const when = { at: Type.Optional(At), delayMs: Type.Optional(DelayMs) };

// ---- request bodies ----------------------------------------------------------------------------
/** POST /api/play: start (or restart) at track `index`, `positionMs` into it. */
export const PlayBody = Type.Object({
  index: Type.Optional(TrackIndex),
  positionMs: Type.Optional(PositionMs),
  ...when,
}, closed);
/** POST /api/stop */
export const StopBody = Type.Object({ ...when }, closed);
/** POST /api/resume: continue from the resume point. */
export const ResumeBody = Type.Object({ ...when }, closed);
/** POST /api/seek: jump to `positionMs` of track `index` (default: the current track). */
export const SeekBody = Type.Object({
  positionMs: PositionMs,
  index: Type.Optional(TrackIndex),
  ...when,
}, closed);
/** POST /api/next */
export const NextBody = Type.Object({ ...when }, closed);
/** POST /api/previous */
export const PreviousBody = Type.Object({ ...when }, closed);
/**
 * POST /api/volume: group volume 0..1 on a perceptual curve (gain = volume^1.5: 1 = 0 dB, 0.5 = -9 dB,
 * about half as loud; 0.1 = -30 dB; 0.01 = -60 dB; 0 = mute). Changes ramp over 30 ms.
 */
export const VolumeBody = Type.Object({
  volume: Volume,
  at: Type.Optional(At),
  delayMs: Type.Optional(DelayMs),
}, closed);
/** PATCH /api/members/:id: per-member trims; at least one field. */
export const MemberSettingsBody = Type.Object({
  volume: Type.Optional(Volume),
  outputDelayMs: Type.Optional(OutputDelayMs),
  channelMode: Type.Optional(ChannelMode),
}, { ...closed, minProperties: 1 });
/** Loudness normalization modes: off, per track, per album (tracks sharing an album tag). */
export const NormalizeMode = Type.Union([Type.Literal('off'), Type.Literal('track'), Type.Literal('album')]);
/** Normalization target (LUFS). */
export const TargetLufs = Type.Number({ minimum: -40, maximum: -5 });
/** PUT /api/loudness: the playlist's loudness normalization; at least one field. */
export const LoudnessBody = Type.Object({
  normalize: Type.Optional(NormalizeMode),
  targetLufs: Type.Optional(TargetLufs),
}, { ...closed, minProperties: 1 });
/** Crossfade between consecutive tracks, ms (0: gapless, the default). */
export const CrossfadeMs = Type.Number({ minimum: 0, maximum: 12_000 });
/** PUT /api/crossfade */
export const CrossfadeBody = Type.Object({ crossfadeMs: CrossfadeMs }, closed);
/** Reply to PUT /api/crossfade: the new timeline revision counter and the crossfade in force. */
export const CrossfadeReply = Type.Object({ rev: Type.Integer({ minimum: 0 }), crossfadeMs: CrossfadeMs });
/**
 * POST /api/playlist with `application/json`: load the m3u8 at `path` on the leader (omitted:
 * reload the current one). With `text/plain` or `audio/x-mpegurl` the body is the m3u8 text itself.
 */
export const PlaylistBody = Type.Object({
  path: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_PATH_LENGTH })),
}, closed);

/** off: stop after the last track; one: the playing track again and again; all: the playlist wraps (same as `loop`). */
export const RepeatMode = Type.Union([Type.Literal('off'), Type.Literal('one'), Type.Literal('all')]);
/** Shuffle seed: 32 bits. */
export const ShuffleSeed = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });
/** PUT /api/repeat */
export const RepeatBody = Type.Object({ repeat: RepeatMode }, closed);
/** PUT /api/shuffle: on (drawing a new order of the upcoming tracks, from `seed` when given) or off. */
export const ShuffleBody = Type.Object({ shuffle: Type.Boolean(), seed: Type.Optional(ShuffleSeed) }, closed);
/** POST /api/shuffle: draw the upcoming order again (turns shuffle on). */
export const ReshuffleBody = Type.Object({ seed: Type.Optional(ShuffleSeed) }, closed);
/** PUT /api/stop-after: stop at the end of the playing track (or of the next one to play), or cancel that. */
export const StopAfterBody = Type.Object({ stopAfter: Type.Boolean() }, closed);

/** Wall times accepted from a phone: 2000-01-01 to 2100-01-01 (ms since the epoch). */
export const MIN_WALL_MS = 946_684_800_000;
export const MAX_WALL_MS = 4_102_444_800_000;
/** PUT /api/clock: the phone's clock, read just before sending; `confirm` sets it even with time-of-day commands scheduled. */
export const ClockBody = Type.Object({
  wallMs: Type.Integer({ minimum: MIN_WALL_MS, maximum: MAX_WALL_MS }),
  confirm: Type.Optional(Type.Boolean()),
}, closed);

// ---- params ------------------------------------------------------------------------------------
export const MemberParams = Type.Object({ id: NodeId }, closed);
export const TrackParams = Type.Object({ id: TrackId }, closed);
/** GET /api/artwork/:sha256 */
export const ArtworkParams = Type.Object({ sha256: TrackId }, closed);

// ---- replies -----------------------------------------------------------------------------------
/** Every 4xx/5xx reply. `error` is a registry code (errors.ts), `field` a JSON pointer when known. */
export const ErrorReply = Type.Object({
  error: Type.String({ pattern: '^JAS_ERR_[A-Z0-9_]{1,48}$' }),
  message: Type.String(),
  field: Type.Optional(Type.String()),
});

/** Reply to every timeline command: the revision it created and when it takes effect. */
export const CommandReply = Type.Object({
  rev: Type.Integer({ minimum: 0 }),
  atUs: Type.Integer({ minimum: 0 }),
  /** `atUs` as an ISO 8601 wall-clock time (leader timescale is wall-anchored) */
  at: Type.String(),
});

/** Reply to the order settings (repeat, shuffle, stop-after): the state after the change and when it acts. */
export const OrderReply = Type.Object({
  rev: Type.Integer({ minimum: 0 }),
  /** from this leader time on the new order holds (stop-after: when the playing track ends) */
  atUs: Type.Integer({ minimum: 0 }),
  at: Type.String(),
  shuffle: Type.Boolean(),
  seed: ShuffleSeed,
  repeat: RepeatMode,
  stopAfter: Type.Boolean(),
});

export const PlaylistEntry = Type.Object({
  /** in /api/status: the position in the play order (what /api/play `index` takes); in /api/playlist: the m3u8 order */
  index: Type.Integer({ minimum: 0 }),
  /** in /api/status: the track's position in the m3u8 (differs from `index` when shuffled) */
  playlistIndex: Type.Optional(Type.Integer({ minimum: 0 })),
  /** from the file's tags */
  artist: Type.Optional(Type.String()),
  album: Type.Optional(Type.String()),
  /** sha256 of the embedded cover: GET /api/artwork/<sha256> */
  artwork: Type.Optional(TrackId),
  id: TrackId,
  title: Type.Optional(Type.String()),
  path: Type.Optional(Type.String()),
  frames: Type.Integer({ minimum: 0 }),
  durationMs: Type.Number({ minimum: 0 }),
  /** Loudness-normalization gain it plays with, dB (absent: 0) */
  gainDb: Type.Optional(Type.Number()),
});

/** One track's loudness as measured (BS.1770) or tagged (ReplayGain), and the gain it gets. */
export const TrackLoudnessStatus = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  id: TrackId,
  /** Integrated loudness measured by the leader, LUFS (null: silent or not measured) */
  loudnessLufs: Type.Union([Type.Number(), Type.Null()]),
  /** True peak measured by the leader, dBTP (null: digital silence or not measured) */
  truePeakDbtp: Type.Union([Type.Number(), Type.Null()]),
  /** ReplayGain track gain from the file's tags, dB, when tagged */
  replayGainDb: Type.Optional(Type.Number()),
  album: Type.Optional(Type.String()),
  /** The loudness the gain starts from (the track's, or its album's), LUFS */
  sourceLufs: Type.Union([Type.Number(), Type.Null()]),
  gainDb: Type.Number(),
  /** The gain was lowered so the true peak stays at -1 dBTP */
  peakLimited: Type.Boolean(),
});

/** The loudness setting in force. */
export const LoudnessSettings = Type.Object({ normalize: NormalizeMode, targetLufs: TargetLufs });

/** GET /api/loudness */
export const LoudnessReply = Type.Object({
  normalize: NormalizeMode,
  targetLufs: TargetLufs,
  tracks: Type.Array(TrackLoudnessStatus),
});

/** PUT /api/loudness: the setting, and when the new gains take effect (null: no playlist). */
export const LoudnessSetReply = Type.Object({
  normalize: NormalizeMode,
  targetLufs: TargetLufs,
  rev: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  atUs: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  at: Type.Union([Type.String(), Type.Null()]),
});

export const PlaybackPosition = Type.Object({
  rev: Type.Integer({ minimum: 0 }),
  index: Type.Integer({ minimum: 0 }),
  frame: Type.Integer({ minimum: 0 }),
  positionMs: Type.Number({ minimum: 0 }),
  /** leader time this position refers to */
  atUs: Type.Integer({ minimum: 0 }),
});

export const MemberClockStatus = Type.Object({
  mode: ClockMode,
  synced: Type.Boolean(),
  offsetUs: Type.Number(),
  uncertaintyUs: Type.Number(),
  rttUs: Type.Number(),
  ratePpm: Type.Number(),
});

export const MemberAudioStatus = Type.Object({
  sink: SinkKind,
  device: Type.Optional(Type.String()),
  underruns: Type.Integer({ minimum: 0 }),
  driftPpm: Type.Number(),
  correctionPpm: Type.Number(),
  dropped: Type.Integer({ minimum: 0 }),
  duplicated: Type.Integer({ minimum: 0 }),
  dacLatencyUs: Type.Number(),
  /** DAC clock re-anchors reported by the member (device xruns); absent from older members */
  dacResyncs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** the member's own view of its playback error (µs, + = ahead); absent while not playing or from older members */
  syncErrorUs: Type.Optional(Type.Number()),
  /** the audio output's health (lost while the server or device is away; restarts; last gap); absent from older members */
  output: Type.Optional(Type.Object({
    lost: Type.Boolean(),
    reason: Type.Optional(Type.String()),
    restarts: Type.Integer({ minimum: 0 }),
    lastGapMs: Type.Optional(Type.Number()),
  })),
});

export const MemberHealth = Type.Union([
  Type.Literal('ok'), Type.Literal('warn'), Type.Literal('bad'), Type.Literal('offline'),
]);

export const MemberStatus = Type.Object({
  id: NodeId,
  hostname: Type.String(),
  address: Type.String(),
  connected: Type.Boolean(),
  /** null until the member's first state report */
  clock: Type.Union([MemberClockStatus, Type.Null()]),
  audio: Type.Union([MemberAudioStatus, Type.Null()]),
  /** tracks of the playlist cached on the member's disk */
  ready: Type.Optional(Type.Integer({ minimum: 0 })),
  /** tracks of the playlist decoded in the member's memory, ready to play (the current and the next) */
  decoded: Type.Optional(Type.Integer({ minimum: 0 })),
  volume: Volume,
  outputDelayMs: Type.Number(),
  channelMode: ChannelMode,
  health: MemberHealth,
  /** why health is not ok, one line each */
  problems: Type.Optional(Type.Array(Type.String())),
});

export const LeaderStatus = Type.Object({
  id: NodeId,
  version: Type.String(),
  protocol: Type.String(),
  /** leader timescale now */
  nowUs: Type.Integer({ minimum: 0 }),
  ntpPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  outputRate: Type.Integer({ minimum: 1 }),
  playlistPath: Type.Optional(Type.String()),
  /** the leader's wall clock now (ms since the epoch): what times of day are read against */
  wallMs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** system: the system clock; phone: a time given by PUT /api/clock, kept as an offset */
  clockSource: Type.Optional(Type.Union([Type.Literal('system'), Type.Literal('phone')])),
  /** PUT /api/clock is possible (the leader has a shared key, so the request can be authenticated) */
  clockSettable: Type.Optional(Type.Boolean()),
});

/** Reply to PUT /api/clock. */
export const ClockReply = Type.Object({
  /** system: the system clock was set; offset: the leader keeps the time as an offset */
  method: Type.Union([Type.Literal('system'), Type.Literal('offset')]),
  /** how far the leader's wall clock moved (ms, + = forward) */
  stepMs: Type.Integer(),
  /** the leader's wall clock after the change */
  wallMs: Type.Integer({ minimum: 0 }),
  /** why the system clock was not set */
  detail: Type.Optional(Type.String()),
});

/** GET /api/status */
export const StatusReply = Type.Object({
  playlist: Type.Array(PlaylistEntry),
  /** null when nothing was ever played */
  position: Type.Union([PlaybackPosition, Type.Null()]),
  playing: Type.Boolean(),
  /** repeat === 'all' (kept for older clients) */
  loop: Type.Boolean(),
  repeat: RepeatMode,
  shuffle: Type.Boolean(),
  /** seed of the last shuffle */
  seed: ShuffleSeed,
  /** playback stops at the end of the playing track */
  stopAfter: Type.Boolean(),
  /** ms until playback ends at the current rate (rest of this track and those after it, or of this track with stopAfter); null while stopped or when it never ends (repeat one / all) */
  remainingMs: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  volume: Volume,
  loudness: Type.Optional(LoudnessSettings),
  /** crossfade between consecutive tracks, ms (0: gapless) */
  crossfadeMs: Type.Optional(CrossfadeMs),
  members: Type.Array(MemberStatus),
  leader: LeaderStatus,
});

export type PlayBody = Static<typeof PlayBody>;
export type StopBody = Static<typeof StopBody>;
export type ResumeBody = Static<typeof ResumeBody>;
export type SeekBody = Static<typeof SeekBody>;
export type NextBody = Static<typeof NextBody>;
export type PreviousBody = Static<typeof PreviousBody>;
export type VolumeBody = Static<typeof VolumeBody>;
export type MemberSettingsBody = Static<typeof MemberSettingsBody>;
export type RepeatBody = Static<typeof RepeatBody>;
export type ShuffleBody = Static<typeof ShuffleBody>;
export type ReshuffleBody = Static<typeof ReshuffleBody>;
export type StopAfterBody = Static<typeof StopAfterBody>;
export type OrderReply = Static<typeof OrderReply>;
export type PlaylistBody = Static<typeof PlaylistBody>;
export type MemberParams = Static<typeof MemberParams>;
export type TrackParams = Static<typeof TrackParams>;
export type ArtworkParams = Static<typeof ArtworkParams>;
export type ClockBody = Static<typeof ClockBody>;
export type ClockReply = Static<typeof ClockReply>;
export type ErrorReply = Static<typeof ErrorReply>;
export type CommandReply = Static<typeof CommandReply>;
export type PlaylistEntry = Static<typeof PlaylistEntry>;
export type PlaybackPosition = Static<typeof PlaybackPosition>;
export type MemberClockStatus = Static<typeof MemberClockStatus>;
export type MemberAudioStatus = Static<typeof MemberAudioStatus>;
export type MemberHealth = Static<typeof MemberHealth>;
export type MemberStatus = Static<typeof MemberStatus>;
export type LeaderStatus = Static<typeof LeaderStatus>;
export type StatusReply = Static<typeof StatusReply>;
export type LoudnessBody = Static<typeof LoudnessBody>;
export type CrossfadeBody = Static<typeof CrossfadeBody>;
export type LoudnessReply = Static<typeof LoudnessReply>;
export type LoudnessSetReply = Static<typeof LoudnessSetReply>;
export type TrackLoudnessStatus = Static<typeof TrackLoudnessStatus>;

/** Every REST schema by name (tests check each one is plain JSON Schema). */
export const REST_SCHEMAS = {
  PlayBody, StopBody, ResumeBody, SeekBody, NextBody, PreviousBody, VolumeBody, MemberSettingsBody,
  RepeatMode, ShuffleSeed, RepeatBody, ShuffleBody, ReshuffleBody, StopAfterBody, OrderReply, ClockBody, ClockReply, PlaylistBody, MemberParams, TrackParams, ArtworkParams, ErrorReply, CommandReply, PlaylistEntry, PlaybackPosition,
  MemberClockStatus, MemberAudioStatus, MemberHealth, MemberStatus, LeaderStatus, StatusReply,
  CrossfadeMs, CrossfadeBody, CrossfadeReply, NormalizeMode, TargetLufs, LoudnessBody, LoudnessSettings, TrackLoudnessStatus, LoudnessReply, LoudnessSetReply,
} as const;
