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
const PICOMATCH_OPTIONS = { dot: true, nobrace: false } as const;

/**
 * Characters picomatch reads literally: a part made only of these, and not starting with `./` (which
 * picomatch strips), matches exactly the string it is (checked with picomatch 4 on POSIX for every
 * string of up to five of `a . / - _ :`). Anything else is run as a matcher: still right, only slower.
 */
const LITERAL = /^[A-Za-z0-9._:/-]+$/;
const isLiteral = (s: string): boolean => LITERAL.test(s) && !s.startsWith('./');

/** Compiles on first use: a list of 100,000 exact entries would spend seconds compiling matchers that selection never calls. */
function lazyMatcher(pattern: string): (s: string) => boolean {
  let matcher: ((s: string) => boolean) | undefined;
  return (s) => (matcher ??= picomatch(pattern, PICOMATCH_OPTIONS))(s);
}
/** Every tag: the tag part of a repository entry. A tag never holds '/', so '*' covers every tag. */
const anyTag = lazyMatcher('*');

/** What an entry from parseSelector names when it is no glob: one tag, or (tag undefined) every tag of a repository. */
interface Literal {
  repository: string;
  tag?: string;
}
/** Filled by parseSelector; entries built elsewhere are not in it and are run as matchers. */
const literals = new WeakMap<SelectorEntry, Literal>();

/** Parses one `repository[:tag]` entry; globs follow picomatch (`*` stays within a path component, `**` crosses). */
export function parseSelector(text: string, where: string): SelectorEntry {
  // The tag is after the last ':' that is followed by no '/': repository names never hold ':'.
  const colon = text.lastIndexOf(':');
  const hasTag = colon >= 0 && !text.slice(colon + 1).includes('/');
  const repo = hasTag ? text.slice(0, colon) : text;
  const tag = hasTag ? text.slice(colon + 1) : '*';
  if (repo === '' || tag === '') throw new UsageError(`${where}: ${JSON.stringify(text)} is not repository, repository:tag or a glob of them`);
  const exact = hasTag && !GLOB_CHARS.test(repo) && !GLOB_CHARS.test(tag);
  if (isLiteral(repo) && (!hasTag || isLiteral(tag))) {
    const entry: SelectorEntry = { text, where, matchRepository: lazyMatcher(repo), matchTag: hasTag ? lazyMatcher(tag) : anyTag, exact };
    literals.set(entry, hasTag ? { repository: repo, tag } : { repository: repo });
    return entry;
  }
  return { text, where, matchRepository: picomatch(repo, PICOMATCH_OPTIONS), matchTag: picomatch(tag, PICOMATCH_OPTIONS), exact };
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

/** An entry and its place in its list (include or exclude), so that the first match of a list is known. */
interface Ranked {
  entry: SelectorEntry;
  rank: number;
}

/**
 * A list of entries arranged so that matching a tag costs the same however long the list is: exact
 * `repository:tag` entries by that key, repository entries by repository; only globs are run one by one.
 */
interface EntryIndex {
  /** Key `repository:tag`; every entry of a key names exactly that tag. */
  exact: Map<string, Ranked[]>;
  /** Repository entries: every tag of the repository. */
  byRepository: Map<string, Ranked[]>;
  /** Globs (and entries not from parseSelector), in list order. */
  globs: Ranked[];
}

const tagKey = (repository: string, tag: string): string => `${repository}:${tag}`;

function indexEntries(entries: readonly SelectorEntry[]): EntryIndex {
  const index: EntryIndex = { exact: new Map(), byRepository: new Map(), globs: [] };
  const add = (map: Map<string, Ranked[]>, key: string, ranked: Ranked): void => {
    const list = map.get(key);
    if (list) list.push(ranked);
    else map.set(key, [ranked]);
  };
  entries.forEach((entry, rank) => {
    const literal = literals.get(entry);
    if (!literal) index.globs.push({ entry, rank });
    else if (literal.tag === undefined) add(index.byRepository, literal.repository, { entry, rank });
    else add(index.exact, tagKey(literal.repository, literal.tag), { entry, rank });
  });
  return index;
}

/**
 * The entries of `index` that match `ref`, each list in rank order. A key may be shared by
 * several `repository:tag` splits (`a:b` + `c` and `a` + `b:c`), so found entries are compared in full.
 */
function* matching(index: EntryIndex, ref: TagRef): Generator<Ranked> {
  for (const r of index.exact.get(tagKey(ref.repository, ref.tag)) ?? []) {
    const literal = literals.get(r.entry);
    if (literal?.repository === ref.repository && literal.tag === ref.tag) yield r;
  }
  for (const r of index.byRepository.get(ref.repository) ?? []) if (r.entry.matchTag(ref.tag)) yield r;
  for (const r of index.globs) if (r.entry.matchRepository(ref.repository) && r.entry.matchTag(ref.tag)) yield r;
}

/** A matcher that also records which include entries matched something. */
export function createSelector(selection: Selection): { select(ref: TagRef): SelectVerdict; unmatched(): SelectorEntry[] } {
  const include = selection.include && { entries: selection.include, index: indexEntries(selection.include) };
  const exclude = indexEntries(selection.exclude);
  const hits = new Set<SelectorEntry>();
  return {
    select(ref) {
      if (include) {
        let listed = false;
        for (const r of matching(include.index, ref)) {
          hits.add(r.entry);
          listed = true;
        }
        if (!listed) return { selected: false, reason: 'not-listed' };
      }
      // The first exclude in list order names the verdict.
      let by: Ranked | undefined;
      for (const r of matching(exclude, ref)) if (!by || r.rank < by.rank) by = r;
      if (by) return { selected: false, reason: 'excluded', by: by.entry.text };
      return { selected: true };
    },
    unmatched: () => (include?.entries ?? []).filter((e) => !hits.has(e)),
  };
}
