// Reads an m3u/m3u8 playlist into audio file paths. Owns text decoding, #EXTINF titles and path
// resolution; every bad entry is reported ({line, entry, reason}) and skipped, never fatal.
// Hashing, probing and frame counts belong to track-catalog.ts.
import { access, open, readFile, stat } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { JasError } from '@jaudiosync/protocol/errors';
import { fileURLToPath } from 'node:url';

/** More entries than this is not a playlist anyone plays; bounds memory and probe time. */
export const MAX_PLAYLIST_ENTRIES = 10_000;
/** 10 000 entries of ~800 bytes (long paths plus titles) fit easily; anything bigger is not a playlist. */
export const MAX_PLAYLIST_BYTES = 8 * 1024 * 1024;
/** A single line longer than this is garbage (PATH_MAX is 4096 plus an #EXTINF title). */
const MAX_LINE_CHARS = 16 * 1024;
/** Bytes read to recognise an audio file without a known extension. */
const SNIFF_BYTES = 16;

/** Extensions the decoders (audio-decode) handle. */
export const AUDIO_EXTENSIONS: ReadonlySet<string> = new Set([
  '.mp3', '.flac', '.wav', '.wave', '.ogg', '.oga', '.opus', '.m4a', '.aac', '.aif', '.aiff', '.qoa', '.webm', '.mp4',
]);

export interface PlaylistEntry {
  /** 1-based line number in the playlist file. */
  line: number;
  /** The entry as written in the playlist. */
  entry: string;
  /** Absolute, normalised path of the audio file. */
  path: string;
  /** Title from #EXTINF, when present. */
  title?: string;
  /** Duration in seconds from #EXTINF (informational only; frame counts come from decoding). */
  extinfDurationS?: number;
}

export interface PlaylistProblem {
  line: number;
  entry: string;
  reason: string;
}

export interface ParsedPlaylist {
  entries: PlaylistEntry[];
  problems: PlaylistProblem[];
}


export interface ParseOptions {
  /** Directory that relative entries are resolved against (the playlist's own directory). */
  baseDir: string;
  maxEntries?: number;
}

/** Reads and parses a playlist file; throws (JasError) only for the file itself, never for entries. */
export async function parsePlaylistFile(playlistPath: string, options: Partial<ParseOptions> = {}): Promise<ParsedPlaylist> {
  const absolute = path.resolve(playlistPath);
  let size: number;
  try {
    const st = await stat(absolute);
    if (!st.isFile()) throw new JasError('JAS_ERR_PLAYLIST', { detail: `${absolute} is not a regular file` });
    size = st.size;
  } catch (err) {
    if (err instanceof JasError) throw err;
    throw new JasError('JAS_ERR_NOT_FOUND', { what: `playlist ${absolute}` }, { cause: err });
  }
  if (size > MAX_PLAYLIST_BYTES) {
    throw new JasError('JAS_ERR_TOO_LARGE', { bytes: size, limit: MAX_PLAYLIST_BYTES });
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(absolute);
  } catch (err) {
    throw new JasError('JAS_ERR_NOT_FOUND', { what: `playlist ${absolute}` }, { cause: err });
  }
  return parsePlaylistBytes(bytes, { baseDir: options.baseDir ?? path.dirname(absolute), ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}) });
}

interface RawLine {
  line: number;
  text: string;
  /** Latin-1 reading of the same bytes, when the line is not valid UTF-8. */
  latin1?: string;
}

/** Splits bytes into lines; each line decoded as UTF-8, with a Latin-1 fallback for legacy .m3u. */
function splitLines(bytes: Uint8Array): RawLine[] {
  let start = 0;
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const lines: RawLine[] = [];
  let lineNo = 1;
  let i = start;
  const push = (from: number, to: number): void => {
    const slice = bytes.subarray(from, to);
    try {
      lines.push({ line: lineNo, text: utf8.decode(slice) });
    } catch {
      lines.push({ line: lineNo, text: new TextDecoder('utf-8').decode(slice), latin1: Buffer.from(slice).toString('latin1') });
    }
  };
  for (let j = start; j < bytes.length; j++) {
    const b = bytes[j];
    if (b === 0x0a || b === 0x0d) {
      push(i, j);
      // CRLF counts as one line break.
      if (b === 0x0d && bytes[j + 1] === 0x0a) j++;
      i = j + 1;
      lineNo++;
    }
  }
  if (i < bytes.length) push(i, bytes.length);
  return lines;
}

/** Parses playlist bytes (already read) and checks each entry on disk. */
export async function parsePlaylistBytes(bytes: Uint8Array | string, options: ParseOptions): Promise<ParsedPlaylist> {
  const raw = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  if (raw.length > MAX_PLAYLIST_BYTES) {
    throw new JasError('JAS_ERR_TOO_LARGE', { bytes: raw.length, limit: MAX_PLAYLIST_BYTES });
  }
  const maxEntries = options.maxEntries ?? MAX_PLAYLIST_ENTRIES;
  const entries: PlaylistEntry[] = [];
  const problems: PlaylistProblem[] = [];
  let pendingTitle: { title?: string; durationS?: number } | undefined;
  let candidates = 0;
  for (const rawLine of splitLines(raw)) {
    const text = rawLine.text.trim();
    if (text === '') continue;
    if (text.length > MAX_LINE_CHARS) {
      problems.push({ line: rawLine.line, entry: text.slice(0, 200) + '...', reason: `line longer than ${MAX_LINE_CHARS} characters` });
      pendingTitle = undefined;
      continue;
    }
    if (text.startsWith('#')) {
      if (/^#EXTINF:/i.test(text)) pendingTitle = parseExtinf(text);
      continue; // #EXTM3U, other directives and comments
    }
    candidates++;
    if (candidates > maxEntries) {
      problems.push({ line: rawLine.line, entry: text, reason: `more than ${maxEntries} entries; the rest of the playlist is ignored` });
      break;
    }
    const info = pendingTitle;
    pendingTitle = undefined;
    const resolved = await resolveEntry(text, rawLine.latin1?.trim(), options.baseDir);
    if ('reason' in resolved) {
      problems.push({ line: rawLine.line, entry: text, reason: resolved.reason });
      continue;
    }
    const entry: PlaylistEntry = { line: rawLine.line, entry: text, path: resolved.path };
    if (info?.title !== undefined && info.title !== '') entry.title = info.title;
    if (info?.durationS !== undefined) entry.extinfDurationS = info.durationS;
    entries.push(entry);
  }
  return { entries, problems };
}

/** `#EXTINF:123,Artist - Title` (attributes like tvg-id="..." before the comma are ignored). */
export function parseExtinf(line: string): { title?: string; durationS?: number } {
  const body = line.slice(line.indexOf(':') + 1);
  const comma = findTitleComma(body);
  const head = comma >= 0 ? body.slice(0, comma) : body;
  const title = comma >= 0 ? body.slice(comma + 1).trim() : undefined;
  const durationText = head.trim().split(/\s+/)[0] ?? '';
  const duration = Number(durationText);
  const out: { title?: string; durationS?: number } = {};
  if (title !== undefined && title !== '') out.title = title;
  if (durationText !== '' && Number.isFinite(duration) && duration >= 0) out.durationS = duration;
  return out;
}

/** The first comma outside double quotes separates attributes from the title. */
function findTitleComma(body: string): number {
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) return i;
  }
  return -1;
}

type Resolution = { path: string } | { reason: string };

async function resolveEntry(text: string, latin1: string | undefined, baseDir: string): Promise<Resolution> {
  const candidates = candidatePaths(text, baseDir);
  if ('reason' in candidates) return candidates;
  if (latin1 !== undefined) {
    const alt = candidatePaths(latin1, baseDir);
    if (!('reason' in alt)) candidates.push(...alt);
  }
  let firstFailure: string | undefined;
  for (const candidate of candidates) {
    const check = await checkAudioFile(candidate);
    if (check === undefined) return { path: candidate };
    firstFailure ??= check;
  }
  if (latin1 !== undefined && firstFailure?.startsWith('file not found')) {
    return { reason: 'entry is not valid UTF-8 and no file matches it' };
  }
  return { reason: firstFailure ?? 'file not found' };
}

/** Possible absolute paths for an entry: literal first, then URL-decoded. */
function candidatePaths(text: string, baseDir: string): string[] | { reason: string } {
  if (/^file:/i.test(text)) {
    try {
      return [path.normalize(fileURLToPath(text))];
    } catch (err) {
      return { reason: `invalid file URL: ${(err as Error).message}` };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return { reason: 'remote URLs are not supported; only local files' };
  if (text.includes('\0')) return { reason: 'entry contains a NUL character' };
  const out = [path.resolve(baseDir, text)];
  if (/%[0-9a-f]{2}/i.test(text)) {
    try {
      const decoded = decodeURIComponent(text);
      if (!decoded.includes('\0')) out.push(path.resolve(baseDir, decoded));
    } catch {
      // not valid percent-encoding: the literal path is the only candidate
    }
  }
  return out;
}

/** undefined when the path is a readable audio file, else the reason it is not. */
export async function checkAudioFile(filePath: string): Promise<string | undefined> {
  let st;
  try {
    st = await stat(filePath);
  } catch {
    return `file not found: ${filePath}`;
  }
  if (st.isDirectory()) return `is a directory: ${filePath}`;
  if (!st.isFile()) return `not a regular file: ${filePath}`;
  try {
    await access(filePath, fsConstants.R_OK);
  } catch {
    return `file not readable: ${filePath}`;
  }
  if (st.size === 0) return `file is empty: ${filePath}`;
  if (AUDIO_EXTENSIONS.has(path.extname(filePath).toLowerCase())) return undefined;
  // Unknown extension: accept it only if the first bytes look like an audio container.
  let head: Buffer;
  try {
    const fh = await open(filePath, 'r');
    try {
      head = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return `file not readable: ${filePath}`;
  }
  return looksLikeAudio(head) ? undefined : `not an audio file: ${filePath}`;
}

function looksLikeAudio(head: Buffer): boolean {
  const ascii = head.toString('latin1');
  if (ascii.startsWith('ID3') || ascii.startsWith('fLaC') || ascii.startsWith('OggS') || ascii.startsWith('qoaf')) return true;
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WAVE') return true;
  if (ascii.startsWith('FORM') && (ascii.slice(8, 12) === 'AIFF' || ascii.slice(8, 12) === 'AIFC')) return true;
  if (ascii.slice(4, 8) === 'ftyp') return true;
  // MPEG audio frame sync (11 set bits), e.g. an MP3 or ADTS AAC without tags.
  return head.length >= 2 && head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0;
}
