// JSON files for the leader's state dir, replaced atomically and durably (protocol/atomic-file.ts):
// a crash or power cut leaves either the old or the new state, never half of one.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@jaudiosync/protocol/atomic-file';

/** State files are small; a bigger one is corrupt or not ours. */
const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

export async function writeJsonAtomic(filePath: string, value: unknown): Promise<void> {
  await writeFileAtomic(filePath, JSON.stringify(value, null, 1) + '\n');
}

/** undefined when the file does not exist; throws when it exists but is not valid JSON. */
export async function readJsonFile(filePath: string): Promise<unknown> {
  let text: string;
  try {
    const buf = await readFile(filePath);
    if (buf.length > MAX_STATE_FILE_BYTES) throw new Error(`${filePath} is larger than ${MAX_STATE_FILE_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as unknown;
}
