/**
 * The list/export pipeline: scan tags → select → resolve → plan → (dry run: stop | write layout).
 * Streams: an image's result is yielded as soon as its layout is in place, so `sync` can push it
 * while the rest is still being exported.
 */
import { randomUUID } from 'node:crypto';
import { access, constants, link, mkdir, mkdtemp, readdir, realpath, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { PreflightError, UsageError } from './errors.js';
import type { Emit, ExportResult } from './core/events.js';
import { mapConcurrent } from './core/map-concurrent.js';
import { layoutId, planExportItem, planPrune, type LinkMode } from './core/plan.js';
import { createSelector, parseSelector, parseTagsFile, type Selection } from './core/selection.js';
import { summarizeExport, type ExportSummary } from './core/summary.js';
import type { TagRef } from './core/types.js';
import { openLayoutStore, stagingDirFor, type LayoutStore } from './io/layout-store.js';
import { resolveImage } from './io/resolve-image.js';
import { locateStorage, scanTags, type StorageRoot } from './io/scan-storage.js';
import { createStorageReader } from './io/storage-reader.js';

/** File-system work in flight at once: enough to hide latency, few enough for 2 cores and a busy disk. */
export const FS_CONCURRENCY = 32;
/** Staging entries older than this belong to no running export (each lives for milliseconds). */
const STALE_STAGING_MS = 60 * 60_000;

export interface ExportOptions {
  storage: string;
  /** Output directory; absent for `list`. */
  out?: string;
  tagsFile?: string;
  exclude: string[];
  dryRun: boolean;
  prune: boolean;
  link: LinkMode;
  verifyBlobs: boolean;
}

export interface ExportContext {
  storage: StorageRoot;
  selection: Selection;
  store?: LayoutStore;
  opts: ExportOptions;
  signal: AbortSignal;
  emit: Emit;
  /** Filled while streaming. */
  counts: { tags: number; filteredOut: number; present: Set<string>; unreadable: string[] };
  selector: ReturnType<typeof createSelector>;
}

/** Everything that can fail before the first image: storage, tags file, output directory. */
export async function prepareExport(opts: ExportOptions, deps: { cwd: string; signal: AbortSignal; emit: Emit }): Promise<ExportContext> {
  const storage = await locateStorage(opts.storage, deps.cwd);
  const selection: Selection = { exclude: opts.exclude.map((e, i) => parseSelector(e, `--exclude #${i + 1}`)) };
  if (opts.tagsFile !== undefined) {
    const file = path.resolve(deps.cwd, opts.tagsFile);
    const content = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read the tags file ${file}: ${error.code ?? error.message}`);
    });
    selection.include = parseTagsFile(content, path.basename(file));
  }
  let store: LayoutStore | undefined;
  if (opts.out !== undefined) {
    const out = path.resolve(deps.cwd, opts.out);
    await checkOutput(storage, out, opts);
    store = openLayoutStore(out);
    if (!opts.dryRun) {
      const swept = await store.sweep(STALE_STAGING_MS, Date.now());
      if (swept.length > 0) deps.emit({ kind: 'warning', message: `removed ${swept.length} half-built layouts left in ${store.staging} by an interrupted run` });
    }
  }
  return {
    storage, selection, store, opts, signal: deps.signal, emit: deps.emit,
    counts: { tags: 0, filteredOut: 0, present: new Set(), unreadable: [] },
    selector: createSelector(selection),
  };
}

/** Streams one result per selected tag, writing layouts unless this is a dry run (or a list). */
export async function* exportImages(ctx: ExportContext): AsyncGenerator<ExportResult> {
  const reader = createStorageReader(ctx.storage.v2);
  const { counts, selector, store, opts } = ctx;
  // Tags like sha256-<digest>.sig that a tags file left out wait until we know which digests were selected:
  // signatures and attestations follow the image they belong to (Harbor lists them as accessories, not tags).
  const deferred: Array<{ ref: TagRef; subject: string }> = [];
  const selectedDigests = new Set<string>();
  async function* selected(): AsyncGenerator<TagRef> {
    const onUnreadable = (message: string) => {
      counts.unreadable.push(message);
      ctx.emit({ kind: 'warning', message });
    };
    for await (const ref of scanTags(ctx.storage.v2, onUnreadable)) {
      if (ctx.signal.aborted) return;
      counts.tags++;
      counts.present.add(layoutId(ref.repository, ref.tag));
      const verdict = selector.select(ref);
      const subject = accessorySubject(ref.tag);
      if (verdict.selected) yield ref;
      else if (verdict.reason === 'not-listed' && subject) deferred.push({ ref, subject: `${ref.repository}@${subject}` });
      else counts.filteredOut++;
    }
  }
  const excludes = createSelector({ exclude: ctx.selection.exclude });
  async function* followers(): AsyncGenerator<TagRef> {
    for (const { ref, subject } of deferred) {
      if (ctx.signal.aborted) return;
      if (selectedDigests.has(subject) && excludes.select(ref).selected) yield ref;
      else counts.filteredOut++;
    }
  }
  const exportOne = async (ref: TagRef): Promise<ExportResult> => {
    const started = performance.now();
    const image = await resolveImage(reader, ref, { verifyBlobs: opts.verifyBlobs });
    if (image.digest) selectedDigests.add(`${ref.repository}@${image.digest}`);
    if (image.problems.some((p) => p.code === 'manifest-deleted')) counts.present.delete(layoutId(ref.repository, ref.tag));
    const existing = store ? await store.readExisting(layoutId(ref.repository, ref.tag)) : undefined;
    const item = planExportItem(image, existing);
    const result: ExportResult = { id: item.id, item, outcome: 'skipped', warnings: image.warnings.map((w) => w.message), ms: 0 };
    if (item.action === 'skip') result.outcome = image.status === 'broken' ? 'broken' : 'skipped';
    else if (item.action === 'unchanged' || !store) result.outcome = 'unchanged';
    else if (opts.dryRun) result.outcome = item.action === 'create' ? 'would-create' : 'would-rebuild';
    else {
      try {
        result.warnings.push(...(await store.write(item.id, item.files, opts.link, item.action === 'rebuild')));
        result.outcome = item.action === 'create' ? 'created' : 'rebuilt';
      } catch (error) {
        result.outcome = 'failed';
        result.error = `${item.id}: ${(error as Error).message}`;
      }
    }
    result.ms = performance.now() - started;
    // The file lists are done with once the layout is written; results of 500k tags must not hold them.
    item.files = [];
    image.files = [];
    ctx.emit({ kind: 'image:exported', result });
    return result;
  };
  yield* mapConcurrent(selected(), FS_CONCURRENCY, exportOne);
  yield* mapConcurrent(followers(), FS_CONCURRENCY, exportOne);
}

/** The digest a cosign-style accessory tag (`sha256-<hex>.sig`, `.att`, `.sbom`, or bare) belongs to. */
export function accessorySubject(tag: string): string | undefined {
  const m = /^sha256-([a-f0-9]{64})(?:\.[A-Za-z0-9_-]+)?$/.exec(tag);
  return m ? `sha256:${m[1]}` : undefined;
}

/** After the stream: prune (unless dry run), tags-file bookkeeping, totals. */
export async function finishExport(ctx: ExportContext, results: ExportResult[]): Promise<ExportSummary> {
  await ctx.store?.close();
  const summary = summarizeExport(results, ctx.counts);
  // A directory we could not read may hold tags that still exist: prune nothing then.
  if (ctx.opts.prune && ctx.store && !ctx.signal.aborted && ctx.counts.unreadable.length === 0) {
    const stale = planPrune(await ctx.store.listExported(), ctx.counts.present);
    for (const id of stale) {
      if (!ctx.opts.dryRun) await ctx.store.remove(id);
      ctx.emit({ kind: 'prune:removed', id });
    }
    summary.pruned = stale;
  }
  for (const entry of ctx.selector.unmatched()) {
    if (entry.exact) summary.missingFromStorage.push(entry.text);
    else summary.unmatchedEntries.push(entry.text);
  }
  return summary;
}

/** Runs list/export to the end and collects results sorted by layout id. */
export async function runExport(opts: ExportOptions, deps: { cwd: string; signal: AbortSignal; emit: Emit }) {
  const ctx = await prepareExport(opts, deps);
  const results: ExportResult[] = [];
  for await (const r of exportImages(ctx)) results.push(r);
  results.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const summary = await finishExport(ctx, results);
  return { ctx, results, summary };
}

/**
 * Refuses an output directory the export cannot use, before touching anything: inside the registry
 * tree, unwritable, or (for hard links) on another filesystem or where fs.protected_hardlinks forbids links.
 */
async function checkOutput(storage: StorageRoot, out: string, opts: ExportOptions): Promise<void> {
  const v2 = await realpath(storage.v2);
  const realOut = await realpathOfNearest(out);
  if (realOut === v2 || realOut.startsWith(v2 + path.sep) || v2.startsWith(realOut + path.sep)) {
    throw new PreflightError(`the output directory ${out} is inside the registry storage ${storage.v2} or contains it; choose a directory beside docker/registry/v2, not around or in it (for example ${path.join(storage.root, 'registry-rescue-export')})`);
  }
  if (opts.dryRun) return;
  const staging = stagingDirFor(out);
  const [outExisted, stagingExisted] = await Promise.all([out, staging].map((p) => stat(p).then(() => true, () => false)));
  try {
    try {
      await mkdir(out, { recursive: true });
      await access(out, constants.W_OK);
      await mkdir(staging, { recursive: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      const hint = code === 'EROFS' ? 'the filesystem is read-only: put --out on a writable one and use --link symlink' : 'choose a writable directory with --out';
      throw new PreflightError(`the output directory ${out} (and its staging directory beside it) cannot be created or written (${code}); ${hint}`);
    }
    await checkRenameIntoOut(staging, out);
    if (opts.link === 'hard') await checkHardLinks(storage, out, staging);
  } catch (error) {
    // A refused --out leaves nothing behind.
    if (!stagingExisted) await rmdir(staging).catch(() => {});
    if (!outExisted) await rmdir(out).catch(() => {});
    throw error;
  }
}

/**
 * Layouts are built in staging and renamed into --out, which needs one filesystem. Comparing device
 * numbers misses bind mounts (same st_dev, rename still fails with EXDEV), so a real rename is tried.
 */
async function checkRenameIntoOut(staging: string, out: string): Promise<void> {
  const probe = await mkdtemp(path.join(staging, 'probe-'));
  const target = path.join(out, `.registry-rescue-probe-${randomUUID()}`);
  try {
    await rename(probe, target);
    await rmdir(target);
  } catch (error) {
    await rmdir(probe).catch(() => {});
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EXDEV') {
      throw new PreflightError(`the output directory ${out} is a mount point (another filesystem or bind mount than ${path.dirname(out)}, where layouts are staged); use a directory inside it, such as ${path.join(out, 'rescue')}`);
    }
    throw new PreflightError(`cannot move a staged layout into ${out} (${code ?? String(error)}); choose a writable directory with --out`);
  }
}

/** Hard links need the storage's filesystem and permission to link files we may not own. */
async function checkHardLinks(storage: StorageRoot, out: string, staging: string): Promise<void> {
  const [outDev, blobsDev] = await Promise.all([stat(out), stat(path.join(storage.v2, 'blobs'))]);
  const alternatives = 'use --link symlink (no data copied; works across filesystems and with a read-only volume) or --link copy';
  if (outDev.dev !== blobsDev.dev) {
    throw new PreflightError(`hard links need the output directory on the storage's filesystem, but ${out} is on another one than ${storage.v2}; put --out on the same volume (for example ${path.join(storage.root, 'registry-rescue-export')}), or ${alternatives}`);
  }
  const probe = await findOneBlob(storage.v2);
  if (!probe) return;
  const target = path.join(staging, `probe-${randomUUID()}`);
  try {
    await link(probe, target);
    await unlink(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EPERM' ? 'operation not permitted (fs.protected_hardlinks=1 lets only the blobs\' owner, uid 10000 on Harbor, or root link them)' : code;
    throw new PreflightError(`cannot hard-link blobs from ${storage.v2} into ${out}: ${why}; run as root or the blobs' owner, or ${alternatives}`);
  }
}

async function realpathOfNearest(p: string): Promise<string> {
  let current = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(current), ...rest.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return p;
      rest.push(path.basename(current));
      current = parent;
    }
  }
}

async function findOneBlob(v2: string): Promise<string | undefined> {
  const root = path.join(v2, 'blobs/sha256');
  for (const prefix of await readdir(root).catch(() => [] as string[])) {
    for (const hex of await readdir(path.join(root, prefix)).catch(() => [] as string[])) {
      const data = path.join(root, prefix, hex, 'data');
      if (await stat(data).then((s) => s.isFile(), () => false)) return data;
    }
  }
  return undefined;
}
