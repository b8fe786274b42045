/**
 * Where a run's JSON document goes: stdout (`--json`), a report file (`--report FILE`, written atomically), or
 * both. Items are written as results stream past; the tail (summary) when the run ends, also after an
 * interrupt, so a partial run still leaves a complete, parseable report.
 */
import path from 'node:path';
import { InterruptedError, PreflightError } from '../errors.js';
import { writeMetricsFile } from '../output/write-metrics.js';
import { renderMetrics, type RunMetrics } from '../report/metrics.js';
import type { Io } from '../io.js';
import { checkWritableDir, openAtomicFile, type AtomicFile } from '../output/write-atomic.js';
import { openJsonDocument, REPORT_VERSION, type JsonDocumentWriter } from '../report/json-stream.js';

export interface Documents {
  item(value: unknown): void;
  end(tail: Record<string, unknown>): void;
}

/** Checks `--report`'s directory before anything runs: an hour of pushing must not end without its report. */
export async function checkReportPath(io: Io, report: string | undefined): Promise<string | undefined> {
  if (report === undefined) return undefined;
  const file = path.resolve(io.cwd, report);
  await checkWritableDir(path.dirname(file), '--report');
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

/** Checks --metrics-file's directory before anything runs. */
export async function checkMetricsPath(io: Io, metrics: string | undefined): Promise<string | undefined> {
  if (metrics === undefined) return undefined;
  const file = path.resolve(io.cwd, metrics);
  await checkWritableDir(path.dirname(file), '--metrics-file');
  return file;
}

/** The exit code the process will end with: the interrupt's when interrupted (cli.ts decides it the same way). */
export function finalExitCode(io: Io, code: number): number {
  const reason: unknown = io.signal.aborted ? io.signal.reason : undefined;
  return reason instanceof InterruptedError ? reason.exitCode : code;
}

/** Writes the run's Prometheus metrics (atomically) when --metrics-file was given. */
export async function writeRunMetrics(file: string | undefined, m: RunMetrics): Promise<void> {
  if (file === undefined) return;
  try {
    await writeMetricsFile(file, renderMetrics(m));
  } catch (error) {
    throw new PreflightError(`cannot write the metrics file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
