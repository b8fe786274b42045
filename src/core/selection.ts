/**
 * Which tags a run works on: a tags file (`repository:tag`, `repository`, `repository@sha256:<hex>`, or
 * globs such as `proj/*:v1.*` and `library/**`) and `--exclude` patterns of the same syntax; and what a
 * finished selection must report (selectionProblems). Pure.
 */
import picomatch from 'picomatch';
import { UsageError } from '../errors.js';
import { repositoryNameProblem, tagProblem } from './reference.js';
import type { Digest, TagRef } from './types.js';

export interface SelectorEntry {
  /** The entry as written. */
  text: string;
  /** `file:line` for messages. */
  where: string;
  matchRepository: (repository: string) => boolean;
  /** False for every tag of a digest entry: which tags it names is known only from their links (selectByDigest). */
  matchTag: (tag: string) => boolean;
  /**
   * True when the entry names exactly one repository:tag (no glob), or is a digest entry
   * (`repository@sha256:…`): unmatched means missing from storage.
   */
  exact: boolean;
  /** Set for `repository@sha256:<hex>`: the entry names the tags of the repository whose link holds this digest. */
  digest?: Digest;
}

export interface Selection {
  include?: SelectorEntry[];
  exclude: SelectorEntry[];
}

/** picomatch metacharacters, extglob groups `+(a|b)` and `@(a|b)` included: a part holding one is a glob. */
const GLOB_CHARS = /[*?[\]{}!()|]/;
const PICOMATCH_OPTIONS = { dot: true, nobrace: false } as const;

/**
 * Characters picomatch reads literally: a part made only of these, and not starting with `./` (which
 * picomatch strips), matches exactly the string it is (checked with picomatch 4 on POSIX for every
 * string of up to five of `a . / - _ :`). Anything else is run as a matcher: still right, only slower.
 * Every entry that passes validation and holds no glob is literal; the check stays for hand-made entries.
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
const noTag = (): boolean => false;

/**
 * What an entry from parseSelector names when it is no glob: one tag, every tag of a repository
 * (no tag, no digest), or the tags of a repository whose current manifest is `digest`.
 */
export interface EntryName {
  repository: string;
  tag?: string;
  digest?: Digest;
}
/** Filled by parseSelector; entries built elsewhere are not in it and are run as matchers. */
const literals = new WeakMap<SelectorEntry, EntryName>();

/** The repository (and tag or digest) a glob-free entry from parseSelector names; undefined for globs and hand-made entries. */
export function literalOf(entry: SelectorEntry): EntryName | undefined {
  return literals.get(entry);
}

/** One line of a tags file (or one --exclude) that is not an entry. */
export interface EntryProblem {
  where: string;
  text: string;
  reason: string;
}

/** A tags file with bad lines: every problem as a field, the first MAX_LISTED_PROBLEMS in the message. */
export class TagsFileError extends UsageError {
  readonly problems: EntryProblem[];
  constructor(problems: EntryProblem[]) {
    const shown = problems.slice(0, MAX_LISTED_PROBLEMS).map(describeEntryProblem);
    if (problems.length > shown.length) shown.push(`… and ${problems.length - shown.length} more entries that are not valid`);
    super(shown.join('\n'));
    this.problems = problems;
  }
}
/** Enough to see the pattern of a broken file (a wrong separator on every line) without flooding cron mail. */
const MAX_LISTED_PROBLEMS = 20;

const describeEntryProblem = (p: EntryProblem): string => `${p.where}: ${JSON.stringify(p.text)} is not repository[:tag] (${p.reason})`;

/** Parses one `repository[:tag]` or `repository@sha256:<hex>` entry; globs follow picomatch (`*` stays within a path component, `**` crosses). */
export function parseSelector(text: string, where: string): SelectorEntry {
  const parsed = splitEntry(text);
  if ('reason' in parsed) throw new TagsFileError([{ where, text, reason: parsed.reason }]);
  const { repository: repo, tag, digest } = parsed;
  if (digest !== undefined) {
    const entry: SelectorEntry = { text, where, matchRepository: lazyMatcher(repo), matchTag: noTag, exact: true, digest };
    literals.set(entry, { repository: repo, digest });
    return entry;
  }
  const hasTag = tag !== undefined;
  const exact = hasTag && !GLOB_CHARS.test(repo) && !GLOB_CHARS.test(tag);
  if (isLiteral(repo) && (!hasTag || isLiteral(tag))) {
    const entry: SelectorEntry = { text, where, matchRepository: lazyMatcher(repo), matchTag: hasTag ? lazyMatcher(tag) : anyTag, exact };
    literals.set(entry, hasTag ? { repository: repo, tag } : { repository: repo });
    return entry;
  }
  return { text, where, matchRepository: picomatch(repo, PICOMATCH_OPTIONS), matchTag: picomatch(tag ?? '*', PICOMATCH_OPTIONS), exact };
}

/**
 * Parses a tags file: one entry a line, `#` comments and blank lines ignored, CRLF and a BOM tolerated.
 * Every line is checked before anything runs, and all bad lines are reported together (TagsFileError):
 * a typo that selects nothing would otherwise leave an image out of the rescue without a word.
 */
export function parseTagsFile(content: string, fileName: string): SelectorEntry[] {
  const entries: SelectorEntry[] = [];
  const problems: EntryProblem[] = [];
  content.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') return;
    try {
      entries.push(parseSelector(line, `${fileName}:${i + 1}`));
    } catch (error) {
      if (!(error instanceof TagsFileError)) throw error;
      problems.push(...error.problems);
    }
  });
  if (problems.length > 0) throw new TagsFileError(problems);
  return entries;
}

type SplitEntry = { repository: string; tag?: string; digest?: Digest } | { reason: string };

/** `@` then an algorithm and ':': a digest reference (a glob's `@(a|b)` has no ':' right after). */
const DIGEST_PART = /@([a-z0-9]+(?:[+._-][a-z0-9]+)*):(.*)$/i;
/** Bracket expressions such as `[0-9]` or `[A-Z]`, replaced by '?' before glob parts are checked character by character. */
const BRACKETS = /\[[^\]/]*\]/g;
/** What a glob part may hold besides the grammar: picomatch's metacharacters (no '\\' escapes: storage names need none). */
const GLOB_COMPONENT = /^[a-z0-9._*?{}!()|+@,^-]+$/;
const GLOB_TAG = /^[\w.*?{}!()|+@,^-]+$/;

/**
 * Splits an entry into repository and tag or digest, or says why it is none: literal parts must follow
 * distribution's grammar (reference.ts), glob parts are checked loosely (characters, empty components,
 * literal components), because a part that no storage name can match selects nothing without a word.
 */
function splitEntry(text: string): SplitEntry {
  if (/\s/.test(text)) {
    const parts = text.split(/\s+/);
    const joined = parts.length === 2 ? `${parts[0]}:${parts[1]}` : undefined;
    const hint = joined !== undefined && !('reason' in splitEntry(joined)) ? `; did you mean ${joined}?` : '';
    return { reason: `it holds whitespace: one entry a line, the tag after ':'${hint}` };
  }
  const digestPart = DIGEST_PART.exec(text);
  if (digestPart) return splitDigestEntry(text.slice(0, digestPart.index), digestPart[1]!, digestPart[2]!);
  // The tag is after the last ':' that is followed by no '/': repository names never hold ':'.
  const colon = text.lastIndexOf(':');
  const hasTag = colon >= 0 && !text.slice(colon + 1).includes('/');
  const repository = hasTag ? text.slice(0, colon) : text;
  const tag = hasTag ? text.slice(colon + 1) : undefined;
  const reason = entryRepositoryProblem(repository) ?? (tag === undefined ? undefined : entryTagProblem(tag));
  return reason !== undefined ? { reason } : tag === undefined ? { repository } : { repository, tag };
}

function splitDigestEntry(repository: string, algorithm: string, hex: string): SplitEntry {
  if (repository.lastIndexOf(':') > repository.lastIndexOf('/')) {
    return { reason: 'a tag and a digest: write repository:tag or repository@sha256:<hex>, not both' };
  }
  if (GLOB_CHARS.test(repository)) return { reason: 'a digest entry names one repository, not a glob' };
  if (algorithm !== 'sha256') return { reason: `only sha256 digests are stored, not ${algorithm}` };
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    return { reason: /^[0-9a-f]{64}$/i.test(hex) ? 'a digest is written in lowercase hex' : `a digest is sha256: and 64 hex digits, not ${hex.length} characters` };
  }
  const reason = entryRepositoryProblem(repository);
  return reason !== undefined ? { reason } : { repository, digest: `sha256:${hex}` };
}

/** Why the repository part of an entry (a name or a glob of names) can name no repository in a storage. */
function entryRepositoryProblem(repository: string): string | undefined {
  if (repository === '') return "the repository is empty";
  if (repository.includes(':')) {
    const first = repository.split('/')[0]!;
    return first.includes(':') && repository.includes('/')
      ? "a repository name holds no ':': write it as stored, without the registry's host:port"
      : "more than one ':': a repository name holds none, the tag follows the only one";
  }
  // Brackets may hold ranges such as [A-Z]; outside them an uppercase letter can match no stored name.
  const plain = repository.replace(BRACKETS, '?');
  if (/[A-Z]/.test(plain)) {
    const lower = repository.toLowerCase();
    const hint = GLOB_CHARS.test(lower) || repositoryNameProblem(lower) === undefined ? `: ${lower}` : '';
    return `repository names are lowercase${hint}`;
  }
  if (!GLOB_CHARS.test(repository)) return repositoryNameProblem(repository);
  for (const component of plain.split('/')) {
    if (component === '') return "an empty path component ('//', or '/' at an end)";
    if (!GLOB_CHARS.test(component)) {
      const problem = repositoryNameProblem(component);
      if (problem !== undefined) return problem;
    } else if (!GLOB_COMPONENT.test(component)) {
      return `path component ${JSON.stringify(component)} holds characters no repository name has`;
    }
  }
  return undefined;
}

/** Why the tag part of an entry (a tag or a glob of tags) can name no tag. */
function entryTagProblem(tag: string): string | undefined {
  if (tag === '') return "the tag after ':' is empty";
  if (!GLOB_CHARS.test(tag)) return tagProblem(tag);
  return GLOB_TAG.test(tag.replace(BRACKETS, '?')) ? undefined : `the tag glob ${JSON.stringify(tag)} holds characters no tag has`;
}

/**
 * `pending-digest`: the repository has digest entries (`repository@sha256:…`), so the verdict waits for
 * the tag's link: read it and call selectByDigest. Callers that do not are safe: the tag is not selected.
 */
export type SelectVerdict = { selected: true } | { selected: false; reason: 'not-listed' | 'excluded' | 'pending-digest'; by?: string };

/** An entry and its place in its list (include or exclude), so that the first match of a list is known. */
interface Ranked {
  entry: SelectorEntry;
  rank: number;
}

/**
 * A list of entries arranged so that matching a tag costs the same however long the list is: exact
 * `repository:tag` entries by that key, repository entries by repository, digest entries by
 * `repository@digest`; only globs are run one by one.
 */
interface EntryIndex {
  /** Key `repository:tag`; every entry of a key names exactly that tag. */
  exact: Map<string, Ranked[]>;
  /** Repository entries: every tag of the repository. */
  byRepository: Map<string, Ranked[]>;
  /** Key `repository@digest`. */
  byDigest: Map<string, Ranked[]>;
  /** Repositories with digest entries: their tags wait for their links. */
  digestRepositories: Set<string>;
  /** Globs (and entries not from parseSelector), in list order. */
  globs: Ranked[];
}

const tagKey = (repository: string, tag: string): string => `${repository}:${tag}`;
const digestKey = (repository: string, digest: string): string => `${repository}@${digest}`;

function indexEntries(entries: readonly SelectorEntry[]): EntryIndex {
  const index: EntryIndex = { exact: new Map(), byRepository: new Map(), byDigest: new Map(), digestRepositories: new Set(), globs: [] };
  const add = (map: Map<string, Ranked[]>, key: string, ranked: Ranked): void => {
    const list = map.get(key);
    if (list) list.push(ranked);
    else map.set(key, [ranked]);
  };
  entries.forEach((entry, rank) => {
    const literal = literals.get(entry);
    if (!literal) index.globs.push({ entry, rank });
    else if (literal.digest !== undefined) {
      add(index.byDigest, digestKey(literal.repository, literal.digest), { entry, rank });
      index.digestRepositories.add(literal.repository);
    } else if (literal.tag === undefined) add(index.byRepository, literal.repository, { entry, rank });
    else add(index.exact, tagKey(literal.repository, literal.tag), { entry, rank });
  });
  return index;
}

/**
 * The entries of `index` that match `ref` (whose link holds `digest`, when known), each list in rank order.
 * A key may be shared by several `repository:tag` splits (`a:b` + `c` and `a` + `b:c`), so found entries
 * are compared in full.
 */
function* matching(index: EntryIndex, ref: TagRef, digest?: string): Generator<Ranked> {
  for (const r of index.exact.get(tagKey(ref.repository, ref.tag)) ?? []) {
    const literal = literals.get(r.entry);
    if (literal?.repository === ref.repository && literal.tag === ref.tag) yield r;
  }
  for (const r of index.byRepository.get(ref.repository) ?? []) if (r.entry.matchTag(ref.tag)) yield r;
  if (digest !== undefined) yield* index.byDigest.get(digestKey(ref.repository, digest)) ?? [];
  for (const r of index.globs) if (r.entry.matchRepository(ref.repository) && r.entry.matchTag(ref.tag)) yield r;
}

/** Final verdicts so far (a pending-digest verdict counts once decided). */
export interface SelectTally {
  selected: number;
  notListed: number;
  excluded: number;
}

export interface Selector {
  /** The verdict for a tag; `pending-digest` when digest entries need the tag's current digest first. */
  select(ref: TagRef): SelectVerdict;
  /**
   * The verdict for a tag whose link holds `digest` (undefined when the link is unreadable or invalid:
   * digest entries then match nothing). Never pending. Call it once per tag, as select.
   */
  selectByDigest(ref: TagRef, digest: string | undefined): SelectVerdict;
  /** Include entries that matched no tag so far, in list order. */
  unmatched(): SelectorEntry[];
  /** How many tags got each final verdict. */
  tally(): SelectTally;
}

/** A matcher that also records which include entries matched something. */
export function createSelector(selection: Selection): Selector {
  const include = selection.include && { entries: selection.include, index: indexEntries(selection.include) };
  const exclude = indexEntries(selection.exclude);
  const hits = new Set<SelectorEntry>();
  const counts: SelectTally = { selected: 0, notListed: 0, excluded: 0 };
  const decide = (ref: TagRef, digest: string | undefined): SelectVerdict => {
    if (include) {
      let listed = false;
      for (const r of matching(include.index, ref, digest)) {
        hits.add(r.entry);
        listed = true;
      }
      if (!listed) {
        counts.notListed++;
        return { selected: false, reason: 'not-listed' };
      }
    }
    // The first exclude in list order names the verdict.
    let by: Ranked | undefined;
    for (const r of matching(exclude, ref, digest)) if (!by || r.rank < by.rank) by = r;
    if (by) {
      counts.excluded++;
      return { selected: false, reason: 'excluded', by: by.entry.text };
    }
    counts.selected++;
    return { selected: true };
  };
  return {
    select(ref) {
      // Even a tag another entry selects waits: its digest entry must be counted as matched.
      if (include?.index.digestRepositories.has(ref.repository) || exclude.digestRepositories.has(ref.repository)) {
        return { selected: false, reason: 'pending-digest' };
      }
      return decide(ref, undefined);
    },
    selectByDigest: decide,
    unmatched: () => (include?.entries ?? []).filter((e) => !hits.has(e)),
    tally: () => ({ ...counts }),
  };
}

/*
 * Exit codes for the selection, a decision for the whole tool (README "Exit codes"):
 * - `listed-missing` → the run is partial (exit 4, EXIT.partial) even when every selected image went through:
 *   the tags file names something the storage does not hold (an exact `repository:tag`, a `repository@sha256:…`
 *   no tag points to, or a plain `repository` with no tag). Either the registry lost it or the line has a typo;
 *   in a DR job both are data loss that cron must not report as success.
 * - `nothing-selected` → exit 4 too: the tags file or --exclude left no tag, so the run did nothing.
 * - `glob-unmatched` → a warning only (exit unchanged): a glob promises no particular image, and lists shared by
 *   several storages (`proj/*:v1.*`) are expected to match nothing in some of them.
 */
export type SelectionProblemCode = 'listed-missing' | 'glob-unmatched' | 'nothing-selected';

export interface SelectionProblem {
  code: SelectionProblemCode;
  /** `partial`: the run exits 4 (EXIT.partial); `warning`: reported, exit unchanged. */
  severity: 'partial' | 'warning';
  /** One line, starting with `where` when there is one. */
  message: string;
  /** `file:line` of the entry (`--exclude #n` never: only the include list is checked); absent for nothing-selected. */
  where?: string;
  /** The entry as written. */
  entry?: string;
}

/** What a finished scan tells about the selection. */
export interface SelectionCounts {
  /** Tags found in the storage. */
  scanned: number;
  /** Tags the run went on with, accessories that followed their image included. */
  selected: number;
  /** Tags --exclude removed: selector.tally().excluded. */
  excluded: number;
  /**
   * The tags file, when there is one: its name (messages about its entries), its path as the run resolved it, how many
   * entries it holds, and its size in bytes. A file without entries selects nothing, whatever the storage holds.
   */
  tagsFile?: { name: string; path: string; entries: number; bytes: number };
  /** Exact entries left out because they name repositories of other shards (--shard): the selection lies there. */
  inOtherShards?: number;
}

/**
 * The selection problems of a finished scan, in list order, nothing-selected last: `unmatched` from
 * selector.unmatched(), `suggestions` the nearest storage names of some entries (storage/suggest-tag.ts).
 * Call it only when the scan ran to the end: an interrupted scan has not seen every tag.
 */
export function selectionProblems(
  unmatched: readonly SelectorEntry[],
  counts: SelectionCounts,
  suggestions: ReadonlyMap<SelectorEntry, string> = new Map(),
): SelectionProblem[] {
  const problems: SelectionProblem[] = unmatched.map((entry) => {
    const name = literalOf(entry);
    const suggestion = suggestions.get(entry);
    const mean = suggestion !== undefined ? `did you mean ${suggestion}?` : undefined;
    if (!entry.exact && name === undefined) {
      return { code: 'glob-unmatched', severity: 'warning', where: entry.where, entry: entry.text, message: `${entry.where}: ${entry.text} matched no tag in the storage` };
    }
    const why =
      name?.digest !== undefined ? `no tag of ${name.repository} points to it`
      : name !== undefined && name.tag === undefined ? 'no tag of that repository'
      : undefined;
    const detail = [why, mean].filter((s) => s !== undefined).join('; ');
    const message = `${entry.where}: ${entry.text} is not in the storage${detail === '' ? '' : ` (${detail})`}`;
    return { code: 'listed-missing', severity: 'partial', where: entry.where, entry: entry.text, message };
  });
  if (counts.selected === 0 && !(counts.inOtherShards ?? 0)) problems.push({ code: 'nothing-selected', severity: 'partial', message: nothingSelected(counts) });
  return problems;
}

function nothingSelected({ scanned, excluded, tagsFile: file }: SelectionCounts): string {
  const tags = (n: number) => `${n} tag${n === 1 ? '' : 's'}`;
  // First: whatever the storage holds, an empty list is the cause, and in a cron job it means the job that writes
  // the list broke (`no entry … matched any of the 30 tags` read as a list naming the wrong tags).
  if (file !== undefined && file.entries === 0) {
    const what = file.bytes === 0 ? 'is empty (0 bytes)' : `holds no entry, only comments and blank lines (${file.bytes} bytes)`;
    return `nothing selected: the tags file ${file.path} ${what}; the job that writes it may have failed`;
  }
  if (scanned === 0) return 'nothing selected: the storage holds no tags';
  if (excluded > 0) {
    return file !== undefined
      ? `nothing selected: --exclude removed all ${tags(excluded)} that ${file.name} listed`
      : `nothing selected: --exclude removed all ${tags(excluded)} in the storage`;
  }
  return file !== undefined
    ? `nothing selected: no entry of ${file.name} matched any of the ${tags(scanned)} in the storage`
    : 'nothing selected';
}

/** What selection problems add to a run's issues; the exit code itself is core/results.ts exitCodeForRun's. */
export function selectionIssues(problems: readonly { code: SelectionProblemCode }[]): { listedMissing: number; nothingSelected: boolean } {
  return {
    listedMissing: problems.filter((p) => p.code === 'listed-missing').length,
    nothingSelected: problems.some((p) => p.code === 'nothing-selected'),
  };
}
