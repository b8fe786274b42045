/**
 * Decides whether one tag is exportable (storage-and-skopeo.md §2.8) and lists its layout files:
 * link → revision link → manifest blob (sha256 checked) → parsed manifest → every config, layer and
 * child manifest present with the right size (and, with --verify-blobs, the right sha256).
 * Every failure becomes a Problem naming the repository, tag, digest and file; nothing throws.
 */
import { blobDataPath, hexOf, revisionLinkPath } from '../core/digest.js';
import { artifactTypeOf, parseManifest, type Descriptor, type ParsedManifest } from '../core/manifest.js';
import { repositoryNameProblem, tagProblem } from '../core/reference.js';
import type { BlobToHash, Digest, LayoutFile, Problem, ProblemCode, ResolvedImage, TagRef } from '../core/types.js';
import { isBucketUrl } from './bucket-url.js';
import type { LinkFact, StorageReader } from './storage-reader.js';

export interface ResolveOptions {
  /** Stream every config and layer through sha256 (reads every byte). */
  verifyBlobs: boolean;
  /**
   * With verifyBlobs: list the configs and layers to hash on the image (ResolvedImage.unhashed) instead of hashing
   * them here. From a bucket, a layout write downloads and hashes them anyway: hashing them first would fetch each
   * twice. The caller has them hashed by the write, or by hashDeferred.
   */
  deferHashes?: boolean;
}

/** Resolves one tag into a ResolvedImage: status, problems and the layout's files. */
/** `link`: the tag's link when the caller has read it already (resolver.ts reads it once, on the main thread). */
export async function resolveImage(reader: StorageReader, ref: TagRef, opts: ResolveOptions, link?: LinkFact): Promise<ResolvedImage> {
  const { referrer } = ref;
  const image: ResolvedImage = { repository: ref.repository, tag: ref.tag, kind: 'unknown', status: 'ok', problems: [], warnings: [], size: 0, files: [] };
  if (referrer) image.subject = referrer.subject;
  const who = referrer ? `${ref.repository}@${referrer.digest}` : `${ref.repository}:${ref.tag}`;
  const failWith = (status: 'broken' | 'skipped', problem: Problem) => {
    if (image.status !== 'skipped') image.status = status;
    image.problems.push(problem);
  };
  const fail = (status: 'broken' | 'skipped', code: ProblemCode, message: string, extra: { digest?: string; file?: string } = {}) => failWith(status, { code, message: `${who}: ${message}`, ...extra });

  // Where the name was read from: a tag's directory, or a referrer's revision link.
  const tagDir = referrer ? revisionLinkPath(ref.repository, referrer.digest) : `repositories/${ref.repository}/_manifests/tags/${ref.tag}`;
  const nameProblem = repositoryNameProblem(ref.repository);
  if (nameProblem) fail('broken', 'name-invalid', `repository name ${JSON.stringify(ref.repository)} is not valid: ${nameProblem} (${tagDir})`, { file: tagDir });
  const badTag = referrer ? undefined : tagProblem(ref.tag);
  if (badTag) fail('broken', 'tag-invalid', `tag ${JSON.stringify(ref.tag)} is not valid: ${badTag} (${tagDir})`, { file: tagDir });

  const linkFile = `repositories/${ref.repository}/_manifests/tags/${ref.tag}/current/link`;
  // A referrer has no tag: found through its revision link, by digest.
  link = referrer ? { ok: true, digest: referrer.digest } : (link ?? (await reader.readTagLink(ref.repository, ref.tag)));
  if (!link.ok) {
    fail('broken', link.code, `cannot read the tag's link: ${link.detail} (${linkFile})`, { file: linkFile });
    return finish(image, new Map());
  }
  const digest = link.digest;
  image.digest = digest;
  const warn = (code: ProblemCode, message: string, d?: string) => image.warnings.push({ code, message: `${who}: ${message}`, ...(d ? { digest: d } : {}) });
  if (link.padded) {
    warn('link-padded', `the tag's link holds ${digest} with ${link.padded}, which the registry itself cannot read (it serves no such tag); exported anyway, since the digest is unambiguous (${linkFile})`, digest);
  }
  const revisionFile = revisionLinkPath(ref.repository, digest);
  const revision = await reader.readRevision(ref.repository, digest);
  if (revision.state === 'absent') {
    fail('skipped', 'manifest-deleted', `manifest ${digest} has no revision link in the repository, so it was deleted (through the registry API, Harbor or by hand) and only its tag directory is left; not exported (${revisionFile})`, {
      digest,
      file: revisionFile,
    });
    return finish(image, new Map());
  }
  if (revision.state === 'unreadable') {
    fail('broken', 'link-unreadable', `the revision link of manifest ${digest} cannot be read: ${revision.detail} (${revisionFile})`, { digest, file: revisionFile });
    return finish(image, new Map());
  }
  if (revision.invalid) warn('revision-link-invalid', `the revision link of manifest ${digest} is damaged: ${revision.invalid}; the manifest itself is intact and exported (${revisionFile})`, digest);
  const files = new Map<string, LayoutFile>();
  const top = await loadManifest(reader, digest, `manifest ${digest}`, false);
  if (!top.ok) {
    fail('broken', top.code, top.message, { digest, file: blobFile(reader, digest) });
    return finish(image, files);
  }
  const m = top.manifest;
  image.mediaType = m.mediaType;
  if (m.type !== 'schema1' && m.subject !== undefined) image.refersTo = m.subject;
  files.set('manifest.json', { name: 'manifest.json', digest, size: top.size, source: reader.blobSource(digest), ...(top.identity !== undefined ? { identity: top.identity } : {}) });
  if (m.type === 'schema1') {
    fail('skipped', 'schema1', `manifest ${digest} is Docker schema1, which Harbor and skopeo --preserve-digests cannot push; not exported`, { digest });
    image.kind = 'schema1';
    return finish(image, new Map());
  }
  const ctx: Walk = { reader, opts, who, files, fail, failWith, warn };
  if (m.type === 'index') {
    image.kind = 'index';
    image.platforms = m.manifests.map((d) => d.platform ?? 'unknown');
    await walkIndex(ctx, ref.repository, m, digest);
  } else {
    const artifactType = artifactTypeOf(m);
    image.kind = referrer ? 'referrer' : artifactType ? 'artifact' : 'image';
    if (artifactType) image.artifactType = artifactType;
    await checkBlobs(ctx, m, '');
  }
  if (ctx.unhashed) image.unhashed = ctx.unhashed;
  return finish(image, files);
}

/** The problem of a blob that does not hash to its digest or cannot be read; undefined when it is intact. */
async function hashProblem(reader: StorageReader, blob: BlobToHash): Promise<Problem | undefined> {
  let actual: string;
  try {
    actual = await reader.hashBlob(blob.digest);
  } catch (error) {
    return { code: 'blob-unreadable', message: `${blob.label} cannot be read: ${(error as Error).message} (${blob.file})`, digest: blob.digest, file: blob.file };
  }
  return actual === blob.digest ? undefined : mismatchProblem(blob, actual);
}

/** What the resolver says of a blob whose bytes hash to `actual`: also said when a layout write finds it. */
export function mismatchProblem(blob: BlobToHash, actual: string): Problem {
  return { code: 'blob-digest-mismatch', message: `${blob.label} is corrupt: its content hashes to ${actual} (${blob.file})`, digest: blob.digest, file: blob.file };
}

/**
 * Does the hashing resolveImage left to its caller (ResolveOptions.deferHashes) for `blobs` (default: all of
 * image.unhashed), with the problems and status resolving with --verify-blobs gives; image.unhashed is then gone.
 */
export async function hashDeferred(reader: StorageReader, image: ResolvedImage, blobs: readonly BlobToHash[] = image.unhashed ?? []): Promise<void> {
  delete image.unhashed;
  const found = await Promise.all(blobs.map(async (blob) => ({ blob, problem: await hashProblem(reader, blob) })));
  breakWith(image, found.filter((f): f is { blob: BlobToHash; problem: Problem } => f.problem !== undefined));
}

/**
 * Adds the problems of blobs found bad after resolving, with the status, order and size resolving would have given:
 * a blob that failed its check is no file of the layout, so not in the image's size.
 */
export function breakWith(image: ResolvedImage, bad: ReadonlyArray<{ blob: BlobToHash; problem: Problem }>): void {
  if (bad.length === 0) return;
  if (image.status !== 'skipped') image.status = 'broken';
  image.problems.push(...bad.map((b) => b.problem));
  image.problems.sort((a, b) => a.message.localeCompare(b.message));
  image.files = [];
  for (const blob of new Map(bad.map((b) => [b.blob.digest, b.blob])).values()) image.size -= blob.size;
}

/**
 * How a problem names a blob's data file: its path below docker/registry/v2 on disk, the whole `s3://` object in a
 * bucket, which is where the operator has to look it up (README: "named with its digest and `s3://` object").
 */
function blobFile(reader: StorageReader, digest: Digest): string {
  return isBucketUrl(reader.v2) ? `${reader.v2}/${blobDataPath(digest)}` : blobDataPath(digest);
}

interface Walk {
  reader: StorageReader;
  opts: ResolveOptions;
  /** `repo:tag` (or `repo@digest` of a referrer), which every problem message starts with. */
  who: string;
  files: Map<string, LayoutFile>;
  fail: (status: 'broken', code: ProblemCode, message: string, extra?: { digest?: string; file?: string }) => void;
  /** fail, with the whole problem (its message already names `who`). */
  failWith: (status: 'broken', problem: Problem) => void;
  warn: (code: ProblemCode, message: string, digest?: string) => void;
  /** With deferHashes: the blobs left to hash. */
  unhashed?: BlobToHash[];
}

type Loaded = { ok: true; manifest: ParsedManifest; size: number; identity?: string } | { ok: false; code: ProblemCode; message: string };

/** Reads and parses a manifest; `what` names it in messages (`manifest sha256:…`, `child linux/arm64 sha256:… of …`). */
async function loadManifest(reader: StorageReader, digest: Digest, what: string, child: boolean): Promise<Loaded> {
  const fact = await reader.readManifest(digest);
  const file = blobFile(reader, digest);
  if (!fact.ok) {
    if (fact.error === 'missing') return { ok: false, code: child ? 'child-missing' : 'manifest-missing', message: `${what} is missing (${file})` };
    if (fact.error === 'digest-mismatch') {
      return { ok: false, code: child ? 'child-digest-mismatch' : 'manifest-digest-mismatch', message: `${what} is corrupt: ${fact.detail} (${file})` };
    }
    if (fact.error === 'too-large') {
      return { ok: false, code: 'manifest-unsupported', message: `${what} is too large: ${fact.detail}, the 4 MiB a registry accepts for a manifest (${file})` };
    }
    return { ok: false, code: child ? 'child-unreadable' : 'manifest-unreadable', message: `${what} cannot be read: ${fact.detail} (${file})` };
  }
  const parsed = parseManifest(fact.bytes);
  if (!parsed.ok) {
    const code = parsed.code === 'ambiguous' ? 'manifest-ambiguous' : parsed.code === 'unsupported' ? 'manifest-unsupported' : child ? 'child-unparseable' : 'manifest-unparseable';
    const how = parsed.code === 'ambiguous' ? 'is ambiguous' : parsed.code === 'unsupported' ? 'is not supported' : 'cannot be parsed';
    return { ok: false, code, message: `${what} ${how}: ${parsed.reason} (${file})` };
  }
  return { ok: true, manifest: parsed.manifest, size: fact.bytes.length, ...(fact.identity !== undefined ? { identity: fact.identity } : {}) };
}

/**
 * Checks each child of an index. skopeo 1.9.3 pushes one level only ("Unexpectedly received a manifest list
 * instead of a manifest for a single image" for an index inside an index), and with --preserve-digests it
 * refuses an index whose descriptor media types differ from what the children are (it would rewrite them):
 * both are broken here, so `ok` means skopeo pushes it unchanged. No recursion, so no cycle to follow.
 */
async function walkIndex(ctx: Walk, repository: string, index: Extract<ParsedManifest, { type: 'index' }>, indexDigest: Digest): Promise<void> {
  await Promise.all(
    index.manifests.map(async (d, i) => {
      const label = `child ${d.platform ?? `#${i + 1}`} ${d.digest}`;
      if (d.artifactType !== undefined || d.hasData) {
        ctx.warn('index-descriptor-artifact', `${label} carries ${d.artifactType !== undefined ? 'artifactType' : 'data'} in its index descriptor: skopeo 1.9.3 cannot push this index without changing its digest`, d.digest);
      }
      if (d.digest === indexDigest) return ctx.fail('broken', 'manifest-unsupported', `${label} is the index itself`, { digest: d.digest });
      const revisionFile = revisionLinkPath(repository, d.digest);
      const revision = await ctx.reader.readRevision(repository, d.digest);
      if (revision.state === 'absent') {
        ctx.fail('broken', 'child-deleted', `${label} has no revision link in the repository (deleted through the API or by garbage collection, or pushed only to another repository) (${revisionFile})`, { digest: d.digest, file: revisionFile });
        return;
      }
      if (revision.state === 'unreadable') {
        return ctx.fail('broken', 'link-unreadable', `the revision link of ${label} cannot be read: ${revision.detail} (${revisionFile})`, { digest: d.digest, file: revisionFile });
      }
      if (revision.invalid) ctx.warn('revision-link-invalid', `the revision link of ${label} is damaged: ${revision.invalid}; the manifest itself is intact and exported (${revisionFile})`, d.digest);
      const file = blobFile(ctx.reader, d.digest);
      const child = await loadManifest(ctx.reader, d.digest, label, true);
      if (!child.ok) return ctx.fail('broken', child.code, child.message, { digest: d.digest, file });
      if (child.size !== d.size) {
        return ctx.fail('broken', 'manifest-size-mismatch', `${label} is ${child.size} bytes, its descriptor says ${d.size} (${file})`, { digest: d.digest, file });
      }
      const childName = `${hexOf(d.digest)}.manifest.json`;
      ctx.files.set(childName, { name: childName, digest: d.digest, size: child.size, source: ctx.reader.blobSource(d.digest), ...identityFor(ctx.opts, child.identity) });
      const cm = child.manifest;
      if (cm.type === 'schema1') return ctx.fail('broken', 'schema1', `${label} is Docker schema1 inside an index, which skopeo --preserve-digests cannot push (${file})`, { digest: d.digest, file });
      if (d.mediaType !== cm.mediaType) {
        const says = d.mediaType === '' ? 'gives no mediaType' : `says ${d.mediaType}`;
        return ctx.fail('broken', 'child-media-type-mismatch', `${label}: its index descriptor ${says}, but the child is ${cm.mediaType}; skopeo --preserve-digests refuses to rewrite the index (${file})`, { digest: d.digest, file });
      }
      if (cm.type === 'index') {
        return ctx.fail('broken', 'manifest-unsupported', `${label} is itself an index; skopeo 1.9.3 cannot push an index inside an index (${file})`, { digest: d.digest, file });
      }
      return checkBlobs(ctx, cm, ` of ${label}`);
    }),
  );
}

async function checkBlobs(ctx: Walk, m: Extract<ParsedManifest, { type: 'manifest' }>, of: string): Promise<void> {
  const wanted: Array<[string, Descriptor]> = [[`config ${m.config.digest}`, m.config]];
  m.layers.forEach((d, i) => wanted.push([`layer ${i + 1} ${d.digest}`, d]));
  await Promise.all(
    wanted.map(async ([what, d]) => {
      const label = `${what}${of}`;
      if (d.urls) {
        // Foreign / non-distributable layers are not stored by the registry (schema2manifesthandler.go).
        ctx.warn('foreign-layer', `${label} is a foreign layer (urls: ${d.urls.join(', ')}); it is not in storage and is left to the target to fetch`, d.digest);
        return;
      }
      const fact = await ctx.reader.statBlob(d.digest);
      const file = blobFile(ctx.reader, d.digest);
      if (!fact.ok) {
        if (fact.error === 'missing') return ctx.fail('broken', 'blob-missing', `${label} is missing (${file})`, { digest: d.digest, file });
        return ctx.fail('broken', 'blob-unreadable', `${label} cannot be read: ${fact.detail} (${file})`, { digest: d.digest, file });
      }
      if (fact.size !== d.size) {
        return ctx.fail('broken', 'blob-size-mismatch', `${label} is ${fact.size} bytes ${isBucketUrl(ctx.reader.v2) ? 'in the storage' : 'on disk'}, the manifest says ${d.size} (${file})`, { digest: d.digest, file });
      }
      if (ctx.opts.verifyBlobs) {
        const blob: BlobToHash = { digest: d.digest, size: fact.size, label: `${ctx.who}: ${label}`, file };
        if (ctx.opts.deferHashes) (ctx.unhashed ??= []).push(blob);
        else {
          const problem = await hashProblem(ctx.reader, blob);
          if (problem) return ctx.failWith('broken', problem);
        }
      }
      const hex = hexOf(d.digest);
      ctx.files.set(hex, { name: hex, digest: d.digest, size: fact.size, source: ctx.reader.blobSource(d.digest), ...identityFor(ctx.opts, fact.identity) });
    }),
  );
}

const NO_IDENTITY: { identity?: string } = Object.freeze({});

/**
 * A child manifest's or blob's identity, kept on its LayoutFile with --verify-blobs only: the existing-layout check
 * then compares it with the layout file's (a blob replaced by a new inode since the export). Without it nothing is
 * compared, and the worker's rows (resolver.ts pack) stay as small as they were. The top manifest's identity is
 * always kept: it is how an unchanged layout is told with one lstat.
 */
function identityFor(opts: ResolveOptions, identity: string | undefined): { identity?: string } {
  return opts.verifyBlobs && identity !== undefined ? { identity } : NO_IDENTITY;
}

function finish(image: ResolvedImage, files: Map<string, LayoutFile>): ResolvedImage {
  // By code point: names are hex digests and `manifest.json`, the same order in every locale.
  const all = [...files.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  image.size = all.reduce((sum, f) => sum + f.size, 0);
  image.files = image.status === 'ok' ? all : [];
  // Problems in a stable order whatever order the concurrent checks finished in.
  image.problems.sort((a, b) => a.message.localeCompare(b.message));
  image.warnings.sort((a, b) => a.message.localeCompare(b.message));
  return image;
}
