/**
 * Which tags a run works on: a tags file (`repository:tag`, `repository`, or globs such as
 * `proj/*:v1.*` and `library/**`) and `--exclude` patterns of the same syntax. Pure.
 */
import picomatch from 'picomatch';
import { UsageError } from '../errors.js';
import type { TagRef } from './types.js';

export interface SelectorEntry {
  /** The entry as written. */
  text: string;
  /** `file:line` for messages. */
  where: string;
  matchRepository: (repository: string) => boolean;
  matchTag: (tag: string) => boolean;
  /** True when the entry names exactly one repository:tag (no glob): unmatched means missing from storage. */
  exact: boolean;
}

export interface Selection {
  include?: SelectorEntry[];
  exclude: SelectorEntry[];
}

const GLOB_CHARS = /[*?[\]{}!]/;

/** Parses one `repository[:tag]` entry; globs follow picomatch (`*` stays within a path component, `**` crosses). */
export function parseSelector(text: string, where: string): SelectorEntry {
  // The tag is after the last ':' that is followed by no '/': repository names never hold ':'.
  const colon = text.lastIndexOf(':');
  const hasTag = colon >= 0 && !text.slice(colon + 1).includes('/');
  const repo = hasTag ? text.slice(0, colon) : text;
  const tag = hasTag ? text.slice(colon + 1) : '*';
  if (repo === '' || tag === '') throw new UsageError(`${where}: ${JSON.stringify(text)} is not repository, repository:tag or a glob of them`);
  const opts = { dot: true, nobrace: false } as const;
  return {
    text,
    where,
    matchRepository: picomatch(repo, opts),
    // A tag never holds '/', so '*' covers every tag.
    matchTag: picomatch(tag, opts),
    exact: hasTag && !GLOB_CHARS.test(repo) && !GLOB_CHARS.test(tag),
  };
}

/** Parses a tags file: one entry a line, `#` comments and blank lines ignored. */
export function parseTagsFile(content: string, fileName: string): SelectorEntry[] {
  const entries: SelectorEntry[] = [];
  content.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line !== '') entries.push(parseSelector(line, `${fileName}:${i + 1}`));
  });
  return entries;
}

export type SelectVerdict = { selected: true } | { selected: false; reason: 'not-listed' | 'excluded'; by?: string };

/** A matcher that also records which include entries matched something. */
export function createSelector(selection: Selection): { select(ref: TagRef): SelectVerdict; unmatched(): SelectorEntry[] } {
  const hits = new Set<SelectorEntry>();
  const matches = (e: SelectorEntry, ref: TagRef) => e.matchRepository(ref.repository) && e.matchTag(ref.tag);
  return {
    select(ref) {
      if (selection.include) {
        const hit = selection.include.filter((e) => matches(e, ref));
        if (hit.length === 0) return { selected: false, reason: 'not-listed' };
        for (const e of hit) hits.add(e);
      }
      const ex = selection.exclude.find((e) => matches(e, ref));
      if (ex) return { selected: false, reason: 'excluded', by: ex.text };
      return { selected: true };
    },
    unmatched: () => (selection.include ?? []).filter((e) => !hits.has(e)),
  };
}
