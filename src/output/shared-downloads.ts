/**
 * Blobs downloaded from a bucket in this run, by digest: where the verified copy lies on the output filesystem,
 * so that the next layout needing the same blob (another tag of the same image, an image sharing base layers)
 * hard-links it instead of downloading it again. A download in flight is waited for, not started twice.
 *
 * Nothing is copied or kept aside for this: a copy is the file in the layout that downloaded it, first in its
 * staging directory, then (once renamed into place) in the output. A copy that is gone since (the layout failed,
 * or sync removed it after its push) or that is no longer that very file (checked by inode after linking) is
 * downloaded again. Memory stays bounded: only the most recent DOWNLOADS_REMEMBERED digests are remembered
 * (an LRU), a few hundred bytes each; a blob used again after that many others is downloaded again.
 */
import { lstat, unlink } from 'node:fs/promises';
import { link } from '../storage/fast-fs.js';
import { Lru } from '../core/lru.js';
import type { LayoutFile } from '../core/types.js';

/** Digests remembered at once (about 2 MB): a 500k-tag run does not remember every blob it downloaded. */
export const DOWNLOADS_REMEMBERED = 4096;

/** Where one verified download lies: `staged` while its layout is built, `final` once renamed into place. */
interface Copy {
  staged: string;
  final: string;
  dev: number;
  ino: number;
}

/** One remembered download: its outcome once settled (a copy, or the BlobCheckError every image needing it gets). */
export interface Download {
  readonly digest: string;
  readonly size: number;
  readonly done: Promise<Copy>;
}

export interface SharedDownloads {
  /**
   * Puts blob `f` at `dest` (in a layout being staged, whose final path is `final`): a hard link to this run's
   * copy of it, else `download(dest)` (which hashes and throws BlobCheckError on a mismatch). Resolves to the
   * Download when this call downloaded it, undefined when it linked. A blob found corrupt earlier in the run
   * rejects with the same BlobCheckError, without downloading it again.
   */
  place(f: LayoutFile, dest: string, final: string, download: () => Promise<void>): Promise<Download | undefined>;
  /** Forgets downloads whose copies are gone (their layout failed and its staging directory was removed). */
  forget(downloads: Iterable<Download>): void;
}

/** A streamed blob whose bytes do not hash to its digest or add up to its size: the storage is damaged there. */
export class BlobCheckError extends Error {
  override readonly name = 'BlobCheckError';
  readonly code: 'blob-digest-mismatch' | 'blob-size-mismatch';
  readonly digest: string;
  /** What the bytes hash to (blob-digest-mismatch). */
  readonly actual?: string;
  constructor(message: string, code: 'blob-digest-mismatch' | 'blob-size-mismatch', digest: string, actual?: string) {
    super(message);
    this.code = code;
    this.digest = digest;
    if (actual !== undefined) this.actual = actual;
  }
}

/** Creates the per-run index of downloads (one per layout store). */
export function createSharedDownloads(max = DOWNLOADS_REMEMBERED): SharedDownloads {
  const index = new Lru<string, Download>(max);
  return {
    async place(f, dest, final, download) {
      const known = index.get(f.digest);
      if (known !== undefined && known.size === f.size) {
        const copy = await known.done.catch((error: unknown) => {
          if (error instanceof BlobCheckError) throw error;
          return undefined; // that download failed (network, disk): this layout tries its own
        });
        if (copy !== undefined && (await linkCopy(copy, dest, f.size))) return undefined;
      }
      let settle!: { resolve(c: Copy): void; reject(e: unknown): void };
      const done = new Promise<Copy>((resolve, reject) => (settle = { resolve, reject }));
      done.catch(() => {}); // waiters handle it; nobody may be waiting
      const mine: Download = { digest: f.digest, size: f.size, done };
      index.set(f.digest, mine);
      try {
        await download();
        const info = await lstat(dest);
        settle.resolve({ staged: dest, final, dev: info.dev, ino: info.ino });
        return mine;
      } catch (error) {
        settle.reject(error);
        // A corrupt blob stays corrupt: its verdict is kept, so other images needing it fail without a download.
        if (!(error instanceof BlobCheckError) && index.get(f.digest) === mine) index.delete(f.digest);
        throw error;
      }
    },
    forget(downloads) {
      for (const d of downloads) if (index.get(d.digest) === d) index.delete(d.digest);
    },
  };
}

/**
 * Hard-links the copy to `dest`: from staging, or from the output if its layout was renamed in between. True when
 * `dest` is that very file (same inode, size as expected); a copy gone or replaced by another file is not used.
 */
async function linkCopy(copy: Copy, dest: string, size: number): Promise<boolean> {
  for (const from of [copy.staged, copy.final]) {
    try {
      await link(from, dest);
    } catch {
      continue; // ENOENT (gone, or moved on), EMLINK (the link limit): the next place, else download
    }
    const info = await lstat(dest).catch(() => undefined);
    if (info?.isFile() && info.dev === copy.dev && info.ino === copy.ino && info.size === size) return true;
    await unlink(dest).catch(() => {});
  }
  return false;
}
