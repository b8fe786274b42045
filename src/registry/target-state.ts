/**
 * What the target holds for a tag, for sync's "is it already there?" and verify: a manifest HEAD, and on Harbor,
 * when the HEAD is refused by a policy, Harbor's artifact API instead.
 *
 * Harbor answers a manifest HEAD (and GET) with 412 PROJECTPOLICYVIOLATION when the project prevents vulnerable
 * images or enforces cosign/notation signatures (src/server/registry/route.go: contenttrust and vulnerable
 * middlewares on GET/HEAD `/v2/*\/manifests/:reference`), and with 401/403 when the account may push but not
 * read. Its artifact API (`GET /api/v2.0/projects/{p}/repositories/{r}/artifacts?with_tag=true`) is not behind
 * those middlewares: it is read once per repository, in bulk and paged, and kept for the few repositories whose
 * tags are being handled (a repository's tags come together in the walk), so a 100k-tag repository costs one
 * listing, not 100k requests.
 */
import type { HarborApi } from './harbor-api.js';
import type { RegistryClient } from './registry-client.js';
import { RegistryAuthError, RegistryHttpError } from './registry-errors.js';

/** Repositories whose artifact listing is kept at once (pushes run in parallel across a few repositories). */
const REPOSITORIES_KEPT = 16;

/**
 * `known`: the target's digest for the tag (`undefined`: no such tag, and `answer` says what was asked and what the
 * target answered, for verify's `missing`). Not known: neither the HEAD nor the artifact API would tell (`why` says
 * what refused).
 */
export type TagState =
  | { known: true; digest: string; via: 'head' | 'harbor-api' }
  | { known: true; digest: undefined; via: 'head' | 'harbor-api'; answer: string }
  | { known: false; why: string };

/** A repository's artifact listing: tag or digest → digest; `exists` false when Harbor answered 404 for the repository. */
interface Listing {
  tags: Map<string, string>;
  exists: boolean;
}

export interface TargetState {
  /** The target's digest for `repository:tag`; `fresh` skips the per-repository listing (after a push). */
  tag(repository: string, tag: string, opts?: { fresh?: boolean }): Promise<TagState>;
  /** Records what a push put there, so a later look-up in the same repository does not list it again. */
  pushed(repository: string, tag: string, digest: string): void;
}

/** True for the answers a policy or a push-only account gives to a manifest HEAD on Harbor. */
export function isReadRefusal(error: unknown): error is RegistryHttpError | RegistryAuthError {
  return (error instanceof RegistryHttpError && error.status === 412) || (error instanceof RegistryAuthError && (error.status === 401 || error.status === 403));
}

/**
 * `harbor`: the target's Harbor API, or undefined for a plain registry (a refused HEAD is then an error, as
 * before). Connection failures and 5xx are thrown for the caller's retries.
 */
export function createTargetState(client: RegistryClient, harbor: HarborApi | undefined): TargetState {
  /** Per repository, oldest first: the listing, or why Harbor refused it. */
  const listings = new Map<string, Promise<Listing | { refused: string }>>();
  const projectOf = (repository: string) => repository.slice(0, repository.indexOf('/'));

  const list = (repository: string) => {
    const kept = listings.get(repository);
    if (kept) return kept;
    const listing = (async (): Promise<Listing | { refused: string }> => {
      const tags = new Map<string, string>();
      try {
        for await (const a of (harbor as HarborApi).listArtifacts(projectOf(repository), repository)) {
          for (const t of a.tags) tags.set(t.name, a.digest);
          // By digest too: an untagged referrer is looked up by its digest (tags never hold ':').
          tags.set(a.digest, a.digest);
        }
      } catch (error) {
        if (error instanceof RegistryHttpError && error.status === 404) return { tags, exists: false }; // no such repository yet
        if (error instanceof RegistryAuthError) return { refused: error.message };
        throw error;
      }
      return { tags, exists: true };
    })();
    // A failed listing (connection, 5xx) is not kept: the caller's retry lists again.
    listing.catch(() => {
      if (listings.get(repository) === listing) listings.delete(repository);
    });
    listings.set(repository, listing);
    if (listings.size > REPOSITORIES_KEPT) listings.delete(listings.keys().next().value as string);
    return listing;
  };

  return {
    async tag(repository, tag, opts = {}) {
      let refusal: RegistryHttpError | RegistryAuthError;
      try {
        const head = await client.headManifest(repository, tag);
        // A HEAD's 404 has no body, so Distribution's MANIFEST_UNKNOWN / NAME_UNKNOWN cannot be told apart without
        // another request per tag: say what was asked and answered.
        if (head === undefined) return { known: true, digest: undefined, via: 'head', answer: `HEAD /v2/${repository}/manifests/${tag} answered 404` };
        return { known: true, digest: head.digest, via: 'head' };
      } catch (error) {
        if (!harbor || !isReadRefusal(error) || !repository.includes('/')) throw error;
        refusal = error;
      }
      const why = `the manifest HEAD was refused (${refusal.message})`;
      try {
        const refused = `the manifest HEAD was refused (HTTP ${refusal.status})`;
        if (opts.fresh) {
          const artifact = await harbor.getArtifact(projectOf(repository), repository, tag);
          if (artifact === undefined) return { known: true, digest: undefined, via: 'harbor-api', answer: `${refused}, and Harbor's artifact API has no artifact ${tag} in ${repository}` };
          return { known: true, digest: artifact.digest, via: 'harbor-api' };
        }
        const listing = await list(repository);
        if (!('tags' in listing)) return { known: false, why: `${why}, and so was Harbor's artifact API (${listing.refused})` };
        const digest = listing.tags.get(tag);
        if (digest !== undefined) return { known: true, digest, via: 'harbor-api' };
        const answer = listing.exists
          ? `Harbor's artifact API lists no ${tag.includes(':') ? 'artifact' : 'tag'} ${tag} in ${repository}`
          : `Harbor's artifact API has no repository ${repository} (HTTP 404)`;
        return { known: true, digest: undefined, via: 'harbor-api', answer: `${refused}, and ${answer}` };
      } catch (error) {
        if (error instanceof RegistryAuthError) return { known: false, why: `${why}, and so was Harbor's artifact API (${error.message})` };
        throw error;
      }
    },
    pushed(repository, tag, digest) {
      const listing = listings.get(repository);
      void listing?.then((l) => {
        if ('tags' in l) {
          l.tags.set(tag, digest);
          l.exists = true;
        }
      }, () => {});
    },
  };
}
