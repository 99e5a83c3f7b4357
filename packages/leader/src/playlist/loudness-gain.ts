// Loudness normalization: the gain each track of the playlist plays with, from its loudness
// (ReplayGain tags when present, else the BS.1770 measurement) and the playlist's setting. Pure:
// the leader recomputes all gains when the playlist or the setting changes and sends them in the
// timeline, so every member applies the same gain from the same frame. Never clips: a gain is
// lowered until the (true) peak stays at or below TRUE_PEAK_CEILING_DBTP.
import type { ReplayGainTags, TrackLoudness } from '@jaudiosync/media';

export type NormalizeMode = 'off' | 'track' | 'album';
export const NORMALIZE_MODES: readonly NormalizeMode[] = ['off', 'track', 'album'];

export interface LoudnessSettings {
  normalize: NormalizeMode;
  /** Loudness every track (or album) is brought to, LUFS. */
  targetLufs: number;
}

export const DEFAULT_TARGET_LUFS = -16;
export const MIN_TARGET_LUFS = -40;
export const MAX_TARGET_LUFS = -5;
export const DEFAULT_LOUDNESS_SETTINGS: LoudnessSettings = { normalize: 'off', targetLufs: DEFAULT_TARGET_LUFS };
/** Peaks after the gain stay at or below this (EBU R128's ceiling for distribution). */
export const TRUE_PEAK_CEILING_DBTP = -1;
/** ReplayGain 2.0 gains bring a track to -18 LUFS. */
export const REPLAYGAIN_REFERENCE_LUFS = -18;
/** The timeline's bounds for a track gain (protocol/timeline.ts). */
export const MIN_GAIN_DB = -60;
export const MAX_GAIN_DB = 24;

/** What the gain of one track depends on (a CatalogTrack has these fields). */
export interface GainInput {
  frames: number;
  loudness?: TrackLoudness;
  replayGain?: ReplayGainTags;
  album?: string;
  albumArtist?: string;
}

/** How a gain was arrived at (for /api/status and the docs). */
export interface TrackGain {
  /** dB applied to the track (0: unchanged). */
  gainDb: number;
  /** The loudness the gain starts from (track or album), LUFS; null when unknown or silent. */
  sourceLufs: number | null;
  /** True when the peak ceiling lowered the gain. */
  peakLimited: boolean;
}

const UNCHANGED: TrackGain = { gainDb: 0, sourceLufs: null, peakLimited: false };

/** Track loudness: the ReplayGain track gain when tagged, else the measurement. */
function trackLufs(t: GainInput): number | null {
  const rg = t.replayGain?.trackGainDb;
  if (rg !== undefined) return REPLAYGAIN_REFERENCE_LUFS - rg;
  return t.loudness?.integratedLufs ?? null;
}

/** The highest peak known for a track (measured true peak, tagged sample peak); 0 dBTP when none is. */
function trackPeak(t: GainInput): number {
  const known = [t.loudness?.truePeakDbtp, t.replayGain?.trackPeakDb].filter((v): v is number => v !== undefined);
  return known.length === 0 ? 0 : Math.max(...known);
}

function albumKey(t: GainInput): string | undefined {
  return t.album === undefined ? undefined : `${t.albumArtist ?? ''}\u0000${t.album}`;
}

function limited(sourceLufs: number | null, peakDbtp: number, targetLufs: number): TrackGain {
  if (sourceLufs === null) return UNCHANGED;
  const wanted = targetLufs - sourceLufs;
  const ceiling = TRUE_PEAK_CEILING_DBTP - peakDbtp;
  let gain = Math.min(wanted, ceiling);
  gain = Math.max(MIN_GAIN_DB, Math.min(MAX_GAIN_DB, gain));
  return { gainDb: Math.round(gain * 100) / 100, sourceLufs, peakLimited: ceiling < wanted };
}

/**
 * The gain of every track. `album`: tracks with the same album tag (and album artist) share one gain,
 * from their ReplayGain album gain when every one carries it, else from the power mean of their
 * loudness weighted by length; limited by the album's highest peak, so the album's own dynamics
 * stay. Tracks without an album tag are normalized alone.
 */
export function trackGains(tracks: readonly GainInput[], settings: LoudnessSettings): TrackGain[] {
  if (settings.normalize === 'off') return tracks.map(() => UNCHANGED);
  const perTrack = tracks.map((t) => limited(trackLufs(t), trackPeak(t), settings.targetLufs));
  if (settings.normalize === 'track') return perTrack;
  const albums = new Map<string, number[]>();
  tracks.forEach((t, i) => {
    const key = albumKey(t);
    if (key !== undefined) (albums.get(key) ?? albums.set(key, []).get(key)!).push(i);
  });
  const out = [...perTrack];
  for (const members of albums.values()) {
    const group = members.map((i) => tracks[i]!);
    const tagged = group.map((t) => t.replayGain?.albumGainDb);
    let lufs: number | null;
    if (tagged.every((g) => g !== undefined)) {
      lufs = REPLAYGAIN_REFERENCE_LUFS - (tagged[0] as number);
    } else {
      let energy = 0;
      let frames = 0;
      for (const t of group) {
        const l = trackLufs(t);
        if (l === null) continue;
        energy += t.frames * 10 ** (l / 10);
        frames += t.frames;
      }
      lufs = frames > 0 ? 10 * Math.log10(energy / frames) : null;
    }
    let peak = -Infinity;
    for (const t of group) peak = Math.max(peak, trackPeak(t), t.replayGain?.albumPeakDb ?? -Infinity);
    const g = limited(lufs, peak, settings.targetLufs);
    for (const i of members) out[i] = g;
  }
  return out;
}

/** Describes what is wrong with a (partial) loudness setting from REST or the config, or null. */
export function loudnessSettingsProblem(s: Partial<LoudnessSettings>): { field: string; detail: string } | null {
  if (s.normalize !== undefined && !NORMALIZE_MODES.includes(s.normalize)) {
    return { field: '/normalize', detail: `must be one of ${NORMALIZE_MODES.join(', ')}` };
  }
  const t = s.targetLufs;
  if (t !== undefined && !(typeof t === 'number' && t >= MIN_TARGET_LUFS && t <= MAX_TARGET_LUFS)) {
    return { field: '/targetLufs', detail: `must be a number from ${MIN_TARGET_LUFS} to ${MAX_TARGET_LUFS} LUFS` };
  }
  return null;
}
