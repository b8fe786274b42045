/**
 * `verify`: compares every selected source tag with the target without pushing: the DR audit.
 * ok = same digest; missing = no such tag (the reason says what the target was asked and answered); different = the target holds an earlier revision of the source's tag
 * (the tag moved at the source; a sync updates it); drift = the target tag holds an image the source's tag never
 * pointed at (someone pushed it there; sync leaves it alone, as it reports it);
 * broken = cannot be exported from the source, so cannot be trusted either way; failed = the target could not be
 * asked. On Harbor, a HEAD refused by a policy (412) or a push-only account (401/403) is answered from Harbor's
 * artifact API instead (registry/target-state.ts).
 */
import { mapOrdered } from './core/map-concurrent.js';
import { emptyCounts, problemsReason, type Counts, type Status } from './core/results.js';
import { parseTarget, targetFor, type PushTarget } from './core/target.js';
import type { Emit, ExportResult } from './core/events.js';
import type { ExportSummary } from './core/summary.js';
import { connectTarget, resolveTargetAccess, type TargetAccessOptions } from './registry/target-registry.js';
import { createTargetState, type TargetState } from './registry/target-state.js';
import { accessorySubject, openExport } from './run-export.js';
import { referrerDigest } from './core/plan.js';
import type { HarborApi } from './registry/harbor-api.js';
import type { Shard } from './core/shard.js';
import type { BucketSettings } from './storage/storage-source.js';
import type { StorageReader } from './storage/storage-reader.js';

/** HEAD requests in flight at once: cheap for the target, enough to audit 100k tags in minutes. */
export const VERIFY_CONCURRENCY = 8;

export type VerifyStatus = Extract<Status, 'ok' | 'missing' | 'different' | 'drift' | 'broken' | 'skipped' | 'failed'>;

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
  /** --map-project, --root-project. */
  naming?: Pick<PushTarget, 'projects' | 'rootProject'>;
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
  const target: PushTarget = { ...parseTarget(opts.to), ...opts.naming };
  const run = await openExport(
    {
      storage: opts.storage, tagsFile: opts.tagsFile, exclude: opts.exclude, verifyBlobs: opts.verifyBlobs, dryRun: true, prune: false, link: 'hard', mainThreadBusy: true,
      ...(opts.shard ? { shard: opts.shard } : {}), ...(opts.bucket ? { bucket: opts.bucket } : {}),
    },
    deps,
  );
  const { credentials, certDir } = await resolveTargetAccess(target.host, opts, deps);
  const conn = await connectTarget({ host: target.host, tlsVerify: opts.destTlsVerify, certDir, credentials, signal: deps.signal });
  const harbor = await conn.harbor().detectHarbor().catch(() => undefined);
  const state = createTargetState(conn.client, harbor ? conn.harbor() : undefined);
  const accessories = harbor ? conn.harbor() : undefined;
  const counts = emptyCounts();
  async function* results(): AsyncGenerator<VerifyResult> {
    try {
      for await (const v of mapOrdered(run.results, VERIFY_CONCURRENCY, (r) => check(r, state, target, run.storage.reader, accessories))) {
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
async function check(r: ExportResult, state: TargetState, target: PushTarget, reader: StorageReader, harbor: HarborApi | undefined): Promise<VerifyResult> {
  const { image } = r.item;
  // An untagged referrer is looked for by its digest.
  const byDigest = referrerDigest(image);
  const t = targetFor(image.repository, image.tag, target, byDigest);
  const base = { id: r.id, source: r.id, target: t.reference, sourceDigest: image.digest ?? null, targetDigest: null };
  if (image.status === 'skipped') return { ...base, status: 'skipped', reason: problemsReason(image.problems) };
  if (image.status === 'broken') return { ...base, status: 'broken', reason: problemsReason(image.problems) };
  if (t.problem) return { ...base, status: 'failed', reason: t.problem };
  try {
    const found = await state.tag(t.repository, byDigest ?? image.tag);
    if (!found.known) return { ...base, status: 'failed', reason: `cannot tell what the target holds: ${found.why}` };
    if (found.digest === undefined) {
      // What the target was asked and answered, from the look-up already made (no request more per tag).
      const what = byDigest !== undefined ? `manifest ${byDigest}` : `tag ${image.tag}`;
      return { ...base, status: 'missing', reason: `the target has no ${what} in ${t.repository}: ${found.answer}` };
    }
    if (found.digest === image.digest) {
      // On Harbor an accessory (a cosign `sha256-<hex>.sig` tag, a manifest with a `subject`, tagged or not) only counts
      // when Harbor linked it to its subject: otherwise `cosign verify` fails and the UI shows the image unsigned
      // (harbor#19788, #16375). Harbor links every manifest pushed with a `subject` (src/server/middleware/subject).
      const subject = image.refersTo ?? accessorySubject(image.tag);
      if (harbor && subject !== undefined && t.repository.includes('/')) {
        const project = t.repository.slice(0, t.repository.indexOf('/'));
        const artifact = await harbor.getArtifact(project, t.repository, subject, { withAccessory: true });
        if (!artifact?.accessories?.some((a) => a.digest === image.digest)) {
          const why = artifact ? `Harbor does not list it as an accessory of ${subject} (with_accessory=true)` : `Harbor does not have its subject ${subject}`;
          return { ...base, targetDigest: found.digest, status: 'missing', reason: `the target has it, but ${why}: Harbor links an accessory only when it is pushed after its subject; push it again (delete it first)` };
        }
      }
      return { ...base, targetDigest: found.digest, status: 'ok' };
    }
    if (await reader.tagOnceHeld(image.repository, image.tag, found.digest)) {
      return { ...base, targetDigest: found.digest, status: 'different', reason: `target has ${found.digest}, an earlier revision of the source's tag, source ${image.digest}; a sync updates it` };
    }
    return { ...base, targetDigest: found.digest, status: 'drift', reason: `target has ${found.digest}, which the source's tag never pointed at, source ${image.digest}; sync leaves it alone unless --overwrite` };
  } catch (error) {
    return { ...base, status: 'failed', reason: (error as Error).message };
  }
}
