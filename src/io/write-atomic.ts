/** Writes a file so that readers see the old content or the new, never half of it. */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { access, constants, rename, rm, stat, writeFile } from 'node:fs/promises';
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

/** Like writeFileAtomic, for a document produced piece by piece (a report of 500k images). */
export function writeFileAtomicWith(file: string, produce: (write: (text: string) => void) => void, mode = 0o644): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', mode);
    const handle = fd;
    produce((text) => void writeSync(handle, text));
    fsyncSync(handle);
    closeSync(handle);
    fd = undefined;
    renameSync(temp, file);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
}

/** Throws a PreflightError unless `dir` is an existing, writable directory (where `what` will be written). */
export async function checkWritableDir(dir: string, what: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new PreflightError(`${what}: the directory ${dir} does not exist`);
  await access(dir, constants.W_OK).catch(() => {
    throw new PreflightError(`${what}: the directory ${dir} is not writable`);
  });
}
