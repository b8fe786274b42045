/**
 * registry/target-state.ts: what the target answered when it lacks a tag, for verify's `missing` reason, from the
 * look-ups it makes anyway (a HEAD per tag; on Harbor, when the HEAD is refused, one artifact listing per
 * repository). The stubs stand for a push-only account: HEAD refused with 403, Harbor's API readable. The HEAD
 * path against a real docker-registry is in verify.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { HarborApi, HarborArtifact } from '../src/registry/harbor-api.js';
import type { RegistryClient } from '../src/registry/registry-client.js';
import { RegistryAuthError, RegistryHttpError } from '../src/registry/registry-errors.js';
import { createTargetState } from '../src/registry/target-state.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

/** A registry that refuses every manifest HEAD (a push-only robot account), counting them. */
function refusingClient(): RegistryClient & { heads: number } {
  const client = {
    heads: 0,
    async headManifest() {
      client.heads++;
      throw new RegistryAuthError('harbor.test', 'forbidden', 403, 'robot$push', 'user "robot$push" is not allowed to read (HTTP 403)');
    },
  };
  return client as unknown as RegistryClient & { heads: number };
}

/** Harbor's artifact API over `repositories` (absent: 404), counting listings. */
function harborWith(repositories: Record<string, HarborArtifact[]>): HarborApi & { listings: number } {
  const api = {
    listings: 0,
    async *listArtifacts(_project: string, repository: string) {
      api.listings++;
      const artifacts = repositories[repository];
      if (artifacts === undefined) throw new RegistryHttpError('harbor.test', 'GET', `/api/v2.0/projects/p/repositories/${repository}/artifacts`, 404, 'not found');
      yield* artifacts;
    },
    async getArtifact(_project: string, repository: string, reference: string) {
      return repositories[repository]?.find((a) => a.digest === reference || a.tags.some((t) => t.name === reference));
    },
  };
  return api as unknown as HarborApi & { listings: number };
}

describe('what the target answered for a tag it lacks', () => {
  it('a refused HEAD answered by the artifact listing: no such tag, no such repository, one listing per repository', async () => {
    const client = refusingClient();
    const harbor = harborWith({ 'p/app': [{ digest: DIGEST, tags: [{ name: '1.0' }] } as HarborArtifact] });
    const state = createTargetState(client, harbor);
    expect(await state.tag('p/app', '1.0')).toEqual({ known: true, digest: DIGEST, via: 'harbor-api' });
    expect(await state.tag('p/app', '1.1')).toEqual({
      known: true, digest: undefined, via: 'harbor-api',
      answer: "the manifest HEAD was refused (HTTP 403), and Harbor's artifact API lists no tag 1.1 in p/app",
    });
    const other = `sha256:${'b'.repeat(64)}`;
    expect(await state.tag('p/app', other)).toMatchObject({ digest: undefined, answer: `the manifest HEAD was refused (HTTP 403), and Harbor's artifact API lists no artifact ${other} in p/app` });
    expect(await state.tag('p/gone', '2.0')).toEqual({
      known: true, digest: undefined, via: 'harbor-api',
      answer: "the manifest HEAD was refused (HTTP 403), and Harbor's artifact API has no repository p/gone (HTTP 404)",
    });
    expect(await state.tag('p/gone', '2.1')).toMatchObject({ digest: undefined });
    expect({ heads: client.heads, listings: harbor.listings }).toEqual({ heads: 5, listings: 2 });
  });

  it('a push recorded in a repository Harbor had not got makes its listing hold the tag', async () => {
    const state = createTargetState(refusingClient(), harborWith({}));
    expect(await state.tag('p/new', '1.0')).toMatchObject({ digest: undefined, answer: expect.stringContaining('has no repository p/new') });
    state.pushed('p/new', '1.0', DIGEST);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await state.tag('p/new', '1.0')).toMatchObject({ digest: DIGEST });
    expect(await state.tag('p/new', '1.1')).toMatchObject({ digest: undefined, answer: expect.stringContaining('lists no tag 1.1 in p/new') });
  });

  it('a fresh look-up (after a push) asks for the one artifact', async () => {
    const state = createTargetState(refusingClient(), harborWith({ 'p/app': [] }));
    expect(await state.tag('p/app', '3.0', { fresh: true })).toEqual({
      known: true, digest: undefined, via: 'harbor-api',
      answer: "the manifest HEAD was refused (HTTP 403), and Harbor's artifact API has no artifact 3.0 in p/app",
    });
  });
});
