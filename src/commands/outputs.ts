/**
 * Where a run's JSON document goes: stdout (`--json`), a report file (`--report FILE`, written atomically), or
 * both. Items are written as results stream past; the tail (summary) when the run ends, also after an
 * interrupt, so a partial run still leaves a complete, parseable report.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { InterruptedError, PreflightError, UsageError, exitCodeFor } from '../errors.js';
import { parseShard } from '../core/shard.js';
import { exitCodeForRun, interruptedLine, outcomeLine, type Counts, type RunIssues } from '../core/results.js';
import { envVariableOf } from './shared.js';
import { writeMetricsFile, writeMetricsFileSync } from '../output/write-metrics.js';
import { renderMetrics, type RunMetrics } from '../report/metrics.js';
import type { Io } from '../io.js';
import { checkWritableFile, openAtomicFile, type AtomicFile } from '../output/write-atomic.js';
import { openJsonDocument, REPORT_VERSION, type JsonDocumentWriter } from '../report/json-stream.js';

export interface Documents {
  item(value: unknown): void;
  end(tail: Record<string, unknown>): void;
}

/** Checks `--report`'s directory before anything runs: an hour of pushing must not end without its report. */
export async function checkReportPath(io: Io, report: string | undefined): Promise<string | undefined> {
  if (report === undefined) return undefined;
  const file = path.resolve(io.cwd, report);
  await checkWritableFile(file, '--report');
  return file;
}

/** Opens the JSON document on stdout and/or in the report file; `head` gets `version` first. */
export function openDocuments(io: Io, opts: { json: boolean; reportFile?: string | undefined; head: Record<string, unknown>; key: string }): Documents {
  const head = { version: REPORT_VERSION, ...opts.head };
  const writers: JsonDocumentWriter[] = [];
  let file: AtomicFile | undefined;
  if (opts.json) writers.push(openJsonDocument(io.stdout, head, opts.key));
  if (opts.reportFile !== undefined) {
    try {
      file = openAtomicFile(opts.reportFile);
    } catch (error) {
      throw new PreflightError(`cannot write the report ${opts.reportFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const f = file;
    io.onExit(() => f.abandon());
    writers.push(openJsonDocument((t) => f.write(t), head, opts.key));
  }
  return {
    item: (value) => {
      for (const w of writers) w.item(value);
    },
    end: (tail) => {
      for (const w of writers) w.end(tail);
      if (!file) return;
      try {
        file.commit();
      } catch (error) {
        throw new PreflightError(`cannot write the report ${opts.reportFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    },
  };
}

/**
 * Ends the run: its JSON documents (`doc`, with `tail`), then its outcome line on stderr, in that order. A report that
 * cannot be written when the run ends (a full disk) throws here, before the outcome line, so the run's one last line
 * is the error that says so (cli.ts), never an `exit 0` followed by it. Whatever the command prints as its summary
 * goes before this.
 */
export function endRun(io: Io, doc: Documents | undefined, tail: Record<string, unknown>, counts: Counts, issues: RunIssues, opts: { json?: boolean } = {}): void {
  doc?.end(tail);
  writeLastLine(io, counts, issues, opts);
}

/**
 * Ends a run that keeps a metrics file (export, sync, verify): endRun, then the run's exit code, then its metrics.
 * A report that cannot be written at the very end still leaves the run's counts in the metrics file, with the
 * report error's exit code (3), which is the code the process ends with: a monitor sees what was done and that the
 * run did not succeed. The metrics file failing too is not reported over the report error.
 */
export async function finishRun(
  io: Io, doc: Documents | undefined, tail: Record<string, unknown>, figures: Omit<RunFigures, 'exitCode' | 'counts'> & { counts: Counts }, issues: RunIssues, opts: { json?: boolean },
  record: (figures: RunFigures) => Promise<void>,
): Promise<void> {
  try {
    endRun(io, doc, tail, figures.counts, issues, opts);
  } catch (error) {
    await record({ ...figures, exitCode: exitCodeFor(error) }).catch(() => undefined);
    throw error;
  }
  const exitCode = exitCodeForRun(figures.counts, issues);
  io.setExitCode(exitCode);
  await record({ ...figures, exitCode });
}

/**
 * Ends the run's stderr with its outcome line. A finished run's (outcomeLine) is left out with --json, whose
 * stdout is the document a monitor reads; an interrupted run's (interruptedLine) never is: it carries the signal's
 * exit code, which the document does not, and what was done before the signal.
 */
function writeLastLine(io: Io, counts: Counts, issues: RunIssues, opts: { json?: boolean } = {}): void {
  const reason: unknown = io.signal.aborted ? io.signal.reason : undefined;
  if (reason instanceof InterruptedError) io.outcome(interruptedLine({ exitCode: reason.exitCode, what: reason.message }, counts, issues));
  else if (opts.json !== true) io.outcome(outcomeLine(counts, issues));
}

/**
 * Checks --metrics-file's directory before anything runs. A dry run writes no metrics file: the file is the record
 * of the last real run, which alerts read, and a preview run by hand with the nightly job's environment
 * (REGISTRY_RESCUE_METRICS_FILE) would have replaced a failed night's success 0 with its own 1.
 */
export async function checkMetricsPath(io: Io, metrics: string | undefined, dryRun = false): Promise<string | undefined> {
  if (metrics === undefined) return undefined;
  if (dryRun) {
    io.stderr(`note: --dry-run leaves the metrics file ${metrics} as the last real run wrote it\n`);
    return undefined;
  }
  const file = path.resolve(io.cwd, metrics);
  await checkWritableFile(file, '--metrics-file');
  return file;
}

/** The exit code the process will end with: the interrupt's when interrupted (cli.ts decides it the same way). */
function finalExitCode(io: Io, code: number): number {
  const reason: unknown = io.signal.aborted ? io.signal.reason : undefined;
  return reason instanceof InterruptedError ? reason.exitCode : code;
}

/** Writes the run's Prometheus metrics (atomically). */
async function writeRunMetrics(file: string, m: RunMetrics): Promise<void> {
  try {
    await writeMetricsFile(file, renderMetrics(m));
  } catch (error) {
    throw new PreflightError(`cannot write the metrics file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** What a run's metrics say before it has any results. */
export interface MetricsStart {
  /** The checked --metrics-file, if any. */
  file: string | undefined;
  command: string;
  /** --shard as given (an invalid one is left out: the run fails on it anyway). */
  shard: string | undefined;
  /** Unix time in ms. */
  startedAt: number;
}

/** What a run that ended adds to its metrics. */
export type RunFigures = Omit<RunMetrics, 'command' | 'shard' | 'startedAt' | 'endedAt'>;

/**
 * Runs a command's body, which records its figures when it ends (`record`: written when --metrics-file was given;
 * the exit code becomes the interrupt's when interrupted). When the body throws before recording (credentials
 * refused, the target or the storage unreachable, the lock held, a bad value), the file is still written: that
 * exit code, success 0, no images. Without this the file kept the previous run's success, and an alert on
 * `registry_rescue_last_run_success` stayed quiet until the file went stale.
 */
export async function withRunMetrics(io: Io, start: MetricsStart, body: (record: (figures: RunFigures) => Promise<void>) => Promise<void>): Promise<void> {
  let shard;
  try {
    shard = start.shard === undefined ? undefined : parseShard(start.shard);
  } catch {
    shard = undefined;
  }
  const metricsOf = (figures: RunFigures): RunMetrics => ({
    command: start.command, ...(shard ? { shard } : {}), startedAt: start.startedAt, endedAt: Date.now(), ...figures, exitCode: finalExitCode(io, figures.exitCode),
  });
  let recorded = false;
  // True once this run's figures were written (or failed to be): from then on the file is this run's record.
  let settled = false;
  const record = async (figures: RunFigures) => {
    recorded = true;
    try {
      if (start.file !== undefined) await writeRunMetrics(start.file, metricsOf(figures));
    } finally {
      settled = true;
    }
  };
  if (start.file !== undefined) {
    const file = start.file;
    // A second SIGINT/SIGTERM ends the process at once (cli.ts), before the body records anything: without this the
    // previous run's file stayed, success 1 and all, and a monitor took the interrupted run for a good one. Written
    // synchronously from the 'exit' listener, with the code the process really exits with (the second signal's),
    // and no image counts: the run never got to its summary. A write that fails here has no one to tell.
    io.onExit((exitCode) => {
      if (settled) return;
      try {
        writeMetricsFileSync(file, renderMetrics({ ...metricsOf(NO_FIGURES), exitCode }));
      } catch {
        // The process is ending.
      }
    });
  }
  try {
    await body(record);
  } catch (error) {
    if (start.file !== undefined && !recorded) {
      const failed = metricsOf({ ...NO_FIGURES, exitCode: exitCodeFor(error) });
      // The run's own error is what the person must read: a metrics file that cannot be written either is secondary.
      await writeRunMetrics(start.file, failed).catch(() => undefined);
      settled = true;
    }
    throw error;
  }
}

/** The figures of a run that ended before its images: no counts, nothing pushed or selected. */
const NO_FIGURES: RunFigures = { exitCode: 0, counts: {}, bytesPushed: 0, bytesDownloaded: 0, tagsSelected: 0, tagsInStorage: 0 };

/**
 * Makes commander's own refusals of `command` (an unknown option, an option without its value, a value outside
 * its choices) write the metrics file when --metrics-file (or its variable) was read before the refusal: exit
 * code 2, success 0. Without it a typo in a crontab ended every nightly run before its action, and an alert on
 * `last_run_success` stayed quiet, the previous run's file unchanged, until the staleness rule fired. A command
 * without --metrics-file is left as it was. The write is not awaited (commander's hook is synchronous): the
 * process ends after it, as no one calls process.exit on this path; a failure to write is not reported over the
 * usage message.
 */
export function recordUsageRefusals(io: Io, command: Command): Command {
  return command.exitOverride((error) => {
    const opts = command.opts<{ metricsFile?: unknown; shard?: unknown; dryRun?: unknown }>();
    // A value refused while the command line is parsed comes before commander reads the environment.
    const metricsFile = typeof opts.metricsFile === 'string' ? opts.metricsFile : io.env[envVariableOf('--metrics-file')] || undefined;
    const shard = typeof opts.shard === 'string' ? opts.shard : io.env[envVariableOf('--shard')] || undefined;
    if (error.exitCode !== 0 && metricsFile !== undefined && opts.dryRun !== true && command.options.some((o) => o.long === '--metrics-file')) {
      const start = { file: path.resolve(io.cwd, metricsFile), command: command.name(), shard, startedAt: Date.now() };
      void withRunMetrics(io, start, () => Promise.reject(new UsageError(error.message))).catch(() => undefined);
    }
    throw error;
  });
}
