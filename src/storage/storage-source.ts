/**
 * The seam between the runs and the storage backend: one interface to walk the tags and read the tree,
 * with a directory and a bucket implementation, chosen from the `<storage>` argument. Everything above
 * (run-export, run-sync, run-verify, the commands) sees only this.
 */
import type { SelectorEntry } from '../core/selection.js';
import { isBucketUrl, parseBucketUrl, type BucketSettings } from './bucket-url.js';
import { locateStorage, scanRepositories, type RepositoryTags } from './scan-storage.js';
import { createStorageReader, type StorageReader } from './storage-reader.js';
import type { ResolveOptions } from './resolve-image.js';
import { localResolver, twoThreadResolver, type LayoutsToRead, type MainThreadShare, type Resolver } from './resolver.js';
import { suggestIn, suggestionsFor, suggestionsIn } from './suggest-tag.js';

export type { BucketSettings } from './bucket-url.js';

export interface StorageSource {
  /** `filesystem`: layouts can hard-link its blobs. `bucket`: every file is downloaded (copied and checked). */
  kind: 'filesystem' | 'bucket';
  /** What the user gave (resolved, for a directory). */
  given: string;
  /** The `docker/registry/v2` directory, or `s3://bucket/<root>/docker/registry/v2`: what reports show. */
  v2: string;
  /** The volume root holding `docker/` (the registry's rootdirectory), or `s3://bucket/<root>`. */
  root: string;
  reader: StorageReader;
  /**
   * Resolves tags (resolve-image.ts) with about `parallel` in flight: a directory on two threads, a bucket here
   * (its reads wait on the network). Close it when the walk is done.
   */
  resolver(opts: ResolveOptions, parallel: number, layouts?: LayoutsToRead, mainThread?: MainThreadShare): Resolver;
  /** Every repository with its tags, in tree order; unreadable parts are reported through `onError`. */
  scanRepositories(onError: (message: string) => void): AsyncGenerator<RepositoryTags>;
  /** "Did you mean" for tags-file entries that matched nothing: the nearest repository and tag names. */
  suggestions(entries: readonly SelectorEntry[]): Promise<Map<SelectorEntry, string>>;
  /** Releases connections. */
  close(): void;
}

export interface OpenStorageOptions {
  cwd: string;
  env?: Readonly<Record<string, string | undefined>>;
  bucket?: BucketSettings;
}

/** Opens `given`: a directory (the volume root, …/docker/registry or …/v2), or `s3://bucket[/rootdirectory]`. PreflightError if there is no tree. */
export async function openStorage(given: string, opts: OpenStorageOptions): Promise<StorageSource> {
  if (isBucketUrl(given)) return openBucketStorage(given, opts);
  const root = await locateStorage(given, opts.cwd);
  const reader = createStorageReader(root.v2);
  return {
    kind: 'filesystem',
    ...root,
    reader,
    resolver: (resolve, parallel, layouts, mainThread) => twoThreadResolver(reader, resolve, parallel, { ...(layouts ? { layouts } : {}), ...(mainThread ? { mainThread } : {}) }),
    scanRepositories: (onError) => scanRepositories(root.v2, onError),
    suggestions: (entries) => suggestionsFor(root.v2, entries),
    close() {},
  };
}

async function openBucketStorage(given: string, opts: OpenStorageOptions): Promise<StorageSource> {
  const url = parseBucketUrl(given);
  // Loaded only for a bucket: a run on a directory never pays for the AWS SDK.
  const { createBucketClient } = await import('./bucket-client.js');
  const { bucketSuggestTree, createBucketReader, locateBucketTree, scanBucketRepositories } = await import('./bucket-storage.js');
  const client = await createBucketClient(url, opts.bucket ?? {}, opts.env ?? {});
  try {
    const prefix = await locateBucketTree(client, url);
    const v2 = client.url(prefix.replace(/\/$/, ''));
    const reader = createBucketReader(client, prefix);
    return {
      kind: 'bucket',
      given,
      v2,
      root: client.url(prefix.replace(/\/?(docker\/registry\/)?v2\/$/, '')).replace(/\/$/, ''),
      reader,
      resolver: (resolve, parallel, layouts) => localResolver(reader, resolve, parallel, layouts),
      scanRepositories: (onError) => scanBucketRepositories(client, prefix, onError),
      suggestions: (entries) => {
        const tree = bucketSuggestTree(client, prefix);
        return suggestionsIn((entry) => suggestIn(tree, entry), entries);
      },
      close: () => client.close(),
    };
  } catch (error) {
    client.close();
    throw error;
  }
}
