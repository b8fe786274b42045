/**
 * One run per output directory: a nightly cron run that outlasts the night must not meet the next one
 * in the same --out tree. The lock is the file `<out>/.registry-rescue.lock` holding
 * `{"pid","host","startedAt","command"}` (a dotfile: the layout listing skips dotfiles).
 *
 * - Created exclusively and complete: the JSON is written and fsynced to a temp file, then `link()`ed to
 *   the lock name, which fails with EEXIST like open(…, 'wx') but never shows a half-written lock. So an
 *   empty or unparseable lock can only be debris (disk full, an editor) and is taken over at once.
 * - Same host: the holder is alive unless `kill(pid, 0)` says ESRCH (EPERM is another user's live
 *   process). A dead holder's lock is taken over with a warning. Our own pid in the file, when this
 *   process holds no such lock, is an earlier container run (pid 1 again after a restart): stale too.
 * - Another host (a shared volume, a new Kubernetes pod each night): liveness cannot be checked, so the
 *   holder refreshes the file's mtime every `staleMs / 10` (1 min by default) while it runs, and a lock
 *   from another host is taken over once its mtime is older than `staleMs` (10 min by default). A
 *   SIGKILLed pod thus blocks the next runs for 10 minutes, not until someone removes the file.
 * - Takeover is race-safe: the stale file is renamed to a unique name, compared with what was judged
 *   stale, and linked back if another run had replaced it meanwhile; then creation is retried.
 * - Known limit: a reused pid on the same host (the holder died, an unrelated process got its pid) reads
 *   as alive; the error shows the holder's age and the file to remove.
 */
import { randomUUID } from 'node:crypto';
import { constants, linkSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../core/duration.js';
import { LockHeldError, PreflightError, type LockHolder } from '../errors.js';

export const LOCK_FILE_NAME = '.registry-rescue.lock';
/** How often a waiting run looks at the lock again. */
export const LOCK_POLL_MS = 500;
/** A lock from another host whose holder has not refreshed it for this long is taken over. */
export const OTHER_HOST_STALE_MS = 10 * 60_000;

export interface RunLock {
  file: string;
  /** Removes the lock file if it is still ours (not taken over meanwhile). Idempotent. */
  release(): Promise<void>;
  /** release() for `process.on('exit')` handlers, where nothing asynchronous runs. */
  releaseSync(): void;
}

export interface AcquireRunLockOptions {
  /** The command taking the lock (`sync`, `export`), shown to whoever finds it held. */
  command: string;
  /** Wait up to this long for the holder to finish; without it a held lock throws at once. */
  waitMs?: number;
  /**
   * When (performance.now()) the run began waiting for this lock, if before this call: `waitMs` is the whole run's
   * budget, not each call's (sync waits once before it contacts the target, and again here if a third run took the
   * lock in between).
   */
  waitStartedAt?: number;
  /** Aborts the wait, throwing `signal.reason`. */
  signal?: AbortSignal;
  /** Clock for the lock's startedAt and ages (waiting itself uses the monotonic clock). */
  now?: () => number;
  host?: string;
  pid?: number;
  /** Told about takeovers of stale locks and about losing our own lock. */
  onWarning?: (msg: string) => void;
  /** Told once, when a wait (waitMs) starts, who holds the lock: a waiting run's log does not go silent. */
  onWaiting?: (msg: string) => void;
  /** Age of the last refresh after which another host's lock is stale (default 10 min). */
  staleMs?: number;
  /** Poll interval while waiting (default 500 ms). */
  pollMs?: number;
}

/** Lock files this process holds: tells our own live lock from an earlier run's that had our pid. */
const heldHere = new Set<string>();

type Verdict =
  | { kind: 'gone' }
  | { kind: 'stale'; content: string; warning: string }
  | { kind: 'held'; holder: LockHolder; otherHost: boolean; refreshedAgoMs: number };

/** Takes the run lock of output directory `dir` (created if missing), waiting up to `waitMs` if held. */
export async function acquireRunLock(dir: string, opts: AcquireRunLockOptions): Promise<RunLock> {
  const now = opts.now ?? Date.now;
  const host = opts.host ?? os.hostname();
  const pid = opts.pid ?? process.pid;
  const staleMs = opts.staleMs ?? OTHER_HOST_STALE_MS;
  const warn = opts.onWarning ?? (() => {});
  const file = path.join(dir, LOCK_FILE_NAME);
  await mkdir(dir, { recursive: true });
  const wait = lockWaiter(file, { ...opts, now, staleMs });
  for (;;) {
    opts.signal?.throwIfAborted();
    const holder: LockHolder = { pid, host, startedAt: new Date(now()).toISOString(), command: opts.command };
    const content = `${JSON.stringify(holder)}\n`;
    if (await createExclusive(file, content)) return holdLock(file, content, staleMs, warn);
    const verdict = await judgeLock(file, { host, pid, now, staleMs });
    if (verdict.kind === 'gone') continue;
    if (verdict.kind === 'stale') {
      if (await removeIfUnchanged(file, verdict.content)) warn(verdict.warning);
      continue;
    }
    await wait(verdict);
  }
}

/**
 * One turn of waiting for a lock a live run holds: throws what acquireRunLock throws once `waitMs` has run out
 * (at once without a wait), says once who holds it (onWaiting), then sleeps a poll; the signal's reason on abort.
 */
function lockWaiter(file: string, opts: Pick<AcquireRunLockOptions, 'waitMs' | 'waitStartedAt' | 'pollMs' | 'signal' | 'onWaiting'> & { now: () => number; staleMs: number }) {
  const start = opts.waitStartedAt ?? performance.now();
  let told = false;
  return async (verdict: Extract<Verdict, { kind: 'held' }>): Promise<void> => {
    const waited = performance.now() - start;
    if (opts.waitMs === undefined || waited >= opts.waitMs) throw heldError(file, verdict, { now: opts.now(), waitMs: opts.waitMs, staleMs: opts.staleMs });
    if (!told) opts.onWaiting?.(waitingMessage(file, verdict, opts.now(), opts.waitMs));
    told = true;
    try {
      await sleep(Math.min(opts.pollMs ?? LOCK_POLL_MS, opts.waitMs - waited), undefined, { signal: opts.signal });
    } catch (error) {
      throw opts.signal?.aborted ? opts.signal.reason : error;
    }
  };
}

/**
 * Throws what acquireRunLock (without a wait) would throw if a live run holds the lock of `dir` now; takes,
 * creates and changes nothing. Lets sync exit 75 before it reads credentials or contacts the target; the
 * lock itself is still taken, race-safe, by acquireRunLock. Anything but a held lock is left to it.
 */
export async function checkRunLock(dir: string, opts: Pick<AcquireRunLockOptions, 'now' | 'host' | 'pid' | 'staleMs'> = {}): Promise<void> {
  const now = opts.now ?? Date.now;
  const staleMs = opts.staleMs ?? OTHER_HOST_STALE_MS;
  const file = path.join(dir, LOCK_FILE_NAME);
  const me = { host: opts.host ?? os.hostname(), pid: opts.pid ?? process.pid, now, staleMs };
  const verdict = await judgeLock(file, me).catch(() => undefined);
  if (verdict?.kind === 'held') throw heldError(file, verdict, { now: now(), waitMs: undefined, staleMs });
}

/**
 * Waits up to `waitMs` until no live run holds the lock of `dir`, reading only (like checkRunLock: nothing is
 * created, taken or changed); throws what acquireRunLock throws when the wait runs out, and the signal's reason
 * on abort. Lets `sync --wait-lock` wait before it reads credentials or contacts the target: a run that waits an
 * hour must not hold a target token that expires meanwhile, nor report target problems while another run works.
 * The lock itself is still taken by acquireRunLock afterwards (race-safe, with its own wait).
 */
export async function waitForRunLock(dir: string, opts: Pick<AcquireRunLockOptions, 'now' | 'host' | 'pid' | 'staleMs' | 'signal' | 'pollMs' | 'onWaiting' | 'waitStartedAt'> & { waitMs: number }): Promise<void> {
  const now = opts.now ?? Date.now;
  const staleMs = opts.staleMs ?? OTHER_HOST_STALE_MS;
  const file = path.join(dir, LOCK_FILE_NAME);
  const me = { host: opts.host ?? os.hostname(), pid: opts.pid ?? process.pid, now, staleMs };
  const wait = lockWaiter(file, { ...opts, now, staleMs });
  for (;;) {
    opts.signal?.throwIfAborted();
    // Anything but a live holder (no lock, a stale one, one that cannot be judged) is acquireRunLock's to handle.
    const verdict = await judgeLock(file, me).catch(() => undefined);
    if (verdict?.kind !== 'held') return;
    await wait(verdict);
  }
}

/** Creates `file` holding `content` unless it exists; the content is complete the moment the name appears. */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const temp = `${file}.${randomUUID()}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temp, file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

/** A lock is one short JSON line; what is read of anything else is only shown (its first 60 characters). */
const MAX_LOCK_BYTES = 4096;

/**
 * Reads the lock file without following a symlink or blocking on a FIFO, at most MAX_LOCK_BYTES: a symlink
 * planted there could make us quote any file on the host (/etc/shadow) into the log, a FIFO would hang the
 * run for good, a directory would end it with a stack. registry-rescue writes only regular files there.
 */
async function readLockFile(file: string): Promise<{ content: string; mtimeMs: number }> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ELOOP' || code === 'ENXIO') throw notALockFile(file, code === 'ELOOP' ? 'a symlink' : 'a socket');
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notALockFile(file, info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a FIFO' : 'a special file');
    const buffer = Buffer.alloc(Math.min(info.size, MAX_LOCK_BYTES));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { content: buffer.subarray(0, bytesRead).toString('utf8'), mtimeMs: info.mtimeMs };
  } finally {
    await handle.close();
  }
}

function notALockFile(file: string, what: string): PreflightError {
  return new PreflightError(`the lock file ${file} is ${what}, not a file registry-rescue writes; it was not followed or read: remove it (and check who put it there)`);
}

/** Whether the lock in `file` is held, stale, or gone since creation failed. */
async function judgeLock(
  file: string,
  me: { host: string; pid: number; now: () => number; staleMs: number },
): Promise<Verdict> {
  let content: string;
  let mtimeMs: number;
  try {
    ({ content, mtimeMs } = await readLockFile(file));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { kind: 'gone' };
    throw error;
  }
  const holder = parseLock(content);
  if (!holder) {
    const shown = content.trim() === '' ? 'it is empty' : `it holds ${JSON.stringify(content.slice(0, 60))}`;
    return { kind: 'stale', content, warning: `took over the lock ${file}: ${shown}, not a registry-rescue lock` };
  }
  const refreshedAgoMs = me.now() - mtimeMs;
  const who = describeHolder(holder, me.now());
  if (holder.host !== me.host) {
    if (refreshedAgoMs <= me.staleMs) return { kind: 'held', holder, otherHost: true, refreshedAgoMs };
    return {
      kind: 'stale',
      content,
      warning:
        `took over the lock ${file} from a registry-rescue ${holder.command} on another host (${who}): ` +
        `not refreshed for ${formatDuration(refreshedAgoMs)}, so that run is gone`,
    };
  }
  if (holder.pid === me.pid && !heldHere.has(file)) {
    return {
      kind: 'stale',
      content,
      warning: `took over the lock ${file} from an earlier registry-rescue ${holder.command} that had this process's pid (${who})`,
    };
  }
  if (holder.pid === me.pid || isAlive(holder.pid)) return { kind: 'held', holder, otherHost: false, refreshedAgoMs };
  return {
    kind: 'stale',
    content,
    warning: `took over the lock ${file} from a registry-rescue ${holder.command} that is no longer running (${who})`,
  };
}

/** The holder in a lock file's text, or undefined for anything else (empty, truncated, foreign). */
export function parseLock(content: string): LockHolder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, host, startedAt, command } = value as Record<string, unknown>;
  // pid 0 or negative would make kill(pid, 0) probe a whole process group.
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0) return undefined;
  if (typeof host !== 'string' || host === '' || typeof command !== 'string') return undefined;
  if (typeof startedAt !== 'string' || Number.isNaN(Date.parse(startedAt))) return undefined;
  return { pid: pid as number, host, startedAt, command };
}

/** `kill(pid, 0)`: ESRCH means no such process; EPERM means one exists that we may not signal. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH';
  }
}

function describeHolder(holder: LockHolder, now: number): string {
  const started = holder.startedAt.replace(/\.\d{3}Z$/, 'Z');
  return `pid ${holder.pid} on ${holder.host}, started ${started}, ${formatDuration(now - Date.parse(holder.startedAt))} ago`;
}

/** What a run that starts waiting for a held lock says, naming the holder as heldError does. */
function waitingMessage(file: string, verdict: Extract<Verdict, { kind: 'held' }>, now: number, waitMs: number): string {
  const where = verdict.otherHost ? ' on another host' : '';
  return `another registry-rescue ${verdict.holder.command}${where} (${describeHolder(verdict.holder, now)}) holds the lock on ${file}; waiting up to ${formatDuration(waitMs)} for it (--wait-lock)`;
}

function heldError(
  file: string,
  verdict: Extract<Verdict, { kind: 'held' }>,
  { now, waitMs, staleMs }: { now: number; waitMs: number | undefined; staleMs: number },
): LockHeldError {
  const { holder } = verdict;
  const where = verdict.otherHost ? ' on another host' : '';
  let message = `another registry-rescue ${holder.command}${where} (${describeHolder(holder, now)}) holds the lock on ${file}`;
  message +=
    waitMs === undefined
      ? '; wait for it, or use --wait-lock 30m'
      : `; waited ${formatDuration(waitMs)} for it; try again later, or use a longer --wait-lock`;
  if (verdict.otherHost) {
    message +=
      `. Its liveness cannot be checked from here: it refreshed the lock ${formatDuration(verdict.refreshedAgoMs)} ago, ` +
      `and the lock is taken over once that is more than ${formatDuration(staleMs)} ago; ` +
      `if ${holder.host} is gone, remove ${file}`;
  } else if (verdict.refreshedAgoMs > 2 * staleMs) {
    // A live registry-rescue refreshes its lock every staleMs / 10: this pid may belong to another program now.
    message += `. It has not refreshed the lock for ${formatDuration(verdict.refreshedAgoMs)}: if pid ${holder.pid} is not registry-rescue, remove ${file}`;
  }
  return new LockHeldError(message, { file, holder });
}

/** Our lock: refreshed (mtime) while held so other hosts see it alive, removed on release if still ours. */
function holdLock(file: string, content: string, staleMs: number, warn: (msg: string) => void): RunLock {
  heldHere.add(file);
  let released = false;
  const stop = () => {
    clearInterval(timer);
    heldHere.delete(file);
  };
  const refresh = async () => {
    try {
      if ((await readFile(file, 'utf8')) === content) {
        const t = new Date();
        await utimes(file, t, t);
        return;
      }
      stop();
      warn(`lost the lock ${file}: another run took it over while this one was running`);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') return; // a transient read error: try again next time
      stop();
      warn(`lost the lock ${file}: it was removed while this run was running`);
    }
  };
  const timer = setInterval(() => void refresh(), Math.max(10, Math.floor(staleMs / 10)));
  timer.unref(); // the lock never keeps the process alive
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      stop();
      await removeIfUnchanged(file, content);
    },
    releaseSync() {
      if (released) return;
      released = true;
      stop();
      removeIfUnchangedSync(file, content);
    },
  };
}

/**
 * Removes `file` only if it holds `expected`, safely against a concurrent replace: rename it away
 * (atomic), check what was moved, and link it back if it was someone else's. True if removed.
 */
async function removeIfUnchanged(file: string, expected: string): Promise<boolean> {
  const aside = `${file}.${randomUUID()}.old`;
  try {
    await rename(file, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== expected) {
    try {
      await link(aside, file);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error; // keep `aside`: it is someone's lock
    }
  }
  await rm(aside, { force: true });
  return moved === expected;
}

function removeIfUnchangedSync(file: string, expected: string): boolean {
  const aside = `${file}.${randomUUID()}.old`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
  let moved: string | undefined;
  try {
    moved = readFileSync(aside, 'utf8');
  } catch {
    moved = undefined;
  }
  if (moved !== expected) {
    try {
      linkSync(aside, file);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
  }
  rmSync(aside, { force: true });
  return moved === expected;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
