/** Writes a file so that readers see the old content or the new, never half of it. */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { access, constants, lstat, rename, rm, stat, writeFile } from 'node:fs/promises';
import { PreflightError } from '../errors.js';
import path from 'node:path';

/** Writes a temp file beside `file` (same filesystem), then renames it over `file`. */
export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
  try {
    await writeFile(temp, content, { mode, flag: 'wx' });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** A file written piece by piece into a temp file beside it, renamed over it only when complete. */
export interface AtomicFile {
  write(text: string): void;
  /** Flushes, fsyncs and renames into place. */
  commit(): void;
  /** Removes the temp file (the old file, if any, stays). */
  abandon(): void;
}

/** Bytes buffered before a write(2): a report of 500k images is many small pieces. */
const FLUSH_BYTES = 64 * 1024;

/** Opens `file` for an atomic, streamed write (a report of 500k images, written as results come). */
export function openAtomicFile(file: string, mode = 0o644): AtomicFile {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
  let fd: number | undefined = openSync(temp, 'wx', mode);
  let pending: string[] = [];
  let size = 0;
  const flush = () => {
    if (fd === undefined || size === 0) return;
    writeSync(fd, pending.join(''));
    pending = [];
    size = 0;
  };
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  return {
    write(text) {
      pending.push(text);
      size += text.length;
      if (size >= FLUSH_BYTES) flush();
    },
    commit() {
      try {
        flush();
        fsyncSync(fd as number);
        close();
        renameSync(temp, file);
      } catch (error) {
        close();
        rmSync(temp, { force: true });
        throw error;
      }
    },
    abandon() {
      close();
      rmSync(temp, { force: true });
    },
  };
}

/**
 * Checks that `file` can be written by renaming a temp file over it: its directory exists and is writable, and `file`
 * itself is not a directory (a rename cannot replace one). Without this a report or metrics file given as an existing
 * directory failed only at the run's very end, after an hour of pushing.
 */
export async function checkWritableFile(file: string, what: string): Promise<void> {
  await checkWritableDir(path.dirname(file), what);
  const info = await lstat(file).catch(() => undefined);
  if (info?.isDirectory()) throw new PreflightError(`${what}: ${file} is a directory; give the path of a file (it is written whole when the run ends)`);
}

/** Throws a PreflightError unless `dir` is an existing, writable directory (where `what` will be written). */
async function checkWritableDir(dir: string, what: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new PreflightError(`${what}: the directory ${dir} does not exist`);
  await access(dir, constants.W_OK).catch(() => {
    throw new PreflightError(`${what}: the directory ${dir} is not writable`);
  });
}
