/**
 * `sync`: export (streaming) → for each ready layout, in parallel but never two into one target
 * repository: Harbor project check → HEAD the target (equal digest: up to date, no skopeo) →
 * skopeo sync with retries on transient failures → HEAD again to verify the digest.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { EXIT, PreflightError } from './errors.js';
import type { Emit } from './core/events.js';
import { retryWithBackoff, runKeyed } from './core/schedule.js';
import { classifySkopeoFailure } from './core/skopeo-failure.js';
import { planPush, summarizeSync, type PushJob, type SyncResult, type SyncSummary } from './core/sync-plan.js';
import { formatCommand, parseTarget, type PushTarget } from './core/target.js';
import { redact, secretsOf, writeTempAuthFile, ENV_PASSWORD } from './io/credentials.js';
import { preflightSkopeo, runSkopeo } from './io/skopeo.js';
import { connectTarget, createProjectGuard, resolveTargetAccess, type ProjectState, type TargetAccessOptions, type TargetConnection } from './io/target-registry.js';
import { exportImages, prepareExport, finishExport, type ExportOptions } from './run-export.js';
import type { ExportResult } from './core/events.js';
import type { ExportSummary } from './core/summary.js';
import { locateStorage } from './io/scan-storage.js';

export const DEFAULT_SYNC_CONCURRENCY = 4;
export const DEFAULT_RETRIES = 2;
/** Default --out: a directory on the storage volume, beside docker/. */
export const DEFAULT_OUT_NAME = 'registry-rescue-export';
/** One skopeo process per image; Harbor tokens last 30 min by default, so keep each push well inside an hour. */
export const ITEM_TIMEOUT_MS = 60 * 60_000;
const RETRY_BASE_MS = 2_000;
/** What the dry run shows in place of the private auth file written at run time. */
const AUTHFILE_PLACEHOLDER = '<private auth file>';

export interface SyncOptions extends Omit<ExportOptions, 'out'>, TargetAccessOptions {
  to: string;
  out?: string;
  concurrency: number;
  retries: number;
  createProjects: boolean;
  skopeo: string;
}

export interface SyncDeps {
  cwd: string;
  onExit: (cleanup: () => void) => void;
  env: Readonly<Record<string, string | undefined>>;
  signal: AbortSignal;
  emit: Emit;
}

export interface SyncRun {
  target: PushTarget;
  out: string;
  storage: string;
  results: SyncResult[];
  summary: SyncSummary;
  exportSummary: ExportSummary;
}

/** Runs the whole sync; per-image failures are results, only preflight failures throw. */
export async function runSync(opts: SyncOptions, deps: SyncDeps): Promise<SyncRun> {
  const started = performance.now();
  const target = parseTarget(opts.to);
  const storage = await locateStorage(opts.storage, deps.cwd);
  // The default output lives on the storage volume, beside docker/, so hard links work.
  const out = path.resolve(deps.cwd, opts.out ?? path.join(storage.root, DEFAULT_OUT_NAME));
  const dryRun = opts.dryRun;

  let conn: TargetConnection | undefined;
  let auth: Awaited<ReturnType<typeof writeTempAuthFile>> | undefined;
  let guard: ((project: string) => Promise<ProjectState>) | undefined;
  // A preflight failure found while pushing (skopeo missing or too old) stops the run and is rethrown (exit 3).
  const stop = new AbortController();
  let stopped: PreflightError | undefined;
  const signal = AbortSignal.any([deps.signal, stop.signal]);
  try {
    // Local facts only (auth file, environment): the dry run shows --dest-authfile exactly when the real run passes one.
    const { credentials, certDir } = await resolveTargetAccess(target.host, opts, deps);
    if (!dryRun) {
      // Before prepareExport: a target that cannot be used leaves nothing behind (no export directory).
      conn = await connectTarget({ host: target.host, tlsVerify: opts.destTlsVerify, certDir, credentials, signal: deps.signal });
      if (credentials) {
        auth = await writeTempAuthFile(target.host, credentials);
        // Also removed if the process ends abruptly (a second signal): credentials must not outlive the run.
        const dir = auth.dir;
        deps.onExit(() => rmSync(dir, { recursive: true, force: true }));
      }
      const harbor = await conn.harbor().detectHarbor().catch(() => undefined);
      if (harbor) guard = createProjectGuard(conn, { create: opts.createProjects });
      else if (opts.createProjects) deps.emit({ kind: 'warning', message: `${target.host} is not a Harbor (no /api/v2.0/systeminfo); --create-projects does nothing there` });
    }
    const ctx = await prepareExport({ ...opts, out }, deps);
    const settings = {
      target,
      out: ctx.store?.out ?? out,
      tlsVerify: opts.destTlsVerify,
      retryTimes: opts.retries,
      ...(certDir !== undefined ? { certDir } : {}),
      ...(auth ? { authFile: auth.path } : dryRun && credentials ? { authFile: AUTHFILE_PLACEHOLDER } : {}),
    };
    const secrets = secretsOf(credentials);
    const results: SyncResult[] = [];
    const record = (r: SyncResult) => {
      const clean = { ...r, ...(r.reason !== undefined ? { reason: redact(r.reason, secrets) } : {}) };
      results.push(clean);
      deps.emit({ kind: 'image:synced', result: clean });
    };
    const exported: ExportResult[] = [];
    async function* jobs(): AsyncGenerator<PushJob> {
      for await (const r of exportImages(ctx)) {
        exported.push(r);
        const decision = planPush(r, settings);
        if ('result' in decision) record(decision.result);
        else if (dryRun) record({ ...base(decision.job), status: 'would-sync', command: formatCommand(opts.skopeo, decision.job.args) });
        else yield decision.job;
      }
    }
    // skopeo is checked before the first push, not up front: a run with everything up to date starts no process.
    let skopeoChecked: Promise<unknown> | undefined;
    const ensureSkopeo = async (): Promise<boolean> => {
      try {
        await (skopeoChecked ??= preflightSkopeo(opts.skopeo));
        return true;
      } catch (error) {
        if (!(error instanceof PreflightError)) throw error;
        stopped ??= error;
        stop.abort(error);
        return false;
      }
    };
    const context: PushContext = { conn: conn as TargetConnection, opts, guard, signal, ensureSkopeo, skopeoEnv: { [ENV_PASSWORD]: undefined }, emit: deps.emit };
    const keyed = await runKeyed(jobs(), { concurrency: opts.concurrency, keyOf: (j) => j.targetRepository, signal }, (job) => push(job, context));
    if (stopped) throw stopped;
    for (const k of keyed) {
      if (k.status === 'done') record(k.value);
      else if (k.status === 'canceled') record({ ...base(k.item), status: 'canceled', reason: 'the run was interrupted before this image started' });
      else record({ ...base(k.item), status: 'failed', reason: `internal error: ${(k.error as Error)?.message ?? String(k.error)}` });
    }
    exported.sort((a, b) => (a.id < b.id ? -1 : 1));
    const exportSummary = await finishExport(ctx, exported);
    results.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { target, out: settings.out, storage: ctx.storage.v2, results, summary: summarizeSync(results, performance.now() - started), exportSummary };
  } finally {
    await auth?.dispose();
    conn?.close();
  }
}

function base(job: PushJob): SyncResult {
  return { id: job.id, source: job.id, target: job.reference, digest: job.digest, status: 'failed', attempts: 0, ms: 0, bytes: job.export.item.image.size };
}

interface PushContext {
  conn: TargetConnection;
  opts: SyncOptions;
  guard: ((project: string) => Promise<ProjectState>) | undefined;
  signal: AbortSignal;
  /** Runs the skopeo preflight once; false when it failed (the run is then stopping). */
  ensureSkopeo: () => Promise<boolean>;
  skopeoEnv: Record<string, string | undefined>;
  emit: Emit;
}

/** Pushes one image; every outcome is a SyncResult. */
async function push(job: PushJob, c: PushContext): Promise<SyncResult> {
  const started = performance.now();
  const done = (status: SyncResult['status'], extra: Partial<SyncResult> = {}): SyncResult => ({ ...base(job), status, ms: Math.round(performance.now() - started), ...extra });
  /** Attempts of the push once skopeo succeeded (0: nothing pushed yet). */
  let pushed = 0;
  try {
    const project = await c.guard?.(job.project);
    if (project?.refusal) return done('failed', { reason: project.refusal });
    const before = await c.conn.client.headManifest(job.targetRepository, job.tag);
    if (before?.digest === job.digest) return done('up-to-date');
    if (!(await c.ensureSkopeo())) return done('canceled', { reason: 'skopeo cannot run' });
    const attempt = (n: number) => {
      c.emit({ kind: 'push:attempt', id: job.id, target: job.reference, attempt: n });
      return runSkopeo(c.opts.skopeo, job.args, { signal: c.signal, timeoutMs: ITEM_TIMEOUT_MS, env: c.skopeoEnv });
    };
    const { value: run, attempts } = await retryWithBackoff(attempt, {
      retries: c.opts.retries,
      baseMs: RETRY_BASE_MS,
      signal: c.signal,
      isTransient: (r) => !r.ok && !r.canceled && classifySkopeoFailure(r.stderr, { timedOut: r.timedOut }).transient,
    });
    const command = formatCommand(c.opts.skopeo, job.args);
    if (run.canceled) return done('canceled', { attempts, reason: 'interrupted while pushing; the target may hold part of the image', command });
    if (!run.ok) {
      const failure = classifySkopeoFailure(run.stderr, { timedOut: run.timedOut });
      let reason = `skopeo failed (${failure.reason}): ${failure.message}`;
      if (failure.reason === 'unauthorized' && project) {
        reason += `; Harbor also answers "unauthorized" when the account may not push into project ${job.project}`;
      }
      return done('failed', { attempts, reason, command });
    }
    pushed = attempts;
    const after = await c.conn.client.headManifest(job.targetRepository, job.tag);
    if (after?.digest !== job.digest) {
      return done('failed', { attempts, command, reason: `pushed, but the target has ${after?.digest ?? 'no manifest'} for ${job.reference}, source ${job.digest}` });
    }
    return done('synced', { attempts });
  } catch (error) {
    // An abort ends the pending project check or HEAD with the signal's reason ("interrupted by SIGTERM"):
    // that is the run stopping, not this image failing.
    if (c.signal.aborted) {
      const reason = pushed > 0 ? 'interrupted while verifying the pushed image on the target' : 'interrupted while checking the target, before anything was pushed';
      return done('canceled', { reason, attempts: pushed });
    }
    const reason = pushed > 0 ? `pushed, but the target could not be asked for its digest: ${(error as Error).message}` : (error as Error).message;
    return done('failed', { reason, attempts: pushed, ...(pushed > 0 ? { command: formatCommand(c.opts.skopeo, job.args) } : {}) });
  }
}

/** 0 when every selected tag is synced, up to date or intentionally skipped; 4 when any failed or is broken. */
export function exitCodeForSync(s: SyncSummary): number {
  return s.failed + s.broken + s.canceled > 0 ? EXIT.partial : EXIT.ok;
}

