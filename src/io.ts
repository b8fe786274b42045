/**
 * What a command may use of the outside world. `cli.ts` builds the real one from `process`;
 * tests may build their own. Nothing else in src/ reads `process.*` except through this.
 */
export interface Io {
  /** Results, `--json`, `--format tags`: what a pipe or a file receives. */
  stdout(text: string): void;
  /** True once the reader of stdout has gone (`list … | head`): commands that only read stop early. */
  stdoutClosed(): boolean;
  /** Progress, warnings, summaries for people. */
  stderr(text: string): void;
  /**
   * Writes the run's last stderr line, `registry-rescue: exit N, …` (README, Exit codes). cli.ts writes one for an
   * interrupted run that ended without it (stopped before its counts, or a command that has none).
   */
  outcome(line: string): void;
  /** True when stderr is a terminal (live progress allowed); false under cron. */
  isTTY: boolean;
  /** The width of the stderr terminal, read when asked (it follows a resized window); undefined off a terminal. */
  columns?: number;
  /** Colour on stderr: a terminal, no --no-color, NO_COLOR/FORCE_COLOR/TERM as decideColor reads them. Known once the command line is parsed. */
  color?: boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM; the reason is an InterruptedError. */
  signal: AbortSignal;
  cwd: string;
  /** Reads all of standard input (for --dest-password-stdin when stdin is not a terminal). */
  readStdin(): Promise<string>;
  /** True when standard input is a terminal: a password is then asked for with readSecret, not read to the end. */
  stdinIsTTY: boolean;
  /**
   * Prints `prompt` on stderr and reads one line from the terminal with echo off (Enter ends it,
   * Ctrl-C rejects with an InterruptedError: exit 130). Only when stdinIsTTY.
   */
  readSecret(prompt: string): Promise<string>;
  /**
   * Registers a synchronous clean-up that runs however the process ends (normal exit, a second
   * signal, a closed pipe): for files that must not outlive the run, such as the temporary auth file.
   * It gets the code the process exits with (a second signal's exit code is not the first one's).
   */
  onExit(cleanup: (exitCode: number) => void): void;
  /** Sets the exit code the process will end with. */
  setExitCode(code: number): void;
}
