/**
 * What `sync` does with one exported image (pure): push it, or record why not. The dry run renders
 * these decisions, including the exact skopeo argv; the real run executes them.
 */
import type { ExportResult } from './events.js';
import { problemsReason, type Status } from './results.js';
import { buildSyncArgs, targetFor, type PushTarget } from './target.js';
import { referrerDigest } from './plan.js';

/** `sync`'s defaults (here, not in run-sync.ts, so the command's help needs no more than core). */
export const DEFAULT_SYNC_CONCURRENCY = 4;
/**
 * The most skopeo processes a run starts at once. Each push holds a few abort listeners on the run's one signal,
 * under the bound cli.ts sets on it (past which Node warns of a leak), and a node that holds a broken registry has
 * no use for hundreds of pushes at once: the network saturates long before.
 */
export const MAX_SYNC_CONCURRENCY = 64;
export const DEFAULT_RETRIES = 2;
/** Consecutive images that could not reach the target, or that it answered with its own server error, before no more pushes start. */
export const DEFAULT_BREAKER = 5;

export type SyncStatus = Extract<Status, 'synced' | 'up-to-date' | 'skipped' | 'broken' | 'failed' | 'canceled' | 'not-attempted' | 'would-sync' | 'drift' | 'immutable-conflict'>;

/** Per-image outcome of sync: data for the report and the exit code. */
export interface SyncResult {
  id: string;
  source: string;
  target: string;
  digest: string | null;
  status: SyncStatus;
  /** `drift` (and a digest mismatch): what the target holds for the tag. */
  targetDigest?: string;
  /** For machines: why, when not synced (a problem code, a skopeo failure class, `drift`, `immutable-conflict`, `direct-push-failed`, …). */
  code?: string;
  reason?: string;
  attempts: number;
  ms: number;
  bytes: number;
  /** The skopeo command line (dry run and failures), credentials never included. */
  command?: string;
  /** Failed pushes: where skopeo's whole output is kept, and its last lines (upload URLs and tokens removed). */
  log?: string;
  outputTail?: string;
}

export interface PushJob {
  id: string;
  export: ExportResult;
  digest: string;
  targetRepository: string;
  reference: string;
  tag: string;
  /** The first path component of the target repository: the Harbor project. */
  project: string;
  /** Absolute path of the image's `dir:` layout. */
  layoutDir: string;
  /** skopeo's argv; unused when `direct`. */
  args: string[];
  /**
   * Pushed by registry-rescue itself through the Distribution API (children and blobs by digest, then the index bytes
   * as stored): an index skopeo 1.9.3 cannot push unchanged (descriptors carrying artifactType or data).
   */
  direct?: string;
}

/** What the dry run and reports show in place of a skopeo command for a direct push. */
export const DIRECT_PUSH_COMMAND = 'registry-rescue pushes it itself through the Distribution API (blobs and children by digest, then the index bytes exactly as stored)';
/**
 * What a report shows for a tag pushed as a manifest PUT only: this run had already pushed (and verified) the same
 * image into the same target repository under another tag, so its blobs and children are there.
 */
export const MANIFEST_ONLY_PUSH_COMMAND = 'registry-rescue PUT the manifest only (the same image was pushed into this repository earlier in the run)';

export interface PushSettings {
  target: PushTarget;
  /** Absolute output directory holding `<repository>:<tag>` layouts. */
  out: string;
  tlsVerify: boolean;
  certDir?: string;
  /** Path of the auth file skopeo will read (a placeholder in dry runs). */
  authFile?: string;
  retryTimes: number;
}

/** Decides whether an exported image is pushed, and builds its skopeo argv. */
export function planPush(r: ExportResult, s: PushSettings): { job: PushJob } | { result: SyncResult } {
  const { image } = r.item;
  // An untagged referrer goes by digest: its HEADs too (`tag` below is then the digest).
  const byDigest = referrerDigest(image);
  const t = targetFor(image.repository, image.tag, s.target, byDigest);
  const base: SyncResult = { id: r.id, source: r.id, target: t.reference, digest: image.digest ?? null, status: 'skipped', attempts: 0, ms: 0, bytes: image.size };
  const code = image.problems[0]?.code;
  if (image.status === 'skipped') return { result: { ...base, ...(code ? { code } : {}), reason: problemsReason(image.problems) } };
  if (image.status === 'broken') return { result: { ...base, status: 'broken', ...(code ? { code } : {}), reason: problemsReason(image.problems) } };
  if (r.outcome === 'failed') return { result: { ...base, status: 'failed', code: 'layout-failed', reason: r.error ?? 'the layout could not be written' } };
  if (t.problem) return { result: { ...base, status: 'failed', code: 'target-name-invalid', reason: t.problem } };
  const unpushable = image.warnings.filter((w) => w.code === 'index-descriptor-artifact');
  const direct = unpushable.length > 0 ? `skopeo 1.9.3 cannot push this index without changing its digest (${unpushable.map((w) => w.message).join('; ')})` : undefined;
  const layoutDir = `${s.out}/${r.id}`;
  const args = buildSyncArgs({
    layoutDir,
    target: s.target,
    targetRepository: t.repository,
    tlsVerify: s.tlsVerify,
    retryTimes: s.retryTimes,
    ...(s.certDir !== undefined ? { certDir: s.certDir } : {}),
    ...(s.authFile !== undefined ? { authFile: s.authFile } : {}),
  });
  return {
    job: {
      id: r.id,
      export: r,
      digest: image.digest as string,
      targetRepository: t.repository,
      reference: t.reference,
      tag: byDigest ?? image.tag,
      project: t.repository.split('/')[0] as string,
      layoutDir,
      args,
      ...(direct !== undefined ? { direct } : {}),
    },
  };
}
