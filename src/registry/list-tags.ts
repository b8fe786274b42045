/**
 * Gathers every `repository:tag` of a live registry for the `tags` command: from Harbor's API
 * (its database is the truth about tags, storage-and-skopeo.md §3.2) or, for any other registry,
 * from /v2/_catalog and /v2/<name>/tags/list.
 */
import pLimit from 'p-limit';
import { PreflightError } from '../errors.js';
import type { HarborApi, HarborProject } from './harbor-api.js';
import type { RegistryClient } from './registry-client.js';
import { RegistryHttpError } from './registry-errors.js';

/** Repositories listed at once: a few keep-alive connections, without hammering a sick registry. */
export const LIST_CONCURRENCY = 4;

export interface ListedImage {
  repository: string;
  tag: string;
  digest?: string;
  project?: string;
  pushTime?: string;
}

export interface TagListing {
  kind: 'harbor' | 'registry';
  harborVersion?: string;
  images: ListedImage[];
  repositories: number;
  /** Harbor only: projects listed (proxy caches left out not counted). */
  projects?: number;
  /** Harbor only: proxy-cache projects left out. */
  proxyCacheSkipped?: string[];
  /** Harbor only: every proxy-cache project seen, listed or not. */
  proxyCacheProjects?: string[];
  /** Harbor only: artifacts without any tag (not listed). */
  untaggedArtifacts?: number;
}

export interface HarborListOptions {
  projects: readonly string[];
  includeProxyCache: boolean;
  version?: string;
}

/** Lists Harbor's tagged artifacts: projects → repositories → artifacts, every page. */
export async function listHarborTags(api: HarborApi, opts: HarborListOptions): Promise<TagListing> {
  const projects = opts.projects.length > 0 ? await namedProjects(api, opts.projects) : await collect(api.listProjects());
  const wanted = projects.filter((p) => opts.includeProxyCache || p.registryId === null);
  const proxyCacheSkipped = projects.filter((p) => !wanted.includes(p)).map((p) => p.name);
  const repositories: Array<{ project: string; name: string }> = [];
  for (const project of wanted) {
    for await (const repo of api.listRepositories(project.name)) repositories.push({ project: project.name, name: repo.name });
  }
  let untaggedArtifacts = 0;
  const perRepo = await mapLimited(repositories, async (repo) => {
    const images: ListedImage[] = [];
    for await (const artifact of api.listArtifacts(repo.project, repo.name)) {
      if (artifact.tags.length === 0) untaggedArtifacts++;
      for (const tag of artifact.tags) {
        images.push({ repository: repo.name, tag: tag.name, digest: artifact.digest, project: repo.project, pushTime: tag.pushTime });
      }
    }
    return images;
  });
  return {
    kind: 'harbor',
    harborVersion: opts.version,
    images: sortImages(perRepo.flat()),
    repositories: repositories.length,
    projects: wanted.length,
    proxyCacheSkipped,
    proxyCacheProjects: projects.filter((p) => p.registryId !== null).map((p) => p.name).sort(),
    untaggedArtifacts,
  };
}

async function namedProjects(api: HarborApi, names: readonly string[]): Promise<HarborProject[]> {
  const found: HarborProject[] = [];
  for (const name of new Set(names)) {
    const project = await api.getProject(name);
    if (!project) throw new PreflightError(`project "${name}" not found on Harbor ${api.host}`);
    found.push(project);
  }
  return found;
}

export interface RegistryListOptions {
  /** HEAD every tag's manifest for its digest (one request a tag, LIST_CONCURRENCY at a time): only JSON shows it. */
  digests?: boolean;
}

/** Lists a plain registry's tags through its catalog; `projects` keeps repositories under those first components. */
export async function listRegistryTags(client: RegistryClient, projects: readonly string[], opts: RegistryListOptions = {}): Promise<TagListing> {
  await client.ping();
  const keep = (name: string): boolean => projects.length === 0 || projects.includes(name.split('/')[0] ?? '');
  const repositories = (await collect(client.catalog())).filter(keep);
  const perRepo = await mapLimited(repositories, async (repository) =>
    (await collect(client.tags(repository))).map((tag): ListedImage => ({ repository, tag })),
  );
  const images = perRepo.flat();
  if (opts.digests) {
    await mapLimited(images, async (image) => {
      // undefined when the tag was deleted since it was listed: it stays listed, without a digest.
      const head = await client.headManifest(image.repository, image.tag);
      if (head) image.digest = head.digest;
    });
  }
  return { kind: 'registry', images: sortImages(images), repositories: repositories.length };
}

/** Turns an unexpected answer (5xx, bad JSON) into a run-level error: the listing cannot be trusted. */
export function asPreflight(error: unknown): unknown {
  if (error instanceof RegistryHttpError) return new PreflightError(`cannot list tags: ${error.message}`, { cause: error });
  return error;
}

/** Sorted by repository, then tag, by code unit (stable across locales). */
export function sortImages(images: ListedImage[]): ListedImage[] {
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return images.sort((a, b) => cmp(a.repository, b.repository) || cmp(a.tag, b.tag));
}

/** Runs `fn` over `items`, LIST_CONCURRENCY at a time; the first failure stops scheduling the rest. */
async function mapLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const limit = pLimit(LIST_CONCURRENCY);
  try {
    return await Promise.all(items.map((item) => limit(() => fn(item))));
  } catch (error) {
    limit.clearQueue();
    throw error;
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
