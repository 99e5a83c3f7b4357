// The tags the leader keeps of a track, from one parse of its file (music-metadata): what the phone
// page shows (title, artist, album, cover: track-tags.ts) and what loudness normalization uses
// (ReplayGain, album, album artist: replaygain-tags.ts). The leader's measuring pass reads both at
// once, so each file is opened and parsed for its tags once.
import { parseBuffer, parseFile, type ICommonTagsResult } from 'music-metadata';
import type { TrackInput } from './decode-to-pcm.js';
import { gainTagsOf, type GainTags } from './replaygain-tags.js';
import { trackTagsOf, type TrackTags } from './track-tags.js';

export interface FileTags {
  track: TrackTags;
  gain: GainTags;
}

/** No audio decoding; covers kept (the page shows them); tags after the audio read too (an APEv2
 *  footer is where mp3gain writes ReplayGain, ID3v1 where old taggers write the album). */
const PARSE_OPTIONS = { duration: false, skipCovers: false, skipPostHeaders: false } as const;

/** Both tag sets of a file; a file whose tags cannot be parsed has none (the track still plays). */
export async function readFileTags(input: TrackInput): Promise<FileTags> {
  let common: ICommonTagsResult;
  try {
    common = (typeof input === 'string' ? await parseFile(input, PARSE_OPTIONS) : await parseBuffer(input, undefined, PARSE_OPTIONS)).common;
  } catch {
    return { track: {}, gain: {} };
  }
  return { track: trackTagsOf(common), gain: gainTagsOf(common) };
}

/** Title, artist, album and cover of a file (for a track whose measurement is cached but not its tags). */
export async function readTrackTags(path: string): Promise<TrackTags> {
  return (await readFileTags(path)).track;
}
