// The one way JAudioSync replaces a file: write a temporary file beside it, fsync it, rename it
// over the old one, fsync the directory. A crash or a power cut (a Pi's SD card, a bike's battery)
// then leaves the old file or the new one, never half of either, and a completed write survives.
// Used for every state and settings file of both daemons and for benchmark reports.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** file mode of the new file (default 0o644) */
  mode?: number;
  /** create the directory first (default true) */
  mkdir?: boolean;
}

function tempName(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Replaces `file` with `data` atomically and durably (see the file comment). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  if (opts.mkdir !== false) await mkdir(dir, { recursive: true });
  const tmp = tempName(file);
  const fh = await open(tmp, 'w', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** The same, synchronously (for callers on a synchronous path, e.g. a state save on exit). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = path.dirname(path.resolve(file));
  if (opts.mkdir !== false) mkdirSync(dir, { recursive: true });
  const tmp = tempName(file);
  const fd = openSync(tmp, 'w', opts.mode ?? 0o644);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Best effort: not every filesystem lets a directory be fsynced.
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Best effort: not every filesystem lets a directory be fsynced.
  }
}
