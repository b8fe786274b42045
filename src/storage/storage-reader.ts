/**
 * Read-only access to a Distribution v2 tree with per-run caches: blobs are global and shared by many
 * tags, so each manifest is read and hashed once and each blob is stat'ed (or hashed) once per run.
 * Nothing here opens a file for writing.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, NotRegularFileError, open, readRegularFile, SAFE_OPEN, stat } from './fast-fs.js';
import { Lru } from '../core/lru.js';
import path from 'node:path';
import { blobDataPath, parseLink, revisionLinkPath, tagLinkPath, type LinkParse } from '../core/digest.js';
import type { BlobSource, Digest } from '../core/types.js';

/**
 * Cache sizes. Manifests are read once per tag and rarely shared (an index child, an older revision), so
 * few of their bytes are kept; blob facts are small and base layers are shared by many tags. Bounded, so
 * a 500k-tag volume costs the same memory as a 10k one.
 */
const MANIFEST_CACHE = 64;
const BLOB_CACHE = 4096;
const NOT_REGULAR = 'not a regular file (a symlink or special file, which a registry never writes)';
const SYMLINKED_DIR = 'reached through a symlinked directory, which a registry never writes';
/** A link file is 71 bytes; more than this is garbage, reported from its first bytes. */
const MAX_LINK_BYTES = 256;
/** The largest manifest we read into memory; registries refuse bigger ones (4 MiB in distribution). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export type BlobFact = { ok: true; size: number; path: string } | { ok: false; error: 'missing' | 'unreadable'; detail: string; path: string };
export type ManifestFact =
  | { ok: true; bytes: Buffer; path: string }
  | { ok: false; error: 'missing' | 'unreadable' | 'digest-mismatch' | 'too-large'; detail: string; path: string };
export type LinkFact = LinkParse | { ok: false; code: 'link-unreadable'; detail: string };

export interface StorageReader {
  /** Absolute path of `docker/registry/v2`, or `s3://bucket/…/docker/registry/v2`. */
  readonly v2: string;
  readTagLink(repository: string, tag: string): Promise<LinkFact>;
  hasRevision(repository: string, digest: Digest): Promise<boolean>;
  /** Reads a manifest blob and checks sha256(bytes) == digest. */
  readManifest(digest: Digest): Promise<ManifestFact>;
  statBlob(digest: Digest): Promise<BlobFact>;
  /** Streams a blob through sha256 (for --verify-blobs); resolves to the computed digest. */
  hashBlob(digest: Digest): Promise<string>;
  /** Where a blob's bytes are: its data file on disk, or an object to stream. */
  blobSource(digest: Digest): BlobSource;
}

/** Creates a reader over `v2` (the `docker/registry/v2` directory). */
export function createStorageReader(v2: string): StorageReader {
  const manifests = new Lru<Digest, Promise<ManifestFact>>(MANIFEST_CACHE);
  const blobs = new Lru<Digest, Promise<BlobFact>>(BLOB_CACHE);
  const hashes = new Lru<Digest, Promise<string>>(BLOB_CACHE);
  const abs = (rel: string) => path.join(v2, rel);
  // A blob store moved to another disk and symlinked back (v2/blobs -> /mnt/blobs) is an operator's choice.
  // Below it, distribution writes only real directories and regular files: a symlink planted at any level
  // (blobs/sha256, blobs/sha256/<xx>, …/<hex>, …/data) could make us push any file on the host. Checked with
  // lstat, once per directory: the 256 prefix directories are cached, each blob directory is checked with
  // its blob (the data file itself is opened O_NOFOLLOW or lstat'ed). No realpath per blob.
  const prefixes = new Map<string, Promise<void>>();
  const realDir = async (dir: string) => {
    const info = await lstat(dir);
    if (!info.isDirectory()) throw new NotRegularFileError(info.isSymbolicLink() ? SYMLINKED_DIR : 'not a directory');
  };
  const checkBlobDirs = async (digest: Digest) => {
    const rel = blobDataPath(digest); // blobs/sha256/<xx>/<hex>/data
    const prefix = path.dirname(path.dirname(rel));
    let p = prefixes.get(prefix);
    if (!p) {
      prefixes.set(prefix, (p = realDir(abs(path.dirname(prefix))).then(() => realDir(abs(prefix)))));
      p.catch(() => {});
    }
    await p;
    await realDir(abs(path.dirname(rel)));
  };

  return {
    v2,
    blobSource: (digest) => ({ path: abs(blobDataPath(digest)) }),
    async readTagLink(repository, tag) {
      try {
        return parseLink((await readRegularFile(abs(tagLinkPath(repository, tag)), MAX_LINK_BYTES, { truncate: true })).toString('utf8'));
      } catch (error) {
        return { ok: false, code: 'link-unreadable', detail: describeFsError(error) };
      }
    },
    async hasRevision(repository, digest) {
      try {
        return (await stat(abs(revisionLinkPath(repository, digest)))).isFile();
      } catch {
        return false;
      }
    },
    readManifest: (digest) =>
      manifests.getOrSet(digest, async () => {
        const file = abs(blobDataPath(digest));
        try {
          await checkBlobDirs(digest);
          const bytes = await readRegularFile(file, MAX_MANIFEST_BYTES, { truncate: false });
          const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
          if (actual !== digest) return { ok: false, error: 'digest-mismatch', detail: `its content hashes to ${actual}`, path: file };
          return { ok: true, bytes, path: file };
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EFBIG') return { ok: false, error: 'too-large', detail: (error as Error).message, path: file };
          return { ok: false, error: isNotFound(error) ? 'missing' : 'unreadable', detail: describeFsError(error), path: file };
        }
      }),
    statBlob: (digest) =>
      blobs.getOrSet(digest, async () => {
        const file = abs(blobDataPath(digest));
        try {
          await checkBlobDirs(digest);
          // lstat: distribution writes regular files only; a symlink here could make us push any file on the host.
          const info = await lstat(file);
          if (!info.isFile()) return { ok: false, error: 'unreadable', detail: NOT_REGULAR, path: file };
          return { ok: true, size: info.size, path: file };
        } catch (error) {
          return { ok: false, error: isNotFound(error) ? 'missing' : 'unreadable', detail: describeFsError(error), path: file };
        }
      }),
    hashBlob: (digest) =>
      hashes.getOrSet(digest, async () => {
        const hash = createHash('sha256');
        const fd = await open(abs(blobDataPath(digest)), SAFE_OPEN);
        for await (const chunk of createReadStream('', { fd })) hash.update(chunk as Buffer);
        return `sha256:${hash.digest('hex')}`;
      }),
  };
}

export function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** `ENOENT: no such file or directory` without the path (messages name the path themselves). */
export function describeFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EACCES') return 'permission denied';
  if (e?.code === 'EISDIR') return 'is a directory';
  if (e?.code === 'ELOOP') return NOT_REGULAR;
  if (e?.code === 'ENOTREG') return e.message === 'not a regular file' ? NOT_REGULAR : e.message;
  return e?.code ? `${e.code}: ${e.message.split(',')[0]}` : String(error);
}
