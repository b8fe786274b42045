/**
 * The only module that touches `process`: argv, exit code, signals, stdio.
 * Builds the commander program from the command modules and maps errors to exit codes.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import chalk from 'chalk';
import { Command, CommanderError } from 'commander';
import { interruptedLine } from './core/results.js';
import { EMPTY_SECRET_INPUT, editSecretInput } from './core/secret-input.js';
import { EXIT, InterruptedError, ToolError, exitCodeFor } from './errors.js';
import type { Io } from './io.js';
import { buildProgram, usageReason } from './program.js';
import { killRunningChildren } from './registry/children.js';
import { decideColor } from './report/color.js';

/** Abort listeners the run's signal may hold at once before Node warns (see below). */
const SIGNAL_LISTENERS = 1000;

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

// A closed pipe (`registry-rescue list … | head`) is the reader's choice: stop writing to it and let the
// run finish, so reports, clean-ups and the exit code are not cut short.
const closed = new Set<NodeJS.WriteStream>();
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    closed.add(stream);
  });
}
const write = (stream: NodeJS.WriteStream, text: string) => {
  if (!closed.has(stream)) stream.write(text);
};

// Whether the command wrote its outcome line (io.outcome): an interrupted run that did not gets one below.
let outcomeWritten = false;

const controller = new AbortController();
// The run's one signal reaches every request, timer and skopeo process in flight, each adding an abort listener
// while it runs: 16 target checks at once pass Node's default of 10, which then prints a "possible memory leak"
// warning into every nightly log. The bound stays, far above what a run holds at once (sync's --concurrency is
// capped at 64 for this), so a real leak (one listener kept per image) still shows in a large run.
setMaxListeners(SIGNAL_LISTENERS, controller.signal);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // `on`, not `once`: execa's cleanup (signal-exit) re-raises a signal no other listener handles, which would
  // kill us before the partial report is written once a skopeo process has been started.
  process.on(signal, () => {
    const reason = new InterruptedError(signal);
    // A second signal means "now": skip the orderly shutdown, and kill the skopeo processes outright (one that
    // ignored the first signal's SIGTERM would outlive the run). process.exit still runs the exit clean-ups,
    // synchronously: the auth file, the lock, and the metrics file's record of this interrupted run (outputs.ts).
    if (controller.signal.aborted) {
      killRunningChildren();
      // The orderly shutdown's summary and last line are skipped: still end the log with the outcome (README,
      // Exit codes), or a cron log's last line is whatever the run said before. stderr is synchronous for files,
      // pipes and terminals on Linux, so the line is out before process.exit.
      write(process.stderr, `registry-rescue: exit ${reason.exitCode}, interrupted by ${signal}, a second signal: stopped at once, skopeo processes killed, no summary or report written; run the same command again to continue\n`);
      process.exit(reason.exitCode);
    }
    controller.abort(reason);
  });
}

const exitCleanups = new Set<(exitCode: number) => void>();
process.on('exit', (exitCode) => {
  for (const cleanup of exitCleanups) {
    try {
      cleanup(exitCode);
    } catch {
      // Best effort: the process is ending.
    }
  }
});

/** Reads one line from the terminal in raw mode (no echo), edited by editSecretInput. */
function readSecretNoEcho(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let state = EMPTY_SECRET_INPUT;
    const restore = () => stdin.setRawMode(false);
    const finish = (outcome: () => void) => {
      stdin.off('data', onData);
      controller.signal.removeEventListener('abort', onAbort);
      restore();
      exitCleanups.delete(restore);
      stdin.pause();
      write(process.stderr, '\n'); // the Enter the user pressed was not echoed either
      outcome();
    };
    const onData = (chunk: string) => {
      state = editSecretInput(state, chunk);
      if (state.status === 'done') finish(() => resolve(state.value));
      // Raw mode turns Ctrl-C into a byte instead of SIGINT: end as SIGINT would.
      else if (state.status === 'canceled') finish(() => reject(new InterruptedError('SIGINT')));
    };
    const onAbort = () => finish(() => reject(controller.signal.reason as Error));
    write(process.stderr, prompt);
    exitCleanups.add(restore); // never leave the terminal without echo
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    controller.signal.addEventListener('abort', onAbort, { once: true });
    stdin.resume();
  });
}

const io: Io = {
  stdout: (text) => write(process.stdout, text),
  stdoutClosed: () => closed.has(process.stdout),
  stderr: (text) => write(process.stderr, text),
  outcome: (line) => {
    write(process.stderr, line);
    outcomeWritten = true;
  },
  isTTY: process.stderr.isTTY === true,
  // A getter: Node updates the stream's columns on SIGWINCH, so a resized window is followed without a listener.
  get columns() {
    return process.stderr.isTTY ? process.stderr.columns : undefined;
  },
  color: false, // decided once --no-color is parsed, below
  env: process.env,
  signal: controller.signal,
  cwd: process.cwd(),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  stdinIsTTY: process.stdin.isTTY === true,
  readSecret: readSecretNoEcho,
  onExit: (cleanup) => void exitCleanups.add(cleanup),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

const program: Command = buildProgram(io, pkg.version);
// Before any command runs, once commander has parsed --no-color. chalk reads neither NO_COLOR nor the stream we
// write progress to, so its level only ever goes down here (stdout renderers keep chalk's own decision otherwise);
// the progress renderer gets `io.color` and builds its own Chalk from it.
program.hook('preAction', () => {
  io.color = decideColor({
    isTTY: io.isTTY,
    flag: program.opts<{ color: boolean }>().color,
    env: process.env,
    ...(process.stderr.isTTY ? { terminalColors: process.stderr.hasColors() } : {}),
  });
  if (!io.color) chalk.level = 0;
});

try {
  await program.parseAsync(process.argv);
  // Commands stop scheduling work on abort and still report what they did, ending with interruptedLine's counts;
  // the exit code says why they stopped.
  if (controller.signal.aborted && controller.signal.reason instanceof InterruptedError) {
    endInterrupted(controller.signal.reason);
  }
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end with exitCode 0; everything else commander rejects is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    // Commander's own `error: …` lines are not written (program.ts): end with the outcome as every other run does
    // (README, Exit codes), its suggestion included, so a crontab typo shows once, in a log grepped for
    // `^registry-rescue:`. Help shown for no command is no refusal of a command line, and says enough.
    if (error.exitCode !== 0 && error.code !== 'commander.help' && error.code !== 'commander.helpDisplayed') {
      const reason = usageReason(error.message);
      const args = process.argv.slice(2);
      const named = program.commands.find((c) => args.includes(c.name()) && error.code !== 'commander.unknownCommand');
      write(process.stderr, `registry-rescue: exit 2, usage error: ${reason}; see registry-rescue ${named ? `${named.name()} ` : ''}--help\n`);
    }
  } else if (error instanceof InterruptedError) {
    // Stopped before the command had counts to report (a password prompt, the target's first answer).
    endInterrupted(error);
  } else if (error instanceof ToolError) {
    // In the shape of every other last line, so `^registry-rescue: exit` finds a run that could not start too.
    process.stderr.write(`registry-rescue: exit ${error.exitCode}, ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`registry-rescue: internal error, please report it:\n${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = exitCodeFor(error);
  }
}

/** Sets an interrupted run's exit code and, unless the command wrote it with its counts, its last line. */
function endInterrupted(reason: InterruptedError): void {
  if (!outcomeWritten) write(process.stderr, interruptedLine({ exitCode: reason.exitCode, what: reason.message }));
  process.exitCode = reason.exitCode;
}
