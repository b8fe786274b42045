/**
 * The callback fs API, promisified. On Node 20, `fs/promises` opens a FileHandle per call and is about
 * twice as slow for the tiny files a registry tree is made of (71-byte link files, 10k–500k of them);
 * measured with `npm run bench`. Only the calls on the hot path of list/export live here.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';

export const readFile = promisify(fs.readFile);
export const stat = promisify(fs.stat);
export const lstat = promisify(fs.lstat);
export const readdir = promisify(fs.readdir);
export const link = promisify(fs.link);
export const mkdir = promisify(fs.mkdir);
export const rename = promisify(fs.rename);

// The native realpath(3): one call instead of an lstat per path component in JavaScript.
export const realpath = promisify(fs.realpath.native);

export const open = promisify(fs.open);
const read = promisify(fs.read);
const close = promisify(fs.close);
const fstat = promisify(fs.fstat);

/**
 * Opening flags for files of an untrusted tree: never follow a final symlink (ELOOP instead), and never
 * block on a FIFO or device (a blocked libuv thread would hang the run past any signal).
 */
export const SAFE_OPEN = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** Thrown for a path that is not a regular file (FIFO, device, directory): a registry writes none of those. */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
}

/**
 * Reads a regular file of at most `max` bytes, refusing symlinks and special files. With `truncate`, a
 * longer file yields its first `max` bytes (a garbage link file is reported from its start); without it,
 * a longer file is an error. Link files (71 bytes, one per tag) cost open, fstat, read, close.
 */
export async function readRegularFile(file: string, max: number, opts: { truncate: boolean }): Promise<Buffer> {
  const fd = await open(file, SAFE_OPEN);
  try {
    const info = await fstat(fd);
    if (!info.isFile()) throw new NotRegularFileError('not a regular file');
    if (info.size > max && !opts.truncate) throw Object.assign(new Error(`${info.size} bytes, more than ${max}`), { code: 'EFBIG' });
    const want = Math.min(info.size, max);
    const buffer = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await read(fd, buffer, got, want - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buffer.subarray(0, got);
  } finally {
    await close(fd);
  }
}
