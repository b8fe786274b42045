/**
 * The only module that touches `process`: argv, exit code, signals, stdio.
 * Builds the commander program from the command modules and maps errors to exit codes.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT, InterruptedError, ToolError, exitCodeFor } from './errors.js';
import type { Io } from './io/io.js';
import { buildProgram } from './program.js';

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

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // `on`, not `once`: execa's cleanup (signal-exit) re-raises a signal no other listener handles, which would
  // kill us before the partial report is written once a skopeo process has been started.
  process.on(signal, () => {
    const reason = new InterruptedError(signal);
    // A second signal means "now": skip the orderly shutdown (child processes still get theirs from execa).
    if (controller.signal.aborted) process.exit(reason.exitCode);
    controller.abort(reason);
  });
}

const exitCleanups = new Set<() => void>();
process.on('exit', () => {
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: the process is ending.
    }
  }
});

const io: Io = {
  stdout: (text) => write(process.stdout, text),
  stdoutClosed: () => closed.has(process.stdout),
  stderr: (text) => write(process.stderr, text),
  isTTY: process.stderr.isTTY === true,
  env: process.env,
  signal: controller.signal,
  cwd: process.cwd(),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  onExit: (cleanup) => void exitCleanups.add(cleanup),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

const program: Command = buildProgram(io, pkg.version);

try {
  await program.parseAsync(process.argv);
  // Commands stop scheduling work on abort and still report what they did; the exit code says why they stopped.
  if (controller.signal.aborted && controller.signal.reason instanceof InterruptedError) {
    process.stderr.write(`registry-rescue: ${controller.signal.reason.message}; the report above covers what was done\n`);
    process.exitCode = controller.signal.reason.exitCode;
  }
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end with exitCode 0; everything else commander rejects is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (error instanceof ToolError) {
    process.stderr.write(`registry-rescue: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`registry-rescue: internal error, please report it:\n${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = exitCodeFor(error);
  }
}
