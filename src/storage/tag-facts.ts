/**
 * Two facts about a tag that Distribution records beside its current link (registry/storage/tagstore.go,
 * paths.go), read without opening anything for writing:
 *
 * - its history: every digest the tag ever pointed at has a link at
 *   `_manifests/tags/<tag>/index/sha256/<hex>/link` (kept when the tag moves, until the tag is deleted);
 * - its push time: the tag's `current/link` is rewritten on every push of the tag, so its mtime is when the
 *   old registry last pushed it (what Harbor's push-time retention rules ordered by).
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { isDigest, tagLinkPath } from '../core/digest.js';

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

/** The mtime (ms) of a tag's current link, or undefined when it cannot be read (the tag is broken anyway). */
export async function tagPushTime(v2: string, repository: string, tag: string): Promise<number | undefined> {
  try {
    return (await lstat(path.join(v2, tagLinkPath(repository, tag)))).mtimeMs;
  } catch {
    return undefined;
  }
}
