/**
 * Per-image results: the one status vocabulary of every command, one way of counting statuses, and the one
 * function from a run's counts to its exit code. Pure.
 *
 * A status means the same thing in every command and every JSON document: `broken` is damaged source
 * storage, `skipped` was left out on purpose (deleted through the API, schema1), `failed` was tried and
 * did not work, `canceled` was stopped by an interrupt, `not-attempted` was never started because the run
 * stopped (circuit breaker, --abort-on-error), `drift` found the target tag holding another image than the
 * source's (and not an earlier revision of the source's tag) and left it alone, `different` (verify) found an
 * earlier revision of the source's tag that a sync will update, `immutable-conflict` was refused by an immutable target tag.
 */

import type { Problem } from './types.js';

/** Every per-image status of list, export, sync and verify. */
export const STATUSES = [
  // list (and the source side of every command)
  'ok', 'broken', 'skipped',
  // export
  'created', 'rebuilt', 'unchanged', 'would-create', 'would-rebuild',
  // sync
  'synced', 'up-to-date', 'would-sync',
  // sync and verify: the target tag holds another image (left alone); an immutable target tag refused the push
  'drift', 'immutable-conflict',
  // verify
  'missing', 'different',
  // any command that acts
  'failed', 'canceled', 'not-attempted',
] as const;
export type Status = (typeof STATUSES)[number];

/** What a status says about the run: done (or would be), left out on purpose, bad (exit 4), or not done because the run stopped. */
export type StatusClass = 'done' | 'skipped' | 'bad' | 'undone';

const CLASS: Record<Status, StatusClass> = {
  ok: 'done',
  created: 'done',
  rebuilt: 'done',
  unchanged: 'done',
  'would-create': 'done',
  'would-rebuild': 'done',
  synced: 'done',
  'up-to-date': 'done',
  'would-sync': 'done',
  skipped: 'skipped',
  broken: 'bad',
  missing: 'bad',
  different: 'bad',
  // Both leave a selected tag not restored, and neither goes away by re-running: a person decides (--overwrite,
  // an exclusion, or lifting the immutability rule). A DR run that says 0 while the DR copy differs would lie.
  drift: 'bad',
  'immutable-conflict': 'bad',
  failed: 'bad',
  canceled: 'undone',
  'not-attempted': 'undone',
};

/** The class of a status. */
export function classOf(status: Status): StatusClass {
  return CLASS[status];
}

export type Counts = Record<Status, number>;

/** Zero for every status, so documents and metrics always carry every key. */
export function emptyCounts(): Counts {
  return Object.fromEntries(STATUSES.map((s) => [s, 0])) as Counts;
}

/** Run-level facts beside the per-image counts that also make a run partial. */
export interface RunIssues {
  /** Storage directories that could not be read: tags below them are missing from the run. */
  unreadable: number;
  /** Tags-file entries naming an exact tag (or digest) the storage does not have. */
  listedMissing: number;
  /** The selection was empty although the storage has tags. */
  nothingSelected: boolean;
  /** Why the run stopped starting work (circuit breaker, --abort-on-error), if it did. */
  stoppedEarly: StopCause | undefined;
}

/**
 * What stopped a run from starting work, as a word for monitors (the report's `summary.stoppedBy`): the target
 * unreachable or answering with its own server errors (the circuit breaker), --abort-on-error, skopeo unusable.
 */
export type StopCause = 'target-unreachable' | 'target-server-error' | 'abort-on-error' | 'skopeo-unusable';

/** The cause in a few words, for the last line (the summary above it has the whole reason). */
const STOP_WORDS: Record<StopCause, string> = {
  'target-unreachable': 'target unreachable',
  'target-server-error': 'target server errors',
  'abort-on-error': '--abort-on-error',
  'skopeo-unusable': 'skopeo cannot run',
};

export const NO_ISSUES: RunIssues = { unreadable: 0, listedMissing: 0, nothingSelected: false, stoppedEarly: undefined };

/** How many images a run did not get right: bad and undone statuses. */
export function countBad(counts: Counts): number {
  let n = 0;
  for (const s of STATUSES) if (CLASS[s] === 'bad' || CLASS[s] === 'undone') n += counts[s];
  return n;
}

/**
 * The exit code of a finished run (interrupts and preflight failures are decided in cli.ts): 4 when any
 * selected image is broken, failed, canceled or not attempted, or the run itself is incomplete; else 0.
 */
export function exitCodeForRun(counts: Counts, issues: RunIssues): 0 | 4 {
  const incomplete = issues.unreadable > 0 || issues.listedMissing > 0 || issues.nothingSelected || issues.stoppedEarly !== undefined;
  return countBad(counts) > 0 || incomplete ? 4 : 0;
}

/** `3 failed, 97 not-attempted`: the non-zero counts of the statuses whose class `include` accepts, in STATUSES order. */
function countWords(counts: Counts, include: (c: StatusClass) => boolean): string[] {
  return STATUSES.filter((s) => include(CLASS[s]) && counts[s] > 0).map((s) => `${counts[s]} ${s}`);
}

/** The run-level facts that make a run partial, in a few words each (the summary above says which). */
function issueWords(issues: RunIssues): string[] {
  const words: string[] = [];
  if (issues.listedMissing > 0) words.push(`${plural(issues.listedMissing, 'listed tag')} missing from the storage`);
  if (issues.unreadable > 0) words.push(`${plural(issues.unreadable, 'storage directory', 'storage directories')} unreadable`);
  if (issues.nothingSelected) words.push('nothing selected');
  return words;
}

/** `stopped: target unreachable` for a run the breaker or --abort-on-error stopped. */
function stopWords(issues: RunIssues): string | undefined {
  return issues.stoppedEarly !== undefined ? `stopped: ${STOP_WORDS[issues.stoppedEarly]}` : undefined;
}

const isBadOrUndone = (c: StatusClass): boolean => c === 'bad' || c === 'undone';

/**
 * The run's last line on stderr (README "Exit codes": the last log line names the outcome): the exit code, and
 * for a partial run what made it partial, so `tail -1` of a cron log tells 0 from 4 without the summary above.
 */
export function outcomeLine(counts: Counts, issues: RunIssues): string {
  const exitCode = exitCodeForRun(counts, issues);
  if (exitCode === 0) return 'registry-rescue: exit 0, done\n';
  const why = [...countWords(counts, isBadOrUndone), ...issueWords(issues)];
  // A run the breaker stopped says why in the line cron mails: `N not-attempted` alone does not tell a dead target
  // (wait, or fail over) from a full disk on it (clean it up) from --abort-on-error.
  const stop = stopWords(issues);
  const text = stop === undefined ? why.join(', ') : why.length > 0 ? `${why.join(', ')}; ${stop}` : stop;
  return `registry-rescue: exit ${exitCode}, partial: ${text} (see above)\n`;
}

/** What stopped a run from outside: `interrupted by SIGTERM` and the exit code that goes with it (cli.ts decides both). */
export interface Interrupt {
  exitCode: number;
  /** `interrupted by SIGTERM`. */
  what: string;
}

/**
 * The last line of a run a signal stopped, in outcomeLine's shape so `^registry-rescue: exit` finds it too: the
 * signal's exit code, how many selected images the run reached (every one of them is in the report, canceled ones
 * included), each status's count and what else made the run partial, since exit 130/143 hides the 4 those would
 * have given. Without counts (the run stopped before it had any, or wrote none), only the signal.
 */
export function interruptedLine(interrupt: Interrupt, counts?: Counts, issues: RunIssues = NO_ISSUES): string {
  const again = 'run the same command again to continue';
  if (counts === undefined) return `registry-rescue: exit ${interrupt.exitCode}, ${interrupt.what}; ${again}\n`;
  const reached = STATUSES.reduce((n, s) => n + counts[s], 0);
  const how = reached === 0 ? 'before any selected image' : `after ${reached} of the selected images`;
  // What was done first, then what was left out, then what was not: the order a reader weighs them in.
  const what = [...(['done', 'skipped', 'bad', 'undone'] as const).flatMap((c) => countWords(counts, (k) => k === c)), ...issueWords(issues)];
  const stop = stopWords(issues);
  return `registry-rescue: exit ${interrupt.exitCode}, ${interrupt.what} ${how}${what.length > 0 ? `: ${what.join(', ')}` : ''}${stop === undefined ? '' : `; ${stop}`}; ${again}\n`;
}

/** `1 image`, `2 images`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/**
 * Problems shown per image where a person reads them (text output, sync's and verify's reasons). A store damaged in
 * bulk can give one image hundreds (an index whose children all lost their layers); `list --json` and `export --json`
 * carry every one, with its digest and file.
 */
export const PROBLEMS_SHOWN = 10;

/** An image's problem messages for people: the first PROBLEMS_SHOWN, then one line saying how many more. */
export function problemMessages(problems: readonly Problem[]): string[] {
  const shown = problems.slice(0, PROBLEMS_SHOWN).map((p) => p.message);
  const more = problems.length - shown.length;
  if (more > 0) shown.push(`… and ${plural(more, 'more problem')} (registry-rescue list --json shows every one)`);
  return shown;
}

/** An image's problems as one reason (sync, verify). */
export function problemsReason(problems: readonly Problem[]): string {
  return problemMessages(problems).join('; ');
}

/**
 * A reason without the `repository:tag: ` each of its problem messages starts with, for a line printed under that
 * reference already. The JSON keeps the whole reason: a monitor reads each field on its own.
 */
export function localReason(reason: string, id: string): string {
  const prefix = `${id}: `;
  return (reason.startsWith(prefix) ? reason.slice(prefix.length) : reason).split(`; ${prefix}`).join('; ');
}
