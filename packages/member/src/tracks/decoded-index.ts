// The index of complete decoded files in the decoded-track directory, so that a restarted member
// plays a track it had decoded straight from disk (no fetch, no decode: a restart mid-track is
// otherwise a decode from the track's start up to the playing position, seconds on a Pi). Files
// not in the index (a decode cut short by a crash) are deleted at start. The tag names the decoder
// and output format: files decoded under another tag (software version, output rate) are not used.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '@jaudiosync/protocol/atomic-file';
import { parseJsonObject } from '../json-file.js';

export const DECODED_INDEX_FILE = 'index.json';
const VERSION = 1;
/** An index lists a few dozen files; anything much larger is not ours. */
const MAX_INDEX_BYTES = 1024 * 1024;

export interface DecodedFile {
  id: string;
  /** File name inside the directory (no path). */
  file: string;
  bytes: number;
}

/** Entries of `text` for this tag, least recently used first; [] for anything malformed. */
export function parseDecodedIndex(text: string, tag: string): DecodedFile[] {
  const r = parseJsonObject(text, MAX_INDEX_BYTES);
  if (r === null || r['version'] !== VERSION || r['tag'] !== tag || !Array.isArray(r['files'])) return [];
  const out: DecodedFile[] = [];
  for (const e of r['files'] as unknown[]) {
    if (typeof e !== 'object' || e === null) continue;
    const { id, file, bytes } = e as Record<string, unknown>;
    // A file name of this directory that belongs to its id; never a path elsewhere.
    if (typeof id !== 'string' || typeof file !== 'string' || basename(file) !== file || !file.startsWith(`${id}.`) || !file.endsWith('.pcm')) continue;
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0 || bytes % 4 !== 0) continue;
    if (out.some((o) => o.id === id || o.file === file)) continue;
    out.push({ id, file, bytes });
  }
  return out;
}

export async function loadDecodedIndex(dir: string, tag: string): Promise<DecodedFile[]> {
  try {
    return parseDecodedIndex(await readFile(join(dir, DECODED_INDEX_FILE), 'utf8'), tag);
  } catch {
    return [];
  }
}

/** Atomic (temporary file + rename): a crash leaves the old index or the new one. */
export async function saveDecodedIndex(dir: string, tag: string, files: readonly DecodedFile[]): Promise<void> {
  await writeFileAtomic(join(dir, DECODED_INDEX_FILE), JSON.stringify({ version: VERSION, tag, files }));
}
