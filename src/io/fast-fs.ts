/**
 * The callback fs API, promisified. On Node 20, `fs/promises` opens a FileHandle per call and is about
 * twice as slow for the tiny files a registry tree is made of (71-byte link files, 10k–500k of them);
 * measured with `npm run bench`. Only the calls on the hot path of list/export live here.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';

const SYNC = process.env.RR_SYNC_FS === '1';
const wrap = <A extends unknown[], R>(sync: (...a: A) => R, async: (...a: A) => Promise<R>): ((...a: A) => Promise<R>) =>
  SYNC ? async (...a: A) => sync(...a) : async;
export const readFile = wrap(fs.readFileSync as (p: string) => Buffer, promisify(fs.readFile) as (p: string) => Promise<Buffer>);
export const stat = wrap((p: string) => fs.statSync(p), promisify(fs.stat) as (p: string) => Promise<fs.Stats>);
export const lstat = wrap((p: string) => fs.lstatSync(p), promisify(fs.lstat) as (p: string) => Promise<fs.Stats>);
export const readdir = promisify(fs.readdir);
export const link = wrap(fs.linkSync, promisify(fs.link));
export const mkdir = promisify(fs.mkdir);
export const mkdtemp = wrap((p: string) => fs.mkdtempSync(p), promisify(fs.mkdtemp) as (p: string) => Promise<string>);
export const rename = wrap(fs.renameSync, promisify(fs.rename));

// The native realpath(3): one call instead of an lstat per path component in JavaScript.
export const realpath = promisify(fs.realpath.native);

export const open = wrap((p: string, f: number) => fs.openSync(p, f), promisify(fs.open) as (p: string, f: number) => Promise<number>);
const read = wrap((fd: number, b: Buffer, o: number, l: number, p: number) => ({ bytesRead: fs.readSync(fd, b, o, l, p) }), promisify(fs.read) as unknown as (fd: number, b: Buffer, o: number, l: number, p: number) => Promise<{ bytesRead: number }>);
const close = wrap((fd: number) => fs.closeSync(fd), promisify(fs.close) as (fd: number) => Promise<void>);
const fstat = wrap((fd: number) => fs.fstatSync(fd), promisify(fs.fstat) as (fd: number) => Promise<fs.Stats>);

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
