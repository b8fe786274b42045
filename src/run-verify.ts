/**
 * `verify`: compares every selected source tag with the target without pushing: the DR audit.
 * ok = same digest; missing = no such tag; different = another digest; broken-at-source = cannot be
 * exported, so cannot be trusted either way.
 */
import { mapConcurrent } from './core/map-concurrent.js';
import { parseTarget, targetFor } from './core/target.js';
import { connectTarget, resolveTargetAccess, type TargetAccessOptions } from './io/target-registry.js';
import { exportImages, finishExport, prepareExport } from './run-export.js';
import type { ExportResult } from './core/events.js';
import type { ExportSummary } from './core/summary.js';

/** HEAD requests in flight at once: cheap for the target, enough to audit 100k tags in minutes. */
export const VERIFY_CONCURRENCY = 8;

export type VerifyStatus = 'ok' | 'missing' | 'different' | 'broken-at-source' | 'skipped' | 'error';

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
}

/** Runs the audit; only preflight failures throw. */
export async function runVerify(
  opts: VerifyOptions,
  deps: { cwd: string; env: Readonly<Record<string, string | undefined>>; signal: AbortSignal; emit: import('./core/events.js').Emit },
): Promise<{ results: VerifyResult[]; counts: Record<VerifyStatus, number>; exportSummary: ExportSummary; storage: string }> {
  const target = parseTarget(opts.to);
  const ctx = await prepareExport({ storage: opts.storage, tagsFile: opts.tagsFile, exclude: opts.exclude, verifyBlobs: opts.verifyBlobs, dryRun: true, prune: false, link: 'hard' }, deps);
  const { credentials, certDir } = await resolveTargetAccess(target.host, opts, deps);
  const conn = await connectTarget({ host: target.host, tlsVerify: opts.destTlsVerify, certDir, credentials, signal: deps.signal });
  const exported: ExportResult[] = [];
  const results: VerifyResult[] = [];
  try {
    const check = async (r: ExportResult): Promise<VerifyResult> => {
      exported.push(r);
      const { image } = r.item;
      const t = targetFor(image.repository, image.tag, target);
      const base = { id: r.id, source: r.id, target: t.reference, sourceDigest: image.digest ?? null, targetDigest: null };
      if (image.status === 'skipped') return { ...base, status: 'skipped', reason: image.problems.map((p) => p.message).join('; ') };
      if (image.status === 'broken') return { ...base, status: 'broken-at-source', reason: image.problems.map((p) => p.message).join('; ') };
      if (t.problem) return { ...base, status: 'error', reason: t.problem };
      try {
        const head = await conn.client.headManifest(t.repository, image.tag);
        if (!head) return { ...base, status: 'missing' };
        if (head.digest === image.digest) return { ...base, targetDigest: head.digest, status: 'ok' };
        return { ...base, targetDigest: head.digest, status: 'different', reason: `target has ${head.digest}, source ${image.digest}` };
      } catch (error) {
        return { ...base, status: 'error', reason: (error as Error).message };
      }
    };
    for await (const v of mapConcurrent(exportImages(ctx), VERIFY_CONCURRENCY, check)) results.push(v);
  } finally {
    conn.close();
  }
  results.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const counts: Record<VerifyStatus, number> = { ok: 0, missing: 0, different: 0, 'broken-at-source': 0, skipped: 0, error: 0 };
  for (const r of results) counts[r.status]++;
  return { results, counts, exportSummary: await finishExport(ctx, exported), storage: ctx.storage.v2 };
}
