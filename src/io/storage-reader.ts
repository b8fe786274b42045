/**
 * Read-only access to a Distribution v2 tree with per-run caches: blobs are global and shared by many
 * tags, so each manifest is read and hashed once and each blob is stat'ed (or hashed) once per run.
 * Nothing here opens a file for writing.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, NotRegularFileError, readRegularFile, realpath, stat } from './fast-fs.js';
import path from 'node:path';
import { blobDataPath, parseLink, revisionLinkPath, tagLinkPath, type LinkParse } from '../core/digest.js';
import type { Digest } from '../core/types.js';

/** Distinct manifests, blob facts and hashes remembered per run (least recently used forgotten first). */
const CACHE_ENTRIES = 50_000;
const NOT_REGULAR = 'not a regular file (a symlink or special file, which a registry never writes)';
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
  /** Absolute path of `docker/registry/v2`. */
  readonly v2: string;
  readTagLink(repository: string, tag: string): Promise<LinkFact>;
  hasRevision(repository: string, digest: Digest): Promise<boolean>;
  /** Reads a manifest blob and checks sha256(bytes) == digest. */
  readManifest(digest: Digest): Promise<ManifestFact>;
  statBlob(digest: Digest): Promise<BlobFact>;
  /** Streams a blob through sha256 (for --verify-blobs); resolves to the computed digest. */
  hashBlob(digest: Digest): Promise<string>;
  /** Absolute path of a blob's data file. */
  blobPath(digest: Digest): string;
}

/** Creates a reader over `v2` (the `docker/registry/v2` directory). */
export function createStorageReader(v2: string): StorageReader {
  const manifests = new Map<Digest, Promise<ManifestFact>>();
  const blobs = new Map<Digest, Promise<BlobFact>>();
  const hashes = new Map<Digest, Promise<string>>();
  const abs = (rel: string) => path.join(v2, rel);
  // Bounded: shared layers and manifests hit the cache while tags of one repository are resolved together,
  // and a 500k-tag volume does not keep every manifest's bytes until the end of the run.
  const once = <T>(cache: Map<Digest, Promise<T>>, key: Digest, make: () => Promise<T>): Promise<T> => {
    let p = cache.get(key);
    if (p) {
      // Least recently used goes first: a base layer shared by many images stays cached.
      cache.delete(key);
      cache.set(key, p);
      return p;
    }
    cache.set(key, (p = make()));
    if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as Digest);
    return p;
  };
  // A blob store moved to another disk and symlinked back (v2/blobs -> /mnt/blobs) is an operator's choice;
  // a blob whose real path leaves that store was reached through a symlink planted inside it.
  let blobsRoot: Promise<string> | undefined;
  const checkInside = async (file: string) => {
    const root = await (blobsRoot ??= realpath(path.join(v2, 'blobs')));
    if (!(await realpath(file)).startsWith(root + path.sep)) {
      throw new NotRegularFileError('reached through a symlinked directory, which a registry never writes');
    }
  };

  return {
    v2,
    blobPath: (digest) => abs(blobDataPath(digest)),
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
      once(manifests, digest, async () => {
        const file = abs(blobDataPath(digest));
        try {
          await checkInside(file);
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
      once(blobs, digest, async () => {
        const file = abs(blobDataPath(digest));
        try {
          // lstat: distribution writes regular files only; a symlink here could make us push any file on the host.
          const info = await lstat(file);
          if (!info.isFile()) return { ok: false, error: 'unreadable', detail: NOT_REGULAR, path: file };
          await checkInside(file);
          return { ok: true, size: info.size, path: file };
        } catch (error) {
          return { ok: false, error: isNotFound(error) ? 'missing' : 'unreadable', detail: describeFsError(error), path: file };
        }
      }),
    hashBlob: (digest) =>
      once(hashes, digest, async () => {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(abs(blobDataPath(digest)))) hash.update(chunk as Buffer);
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
