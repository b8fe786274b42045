/**
 * Runs skopeo (style guide §5): argv arrays only, our own timeout, SIGTERM then SIGKILL on cancel, and a
 * failure returned as data, never thrown. The binary is `skopeo` from PATH or what `--skopeo` names.
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { PreflightError } from '../errors.js';
import { trackChild } from './children.js';
import { ENV_PASSWORD } from './credentials.js';

/** skopeo 1.9 is the oldest version whose `sync` flags and behaviour docs/storage-and-skopeo.md §5 describes. */
export const MIN_SKOPEO_VERSION = [1, 9] as const;
/** `skopeo --version` takes ~10 ms (§5.9); anything near this means a broken install. */
const PREFLIGHT_TIMEOUT_MS = 30_000;
/** After SIGTERM (cancel or timeout), SIGKILL follows this much later. */
const FORCE_KILL_AFTER_MS = 10_000;
const INSTALL_HINT = 'install it: apt-get install -y skopeo, or pass --skopeo PATH';
/**
 * Never handed to a skopeo process, whatever the caller passes: the password given through the environment
 * would otherwise sit in /proc/PID/environ of every skopeo (`--version` included) for the whole push, and so would
 * a bucket's credentials (README: "skopeo does not get them"). skopeo gets the target's credentials through its
 * private auth file only. (Node's spawn drops variables set to undefined.)
 */
const SCRUBBED_ENV = { [ENV_PASSWORD]: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined };

/** What one skopeo process did. `ok` is exit code 0; skopeo exits 1 for every failure (§5.8). */
export interface SkopeoRun {
  ok: boolean;
  /** Undefined when the process was killed by a signal or could not be started. */
  exitCode: number | undefined;
  /** Stopped through `signal` (the run was interrupted), not a skopeo failure. */
  canceled: boolean;
  /** Stopped by `timeoutMs`. */
  timedOut: boolean;
  stdout: string;
  /** skopeo's logrus lines; when the process could not start, the spawn error instead. */
  stderr: string;
  ms: number;
}

export interface RunSkopeoOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Added to the inherited environment (e.g. `REGISTRY_AUTH_FILE`). */
  env?: Record<string, string | undefined>;
}

const notFound = (bin: string) => new PreflightError(bin === 'skopeo' ? `skopeo not found on PATH; ${INSTALL_HINT}` : `skopeo not found at ${bin}; ${INSTALL_HINT}`);

/**
 * Throws the "skopeo not found" PreflightError unless `bin` is an executable file: the path given, or the first
 * match on `searchPath` (PATH) as the push would find it. Nothing is started, so a sync can check this before it
 * exports anything, even on a run that turns out to have nothing to push (which must start no process); whether it
 * runs and is recent enough is `preflightSkopeo`'s, when the first push needs it.
 */
export function assertSkopeoPresent(bin: string, searchPath: string | undefined, cwd: string): void {
  const candidates = bin.includes('/') ? [path.resolve(cwd, bin)] : (searchPath ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.resolve(cwd, dir, bin));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return;
    } catch {
      // Not this one.
    }
  }
  throw notFound(bin);
}

/** Checks that skopeo runs and is recent enough; throws PreflightError otherwise. */
export async function preflightSkopeo(
  bin = 'skopeo',
  opts: { timeoutMs?: number } = {},
): Promise<{ bin: string; version: string }> {
  const timeoutMs = opts.timeoutMs ?? PREFLIGHT_TIMEOUT_MS;
  const r = await execa(bin, ['--version'], {
    reject: false,
    stdin: 'ignore',
    timeout: timeoutMs,
    forceKillAfterDelay: FORCE_KILL_AFTER_MS,
    env: SCRUBBED_ENV,
  });
  if (r.code === 'ENOENT') throw notFound(bin);
  if (r.timedOut) throw new PreflightError(`${bin} --version did not answer within ${timeoutMs} ms`);
  if (r.failed) {
    const detail = String(r.stderr).trim() || r.shortMessage;
    throw new PreflightError(`${bin} --version failed: ${detail}`, { cause: r });
  }
  // "skopeo version 1.9.3" (Debian), "skopeo version 1.13.3 commit: …" (upstream builds).
  const version = /\bskopeo version\s+v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(String(r.stdout));
  if (!version) {
    const firstLine = String(r.stdout).trim().split('\n')[0] ?? '';
    throw new PreflightError(`${bin} --version printed no skopeo version: ${JSON.stringify(firstLine)}`);
  }
  const [major, minor] = [Number(version[1]), Number(version[2])];
  const text = version[0].replace(/^skopeo version\s+v?/, '');
  const [minMajor, minMinor] = MIN_SKOPEO_VERSION;
  if (major < minMajor || (major === minMajor && minor < minMinor)) {
    throw new PreflightError(`skopeo ${text} (${bin}) is too old: ${minMajor}.${minMinor} or newer is needed`);
  }
  return { bin, version: text };
}

/** Runs `bin args…` to completion; never throws for a skopeo failure, a timeout or a cancel. */
export async function runSkopeo(bin: string, args: readonly string[], opts: RunSkopeoOptions = {}): Promise<SkopeoRun> {
  const started = performance.now();
  if (opts.signal?.aborted) {
    // Do not start a process that would be killed at once.
    return { ok: false, exitCode: undefined, canceled: true, timedOut: false, stdout: '', stderr: '', ms: 0 };
  }
  const child = execa(bin, args, {
    reject: false,
    stdin: 'ignore',
    ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
    forceKillAfterDelay: FORCE_KILL_AFTER_MS,
    env: { ...opts.env, ...SCRUBBED_ENV },
  });
  const r = await child.finally(trackChild(child));
  const stderr = String(r.stderr);
  return {
    ok: !r.failed,
    exitCode: r.exitCode,
    canceled: r.isCanceled,
    timedOut: r.timedOut,
    stdout: String(r.stdout),
    // A spawn failure (ENOENT, EACCES) leaves stderr empty; its message is the only clue.
    stderr: r.failed && r.exitCode === undefined && !r.isCanceled && !r.timedOut && !stderr ? (r.shortMessage ?? stderr) : stderr,
    ms: Math.round(performance.now() - started),
  };
}
