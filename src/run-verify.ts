/**
 * `verify`: compares every selected source tag with the target without pushing: the DR audit.
 * ok = same digest; missing = no such tag; different = another digest; broken = cannot be exported from
 * the source, so cannot be trusted either way; failed = the target could not be asked.
 */
import { mapOrdered } from './core/map-concurrent.js';
import { emptyCounts, type Counts, type Status } from './core/results.js';
import { parseTarget, targetFor } from './core/target.js';
import type { Emit, ExportResult } from './core/events.js';
import type { ExportSummary } from './core/summary.js';
import { connectTarget, resolveTargetAccess, type TargetAccessOptions, type TargetConnection } from './registry/target-registry.js';
import { openExport } from './run-export.js';
import type { Shard } from './core/shard.js';
import type { BucketSettings } from './storage/storage-source.js';

/** HEAD requests in flight at once: cheap for the target, enough to audit 100k tags in minutes. */
export const VERIFY_CONCURRENCY = 8;

export type VerifyStatus = Extract<Status, 'ok' | 'missing' | 'different' | 'broken' | 'skipped' | 'failed'>;

export interface VerifyResult {
  id: string;
  source: string;
  target: string;
  sourceDigest: string | null;
  targetDigest: string | null;
  status: VerifyStatus;
  reason?: string;
}

export interface VerifyOptions extends TargetAccessOptions {
  storage: string;
  to: string;
  tagsFile?: string;
  exclude: string[];
  verifyBlobs: boolean;
  shard?: Shard;
  bucket?: BucketSettings;
}

export interface VerifyRun {
  storage: string;
  /** One result per selected tag, in tree order, as each is checked. */
  results: AsyncGenerator<VerifyResult>;
  /** After `results` ended: the counts and the source side's totals. */
  finish(): Promise<{ counts: Counts; exportSummary: ExportSummary }>;
}

/** Opens the audit; only preflight failures throw. */
export async function openVerify(
  opts: VerifyOptions,
  deps: { cwd: string; env: Readonly<Record<string, string | undefined>>; signal: AbortSignal; emit: Emit },
): Promise<VerifyRun> {
  const target = parseTarget(opts.to);
  const run = await openExport(
    {
      storage: opts.storage, tagsFile: opts.tagsFile, exclude: opts.exclude, verifyBlobs: opts.verifyBlobs, dryRun: true, prune: false, link: 'hard',
      ...(opts.shard ? { shard: opts.shard } : {}), ...(opts.bucket ? { bucket: opts.bucket } : {}),
    },
    deps,
  );
  const { credentials, certDir } = await resolveTargetAccess(target.host, opts, deps);
  const conn = await connectTarget({ host: target.host, tlsVerify: opts.destTlsVerify, certDir, credentials, signal: deps.signal });
  const counts = emptyCounts();
  async function* results(): AsyncGenerator<VerifyResult> {
    try {
      for await (const v of mapOrdered(run.results, VERIFY_CONCURRENCY, (r) => check(r, conn, target))) {
        counts[v.status]++;
        yield v;
      }
    } finally {
      conn.close();
    }
  }
  return { storage: run.storage.v2, results: results(), finish: async () => ({ counts, exportSummary: await run.finish() }) };
}

/** Compares one exported image with the target. */
async function check(r: ExportResult, conn: TargetConnection, target: ReturnType<typeof parseTarget>): Promise<VerifyResult> {
  const { image } = r.item;
  const t = targetFor(image.repository, image.tag, target);
  const base = { id: r.id, source: r.id, target: t.reference, sourceDigest: image.digest ?? null, targetDigest: null };
  if (image.status === 'skipped') return { ...base, status: 'skipped', reason: image.problems.map((p) => p.message).join('; ') };
  if (image.status === 'broken') return { ...base, status: 'broken', reason: image.problems.map((p) => p.message).join('; ') };
  if (t.problem) return { ...base, status: 'failed', reason: t.problem };
  try {
    const head = await conn.client.headManifest(t.repository, image.tag);
    if (!head) return { ...base, status: 'missing' };
    if (head.digest === image.digest) return { ...base, targetDigest: head.digest, status: 'ok' };
    return { ...base, targetDigest: head.digest, status: 'different', reason: `target has ${head.digest}, source ${image.digest}` };
  } catch (error) {
    return { ...base, status: 'failed', reason: (error as Error).message };
  }
}
