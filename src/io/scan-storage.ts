/**
 * Finds the storage root and walks `repositories/` for tags, streaming them as they are found.
 * A repository is any directory holding `_manifests/tags/` (storage-and-skopeo.md §2.2), at any
 * depth, including one inside another repository's directory. The walk never descends into
 * `_layers`, `_uploads`, `_manifests/revisions` or a tag's own subtree.
 */
import type { Dirent } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { readdir } from './fast-fs.js';
import path from 'node:path';
import { PreflightError } from '../errors.js';
import type { TagRef } from '../core/types.js';

export interface StorageRoot {
  /** What the user gave, resolved. */
  given: string;
  /** Absolute path of `docker/registry/v2`. */
  v2: string;
  /** The volume root (the registry's `rootdirectory`), holding `docker/`. */
  root: string;
}

// The volume root, …/docker/registry, or …/docker/registry/v2 (the forms people copy from Harbor's docs and PVC mounts).
const CANDIDATES = ['docker/registry/v2', 'v2', ''];

/** Accepts the volume root, `…/docker/registry` or `…/docker/registry/v2`; anything else is a PreflightError. */
export async function locateStorage(given: string, cwd: string): Promise<StorageRoot> {
  const abs = path.resolve(cwd, given);
  const info = await stat(abs).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new PreflightError(`storage ${abs} does not exist or is not a directory`);
  }
  for (const suffix of CANDIDATES) {
    const v2 = path.join(abs, suffix);
    if (path.basename(v2) !== 'v2') continue;
    const repos = await stat(path.join(v2, 'repositories')).catch(() => undefined);
    const blobs = await stat(path.join(v2, 'blobs')).catch(() => undefined);
    if (repos?.isDirectory() && blobs?.isDirectory()) {
      // The real path, so symlinked layouts point at the blobs themselves, not through a link that may move.
      const real = await realpath(v2);
      return { given: abs, v2: real, root: path.resolve(real, '../../..') };
    }
  }
  throw new PreflightError(
    `no registry storage found at ${abs}: looked for docker/registry/v2/{repositories,blobs} in it ` +
      `(give the volume root such as /data/registry, or …/docker/registry, or …/docker/registry/v2)`,
  );
}

/** Directories read at once during the walk. */
const WALK_CONCURRENCY = 16;

interface Visit {
  children: string[];
  tags: TagRef[];
}

/**
 * Streams every tag under `<v2>/repositories`, in no particular order. A hand-written walk rather than a
 * glob: it reads each repository's `_manifests/tags/` once and never opens a tag's own directory, which
 * made the walk of 10k tags about eight times faster than the fast-glob pattern it replaced (npm run bench).
 * `_`-prefixed directories (`_layers`, `_uploads`, `_manifests`) are registry bookkeeping, never descended
 * into as repositories; symlinked directories are not followed.
 */
export async function* scanTags(v2: string, onError: (message: string) => void = () => {}): AsyncGenerator<TagRef> {
  const root = path.join(v2, 'repositories');
  const queue: string[] = [''];
  const running = new Map<number, Promise<{ key: number; visit: Visit }>>();
  let next = 0;
  while (queue.length > 0 || running.size > 0) {
    while (queue.length > 0 && running.size < WALK_CONCURRENCY) {
      const key = next++;
      running.set(key, visitDir(root, queue.pop() as string, onError).then((visit) => ({ key, visit })));
    }
    const { key, visit } = await Promise.race(running.values());
    running.delete(key);
    queue.push(...visit.children);
    yield* visit.tags;
  }
}

/** Reads one directory: its tags if it is a repository, and the subdirectories that may hold more. */
async function visitDir(root: string, rel: string, onError: (message: string) => void): Promise<Visit> {
  // An unreadable directory may hide repositories: say so instead of silently exporting less.
  const list = (dir: string) =>
    readdir(path.join(root, dir), { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') onError(`cannot read repositories/${dir} (${error.code ?? error.message}); tags below it are not listed`);
      return [] as Dirent[];
    });
  const entries = await list(rel);
  const children: string[] = [];
  let isRepository = false;
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (e.name === '_manifests') isRepository = rel !== '';
    else if (!e.name.startsWith('_')) children.push(rel === '' ? e.name : `${rel}/${e.name}`);
  }
  if (!isRepository) return { children, tags: [] };
  const tagEntries = await list(`${rel}/_manifests/tags`);
  return { children, tags: tagEntries.filter((e) => e.isDirectory()).map((e) => ({ repository: rel, tag: e.name })) };
}
