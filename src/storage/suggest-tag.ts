/**
 * "Did you mean" for tags-file entries the storage does not hold: the nearest repository and tag names
 * found on disk. Read-only (lstat and opendir, nothing opened for writing) and constant in memory: a
 * directory is streamed and only the best name so far is kept, so a repository of 500k tags costs one
 * pass, not a list of names. Symlinked directories are never followed (a registry writes none).
 * Layout: repositories/<name>/_manifests/tags/<tag>/ (distribution registry/storage/paths.go).
 */
import type { Dirent } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import { createNearest } from '../core/edit-distance.js';
import { repositoryNameProblem, tagProblem } from '../core/reference.js';
import { literalOf, type SelectorEntry } from '../core/selection.js';

/** Entries given a suggestion per run: each may stream a directory of 500k names, and 20 show the pattern of a typo. */
export const MAX_SUGGESTED_ENTRIES = 20;

/**
 * The nearest storage name to an entry that matched nothing: `repository:tag`, or `repository` alone when
 * only the repository was mistyped (or the entry has no tag); undefined when nothing is close enough or the
 * entry's own names exist. Best effort: an unreadable directory means no suggestion, never an error.
 */
export async function suggestFor(v2: string, entry: { repository: string; tag?: string }): Promise<string | undefined> {
  return suggestIn(directoryTree(path.join(v2, 'repositories')), entry);
}

/**
 * A view of `repositories/` for suggestions, paths relative to it with `/`: on disk, or in a bucket where a
 * "directory" is a key prefix.
 */
export interface SuggestTree {
  isDirectory(rel: string): Promise<boolean>;
  /** The nearest name to `target` among the subdirectories of `rel` not starting with `_`. */
  nearestChild(rel: string, target: string): Promise<string | undefined>;
}

/** suggestFor over any SuggestTree (a bucket's, for one). */
export async function suggestIn(tree: SuggestTree, entry: { repository: string; tag?: string }): Promise<string | undefined> {
  // Validated names only: no '..' or empty component can walk out of the storage.
  if (repositoryNameProblem(entry.repository) !== undefined) return undefined;
  const tag = entry.tag !== undefined && tagProblem(entry.tag) === undefined ? entry.tag : undefined;
  try {
    const found = await nearestRepository(tree, entry.repository.split('/'));
    if (found === undefined) return undefined;
    const renamed = found.name !== entry.repository;
    const tagsDir = `${found.name}/_manifests/tags`;
    if (!(await tree.isDirectory(`${found.name}/_manifests`)) || !(await tree.isDirectory(tagsDir))) return undefined;
    if (tag === undefined || (await tree.isDirectory(`${tagsDir}/${tag}`))) return renamed ? joinName(found.name, tag) : undefined;
    const nearTag = await tree.nearestChild(tagsDir, tag);
    if (nearTag !== undefined) return `${found.name}:${nearTag}`;
    return renamed ? found.name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * suggestFor for the first MAX_SUGGESTED_ENTRIES glob-free entries of `entries` (selector.unmatched()),
 * one at a time; digest entries get `repository@sha256:…`. The map feeds selectionProblems.
 */
export function suggestionsFor(v2: string, entries: readonly SelectorEntry[], limit = MAX_SUGGESTED_ENTRIES): Promise<Map<SelectorEntry, string>> {
  const tree = directoryTree(path.join(v2, 'repositories'));
  return suggestionsIn((entry) => suggestIn(tree, entry), entries, limit);
}

/** suggestionsFor with any way to suggest one entry. */
export async function suggestionsIn(
  suggest: (entry: { repository: string; tag?: string }) => Promise<string | undefined>,
  entries: readonly SelectorEntry[],
  limit = MAX_SUGGESTED_ENTRIES,
): Promise<Map<SelectorEntry, string>> {
  const suggestions = new Map<SelectorEntry, string>();
  let asked = 0;
  for (const entry of entries) {
    const name = literalOf(entry);
    if (name === undefined) continue;
    if (asked++ >= limit) break;
    const suggestion = await suggest(name);
    if (suggestion === undefined) continue;
    // A repository found for a digest entry keeps the digest: the suggestion is a line to paste.
    suggestions.set(entry, name.digest !== undefined && !suggestion.includes(':') ? `${suggestion}@${name.digest}` : suggestion);
  }
  return suggestions;
}

const joinName = (repository: string, tag: string | undefined): string => (tag === undefined ? repository : `${repository}:${tag}`);

/**
 * Walks `components` down from `root`, keeping each one that exists as a real directory and replacing the
 * first (and any later) missing one by its nearest sibling; undefined when a missing one has none close enough.
 */
async function nearestRepository(tree: SuggestTree, components: readonly string[]): Promise<{ name: string } | undefined> {
  const names: string[] = [];
  for (const component of components) {
    const dir = names.join('/');
    const here = dir === '' ? component : `${dir}/${component}`;
    const next = (await tree.isDirectory(here)) ? component : await tree.nearestChild(dir, component);
    if (next === undefined) return undefined;
    names.push(next);
  }
  return { name: names.join('/') };
}

/** `repositories/` on disk: real directories only (a symlink is not followed), streamed. */
function directoryTree(root: string): SuggestTree {
  const abs = (rel: string) => (rel === '' ? root : path.join(root, rel));
  return {
    isDirectory: (rel) => isRealDirectory(abs(rel)),
    async nearestChild(rel, target) {
      const nearest = createNearest(target);
      // opendir streams the directory (readdir would hold every name) and closes it when the loop ends.
      for await (const dirent of await opendir(abs(rel))) {
        if (isCandidate(dirent)) nearest.offer(dirent.name);
      }
      return nearest.best();
    },
  };
}

/** Dirent types come from lstat semantics: a symlink to a directory is not a directory here. */
const isCandidate = (dirent: Dirent): boolean => dirent.isDirectory() && !dirent.name.startsWith('_');

async function isRealDirectory(p: string): Promise<boolean> {
  const info = await lstat(p).catch(() => undefined);
  return info?.isDirectory() === true;
}
