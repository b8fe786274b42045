/**
 * The one export pipeline behind list, export, sync and verify: scan tags (tree order) → select →
 * resolve → plan → (dry run or list: stop | write layout). Per-image results stream out as they are
 * decided, in tree order, so every output is written as it goes and `sync` pushes an image while the
 * rest is still being exported; nothing keeps the results.
 */
import { randomUUID } from 'node:crypto';
import { access, constants, link, lstat, mkdir, mkdtemp, readdir, realpath, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { PreflightError, UsageError } from './errors.js';
import { NO_ISSUES, plural, type RunIssues } from './core/results.js';
import type { Emit, ExportResult } from './core/events.js';
import { mapOrdered } from './core/map-concurrent.js';
import { checksLinks, foreignNames, layoutWriteVerifies, namesList, planExportItem, planNotOk, type ExportItem, type LinkMode } from './core/plan.js';
import { createSelector, literalOf, parseSelector, parseTagsFile, selectionIssues, selectionProblems, type Selection, type SelectionCounts, type SelectVerdict, type Selector } from './core/selection.js';
import { inShard, type Shard } from './core/shard.js';
import { createExportTally, type ExportSummary } from './core/summary.js';
import type { Digest, TagRef } from './core/types.js';
import { blobDataPath, isDigest } from './core/digest.js';
import { BlobCheckError, openLayoutStore, stagingDirFor, type CopyIo, type LayoutStore } from './output/layout-store.js';
import { acquireRunLock, type RunLock } from './output/run-lock.js';
import type { StorageReader } from './storage/storage-reader.js';
import { openStorage, type BucketSettings, type StorageSource } from './storage/storage-source.js';
import type { Resolver } from './storage/resolver.js';
import { breakWith, hashDeferred, mismatchProblem } from './storage/resolve-image.js';
import { referrersToExport, subjectOf } from './core/referrers.js';
import { parseManifest } from './core/manifest.js';
import { orderForPush } from './core/order.js';

/**
 * Images in flight at once. The hot-path file calls are synchronous (storage/fast-fs.ts), so this mostly overlaps
 * the walk's read-ahead and the few asynchronous calls; more only keeps more objects alive (peak RSS).
 */
export const FS_CONCURRENCY = 8;
/**
 * Images in flight at once from a bucket: each costs a few sequential round trips (link, revision, manifest,
 * then its blobs' HEADs in parallel), so more overlap hides latency; the bucket client's own request pool
 * (BUCKET_REQUEST_CONCURRENCY) bounds what the server sees. Exports from a bucket (not sync, which defers
 * them) download up to this many layouts at once.
 */
export const BUCKET_CONCURRENCY = 16;
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
  /** Only the repositories of this shard (--shard K/N). */
  shard?: Shard;
  /** Wait this long for another run's lock on --out instead of exiting 75. */
  waitLockMs?: number;
  /** When (performance.now()) the run began waiting for the lock, if it did before the export (sync). */
  waitLockStartedAt?: number;
  /** The command, for the lock file (`export`, `sync`). */
  command?: string;
  /**
   * Within each repository, yield the selected tags oldest push first (the tag link's mtime), cosign-style
   * accessory tags (`sha256-<hex>.sig`, …) after the rest (sync: push-time retention on the target keeps what it
   * kept before, and Harbor links an accessory only when its subject is there). Default: tree order.
   */
  pushOrder?: boolean;
  /** Keep each result's blob digests and sizes (ExportResult.blobs), for the sync dry run's bytes per project. */
  keepBlobs?: boolean;
  /** --s3-endpoint, --s3-region, --s3-path-style, --s3-ca-cert, for an `s3://` storage. */
  bucket?: BucketSettings;
  /**
   * Layouts whose files are downloaded (a bucket) are not written as the walk goes but when asked through
   * ExportRun.writeLayout (sync writes each just before its push and removes it after: bounded scratch).
   */
  deferDownloads?: boolean;
  /**
   * The main thread has work of its own besides resolving (sync's and verify's requests to the target): it
   * resolves only the tags the worker cannot keep up with (storage/resolver.ts MainThreadShare).
   */
  mainThreadBusy?: boolean;
}

export interface ExportDeps {
  cwd: string;
  signal: AbortSignal;
  emit: Emit;
  /** Registers a clean-up that runs however the process ends (the run lock). */
  onExit?: (cleanup: () => void) => void;
  /** The environment, for the bucket's AWS_CA_BUNDLE (the AWS SDK reads the rest of its settings itself). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** A list/export run: per-image results as an async stream, then the totals. */
export interface ExportRun {
  storage: StorageSource;
  /** The output directory; absent for `list` and `verify`. */
  store?: LayoutStore;
  /**
   * One result per selected tag, in tree order (compareTagRefs), each yielded as soon as it and the ones
   * before it are decided (and, unless a dry run, their layouts written). Nothing is collected: a consumer
   * that stops pulling stops the walk.
   */
  results: AsyncGenerator<ExportResult>;
  /**
   * With deferDownloads and a bucket: writes the layout of a result the walk only planned (outcome `ok`);
   * resolves to the result as written (`created`, or `broken` when a blob does not hash to its digest, or `failed`).
   */
  writeLayout(r: ExportResult): Promise<ExportResult>;
  /**
   * With deferDownloads and --verify-blobs: hashes the blobs of a result the walk only planned that gets no layout
   * after all (sync: the target has it); resolves to the result, `broken` as resolving would have made it.
   */
  hashUnwritten(r: ExportResult): Promise<ExportResult>;
  /** Removes a layout written by writeLayout (after its push). */
  removeLayout(id: string): Promise<void>;
  /** After `results` ended (or was abandoned): prune unless interrupted, tags-file bookkeeping, totals. */
  finish(): Promise<ExportSummary>;
  /** After `results` ended: whether the walk read the whole storage (or shard), not stopped by an interrupt or its consumer. */
  walkComplete(): boolean;
}

/** Everything that can fail before the first image (storage, tags file, output directory), then the stream. */
export async function openExport(opts: ExportOptions, deps: ExportDeps): Promise<ExportRun> {
  const storage = await openStorage(opts.storage, { cwd: deps.cwd, ...(deps.env ? { env: deps.env } : {}), ...(opts.bucket ? { bucket: opts.bucket } : {}) });
  try {
    return await openExportOn(storage, opts, deps);
  } catch (error) {
    storage.close();
    throw error;
  }
}

async function openExportOn(storage: StorageSource, opts: ExportOptions, deps: ExportDeps): Promise<ExportRun> {
  const selection: Selection = { exclude: opts.exclude.map((e, i) => parseSelector(e, `--exclude #${i + 1}`)) };
  let tagsFile: SelectionCounts['tagsFile'];
  if (opts.tagsFile !== undefined) {
    const file = path.resolve(deps.cwd, opts.tagsFile);
    const raw = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read the tags file ${file}: ${error.code ?? error.message}`);
    });
    const name = path.basename(file);
    selection.include = parseTagsFile(raw.toString('utf8'), name);
    tagsFile = { name, path: file, entries: selection.include.length, bytes: raw.length };
  }
  let store: LayoutStore | undefined;
  let lock: RunLock | undefined;
  if (opts.out !== undefined) {
    const out = path.resolve(deps.cwd, opts.out);
    await checkOutput(storage, out, opts);
    if (!opts.dryRun) {
      // One run per output directory: a second cron run while the first still pushes exits 75.
      lock = await acquireRunLock(out, {
        command: opts.command ?? 'export',
        signal: deps.signal,
        onWarning: (message) => deps.emit({ kind: 'warning', message }),
        onWaiting: (message) => deps.emit({ kind: 'warning', message }),
        ...(opts.waitLockMs !== undefined ? { waitMs: opts.waitLockMs } : {}),
        ...(opts.waitLockStartedAt !== undefined ? { waitStartedAt: opts.waitLockStartedAt } : {}),
      });
      const held = lock;
      deps.onExit?.(() => held.releaseSync());
    }
    store = openLayoutStore(out);
    if (!opts.dryRun) {
      const swept = await store.sweep(STALE_STAGING_MS, Date.now());
      if (swept.length > 0) deps.emit({ kind: 'warning', message: `removed ${plural(swept.length, 'staging directory', 'staging directories')} left in ${path.dirname(store.staging)} by an interrupted run` });
    }
  }
  const { reader } = storage;
  // From a bucket every file is downloaded; sync may ask for each layout only when it is about to push it.
  const deferred = opts.deferDownloads === true && storage.kind === 'bucket' && !opts.dryRun;
  const selector = createSelector(selection);
  // Accessories that follow their image past the tags file still obey --exclude.
  const excludes = createSelector({ exclude: selection.exclude });
  const tally = createExportTally();
  const { summary } = tally;
  const copyIo = {
    signal: deps.signal,
    onBytes: (bytes: number) => {
      summary.bytesDownloaded += bytes;
      deps.emit({ kind: 'bytes:downloaded', bytes });
    },
  };
  // A bucket's layout files are downloaded copies: no inode of the storage to compare them with.
  const checkLinks = storage.kind === 'filesystem' && checksLinks(opts.link, opts.verifyBlobs);
  const layouts = store && !deferred ? { out: store.out, read: store.readExisting, checkLinks } : undefined;
  // From a bucket, a layout write downloads and hashes every file: --verify-blobs leaves the hashes of the images
  // that get a layout to it (core/plan.ts layoutWriteVerifies) and has the others hashed after planning.
  const writes = store !== undefined && !opts.dryRun;
  const deferHashes = opts.verifyBlobs && storage.kind === 'bucket' && writes;
  const resolver = storage.resolver({ verifyBlobs: opts.verifyBlobs, ...(deferHashes ? { deferHashes } : {}) }, storage.kind === 'bucket' ? BUCKET_CONCURRENCY : FS_CONCURRENCY, layouts, opts.mainThreadBusy ? 'overflow' : 'share');
  const exportOne = (ref: TagRef) => exportImage(ref, { resolver, reader, store: deferred ? undefined : store, opts, emit: deps.emit, copyIo, keepFiles: deferred, writes });
  // Whether the walk saw every tag: not after an interrupt, nor when the consumer stopped early (list | head).
  let complete = false;
  async function* results(): AsyncGenerator<ExportResult> {
    const tags = selectedTags({ storage, reader, selector, excludes, shard: opts.shard, summary, signal: deps.signal, emit: deps.emit, pushOrder: opts.pushOrder === true });
    try {
      for await (const r of mapOrdered(tags, resolver.parallel, exportOne)) {
        tally.add(r);
        yield r;
      }
      complete = !deps.signal.aborted;
    } finally {
      await resolver.close();
    }
  }
  return {
    storage,
    ...(store ? { store } : {}),
    results: results(),
    async writeLayout(r) {
      if (!store || r.outcome !== 'ok' || r.item.files.length === 0) return r;
      const started = performance.now();
      const written = await writeOne(store, reader, r.item, opts, copyIo);
      written.ms = performance.now() - started;
      written.item.files = [];
      written.item.image.files = [];
      return written;
    },
    async hashUnwritten(r) {
      const { image } = r.item;
      if (r.outcome !== 'ok' || image.unhashed === undefined) return r;
      await hashDeferred(reader, image);
      if (image.status === 'ok') return r;
      r.item.files = [];
      return { ...r, item: planNotOk(image, false), outcome: 'broken' };
    },
    async removeLayout(id) {
      await store?.remove(id);
    },
    walkComplete: () => complete,
    async finish() {
      // Pruning moves layouts aside through this run's staging, under this run's lock: both go after it.
      try {
        // A directory we could not read may hold tags that still exist: prune nothing then.
        if (opts.prune && store && complete && summary.unreadable.length === 0) {
          summary.pruned = await prune(store, reader, opts.dryRun, deps.emit);
        }
      } finally {
        try {
          // A dry run made nothing in staging and leaves what is there as it was (an empty staging directory too).
          if (!opts.dryRun) await store?.close();
        } finally {
          storage.close();
          await lock?.release();
        }
      }
      // A walk that stopped early has not seen every tag: nothing can be said to be missing then.
      if (complete) {
        // --shard K/N: an entry naming a repository of another shard is that shard's to find, not missing from the
        // storage (every shard of an Indexed Job reads the same tags file).
        const shard = opts.shard;
        const elsewhere = (e: ReturnType<Selector['unmatched']>[number]): boolean => {
          const name = literalOf(e);
          return shard !== undefined && name !== undefined && !inShard(name.repository, shard);
        };
        const unmatchedHere = selector.unmatched();
        const unmatched = unmatchedHere.filter((e) => !elsewhere(e));
        const problems = selectionProblems(
          unmatched,
          {
            scanned: summary.tags, selected: summary.selected, excluded: selector.tally().excluded, inOtherShards: unmatchedHere.length - unmatched.length,
            ...(tagsFile ? { tagsFile } : {}),
          },
          await storage.suggestions(unmatched),
        );
        for (const p of problems) {
          if (p.code === 'listed-missing') summary.missingFromStorage.push(p.entry ?? p.message);
          else if (p.code === 'glob-unmatched') summary.unmatchedEntries.push(p.entry ?? p.message);
          summary.selectionProblems.push({ code: p.code, message: p.message });
        }
      }
      return summary;
    },
  };
}

/**
 * The selected tags, in tree order. Selection is decided one repository at a time: tags like
 * `sha256-<digest>.sig` that a tags file left out follow a selected tag of the same repository that
 * points at that digest (signatures and attestations belong to their image; Harbor lists them as
 * accessories, not tags), which needs that repository's selected digests, and no more.
 */
async function* selectedTags(c: {
  storage: StorageSource;
  reader: StorageReader;
  selector: Selector;
  excludes: Selector;
  shard: Shard | undefined;
  summary: ExportSummary;
  signal: AbortSignal;
  emit: Emit;
  pushOrder: boolean;
}): AsyncGenerator<TagRef> {
  const onUnreadable = (message: string) => {
    c.summary.unreadable.push(message);
    c.emit({ kind: 'warning', message });
  };
  for await (const { repository, tags } of c.storage.scanRepositories(onUnreadable)) {
    if (c.signal.aborted) return;
    // --shard K/N: a stable split by repository, so N runs share the storage without overlap.
    if (c.shard && !inShard(repository, c.shard)) continue;
    c.summary.tags += tags.length;
    const refs = tags.map((tag) => ({ repository, tag }));
    const verdicts = await Promise.all(refs.map((ref) => decide(c.selector, c.reader, ref)));
    const followerAt = await Promise.all(
      refs.map(async (ref, i) => {
        const v = verdicts[i] as SelectVerdict;
        if (v.selected || v.reason !== 'not-listed' || accessorySubject(ref.tag) === undefined) return false;
        return (await decide(c.excludes, c.reader, ref)).selected;
      }),
    );
    const subjects = followerAt.some(Boolean) ? await selectedDigests(c.reader, refs.filter((_, i) => verdicts[i]?.selected)) : undefined;
    const chosen: TagRef[] = [];
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i] as TagRef;
      if (verdicts[i]?.selected || (subjects && followerAt[i] && subjects.has(accessorySubject(ref.tag) as string))) chosen.push(ref);
      else c.summary.filteredOut++;
    }
    if (!c.pushOrder) {
      yield* chosen;
    } else {
      // One repository's tags and their mtimes only (a number each), never their resolved images.
      const times = await Promise.all(chosen.map((ref) => c.reader.tagPushTime(ref.repository, ref.tag)));
      yield* orderForPush(chosen.map((ref, i) => ({ tag: ref.tag, pushedAt: times[i], accessory: accessorySubject(ref.tag) !== undefined }))).map((i) => chosen[i] as TagRef);
    }
    // Untagged referrers last: after their subjects, in every order.
    if (c.signal.aborted) return;
    yield* await referrersOf(c, repository, refs, chosen);
  }
}

/**
 * The untagged referrers of a repository to export after its tags: manifests no tag points at whose `subject` is a
 * chosen tag's manifest (or another such referrer). Selected like tags: a tags-file entry (`repository@sha256:…`,
 * the repository, a glob) names one, else it follows its subject unless --exclude names it. Reads the repository's
 * tag links and revision list (a digest each), and the untagged manifests once.
 */
async function referrersOf(
  c: { reader: StorageReader; selector: Selector; excludes: Selector; summary: ExportSummary; emit: Emit },
  repository: string,
  all: TagRef[],
  chosen: TagRef[],
): Promise<TagRef[]> {
  let revisions: Digest[];
  try {
    revisions = await c.reader.listRevisions(repository);
  } catch (error) {
    // Counted with the unreadable directories: the run is partial, and says what it could not look for.
    const message = `cannot list the manifests of ${repository} (${(error as Error).message}): its untagged referrers (signatures, SBOMs) are not exported`;
    c.summary.unreadable.push(message);
    c.emit({ kind: 'warning', message });
    return [];
  }
  if (revisions.length === 0) return [];
  const links = await Promise.all(all.map((ref) => c.reader.readTagLink(ref.repository, ref.tag)));
  const tagged = new Set<string>();
  const digestOf = new Map<string, string>();
  links.forEach((l, i) => {
    if (!l.ok) return;
    tagged.add(l.digest);
    digestOf.set((all[i] as TagRef).tag, l.digest);
  });
  const untaggedDigests = revisions.filter((d) => !tagged.has(d));
  if (untaggedDigests.length === 0) return [];
  const untagged = await Promise.all(
    untaggedDigests.map(async (digest) => {
      const m = await c.reader.readManifest(digest);
      return { digest, subject: m.ok ? subjectOf(m.bytes) : undefined };
    }),
  );
  const exported = new Set(chosen.flatMap((ref) => (digestOf.has(ref.tag) ? [digestOf.get(ref.tag) as string] : [])));
  // A signature of one platform's image has an index child as its subject (Harbor links it when the index is pushed,
  // harbor#19788): children of the chosen indexes count as exported, read only when some subject is not found yet.
  if (untagged.some((u) => u.subject !== undefined && !exported.has(u.subject))) {
    let level = [...exported];
    for (let depth = 0; depth < 4 && level.length > 0; depth++) {
      const next: string[] = [];
      for (const digest of level) {
        const m = isDigest(digest) ? await c.reader.readManifest(digest) : undefined;
        const parsed = m?.ok ? parseManifest(m.bytes) : undefined;
        if (parsed?.ok && parsed.manifest.type === 'index') {
          for (const child of parsed.manifest.manifests) if (!exported.has(child.digest)) next.push(child.digest);
        }
      }
      for (const child of next) exported.add(child);
      level = next;
    }
  }
  const out: TagRef[] = [];
  const kept = new Set(exported);
  for (const r of referrersToExport(untagged, exported)) {
    c.summary.referrers++;
    const ref: TagRef = { repository, tag: '', referrer: r };
    const listed = c.selector.selectByDigest(ref, r.digest);
    const follows = listed.selected || (listed.reason === 'not-listed' && kept.has(r.subject) && c.excludes.selectByDigest(ref, r.digest).selected);
    if (follows) {
      kept.add(r.digest);
      out.push(ref);
    } else c.summary.filteredOut++;
  }
  return out;
}

/** A selector's verdict; `repository@sha256:…` entries need the tag's current digest, read only then. */
async function decide(selector: Selector, reader: StorageReader, ref: TagRef): Promise<SelectVerdict> {
  const verdict = selector.select(ref);
  if (verdict.selected || verdict.reason !== 'pending-digest') return verdict;
  const link = await reader.readTagLink(ref.repository, ref.tag);
  return selector.selectByDigest(ref, link.ok ? link.digest : undefined);
}

/** The digests the given tags point at (links that cannot be read are left out: those tags are broken anyway). */
async function selectedDigests(reader: StorageReader, refs: TagRef[]): Promise<Set<string>> {
  const links = await Promise.all(refs.map((ref) => reader.readTagLink(ref.repository, ref.tag)));
  return new Set(links.flatMap((l) => (l.ok ? [l.digest] : [])));
}

/** Resolves one tag and, unless this is a dry run or a list, writes its layout. */
async function exportImage(
  ref: TagRef,
  c: { resolver: Resolver; reader: StorageReader; store: LayoutStore | undefined; opts: ExportOptions; emit: Emit; copyIo: CopyIo; keepFiles: boolean; writes: boolean },
): Promise<ExportResult> {
  const { store, opts } = c;
  const started = performance.now();
  // The resolver also reads what the output holds for the layout, on the thread that resolved the tag: `existing`
  // is there only when it was given the output directory (an --out, and no deferred downloads), as `store` is.
  const { image, existing } = await c.resolver.resolve(ref);
  let item = planExportItem(image, existing);
  if (image.unhashed !== undefined && !layoutWriteVerifies(item, c.writes)) {
    // No layout written for it: hashed from the storage now, and planned again if that broke it.
    await hashDeferred(c.reader, image);
    if (image.status !== 'ok') item = planExportItem(image, existing);
  }
  const result: ExportResult = { id: item.id, item, outcome: 'skipped', warnings: image.warnings.map((w) => w.message), ms: 0 };
  if (item.action === 'skip') result.outcome = image.status === 'broken' ? 'broken' : 'skipped';
  else if (!store) result.outcome = 'ok';
  else if (item.action === 'unchanged') result.outcome = 'unchanged';
  else if (item.blocked !== undefined) {
    // Not ours to replace (core/plan.ts): the image fails, named, in the dry run as in the real one.
    result.outcome = 'failed';
    result.error = item.blocked;
  } else if (opts.dryRun) result.outcome = item.action === 'create' ? 'would-create' : 'would-rebuild';
  else Object.assign(result, await writeOne(store, c.reader, item, opts, c.copyIo));
  result.ms = performance.now() - started;
  if (opts.keepBlobs && image.status === 'ok') result.blobs = image.files.map((f) => [f.digest, f.size]);
  // The file lists are done with once the layout is written (unless deferred): results in flight must stay small.
  if (!(c.keepFiles && result.outcome === 'ok')) {
    item.files = [];
    image.files = [];
    delete image.unhashed;
  }
  c.emit({ kind: 'image:exported', result });
  return result;
}

/**
 * Writes one planned layout. A downloaded blob that does not hash to its digest (or has another size) makes
 * the image broken, as if resolving had found it (storage-and-skopeo.md §5.5: skopeo would not notice).
 */
async function writeOne(store: LayoutStore, reader: StorageReader, item: ExportItem, opts: ExportOptions, io: CopyIo): Promise<ExportResult> {
  const result: ExportResult = { id: item.id, item, outcome: 'failed', warnings: item.image.warnings.map((w) => w.message), ms: 0 };
  const { image } = item;
  const unhashed = image.unhashed;
  delete image.unhashed;
  try {
    result.warnings.push(...(await store.write(item.id, item.files, opts.link, item.action === 'rebuild', io)));
    result.outcome = item.action === 'create' ? 'created' : 'rebuilt';
  } catch (error) {
    // --verify-blobs, the write being the check (a blob the resolver left unhashed): the problems resolving would have
    // reported, the blobs the write never reached hashed as it would have (an image with more than one corrupt blob
    // names them all). A file the resolver hashed itself (a manifest read again from the bucket) takes the general way.
    const mismatch = error instanceof BlobCheckError && error.actual !== undefined ? { digest: error.digest, found: error.actual } : undefined;
    const left = mismatch ? (unhashed ?? []).filter((b) => b.digest === mismatch.digest) : [];
    if (mismatch && left.length > 0) {
      const at = item.files.findIndex((f) => f.digest === mismatch.digest);
      const unread = new Set(item.files.slice(at + 1).map((f) => f.digest));
      breakWith(image, left.map((blob) => ({ blob, problem: mismatchProblem(blob, mismatch.found) })));
      await hashDeferred(reader, image, (unhashed ?? []).filter((b) => b.digest !== mismatch.digest && unread.has(b.digest)));
      Object.assign(result, { item: planNotOk(image, item.action === 'rebuild'), outcome: 'broken' });
    } else if (error instanceof BlobCheckError) {
      const file = blobDataPath(error.digest as Digest);
      image.status = 'broken';
      image.problems.push({ code: error.code, message: `${image.repository}:${image.tag}: ${error.message}`, digest: error.digest, file });
      item.action = 'skip';
      item.problems = image.problems;
      item.reason = 'broken';
      result.outcome = 'broken';
    } else {
      result.outcome = 'failed';
      result.error = `${item.id}: ${(error as Error).message}`;
    }
  }
  return result;
}

/** The digest a cosign-style accessory tag (`sha256-<hex>.sig`, `.att`, `.sbom`, or bare) belongs to. */
export function accessorySubject(tag: string): string | undefined {
  const m = /^sha256-([a-f0-9]{64})(?:\.[A-Za-z0-9_-]+)?$/.exec(tag);
  return m ? `sha256:${m[1]}` : undefined;
}

/**
 * --prune: removes layouts whose tag is gone from the storage, or whose manifest was deleted (its revision
 * link is gone). Checked layout by layout against the storage, so nothing is remembered during the run.
 */
async function prune(store: LayoutStore, reader: StorageReader, dryRun: boolean, emit: Emit): Promise<number> {
  let pruned = 0;
  // Namespace directories are emptied only once the walk of the output is done with them: one id per namespace.
  const emptied = new Map<string, string>();
  for await (const id of store.listExported()) {
    // `repository@sha256:<hex>`: a referrer's layout stays while its manifest is in the repository.
    const at = id.lastIndexOf('@sha256:');
    const digest = at === -1 ? undefined : id.slice(at + 1);
    const colon = id.lastIndexOf(':');
    const there = digest !== undefined ? isDigest(digest) && (await reader.hasRevision(id.slice(0, at), digest)) : await tagStillThere(reader, id.slice(0, colon), id.slice(colon + 1));
    if (there) continue;
    // As a rebuild does (core/plan.ts), a directory holding files no layout has is someone else's: not removed.
    const foreign = foreignNames(await readdir(path.join(store.out, id)).catch(() => [] as string[]));
    if (foreign.length > 0) {
      emit({ kind: 'warning', message: `${id}: its tag is gone from the storage, but ${path.join(store.out, id)} holds files registry-rescue does not write (${namesList(foreign)}): not pruned; move them away or remove it` });
      continue;
    }
    if (!dryRun) {
      await store.remove(id);
      emptied.set(path.dirname(id), id);
    }
    emit({ kind: 'prune:removed', id, dryRun });
    pruned++;
  }
  // `out/team/` left empty by pruning `team/app:1` would stay forever (and look like a project to whoever reads --out).
  store.removeEmptyNamespaces(emptied.values());
  return pruned;
}

/**
 * True unless the tag's directory is gone or its manifest was deleted. A broken tag is still there, also one
 * whose `current/link` was lost (its directory is left): its layout may be the only record of its digest.
 */
async function tagStillThere(reader: StorageReader, repository: string, tag: string): Promise<boolean> {
  const link = await reader.readTagLink(repository, tag);
  if (!link.ok) return !('tagGone' in link && link.tagGone === true);
  return reader.hasRevision(repository, link.digest);
}

/** Runs list/export to the end, handing each result to `onResult` in tree order; resolves to the totals. */
export async function runExport(opts: ExportOptions, deps: ExportDeps, onResult: (r: ExportResult) => void = () => {}) {
  const run = await openExport(opts, deps);
  for await (const r of run.results) onResult(r);
  return { run, summary: await run.finish() };
}

/**
 * Refuses an output directory the export cannot use, before touching anything: inside the registry
 * tree, unwritable, or (for hard links) on another filesystem or where fs.protected_hardlinks forbids links.
 */
async function checkOutput(storage: StorageSource, out: string, opts: ExportOptions): Promise<void> {
  const v2 = storage.kind === 'bucket' ? '\0' : await realpath(storage.v2);
  const realOut = await realpathOfNearest(out);
  if (realOut === v2 || realOut.startsWith(v2 + path.sep) || v2.startsWith(realOut + path.sep)) {
    throw new PreflightError(`the output directory ${out} is inside the registry storage ${storage.v2} or contains it; choose a directory beside docker/registry/v2, not around or in it (for example ${path.join(storage.root, 'registry-rescue-export')})`);
  }
  if (opts.dryRun) return;
  const staging = stagingDirFor(out);
  const [outExisted, stagingExisted] = await Promise.all([out, staging].map((p) => stat(p).then(() => true, () => false)));
  const unwritable = (error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    const hint = code === 'EROFS' ? 'the filesystem is read-only: put --out on a writable one and use --link symlink' : 'choose a writable directory with --out';
    return new PreflightError(`the output directory ${out} (and its staging directory beside it) cannot be created or written (${code}); ${hint}`);
  };
  try {
    try {
      await mkdir(out, { recursive: true });
      await access(out, constants.W_OK);
    } catch (error) {
      throw unwritable(error);
    }
    const hold = await holdStaging(staging, unwritable);
    try {
      await checkRenameIntoOut(hold, out);
      // From a bucket every file is downloaded: no link to check.
      if (opts.link === 'hard' && storage.kind === 'filesystem') await checkHardLinks(storage, out, hold);
    } finally {
      await rmdir(hold).catch(() => {});
    }
  } catch (error) {
    // A refused --out leaves nothing behind.
    if (!stagingExisted) await rmdir(staging).catch(() => {});
    if (!outExisted) await rmdir(out).catch(() => {});
    throw error;
  }
}

/** Attempts at making the staging directory when the run finishing on this output directory removes it meanwhile. */
const STAGING_ATTEMPTS = 3;

/**
 * Makes the staging directory and, in it, a directory of this preflight's own (resolved to): it keeps the staging
 * directory from being empty while the preflight uses it. A run finishing on this output directory removes the
 * staging directory when empty (layout-store.ts close), also between our mkdir and our use of it: then it is made
 * again. The staging directory is swept and its runs' directories removed: it must be a real directory of ours,
 * not a symlink leading into the storage or onto other data.
 */
async function holdStaging(staging: string, unwritable: (error: unknown) => PreflightError): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    let info;
    try {
      await mkdir(staging, { recursive: true });
      info = await lstat(staging);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= STAGING_ATTEMPTS) throw unwritable(error);
      continue;
    }
    if (!info.isDirectory()) {
      throw new PreflightError(`the staging directory ${staging} (beside the output directory) is a symlink or not a directory; registry-rescue makes it itself and removes what it holds: remove it, or choose another --out`);
    }
    try {
      return await mkdtemp(path.join(staging, 'preflight-'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= STAGING_ATTEMPTS) throw unwritable(error);
    }
  }
}

/**
 * Layouts are built in staging and renamed into --out, which needs one filesystem. Comparing device
 * numbers misses bind mounts (same st_dev, rename still fails with EXDEV), so a real rename is tried, from the
 * preflight's own directory in staging (holdStaging).
 */
async function checkRenameIntoOut(hold: string, out: string): Promise<void> {
  const probe = await mkdtemp(path.join(hold, 'probe-'));
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

/** Hard links need the storage's filesystem and permission to link files we may not own (tried in `hold`, in staging). */
async function checkHardLinks(storage: StorageSource, out: string, hold: string): Promise<void> {
  const [outDev, blobsDev] = await Promise.all([stat(out), stat(path.join(storage.v2, 'blobs'))]);
  const alternatives = 'use --link symlink (no data copied; works across filesystems and with a read-only volume) or --link copy';
  if (outDev.dev !== blobsDev.dev) {
    throw new PreflightError(`hard links need the output directory on the storage's filesystem, but ${out} is on another one than ${storage.v2}; put --out on the same volume (for example ${path.join(storage.root, 'registry-rescue-export')}), or ${alternatives}`);
  }
  const probe = await findOneBlob(storage.v2);
  if (!probe) return;
  const target = path.join(hold, `probe-${randomUUID()}`);
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

/** What makes a list/export run incomplete besides its images (tags-file entries the storage lacks, unreadable directories). */
export function exportIssues(summary: ExportSummary): RunIssues {
  return { ...NO_ISSUES, unreadable: summary.unreadable.length, ...selectionIssues(summary.selectionProblems) };
}
