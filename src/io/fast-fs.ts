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

const open = promisify(fs.open);
const read = promisify(fs.read);
const close = promisify(fs.close);

/**
 * Reads at most `max` bytes of a small file with three calls (open, read, close) instead of readFile's
 * four (it also fstat's): link files are 71 bytes and there is one per tag.
 */
export async function readSmallFile(file: string, max: number): Promise<Buffer> {
  const fd = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(max);
    const { bytesRead } = await read(fd, buffer, 0, max, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await close(fd);
  }
}
