/**
 * What Distribution records beside a tag's current link and a repository's manifests (registry/storage/
 * tagstore.go, paths.go), read without opening anything for writing: a tag's history (every digest it ever
 * pointed at has a link at `_manifests/tags/<tag>/index/sha256/<hex>/link`, kept when the tag moves, until the
 * tag is deleted) and the repository's revision list. A tag's push time comes with its link read
 * (storage-reader.ts).
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isDigest } from '../core/digest.js';
import type { Digest } from '../core/types.js';

/**
 * True when `digest` is one the source tag pointed at some time (its tag index has it): a target holding it
 * holds an earlier revision of this very tag, pushed from here, not someone else's image.
 */
export async function tagOnceHeld(v2: string, repository: string, tag: string, digest: string): Promise<boolean> {
  if (!isDigest(digest)) return false;
  const link = path.join(v2, 'repositories', repository, '_manifests/tags', tag, 'index/sha256', digest.slice('sha256:'.length), 'link');
  try {
    // lstat: a symlink is nothing a registry writes, so it proves nothing.
    return (await lstat(link)).isFile();
  } catch {
    return false;
  }
}

/**
 * The manifests a repository holds (its revision links, `_manifests/revisions/sha256/<hex>/link`), sorted: tagged or
 * not. A link directory whose name is not 64 hex is ignored (not something a registry writes). Rejects as readdir does.
 */
export async function listRevisions(v2: string, repository: string): Promise<Digest[]> {
  const dir = path.join(v2, 'repositories', repository, '_manifests/revisions/sha256');
  const names = await readdir(dir);
  return names.map((hex) => `sha256:${hex}`).filter(isDigest).sort();
}
