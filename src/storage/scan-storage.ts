/**
 * Finds the storage root and walks `repositories/` for tags, streaming them as they are found.
 * A repository is any directory holding `_manifests/tags/` (storage-and-skopeo.md §2.2), at any
 * depth, including one inside another repository's directory. The walk never descends into
 * `_layers`, `_uploads`, `_manifests/revisions` or a tag's own subtree.
 */
import type { Dirent } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { entryKind, lstat, readdir } from './fast-fs.js';
import path from 'node:path';
import { PreflightError } from '../errors.js';
import { compareStrings } from '../core/order.js';
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

/** Directories read ahead of the walk, per level: enough to keep the disk busy on a cold cache. */
const PREFETCH = 16;

/** One repository and its tag names, sorted. */
export interface RepositoryTags {
  repository: string;
  tags: string[];
}

/** One directory of `repositories/`: its subdirectories (sorted, full relative names) and, for a repository, its tags (sorted). */
export interface Visit {
  children: string[];
  tags?: string[];
}

/**
 * Streams every repository under `<v2>/repositories` with its tags, in tree order: a repository's own tags
 * (sorted), then its nested repositories, siblings sorted by name (compareTagRefs). A hand-written walk, not
 * a glob: it reads each repository's `_manifests/tags/` once and never opens a tag's own directory.
 * Sorted, so every output can be written as results come instead of sorted at the end; read ahead, so a
 * cold disk has many requests in flight. `_`-prefixed directories (`_layers`, `_uploads`, `_manifests`)
 * are registry bookkeeping, never descended into as repositories; symlinked directories are not followed.
 */
export function scanRepositories(v2: string, onError: (message: string) => void = () => {}): AsyncGenerator<RepositoryTags> {
  const root = path.join(v2, 'repositories');
  return walkRepositories((rel) => visitDir(root, rel, onError));
}

/**
 * The tree-order walk behind scanRepositories, over any storage: `visit(rel)` reads one directory of
 * `repositories/` ('' for the top). Up to PREFETCH siblings are visited ahead of the one being yielded.
 */
export async function* walkRepositories(visit: (rel: string) => Promise<Visit>, prefetch = PREFETCH): AsyncGenerator<RepositoryTags> {
  async function* walk(rel: string, visiting: Promise<Visit>): AsyncGenerator<RepositoryTags> {
    const { children, tags } = await visiting;
    if (tags) yield { repository: rel, tags };
    const ahead: Promise<Visit>[] = [];
    let started = 0;
    for (let i = 0; i < children.length; i++) {
      while (started < children.length && started - i < prefetch) {
        const p = visit(children[started++] as string);
        p.catch(() => {});
        ahead.push(p);
      }
      yield* walk(children[i] as string, ahead.shift() as Promise<Visit>);
    }
  }
  yield* walk('', visit(''));
}

/** Every tag, in tree order (see scanRepositories). */
export async function* scanTags(v2: string, onError: (message: string) => void = () => {}): AsyncGenerator<TagRef> {
  for await (const { repository, tags } of scanRepositories(v2, onError)) {
    for (const tag of tags) yield { repository, tag };
  }
}

/**
 * Reads one directory: its tags if it is a repository, and the subdirectories that may hold more, both sorted.
 * Distribution writes only directories down to a tag: an entry of another type where a repository, its
 * `_manifests`, its `tags` or a tag should be is reported (onError, naming the path) and never followed, since
 * a symlink could lead anywhere on the host. Plain files among repositories hide nothing and are left alone.
 */
async function visitDir(root: string, rel: string, onError: (message: string) => void): Promise<Visit> {
  const where = (name: string) => `repositories/${rel === '' ? '' : `${rel}/`}${name}`;
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
    if (!e.isDirectory()) {
      if (e.name === '_manifests' && rel !== '') onError(`${where(e.name)} is ${entryKind(e)}, not a directory; the tags of ${rel} are not listed`);
      else if (!e.name.startsWith('_') && !e.isFile()) onError(`${where(e.name)} is ${entryKind(e)}, where a repository directory should be; not followed, so any repository below it is not listed`);
      continue;
    }
    if (e.name === '_manifests') isRepository = rel !== '';
    else if (!e.name.startsWith('_')) children.push(rel === '' ? e.name : `${rel}/${e.name}`);
  }
  children.sort(compareStrings);
  if (!isRepository) return { children };
  // readdir follows a symlinked tags directory: lstat it first (once per repository).
  const tagsDir = `${rel}/_manifests/tags`;
  const info = await lstat(path.join(root, tagsDir)).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error) {
    if (info.code !== 'ENOENT') onError(`cannot read repositories/${tagsDir} (${info.code ?? info.message}); the tags of ${rel} are not listed`);
    return { children };
  }
  if (!info.isDirectory()) {
    // Named by its type, as for `_manifests`: "not a directory" alone would read "not a directory, not a directory".
    const consequence = info.isSymbolicLink() ? 'not followed, so the tags' : 'the tags';
    onError(`repositories/${tagsDir} is ${entryKind(info)}, not a directory; ${consequence} of ${rel} are not listed`);
    return { children };
  }
  const tags: string[] = [];
  for (const e of await list(tagsDir)) {
    if (e.isDirectory()) tags.push(e.name);
    else onError(`repositories/${tagsDir}/${e.name} is ${entryKind(e)}, not a tag directory; tag ${JSON.stringify(e.name)} of ${rel} is not listed`);
  }
  return { children, tags: tags.sort(compareStrings) };
}
