// ReplayGain tags and the album tag of a track (parsed in file-tags.ts), for loudness normalization:
// a track tagged by a ReplayGain scanner keeps its tagged gains, the meter (loudness-meter.ts) fills
// in the rest. Tags are untrusted input: values outside the plausible range are dropped, never thrown.
import type { ICommonTagsResult } from 'music-metadata';

/** Gains in dB (relative to ReplayGain 2.0's -18 LUFS reference), peaks as dBFS (sample peaks). */
export interface ReplayGainTags {
  trackGainDb?: number;
  trackPeakDb?: number;
  albumGainDb?: number;
  albumPeakDb?: number;
}

export interface GainTags {
  album?: string;
  albumArtist?: string;
  replayGain?: ReplayGainTags;
}

/** Gains beyond this are not a real scanner's output. */
const MAX_ABS_GAIN_DB = 60;
const MAX_ALBUM_CHARS = 200;

function gain(v: { dB?: number } | undefined): number | undefined {
  const db = v?.dB;
  return typeof db === 'number' && Number.isFinite(db) && Math.abs(db) <= MAX_ABS_GAIN_DB ? db : undefined;
}

/** Peak ratio (1 = full scale) to dBFS; undefined when absent or implausible. */
function peak(v: { ratio?: number } | undefined, ratio?: number): number | undefined {
  const r = v?.ratio ?? ratio;
  return typeof r === 'number' && Number.isFinite(r) && r > 0 && r < 100 ? 20 * Math.log10(r) : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, MAX_ALBUM_CHARS) : undefined;
}

/** ReplayGain gains and peaks, album and album artist from a file's parsed tags (file-tags.ts parses them). */
export function gainTagsOf(common: ICommonTagsResult): GainTags {
  const rg: ReplayGainTags = {};
  const tg = gain(common.replaygain_track_gain);
  const tp = peak(common.replaygain_track_peak, common.replaygain_track_peak_ratio);
  const ag = gain(common.replaygain_album_gain);
  const ap = peak(common.replaygain_album_peak);
  if (tg !== undefined) rg.trackGainDb = tg;
  if (tp !== undefined) rg.trackPeakDb = tp;
  if (ag !== undefined) rg.albumGainDb = ag;
  if (ap !== undefined) rg.albumPeakDb = ap;
  const out: GainTags = {};
  const album = text(common.album);
  const albumArtist = text(common.albumartist);
  if (album !== undefined) out.album = album;
  if (albumArtist !== undefined) out.albumArtist = albumArtist;
  if (Object.keys(rg).length > 0) out.replayGain = rg;
  return out;
}
