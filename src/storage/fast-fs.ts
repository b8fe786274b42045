/**
 * The file-system calls on the hot path of list/export, as promises over synchronous calls. A registry tree
 * is made of tiny files (71-byte links, 10k–500k of them) whose metadata sits in the page cache after the
 * first touch: there a synchronous call costs a few microseconds, while a trip through libuv's thread
 * pool costs tens (futex wake-ups, a thread switch each way). Measured on a 10k-tag tree (npm run bench):
 * the pool version took ~1.5x the CPU time (user+sys) and more wall time. Each call blocks the event
 * loop only for one small syscall, so pushes and HTTP requests running beside the export are not held up.
 * Promises are kept so callers stay written for either kind.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';

const sync =
  <A extends unknown[], R>(fn: (...a: A) => R): ((...a: A) => Promise<R>) =>
  async (...a: A) =>
    fn(...a);
export const lstat = sync((p: string) => fs.lstatSync(p));
export const readdir = promisify(fs.readdir);
export const link = sync((from: string, to: string) => fs.linkSync(from, to));
export const mkdir = promisify(fs.mkdir);
export const rename = sync((from: string, to: string) => fs.renameSync(from, to));
export const open = sync((p: string, flags: number) => fs.openSync(p, flags));

/**
 * Opening flags for files of an untrusted tree: never follow a final symlink (ELOOP instead), and never
 * block on a FIFO or device (a blocked libuv thread would hang the run past any signal).
 */
export const SAFE_OPEN = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** What a directory entry (or an lstat) is, for messages about an entry that should be a directory: `a symlink`, `a plain file`, … */
export function entryKind(e: Pick<fs.Stats, 'isSymbolicLink' | 'isFile' | 'isFIFO' | 'isSocket' | 'isBlockDevice' | 'isCharacterDevice'>): string {
  if (e.isSymbolicLink()) return 'a symlink';
  if (e.isFile()) return 'a plain file';
  if (e.isFIFO()) return 'a FIFO';
  if (e.isSocket()) return 'a socket';
  if (e.isBlockDevice() || e.isCharacterDevice()) return 'a device';
  return 'not a directory';
}

/** `<dev>:<ino>`: two paths with the same identity are hard links to one file. */
export function identityOf(info: fs.Stats): string {
  return `${info.dev}:${info.ino}`;
}

/** Thrown for a path that is not a regular file (FIFO, device, directory): a registry writes none of those. */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
}

/** What the read learned of the file besides its bytes (filled in when given). */
export interface FileFacts {
  identity?: string;
  mtimeMs?: number;
}

/**
 * Reads a regular file of at most `max` bytes, refusing symlinks and special files. With `truncate`, a
 * longer file yields its first `max` bytes (a garbage link file is reported from its start); without it,
 * a longer file is an error. Link files (71 bytes, one per tag) cost open, fstat, read, close.
 */
export function readRegularFileSync(file: string, max: number, opts: { truncate: boolean; facts?: FileFacts }): Buffer {
  const fd = fs.openSync(file, SAFE_OPEN);
  try {
    const info = fs.fstatSync(fd);
    if (!info.isFile()) throw new NotRegularFileError('not a regular file');
    if (opts.facts) {
      opts.facts.identity = identityOf(info);
      opts.facts.mtimeMs = info.mtimeMs;
    }
    if (info.size > max && !opts.truncate) throw Object.assign(new Error(`${info.size} bytes, more than ${max}`), { code: 'EFBIG' });
    const want = Math.min(info.size, max);
    const buffer = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const bytesRead = fs.readSync(fd, buffer, got, want - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buffer.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}
