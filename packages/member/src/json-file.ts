// Small JSON files a member keeps beside its data (the clock memory, the decoded-track index):
// read back only as an object within a size bound, written through a temporary file and a rename
// so that a crash mid-write leaves the old file or the new one, never half of either.
import { rename, writeFile } from 'node:fs/promises';

/** `text` parsed, if it is at most `maxChars` long and a JSON object; null otherwise. */
export function parseJsonObject(text: string, maxChars: number): Record<string, unknown> | null {
  if (text.length > maxChars) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : null;
}

/** Writes `text` to `${path}.tmp` (with `mode`, if given), then renames it over `path`. */
export async function writeFileAtomic(path: string, text: string, mode?: number): Promise<void> {
  await writeFile(`${path}.tmp`, text, mode === undefined ? {} : { mode });
  await rename(`${path}.tmp`, path);
}
