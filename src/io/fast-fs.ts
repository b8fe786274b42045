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
