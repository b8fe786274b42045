/**
 * Error classes and the one error-to-exit-code map (house style: changesets `ExitError`,
 * execa's `ExecaError` carrying facts as fields). Per-image problems are never thrown:
 * they are data (`Problem`) in the image's result. Only run-level failures are thrown.
 */

/** Exit codes, documented in README.md. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  preflight: 3,
  partial: 4,
  locked: 75,
  sigint: 130,
  sigterm: 143,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export abstract class ToolError extends Error {
  abstract readonly exitCode: ExitCode;
}

/** Bad flags, bad tags file, bad config: exit 2. */
export class UsageError extends ToolError {
  readonly exitCode = EXIT.usage;
  override readonly name = 'UsageError';
}

/** Nothing can start: no storage found, wrong filesystem, skopeo missing, target unreachable: exit 3. */
export class PreflightError extends ToolError {
  readonly exitCode = EXIT.preflight;
  override readonly name = 'PreflightError';
}

/** The target answered its first request with a 5xx or 429: it may serve in a moment (retried, then exit 3). */
export class TargetUnavailableError extends PreflightError {
  /** `HOST answered GET /v2/ with HTTP 503`: what a retry notice says. */
  readonly answer: string;
  constructor(answer: string, message: string) {
    super(message);
    this.answer = answer;
  }
}

/** Who holds a run lock, as its lock file says. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO 8601. */
  startedAt: string;
  command: string;
}

/** Another run holds the output directory's lock: exit 75 (EX_TEMPFAIL), so cron simply tries again next time. */
export class LockHeldError extends ToolError {
  readonly exitCode = EXIT.locked;
  override readonly name = 'LockHeldError';
  readonly file: string;
  readonly holder: LockHolder;
  constructor(message: string, facts: { file: string; holder: LockHolder }) {
    super(message);
    this.file = facts.file;
    this.holder = facts.holder;
  }
}

/** A signal stopped the run; in-flight work was cancelled and partial results reported. */
export class InterruptedError extends ToolError {
  readonly exitCode: ExitCode;
  override readonly name = 'InterruptedError';
  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}`);
    this.exitCode = signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
  }
}

/** Exit code for anything thrown out of a command. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof ToolError) return error.exitCode;
  return EXIT.internal;
}
