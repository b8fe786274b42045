/**
 * A Distribution v2 tree in a bucket (`<rootdirectory>/docker/registry/v2/…`, as the registry's s3 driver
 * writes it), read with GET, HEAD and delimited lists only.
 *
 * Listing stays cheap: `repositories/` is never listed as a whole (it holds a `_layers` link per layer per
 * repository, and `_manifests/revisions` per manifest); each directory is listed one level deep with
 * Delimiter `/`, and a repository's tags come from listing `_manifests/tags/` the same way. `blobs/` is never
 * listed. Results come in the same tree order as the walk of a directory (walkRepositories).
 */
import { createHash } from 'node:crypto';
import { compareStrings } from '../core/order.js';
import { blobDataPath, hexOf, isDigest, parseLink, revisionLinkPath, tagLinkPath } from '../core/digest.js';
import { Lru } from '../core/lru.js';
import type { Digest } from '../core/types.js';
import { BucketError, NOT_S3, PLAIN_HTTP, type BucketClient, type BucketUrl } from './bucket-client.js';
import { PreflightError } from '../errors.js';
import { walkRepositories, type RepositoryTags, type Visit } from './scan-storage.js';
import type { BlobFact, LinkFact, ManifestFact, RevisionFact, StorageReader } from './storage-reader.js';
import type { SuggestTree } from './suggest-tag.js';
import { createNearest } from '../core/edit-distance.js';

/** Directories listed ahead of the walk, per level: round trips overlap, the request pool bounds them. */
const BUCKET_PREFETCH = 16;
const MANIFEST_CACHE = 64;
const BLOB_CACHE = 4096;
/** A link object is 71 bytes; more is garbage, reported from its first bytes (as on disk). */
const MAX_LINK_BYTES = 256;
/** Read whole to report it, never more. */
const MAX_LINK_READ = 64 * 1024;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const CANDIDATES = ['docker/registry/v2', 'v2', ''];

/** The key prefix (ending in `/`) of `docker/registry/v2` in the bucket, found from the user's root. */
export async function locateBucketTree(client: BucketClient, url: BucketUrl): Promise<string> {
  const tried: string[] = [];
  for (const suffix of CANDIDATES) {
    const base = [url.root, suffix].filter((p) => p !== '').join('/');
    if (!base.endsWith('v2')) continue;
    const prefix = `${base}/`;
    tried.push(client.url(prefix));
    const found = new Set<string>();
    try {
      for await (const page of client.list(prefix)) for (const p of page.prefixes) found.add(p.slice(prefix.length));
    } catch (error) {
      throw new PreflightError(`${(error as Error).message}${hintFor(error)}`);
    }
    if (found.has('repositories/') && found.has('blobs/')) return prefix;
  }
  throw new PreflightError(
    `no registry storage found in s3://${url.bucket}${url.root ? `/${url.root}` : ''}: looked for docker/registry/v2/{repositories,blobs}/ under ` +
      `${tried.join(', ')} (give the storage driver's rootdirectory: s3://BUCKET/ROOTDIRECTORY, as in harbor.yml storage_service.s3 or the Helm chart's persistence.imageChartStorage.s3)`,
  );
}

/** The failure without the object's name (messages built on it name the file themselves). */
const detailOf = (error: unknown): string => (error instanceof BucketError ? error.detail : (error as Error)?.message ?? String(error));

function hintFor(error: unknown): string {
  const code = (error as BucketError).code ?? '';
  if (/CredentialsProviderError|Could not load credentials/i.test(`${code} ${(error as Error).message}`)) {
    return '; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment';
  }
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(`${code} ${(error as Error).message}`)) return '; check --s3-endpoint (or AWS_ENDPOINT_URL)';
  if ((error as Error).message.includes(NOT_S3)) return "; check --s3-endpoint (or AWS_ENDPOINT_URL): the S3 server's URL, the registry's regionendpoint";
  if ((error as Error).message.includes(PLAIN_HTTP)) return '; give the endpoint as http://… (the registry had secure: false)';
  if (/certificate|self[- ]signed/i.test((error as Error).message)) return '; give the endpoint\'s CA with --s3-ca-cert';
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed') return '; give the bucket\'s region with --s3-region';
  return '';
}

/** Streams every repository with its tags, in tree order (the bucket counterpart of scanRepositories). */
export function scanBucketRepositories(client: BucketClient, v2Prefix: string, onError: (message: string) => void = () => {}): AsyncGenerator<RepositoryTags> {
  const dirOf = (rel: string) => `${v2Prefix}repositories/${rel === '' ? '' : `${rel}/`}`;
  /** Names one level below a prefix ("subdirectories"), or none after reporting an error. */
  const namesUnder = async (prefix: string, rel: string): Promise<string[]> => {
    const names: string[] = [];
    try {
      for await (const page of client.list(prefix)) {
        for (const p of page.prefixes) {
          const name = p.slice(prefix.length, -1);
          if (name !== '') names.push(name);
        }
      }
    } catch (error) {
      onError(`cannot list repositories/${rel} (${detailOf(error)}); tags below it are not listed`);
      return [];
    }
    return names;
  };
  const visit = async (rel: string): Promise<Visit> => {
    const entries = await namesUnder(dirOf(rel), rel);
    const children: string[] = [];
    let isRepository = false;
    for (const name of entries) {
      if (name === '_manifests') isRepository = rel !== '';
      else if (!name.startsWith('_')) children.push(rel === '' ? name : `${rel}/${name}`);
    }
    children.sort(compareStrings);
    if (!isRepository) return { children };
    const tags = await namesUnder(`${dirOf(rel)}_manifests/tags/`, `${rel}/_manifests/tags`);
    return { children, tags: tags.sort(compareStrings) };
  };
  return walkRepositories(visit, BUCKET_PREFETCH);
}

/** A StorageReader over the bucket: the same facts as on disk, from GET and HEAD. */
export function createBucketReader(client: BucketClient, v2Prefix: string): StorageReader {
  const manifests = new Lru<Digest, Promise<ManifestFact>>(MANIFEST_CACHE);
  const blobs = new Lru<Digest, Promise<BlobFact>>(BLOB_CACHE);
  const hashes = new Lru<Digest, Promise<string>>(BLOB_CACHE);
  const key = (rel: string) => `${v2Prefix}${rel}`;
  const where = (rel: string) => client.url(key(rel));
  return {
    v2: client.url(v2Prefix.replace(/\/$/, '')),
    // A manifest was read (and hashed) to resolve the image: its layout file comes from those bytes while they are
    // cached, not from a second download. Anything else is streamed from the bucket.
    blobSource: (digest) => ({
      url: where(blobDataPath(digest)),
      open: async (signal) => {
        const read = await manifests.peek(digest);
        if (!read?.ok) return client.stream(key(blobDataPath(digest)), signal);
        const { bytes } = read;
        return (async function* () {
          yield bytes;
        })();
      },
    }),
    async readTagLink(repository, tag): Promise<LinkFact> {
      try {
        const bytes = await client.get(key(tagLinkPath(repository, tag)), MAX_LINK_READ);
        // A bucket has no directories to tell a lost link from a deleted tag: taken as deleted, as before.
        if (bytes === undefined) return { ok: false, code: 'link-unreadable', detail: 'no such file', tagGone: true };
        return parseLink(bytes.subarray(0, MAX_LINK_BYTES).toString('utf8'));
      } catch (error) {
        return { ok: false, code: 'link-unreadable', detail: detailOf(error) };
      }
    },
    async readRevision(repository, digest): Promise<RevisionFact> {
      try {
        const bytes = await client.get(key(revisionLinkPath(repository, digest)), MAX_LINK_READ);
        if (bytes === undefined) return { state: 'absent' };
        const link = parseLink(bytes.subarray(0, MAX_LINK_BYTES).toString('utf8'));
        if (!link.ok) return { state: 'present', invalid: link.detail };
        if (link.digest !== digest) return { state: 'present', invalid: `the link object holds ${link.digest}, not the digest it is filed under` };
        if (link.padded) return { state: 'present', invalid: `the link object holds the digest with ${link.padded}` };
        return { state: 'present' };
      } catch (error) {
        // As on disk: a link that cannot be read is never taken for a deleted manifest.
        return { state: 'unreadable', detail: detailOf(error) };
      }
    },
    async hasRevision(repository, digest) {
      try {
        return (await client.head(key(revisionLinkPath(repository, digest)))) !== undefined;
      } catch {
        return true;
      }
    },
    async tagPushTime(repository, tag) {
      try {
        return (await client.head(key(tagLinkPath(repository, tag))))?.lastModified;
      } catch {
        return undefined;
      }
    },
    async tagOnceHeld(repository, tag, digest) {
      if (!isDigest(digest)) return false;
      try {
        return (await client.head(key(`repositories/${repository}/_manifests/tags/${tag}/index/sha256/${hexOf(digest)}/link`))) !== undefined;
      } catch {
        return false;
      }
    },
    async listRevisions(repository) {
      const prefix = key(`repositories/${repository}/_manifests/revisions/sha256/`);
      const found: Digest[] = [];
      // A failed list rejects (the caller names it, and the run is partial): a transient 500 must not drop the
      // repository's untagged signatures and SBOMs unsaid.
      for await (const page of client.list(prefix)) {
        for (const p of page.prefixes) {
          const digest = `sha256:${p.slice(prefix.length, -1)}`;
          if (isDigest(digest)) found.push(digest);
        }
      }
      return found.sort();
    },
    readManifest: (digest) =>
      manifests.getOrSet(digest, async (): Promise<ManifestFact> => {
        const rel = blobDataPath(digest);
        const file = where(rel);
        try {
          const bytes = await client.get(key(rel), MAX_MANIFEST_BYTES);
          if (bytes === undefined) return { ok: false, error: 'missing', detail: 'no such object', path: file };
          const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
          if (actual !== digest) return { ok: false, error: 'digest-mismatch', detail: `its content hashes to ${actual}`, path: file };
          return { ok: true, bytes, path: file };
        } catch (error) {
          if ((error as BucketError).code === 'TooLarge') return { ok: false, error: 'too-large', detail: detailOf(error), path: file };
          return { ok: false, error: 'unreadable', detail: detailOf(error), path: file };
        }
      }),
    statBlob: (digest) =>
      blobs.getOrSet(digest, async (): Promise<BlobFact> => {
        const rel = blobDataPath(digest);
        const file = where(rel);
        try {
          const head = await client.head(key(rel));
          if (head === undefined) return { ok: false, error: 'missing', detail: 'no such object', path: file };
          return { ok: true, size: head.size, path: file };
        } catch (error) {
          return { ok: false, error: 'unreadable', detail: detailOf(error), path: file };
        }
      }),
    hashBlob: (digest) =>
      hashes.getOrSet(digest, async () => {
        const hash = createHash('sha256');
        for await (const chunk of await client.stream(key(blobDataPath(digest)))) hash.update(chunk);
        return `sha256:${hash.digest('hex')}`;
      }),
  };
}

/** `repositories/` in the bucket for "did you mean" suggestions: a directory is a prefix with keys below it. */
export function bucketSuggestTree(client: BucketClient, v2Prefix: string): SuggestTree {
  const prefixOf = (rel: string) => `${v2Prefix}repositories/${rel === '' ? '' : `${rel}/`}`;
  return {
    async isDirectory(rel) {
      for await (const page of client.list(prefixOf(rel))) if (page.prefixes.length > 0 || page.objects.length > 0) return true;
      return false;
    },
    async nearestChild(rel, target) {
      const prefix = prefixOf(rel);
      const nearest = createNearest(target);
      for await (const page of client.list(prefix)) {
        for (const p of page.prefixes) {
          const name = p.slice(prefix.length, -1);
          if (name !== '' && !name.startsWith('_')) nearest.offer(name);
        }
      }
      return nearest.best();
    },
  };
}
