/**
 * Finds the storage root and walks `repositories/` for tags, streaming them as they are found.
 * A repository is any directory holding `_manifests/tags/` (storage-and-skopeo.md §2.2), at any
 * depth, including one inside another repository's directory. The walk never descends into
 * `_layers`, `_uploads`, `_manifests/revisions` or a tag's own subtree.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import fg from 'fast-glob';
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

/** Streams every tag under `<v2>/repositories`, in no particular order. */
export async function* scanTags(v2: string): AsyncGenerator<TagRef> {
  const cwd = path.join(v2, 'repositories');
  const stream = fg.stream('**/_manifests/tags/*', {
    cwd,
    onlyDirectories: true,
    followSymbolicLinks: false,
    dot: false,
    // Never walk into blobs-link trees, uploads, revisions, or a tag's own current/ and index/ history.
    ignore: ['**/_layers/**', '**/_uploads/**', '**/_manifests/revisions/**', '**/_manifests/tags/*/index/**', '**/_manifests/tags/*/current/**'],
  });
  for await (const entry of stream) {
    const rel = String(entry);
    const marker = rel.lastIndexOf('/_manifests/tags/');
    if (marker < 0) continue;
    const repository = rel.slice(0, marker);
    const tag = rel.slice(marker + '/_manifests/tags/'.length);
    // A `_`-prefixed directory is registry bookkeeping, never a repository component.
    if (repository.split('/').some((c) => c.startsWith('_'))) continue;
    yield { repository, tag };
  }
}
