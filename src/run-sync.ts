/**
 * `sync`: export (streaming) → for each ready layout, in parallel but never two into one target
 * repository: Harbor project check → HEAD the target (equal digest: up to date, no skopeo) →
 * skopeo sync → HEAD again to verify the digest. Transient failures of the HEADs and the push are retried
 * by one knob (--retries, with jitter); skopeo itself is told not to retry, so attempts never multiply.
 * Results stream out as each image is decided; nothing is collected.
 */
import { rmSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PreflightError } from './errors.js';
import type { Emit, ExportResult } from './core/events.js';
import { emptyCounts, type Counts, type RunIssues, type StopCause } from './core/results.js';
import { defaultImageTimeoutMs } from './core/image-timeout.js';
import { mapOrdered } from './core/map-concurrent.js';
import { retryWithBackoff, runKeyed } from './core/schedule.js';
import { classifySkopeoFailure, cleanSkopeoOutput, failureAfterRetries, tailOfOutput } from './core/skopeo-failure.js';
import { createBreaker, troubleOfSkopeoFailure, troubleOfStatus, type TargetTrouble } from './core/breaker.js';
import { DIRECT_PUSH_COMMAND, MANIFEST_ONLY_PUSH_COMMAND, planPush, type PushJob, type PushSettings, type SyncResult } from './core/sync-plan.js';
import { Lru } from './core/lru.js';
import { pushIndexFromLayout, pushManifestOnly } from './registry/push-index.js';
import type { HarborApi } from './registry/harbor-api.js';
import { formatCommand, parseTarget, type PushTarget } from './core/target.js';
import { notReachedOf, type ExportSummary } from './core/summary.js';
import { redact, secretsOf, writeTempAuthFile, ENV_PASSWORD } from './registry/credentials.js';
import { RegistryConnectionError, RegistryHttpError } from './registry/registry-errors.js';
import { MAX_SOCKETS_PER_HOST } from './registry/http-transport.js';
import { locateStorage } from './storage/scan-storage.js';
import type { StorageReader } from './storage/storage-reader.js';
import type { Digest } from './core/types.js';
import { assertSkopeoPresent, preflightSkopeo, runSkopeo } from './registry/skopeo.js';
import { connectTarget, createProjectGuard, resolveTargetAccess, type ProjectState, type TargetAccessOptions, type TargetConnection } from './registry/target-registry.js';
import { createTargetState, type TagState, type TargetState } from './registry/target-state.js';
import { createSeenFilter, type SeenFilter } from './core/seen-filter.js';
import { DEFAULT_BREAKER } from './core/sync-plan.js';
import { exportIssues, openExport, type ExportOptions, type ExportRun } from './run-export.js';
import { checkRunLock, waitForRunLock } from './output/run-lock.js';
import { isBucketUrl } from './storage/bucket-url.js';

/**
 * HEAD requests (and Harbor project checks) in flight at once before pushes: cheap for the target, and one per
 * connection the transport keeps (more would only queue for a connection).
 */
export const CHECK_CONCURRENCY = MAX_SOCKETS_PER_HOST;
/**
 * (target repository, digest) pairs this run pushed and verified, the most recent kept: a later tag of the same
 * image in the same repository is then a manifest PUT only. A repository's tags come together in the walk and at
 * most --concurrency (≤ 64) repositories push at once, so this many (~100 bytes each) is ample.
 */
export const PUSHED_REMEMBERED = 4096;
/** Default --out: a directory on the storage volume, beside docker/. */
export const DEFAULT_OUT_NAME = 'registry-rescue-export';
const RETRY_BASE_MS = 2_000;
/**
 * The `reason` of every image a stopped run never started: the same short text for all, since the stop reason is
 * the run's, said once (the summary's `stopped early:` line, the report's `summary.stoppedEarly`). A trip at image 3
 * of 100,000 would otherwise copy it into the report 100k times.
 */
export const NOT_ATTEMPTED_REASON = 'not started: the run stopped early (see "stopped early" in the summary)';
/** What the dry run shows in place of the private auth file written at run time. */
const AUTHFILE_PLACEHOLDER = '<private auth file>';

export interface SyncOptions extends Omit<ExportOptions, 'out'>, TargetAccessOptions {
  to: string;
  out?: string;
  concurrency: number;
  retries: number;
  createProjects: boolean;
  skopeo: string;
  /** Kill and retry a skopeo process after this long. */
  imageTimeoutMs?: number;
  /** Consecutive images the target failed (unreachable, or its own server error) that stop the run from starting pushes (0: never). */
  breaker?: number;
  /** Stop starting pushes after the first failed image. */
  abortOnError?: boolean;
  /** Replace a target tag that holds another image (default: report it as `drift` and leave it alone). */
  overwrite?: boolean;
  /** --map-project, --root-project. */
  naming?: Pick<PushTarget, 'projects' | 'rootProject'>;
  /** Dry run: ask the target (read-only) for each Harbor project's quota and compare. */
  checkQuota?: boolean;
}

/** Dry run: what would go into one target project. */
export interface ProjectBytes {
  project: string;
  images: number;
  /** Every blob and manifest counted once per project (as Harbor's quota counts them); the target may have some already. */
  bytes: number;
  /** With --check-quota on Harbor: false when the project does not exist yet. */
  exists?: boolean;
  /** With --check-quota on Harbor: the project's storage quota (hard -1: unlimited). */
  quota?: { hard: number; used: number };
  /** used + bytes > hard. */
  overQuota?: boolean;
}

export interface SyncDeps {
  cwd: string;
  onExit: (cleanup: () => void) => void;
  env: Readonly<Record<string, string | undefined>>;
  signal: AbortSignal;
  emit: Emit;
}

export interface SyncTotals {
  /** Selected tags with a result. */
  selected: number;
  counts: Counts;
  /** Bytes of the images synced in this run (blobs the target already had included). */
  bytesSynced: number;
  ms: number;
  /** Why the run stopped starting pushes, if it did (circuit breaker, --abort-on-error): said once, here. */
  stoppedEarly?: string;
  /** The same as a word for monitors. */
  stoppedBy?: StopCause;
  /** False when the run stopped (an interrupt) before its walk of the storage ended: the tags after it were never read. */
  walkComplete: boolean;
  /** Selected tags the walk had listed but the run never reached (not in the results); see notReachedOf. */
  notReached: number;
  /** Dry run: bytes per target project, sorted by project. */
  projects?: ProjectBytes[];
}

export interface SyncRun {
  target: PushTarget;
  out: string;
  storage: string;
  /** One result per selected tag, as each is decided (completion order: pushes finish when they finish). */
  results: AsyncGenerator<SyncResult>;
  /** After `results` ended: the totals, the export side's totals, and what makes the run incomplete. */
  finish(): Promise<{ totals: SyncTotals; exportSummary: ExportSummary; issues: RunIssues }>;
}

/** Opens the sync: every preflight check runs here (and throws); per-image failures are results. */
export async function openSync(opts: SyncOptions, deps: SyncDeps): Promise<SyncRun> {
  const started = performance.now();
  const target: PushTarget = { ...parseTarget(opts.to), ...opts.naming };
  // The default output lives on the storage volume, beside docker/, so hard links work; from a bucket,
  // where every file is downloaded, in the working directory (scratch: each layout goes once pushed).
  const out = path.resolve(deps.cwd, opts.out ?? (isBucketUrl(opts.storage) ? DEFAULT_OUT_NAME : path.join((await locateStorage(opts.storage, deps.cwd)).root, DEFAULT_OUT_NAME)));
  const { dryRun } = opts;

  let conn: TargetConnection | undefined;
  let auth: Awaited<ReturnType<typeof writeTempAuthFile>> | undefined;
  let guard: ((project: string) => Promise<ProjectState>) | undefined;
  let state: TargetState | undefined;
  let quotaApi: HarborApi | undefined;
  const dispose = async () => {
    await auth?.dispose();
    conn?.close();
  };
  try {
    // Another run busy with this output directory: exit 75 at once, or with --wait-lock wait for it, before
    // credentials are read or the target is asked anything (a token got before an hour's wait may have expired
    // after it). openExport takes the lock itself, after the target checks, which leave no directory behind; with
    // --wait-lock it waits for what is left of the same budget should a third run take the lock in between.
    if (!dryRun && opts.waitLockMs === undefined) await checkRunLock(out);
    // One budget for both waits, from the run's start: a third run taking the lock between this wait and openExport's
    // must not double it.
    if (!dryRun && opts.waitLockMs !== undefined) await waitForRunLock(out, { waitMs: opts.waitLockMs, waitStartedAt: started, signal: deps.signal, onWaiting: (message) => deps.emit({ kind: 'warning', message }) });
    // Local facts only (auth file, environment): the dry run shows --dest-authfile exactly when the real run passes one.
    const { credentials, certDir } = await resolveTargetAccess(target.host, opts, deps);
    if (dryRun && opts.checkQuota) {
      // Read-only: the dry run writes nothing and pushes nothing, it only asks Harbor for its quotas.
      conn = await connectTarget({ host: target.host, tlsVerify: opts.destTlsVerify, certDir, credentials, signal: deps.signal });
      const harbor = await conn.harbor().detectHarbor().catch(() => undefined);
      if (!harbor) deps.emit({ kind: 'warning', message: `${target.host} is not a Harbor (no /api/v2.0/systeminfo); --check-quota has no quotas to compare` });
      else quotaApi = conn.harbor();
    }
    if (!dryRun) {
      // A nightly run on a node without skopeo would otherwise export everything and fail at the first push.
      assertSkopeoPresent(opts.skopeo, deps.env.PATH, deps.cwd);
      // Before the export opens: a target that cannot be used leaves nothing behind (no export directory).
      conn = await connectTarget({
        host: target.host, tlsVerify: opts.destTlsVerify, certDir, credentials, signal: deps.signal,
        retries: opts.retries, retryBaseMs: RETRY_BASE_MS, onRetry: (message) => deps.emit({ kind: 'warning', message }),
      });
      if (credentials) {
        auth = await writeTempAuthFile(target.host, credentials);
        // Also removed if the process ends abruptly (a second signal): credentials must not outlive the run.
        const dir = auth.dir;
        deps.onExit(() => rmSync(dir, { recursive: true, force: true }));
      }
      const harbor = await conn.harbor().detectHarbor().catch(() => undefined);
      state = createTargetState(conn.client, harbor ? conn.harbor() : undefined);
      if (harbor) guard = createProjectGuard(conn, { create: opts.createProjects, transient: isTransientHttp });
      else if (opts.createProjects) deps.emit({ kind: 'warning', message: `${target.host} is not a Harbor (no /api/v2.0/systeminfo); --create-projects does nothing there` });
    }
    // Oldest push first within a repository (the walk's order across repositories is kept).
    const run = await openExport({ ...opts, out, waitLockStartedAt: started, pushOrder: true, keepBlobs: dryRun, deferDownloads: true, mainThreadBusy: !dryRun }, deps);
    /** Dry run: per target project, its images and bytes, each blob counted once per project (in fixed memory). */
    const projects = new Map<string, { images: number; bytes: number }>();
    let seen: SeenFilter | undefined;
    const count = (job: PushJob) => {
      let p = projects.get(job.project);
      if (!p) projects.set(job.project, (p = { images: 0, bytes: 0 }));
      p.images++;
      seen ??= createSeenFilter();
      for (const [digest, size] of job.export.blobs ?? []) if (!seen.testAndAdd(job.project, digest)) p.bytes += size;
    };
    const settings = {
      target,
      out: run.store?.out ?? out,
      tlsVerify: opts.destTlsVerify,
      // Retries are ours (with jitter, HEADs included): skopeo's own would multiply with them.
      retryTimes: 0,
      ...(certDir !== undefined ? { certDir } : {}),
      ...(auth ? { authFile: auth.path } : dryRun && credentials ? { authFile: AUTHFILE_PLACEHOLDER } : {}),
    };
    const logs = path.join(settings.out, LOG_DIR);
    const secrets = secretsOf(credentials);
    const pusher = createPusher({ reader: run.storage.reader, conn: conn as TargetConnection, state: state as TargetState, opts, guard, signal: deps.signal, emit: deps.emit, logs, secrets });
    const totals: SyncTotals = { selected: 0, counts: emptyCounts(), bytesSynced: 0, ms: 0, walkComplete: false, notReached: 0 };
    const channel = createChannel<SyncResult>();
    const record = (r: SyncResult) => {
      totals.selected++;
      totals.counts[r.status]++;
      if (r.status === 'synced') totals.bytesSynced += r.bytes;
      const clean = {
        ...r,
        ...(r.reason !== undefined ? { reason: redact(r.reason, secrets) } : {}),
        ...(r.outputTail !== undefined ? { outputTail: redact(r.outputTail, secrets) } : {}),
      };
      deps.emit({ kind: 'image:synced', result: clean });
      channel.push(clean);
    };
    /**
     * --verify-blobs from a bucket leaves an image's hashes to its layout write (run-export.ts): one that gets no layout
     * after all (the target has it, the check failed) is hashed from the bucket here, and is broken as resolving would
     * have made it. Not once the run stopped starting pushes: it downloads nothing more then.
     */
    const unwritten = async (r: ExportResult, result: SyncResult): Promise<SyncResult> => {
      if (r.item.image.unhashed === undefined || deps.signal.aborted || pusher.stopped()) return result;
      const hashed = await run.hashUnwritten(r);
      if (hashed.outcome !== 'broken') return result;
      const decision = planPush(hashed, settings);
      return 'result' in decision ? { ...decision.result, ms: result.ms } : result;
    };
    async function* candidates(): AsyncGenerator<PushJob> {
      for await (const r of run.results) {
        const decision = planPush(r, settings);
        if ('result' in decision) record(await unwritten(r, decision.result));
        else if (dryRun) {
          count(decision.job);
          record({ ...base(decision.job), status: 'would-sync', command: commandOf(opts.skopeo, decision.job) });
        }
        else if (pusher.stopped()) record(pusher.notAttempted(decision.job));
        else yield decision.job;
      }
    }
    // Images the target lacks (or holds differently): checked many at once, since a nightly run mostly finds
    // everything up to date, then pushed under the one-per-repository rule.
    // Results are recorded where they are decided: an interrupt that stops the pipeline loses none of them.
    type Checked = { job: PushJob; harbor: boolean };
    const checkedNotPushed = new Set<PushJob>();
    const notStarted = (job: PushJob): SyncResult => ({ ...base(job), status: 'canceled', code: 'not-started', reason: 'the run was interrupted before this image started' });
    // runKeyed lets go of its input at once on an interrupt; checks still in flight settle (and record) later.
    let checksSettled: () => void = () => {};
    const settled = new Promise<void>((resolve) => (checksSettled = resolve));
    let checking = false;
    async function* toPush(): AsyncGenerator<Checked> {
      checking = true;
      try {
        // In order: a repository's pushes start in the order its tags come (oldest push first), whichever HEAD answers first.
        const checked = mapOrdered(candidates(), CHECK_CONCURRENCY, async (job): Promise<Checked | undefined> => {
          const c = await pusher.check(job);
          if ('result' in c) return void record(await unwritten(job.export, c.result));
          checkedNotPushed.add(job);
          return { job, harbor: c.harbor };
        });
        for await (const c of checked) if (c) yield c;
      } finally {
        checksSettled();
      }
    }
    // A run that stopped starting pushes downloads nothing more (push() then only says why).
    const withLayout = bucketScratch(run, settings, deps.signal);
    // A further tag of an image already pushed into its repository is a manifest PUT: no layout, no skopeo;
    // should the PUT fail, the image takes the usual way.
    const pushOne = async (j: Checked): Promise<SyncResult> => {
      if (pusher.stopped()) return pusher.push(j.job, j.harbor);
      return (await pusher.pushManifestOnly(j.job)) ?? withLayout(j.job, () => pusher.push(j.job, j.harbor));
    };
    const pushing = runKeyed(toPush(), { concurrency: opts.concurrency, keyOf: (j) => j.job.targetRepository, signal: deps.signal }, pushOne, (k) => {
      checkedNotPushed.delete(k.item.job);
      if (k.status === 'done') record(k.value);
      else if (k.status === 'canceled') record(notStarted(k.item.job));
      else record({ ...base(k.item.job), status: 'failed', reason: `internal error: ${(k.error as Error)?.message ?? String(k.error)}` });
    }).finally(async () => {
      // A generator closed before it ever ran has no finally to run: nothing to wait for then.
      if (checking) await settled;
      for (const job of checkedNotPushed) record(notStarted(job));
      channel.close();
    });
    async function* results(): AsyncGenerator<SyncResult> {
      try {
        yield* channel.drain();
        await pushing;
        if (pusher.preflight) throw pusher.preflight;
        // Before the connection closes: --check-quota asks Harbor for each project's quota.
        if (dryRun && !deps.signal.aborted) totals.projects = await projectTotals(projects, quotaApi);
      } finally {
        await dispose();
      }
    }
    return {
      target,
      out: settings.out,
      storage: run.storage.v2,
      results: results(),
      async finish() {
        const exportSummary = await run.finish();
        totals.ms = Math.round(performance.now() - started);
        // Counted as list counts an interrupted walk (the tags it read), so the two commands agree.
        totals.walkComplete = run.walkComplete();
        totals.notReached = notReachedOf(exportSummary);
        const stop = pusher.stopped();
        if (stop) {
          totals.stoppedEarly = stop.reason;
          totals.stoppedBy = stop.cause;
        }
        return { totals, exportSummary, issues: { ...exportIssues(exportSummary), stoppedEarly: stop?.cause } };
      },
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Runs the whole sync, handing each result to `onResult`; resolves to the totals. */
export async function runSync(opts: SyncOptions, deps: SyncDeps, onResult: (r: SyncResult) => void = () => {}) {
  const run = await openSync(opts, deps);
  for await (const r of run.results) onResult(r);
  return { run, ...(await run.finish()) };
}

/** The dry run's bytes per project, and with a Harbor API (--check-quota) each project's quota. */
async function projectTotals(projects: Map<string, { images: number; bytes: number }>, api: HarborApi | undefined): Promise<ProjectBytes[]> {
  const out: ProjectBytes[] = [];
  for (const name of [...projects.keys()].sort()) {
    const p = projects.get(name) as { images: number; bytes: number };
    const entry: ProjectBytes = { project: name, images: p.images, bytes: p.bytes };
    if (api) {
      const found = await api.getProject(name);
      entry.exists = found !== undefined;
      const quota = found?.projectId !== undefined ? await api.getQuota(found.projectId) : undefined;
      if (quota) {
        entry.quota = quota;
        entry.overQuota = quota.hard >= 0 && quota.used + p.bytes > quota.hard;
      }
    }
    out.push(entry);
  }
  return out;
}

/** The skopeo command line of a push, or what registry-rescue does itself for a direct one. */
function commandOf(skopeo: string, job: PushJob): string {
  return job.direct !== undefined ? DIRECT_PUSH_COMMAND : formatCommand(skopeo, job.args);
}

/**
 * From a bucket, a layout is downloaded only once the target was found to lack the image, just before its
 * push, and removed once the push ended (pushed and verified, or failed): at most --concurrency layouts are
 * on local disk at any time, so a bucket far larger than the node's disk can be rescued. A blob that does
 * not hash to its digest makes the image broken here. From a directory, layouts are links, written ahead.
 */
function bucketScratch(run: ExportRun, settings: PushSettings, signal: AbortSignal) {
  return async (job: PushJob, push: () => Promise<SyncResult>): Promise<SyncResult> => {
    if (run.storage.kind !== 'bucket') return push();
    const started = performance.now();
    const written = await run.writeLayout(job.export);
    if (written.outcome === 'failed' && signal.aborted) {
      return { ...base(job), status: 'canceled', code: 'interrupted', reason: 'interrupted while downloading the layout, before the push', ms: Math.round(performance.now() - started) };
    }
    if (written.outcome !== 'created' && written.outcome !== 'rebuilt') {
      const decision = planPush(written, settings);
      const result = 'result' in decision ? decision.result : { ...base(job), reason: 'the layout could not be written' };
      return { ...result, ms: Math.round(performance.now() - started) };
    }
    try {
      return await push();
    } finally {
      await run.removeLayout(job.id).catch(() => {});
    }
  };
}

function base(job: PushJob): SyncResult {
  return { id: job.id, source: job.id, target: job.reference, digest: job.digest, status: 'failed', attempts: 0, ms: 0, bytes: job.export.item.image.size };
}

interface PusherContext {
  /** Directory of the per-image skopeo logs. */
  logs: string;
  /** The source storage (a tag's history tells drift from a tag that moved at the source). */
  reader: StorageReader;
  /** What skopeo's output must lose before it is kept in a log (it may echo its credentials). */
  secrets: readonly string[];
  conn: TargetConnection;
  state: TargetState;
  opts: SyncOptions;
  guard: ((project: string) => Promise<ProjectState>) | undefined;
  signal: AbortSignal;
  emit: Emit;
}

/** Thrown inside a push when the target cannot be reached (after retries). */
const isConnectionFailure = (error: unknown) => error instanceof RegistryConnectionError;
/** What an error of our own requests (HEADs, Harbor's API, the direct push) says about the target: what the circuit breaker counts. */
const troubleOfError = (error: unknown): TargetTrouble | undefined =>
  isConnectionFailure(error) ? { kind: 'unreachable' } : error instanceof RegistryHttpError ? troubleOfStatus(error.status) : undefined;
/**
 * The result code of a failure of our own requests: what skopeo's failure of the same kind is coded (`unreachable`,
 * `server-error`), so one cause has one name in the report whichever request met it; else `fallback`.
 */
const codeOfError = (error: unknown, fallback: string): string => troubleOfError(error)?.kind ?? fallback;
const isTransientHttp = (error: unknown) =>
  isConnectionFailure(error) || (error instanceof RegistryHttpError && (error.status >= 500 || error.status === 429 || error.status === 0));

/** Makes `job`'s result with a status, what else it says, and the time since this was called. */
type Done = (status: SyncResult['status'], extra?: Partial<SyncResult>) => SyncResult;
function timedResult(job: PushJob): Done {
  const started = performance.now();
  return (status, extra = {}) => ({ ...base(job), status, ms: Math.round(performance.now() - started), ...extra });
}

/**
 * Pushes images one at a time per call, and keeps what the run as a whole must know: the skopeo preflight
 * (checked before the first push, so an all-up-to-date run starts no process), the circuit breaker, and
 * --abort-on-error.
 */
function createPusher(c: PusherContext) {
  let skopeoChecked: Promise<unknown> | undefined;
  let preflight: PreflightError | undefined;
  /** Why the run stopped starting pushes, if it did. The first stop wins: its reason goes to stderr and into the report once. */
  let stopping: { cause: StopCause; reason: string } | undefined;
  const stop = (cause: StopCause, reason: string): boolean => {
    if (stopping !== undefined) return false;
    stopping = { cause, reason };
    return true;
  };
  const breaker = createBreaker(c.opts.breaker ?? DEFAULT_BREAKER, c.opts.to);
  // skopeo needs none of our secrets: not the target's password, nor the bucket's AWS credentials.
  const skopeoEnv = { [ENV_PASSWORD]: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined };
  const retry = { retries: c.opts.retries, baseMs: RETRY_BASE_MS, signal: c.signal, random: Math.random };
  /** See PUSHED_REMEMBERED. `\n` occurs in neither a repository name nor a digest. */
  const pushedHere = new Lru<string, true>(PUSHED_REMEMBERED);
  const pushedKey = (job: PushJob) => `${job.targetRepository}\n${job.digest}`;

  /**
   * The target's digest for the tag (HEAD, or Harbor's artifact API when a policy refuses the HEAD), with the
   * same retries as the push; a connection failure left after them is rethrown.
   */
  /** Calls a read of the target with the same retries as the push; a failure left after them is rethrown. */
  const retried = async <T>(read: () => Promise<T>): Promise<T> => {
    const { value } = await retryWithBackoff(
      () => read().then((v) => ({ ok: true as const, v }), (error: unknown) => ({ ok: false as const, error })),
      { ...retry, isTransient: (r) => !r.ok && isTransientHttp(r.error) },
    );
    if (!value.ok) throw value.error;
    return value.v;
  };
  /** The target's digest for the tag (HEAD, or Harbor's artifact API when a policy refuses the HEAD). */
  const lookup = (job: PushJob, fresh = false): Promise<TagState> => retried(() => c.state.tag(job.targetRepository, job.tag, { fresh }));
  const ensureSkopeo = async (): Promise<boolean> => {
    try {
      await (skopeoChecked ??= preflightSkopeo(c.opts.skopeo));
      return true;
    } catch (error) {
      if (!(error instanceof PreflightError)) throw error;
      preflight ??= error;
      stop('skopeo-unusable', 'skopeo cannot run');
      return false;
    }
  };
  /** Feeds the breaker with how an image ended; `trouble`: what its failure says about the target as a whole. */
  const observe = (r: SyncResult, trouble: TargetTrouble | undefined): SyncResult => {
    const success = r.status === 'synced' || r.status === 'up-to-date' || r.status === 'drift' || r.status === 'immutable-conflict';
    // The reason is quoted in the stop reason, which goes to stderr and the report unredacted: secrets out first.
    const outcome = success ? { kind: 'success' as const } : trouble ? { ...trouble, message: redact(r.reason ?? '', c.secrets) } : { kind: 'other' as const };
    const tripped = breaker.observe(outcome, new Date().toISOString());
    // Only a target trouble trips it: the outcome's kind is the cause.
    if (tripped !== undefined && (outcome.kind === 'unreachable' || outcome.kind === 'server-error')) {
      if (stop(outcome.kind === 'unreachable' ? 'target-unreachable' : 'target-server-error', tripped)) c.emit({ kind: 'warning', message: `circuit breaker: ${tripped}` });
    }
    if (r.status === 'failed' && c.opts.abortOnError && stop('abort-on-error', `--abort-on-error: ${r.id} failed`)) {
      c.emit({ kind: 'warning', message: `--abort-on-error: ${r.id} failed; no more pushes are started` });
    }
    return r;
  };

  /**
   * After a push: the target's digest must be the source's. `manifestOnly`: the push was a manifest PUT only, which
   * its result says in `command` (a success included: it is the one thing that tells it from a skopeo push).
   */
  const verifyPushed = async (job: PushJob, attempts: number, done: Done, manifestOnly = false): Promise<SyncResult> => {
    const after = await lookup(job, true);
    const how = manifestOnly ? { command: MANIFEST_ONLY_PUSH_COMMAND } : {};
    if (!after.known) return observe(done('synced', { attempts, ...how, code: 'unverified', reason: `pushed; not verified: ${after.why}` }), undefined);
    if (after.digest !== job.digest) {
      const got = after.digest !== undefined ? { targetDigest: after.digest } : {};
      return observe(done('failed', { attempts, command: manifestOnly ? MANIFEST_ONLY_PUSH_COMMAND : commandOf(c.opts.skopeo, job), code: 'digest-mismatch', ...got, reason: `pushed, but the target has ${after.digest ?? 'no manifest'} for ${job.reference}, source ${job.digest}` }), undefined);
    }
    c.state.pushed(job.targetRepository, job.tag, job.digest);
    pushedHere.set(pushedKey(job), true);
    return observe(done('synced', { attempts, ...how }), undefined);
  };
  /** A push's error that is no result of its own: the run stopping, or a failure (of the push or of the HEAD after it). */
  const failedBy = (error: unknown, pushed: number, command: string, done: Done): SyncResult => {
    // An abort ends the pending HEAD with the signal's reason: that is the run stopping, not this image failing.
    if (c.signal.aborted) {
      const reason = pushed > 0 ? 'interrupted while verifying the pushed image on the target' : 'interrupted before the push started';
      return done('canceled', { code: 'interrupted', reason, attempts: pushed });
    }
    const reason = pushed > 0 ? `pushed, but the target could not be asked for its digest: ${(error as Error).message}` : (error as Error).message;
    return observe(done('failed', { code: codeOfError(error, 'target-error'), reason, attempts: pushed, ...(pushed > 0 ? { command } : {}) }), troubleOfError(error));
  };

  return {
    get preflight() {
      return preflight;
    },
    /** Why the run stopped starting pushes, if it did. */
    stopped: () => stopping,
    notAttempted: (job: PushJob): SyncResult => ({ ...base(job), status: 'not-attempted', code: 'not-attempted', reason: NOT_ATTEMPTED_REASON }),
    /**
     * The Harbor project check and the HEAD before a push: a result when there is nothing to push (up to
     * date, refused, unreachable), else whether the project is Harbor's. Read-only, so it runs outside the
     * one-push-per-repository rule, many at once on kept-alive connections.
     */
    async check(job: PushJob): Promise<{ result: SyncResult } | { harbor: boolean }> {
      if (stopping) return { result: this.notAttempted(job) };
      const done = timedResult(job);
      try {
        const project = c.guard ? await retried(() => c.guard!(job.project)) : undefined;
        if (project?.refusal) return { result: observe(done('failed', { code: 'project-refused', reason: project.refusal }), undefined) };
        const before = await lookup(job);
        if (before.known && before.digest === job.digest) return { result: observe(done('up-to-date'), undefined) };
        const source = job.export.item.image;
        if (before.known && before.digest !== undefined && !c.opts.overwrite && !(await c.reader.tagOnceHeld(source.repository, source.tag, before.digest))) {
          // Not an earlier revision of the source's tag (that would be the tag moving at the source, pushed as usual):
          // someone pushed this tag at the target (a failover, a rebuild), and theirs is kept unless --overwrite.
          const reason = `the target's ${job.reference} holds ${before.digest}, the source ${job.digest}; left alone (--overwrite replaces it)`;
          return { result: observe(done('drift', { code: 'drift', targetDigest: before.digest, reason }), undefined) };
        }
        // Not known (the target refuses reads): pushed anyway, as an account that may push but not read expects.
        return { harbor: project !== undefined };
      } catch (error) {
        // An abort ends the pending project check or HEAD with the signal's reason ("interrupted by SIGTERM"):
        // that is the run stopping, not this image failing.
        if (c.signal.aborted) return { result: done('canceled', { code: 'interrupted', reason: 'interrupted while checking the target, before anything was pushed' }) };
        return { result: observe(done('failed', { code: codeOfError(error, 'target-error'), reason: (error as Error).message }), troubleOfError(error)) };
      }
    },
    /** Pushes an image that check() found missing or different on the target, then verifies its digest. */
    async push(job: PushJob, harbor: boolean): Promise<SyncResult> {
      if (stopping) return this.notAttempted(job);
      const done = timedResult(job);
      /** Attempts of the push once skopeo succeeded (0: nothing pushed yet). */
      let pushed = 0;
      try {
        if (job.direct !== undefined) {
          const r = await this.pushDirect(job, done);
          if ('result' in r) return r.result;
          pushed = r.attempts;
          return await verifyPushed(job, r.attempts, done);
        }
        if (!(await ensureSkopeo())) return done('canceled', { code: 'skopeo-unusable', reason: 'skopeo cannot run' });
        const log = path.join(c.logs, `${job.id}.log`);
        const attempt = async (n: number) => {
          c.emit({ kind: 'push:attempt', id: job.id, target: job.reference, attempt: n });
          const r = await runSkopeo(c.opts.skopeo, job.args, { signal: c.signal, timeoutMs: c.opts.imageTimeoutMs ?? defaultImageTimeoutMs(job.export.item.image.size), env: skopeoEnv });
          await writeLog(log, n, formatCommand(c.opts.skopeo, job.args), r, c.secrets);
          return r;
        };
        const { value: run, attempts } = await retryWithBackoff(attempt, {
          ...retry,
          isTransient: (r) => !r.ok && !r.canceled && classifySkopeoFailure(r.stderr, { timedOut: r.timedOut }).transient,
        });
        const command = formatCommand(c.opts.skopeo, job.args);
        if (run.canceled) return done('canceled', { attempts, code: 'interrupted', reason: 'interrupted while pushing; the target may hold part of the image', command });
        if (!run.ok) {
          const failure = failureAfterRetries(classifySkopeoFailure(run.stderr, { timedOut: run.timedOut }));
          let reason = `skopeo failed (${failure.reason}): ${failure.message}`;
          if (failure.reason === 'corrupt-source') reason += '; the blob in the source storage is corrupt (run `list --verify-blobs` to find every image it breaks)';
          if (failure.reason === 'unauthorized' && harbor) {
            reason += `; Harbor also answers "unauthorized" when the account may not push into project ${job.project}`;
          }
          const outputTail = tailOfOutput(`${run.stdout}\n${run.stderr}`);
          if (failure.reason === 'immutable') {
            reason = `the target's ${job.reference} is immutable and holds another image; not retried (${failure.message})`;
            return observe(done('immutable-conflict', { attempts, code: 'immutable-conflict', reason, command, log, outputTail }), undefined);
          }
          return observe(done('failed', { attempts, code: failure.reason, reason, command, log, outputTail }), troubleOfSkopeoFailure(failure));
        }
        pushed = attempts;
        return await verifyPushed(job, attempts, done);
      } catch (error) {
        return failedBy(error, pushed, commandOf(c.opts.skopeo, job), done);
      }
    },
    /**
     * A tag whose image this run already pushed (and verified) into the same target repository: its manifest bytes,
     * read from the storage (hashed there), PUT under the tag, then verified as any push. Undefined when that is not
     * so, or when the PUT failed (the caller then pushes it the usual way: layout and skopeo); a result otherwise.
     * The same rules as any push hold, since check() already decided that the tag is to be pushed (missing, moved
     * at the source, or --overwrite); a refusal of the PUT (Harbor's immutable 412 too) is for skopeo to meet again
     * and report as it reports it.
     */
    async pushManifestOnly(job: PushJob): Promise<SyncResult | undefined> {
      if (stopping || pushedHere.get(pushedKey(job)) === undefined) return undefined;
      const done = timedResult(job);
      const stored = await c.reader.readManifest(job.digest as Digest);
      if (!stored.ok) return undefined;
      c.emit({ kind: 'push:attempt', id: job.id, target: job.reference, attempt: 1 });
      try {
        await pushManifestOnly(c.conn.client, job.targetRepository, job.tag, stored.bytes);
      } catch (error) {
        if (c.signal.aborted) return done('canceled', { attempts: 1, code: 'interrupted', reason: 'interrupted while pushing its manifest', command: MANIFEST_ONLY_PUSH_COMMAND });
        c.emit({ kind: 'warning', message: `${job.id}: the manifest PUT of an image already pushed into ${job.targetRepository} failed (${redact((error as Error).message, c.secrets)}); pushing it with skopeo instead` });
        return undefined;
      }
      try {
        return await verifyPushed(job, 1, done, true);
      } catch (error) {
        return failedBy(error, 1, MANIFEST_ONLY_PUSH_COMMAND, done);
      }
    },
    /**
     * An index skopeo cannot push unchanged, pushed through the Distribution API (push-index.ts) with the same
     * retries; a 412 on the manifest PUT is Harbor's immutable-tag rule.
     */
    async pushDirect(job: PushJob, done: Done): Promise<{ result: SyncResult } | { attempts: number }> {
      let n = 0;
      const { value, attempts } = await retryWithBackoff(
        () => {
          c.emit({ kind: 'push:attempt', id: job.id, target: job.reference, attempt: ++n });
          return pushIndexFromLayout(c.conn.client, job.targetRepository, job.tag, job.layoutDir).then((v) => ({ ok: true as const, v }), (error: unknown) => ({ ok: false as const, error }));
        },
        { ...retry, isTransient: (r) => !r.ok && isTransientHttp(r.error) },
      );
      if (value.ok) return { attempts };
      const error = value.error;
      if (c.signal.aborted) return { result: done('canceled', { attempts, code: 'interrupted', reason: 'interrupted while pushing; the target may hold part of the image', command: DIRECT_PUSH_COMMAND }) };
      const message = (error as Error).message;
      if (error instanceof RegistryHttpError && error.status === 412) {
        const reason = `the target's ${job.reference} is immutable and holds another image; not retried (${message})`;
        return { result: observe(done('immutable-conflict', { attempts, code: 'immutable-conflict', reason, command: DIRECT_PUSH_COMMAND }), undefined) };
      }
      return { result: observe(done('failed', { attempts, code: codeOfError(error, 'direct-push-failed'), reason: `pushing it through the Distribution API failed: ${message}`, command: DIRECT_PUSH_COMMAND }), troubleOfError(error)) };
    },
  };
}

/** Under the output directory, beside the layouts (a dot directory: skopeo and --prune never see it). */
export const LOG_DIR = '.registry-rescue-logs';

/**
 * Keeps skopeo's whole output of an image's pushes at `<out>/.registry-rescue-logs/<repository>:<tag>.log`
 * (the first attempt of a run starts the file anew), cleaned of upload URLs, tokens and the run's secrets. Best effort: a log
 * that cannot be written never fails a push.
 */
async function writeLog(file: string, attempt: number, command: string, r: { exitCode: number | undefined; timedOut: boolean; canceled: boolean; stdout: string; stderr: string; ms: number }, secrets: readonly string[]): Promise<void> {
  const head = `# ${new Date().toISOString()} attempt ${attempt}: ${command}\n`;
  const status = `# exit ${r.exitCode ?? 'none'}${r.timedOut ? ' (timed out)' : ''}${r.canceled ? ' (canceled)' : ''} after ${r.ms} ms\n`;
  // skopeo may echo what it was given (an auth file's content in an error): the log never keeps a secret.
  const text = redact(head + cleanSkopeoOutput(`${r.stdout}${r.stdout.endsWith('\n') || !r.stdout ? '' : '\n'}${r.stderr}`) + (r.stderr.endsWith('\n') ? '' : '\n') + status, secrets);
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await (attempt === 1 ? writeFile(file, text, { mode: 0o644 }) : appendFile(file, text));
  } catch {
    // The push's result is what matters; the log is a convenience.
  }
}

/** A queue between producers that push and one async consumer; `drain` ends after `close` once empty. */
function createChannel<T>() {
  const queue: T[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  const signal = () => {
    wake?.();
    wake = undefined;
  };
  return {
    push(item: T) {
      queue.push(item);
      signal();
    },
    close() {
      closed = true;
      signal();
    },
    async *drain(): AsyncGenerator<T> {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as T;
        if (closed) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

export type { ExportResult };
