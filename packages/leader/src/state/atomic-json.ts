// Atomic JSON files for the leader's state dir: write a temporary file, fsync, rename over the old
// one, so a crash or power cut leaves either the old or the new state, never half of one.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** State files are small; a bigger one is corrupt or not ours. */
const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

export async function writeJsonAtomic(filePath: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(filePath), { recursive: true });
  const tmp = `${filePath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(JSON.stringify(value, null, 1) + '\n', 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, filePath);
  // Persist the rename itself (directory entry); best effort: not every filesystem allows it.
  try {
    const dh = await open(path.dirname(filePath), 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  } catch { /* ignore */ }
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
