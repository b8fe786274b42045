import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTagsFile, selectionProblems } from '../src/core/selection.js';
import { suggestFor, suggestionsFor } from '../src/storage/suggest-tag.js';
import { snapshotTree } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';

const HEX = 'ab'.repeat(32);

/** A storage with only what suggestFor reads: repositories/<name>/_manifests/tags/<tag>/ and the odd directories around them. */
async function makeStorage(): Promise<{ root: string; v2: string }> {
  const root = await makeTempDir('rr-suggest-');
  const v2 = path.join(root, 'storage/docker/registry/v2');
  const tags: Record<string, string[]> = {
    'library/alpine': ['3.19', '3.18', 'latest'],
    'library/nginx': ['1.25'],
    'charts/mychart': ['0.1.0', '0.2.0'],
    'proj/team/app': ['1.0'],
    'proj/team/app/debug': ['1.0'], // a repository inside another repository's directory
    'elsewhere/alpine': ['3.19'],
  };
  for (const [repository, list] of Object.entries(tags)) {
    for (const tag of list) await mkdir(path.join(v2, 'repositories', repository, '_manifests/tags', tag, 'index/sha256'), { recursive: true });
    await mkdir(path.join(v2, 'repositories', repository, '_layers'), { recursive: true });
    await mkdir(path.join(v2, 'repositories', repository, '_uploads'), { recursive: true });
  }
  // Symlinked directories a registry never writes: never followed, never suggested.
  await symlink(path.join(v2, 'repositories/elsewhere'), path.join(v2, 'repositories/librari'));
  await symlink(path.join(v2, 'repositories/library/alpine/_manifests/tags/3.19'), path.join(v2, 'repositories/library/nginx/_manifests/tags/1.26'));
  return { root, v2 };
}

describe('suggestFor', () => {
  it.each([
    // [repository, tag, suggestion]
    ['libary/alpine', '3.19', 'library/alpine:3.19'], // the example
    ['library/alpine', '3.91', 'library/alpine:3.19'], // swapped digits
    ['library/alpnie', 'latset', 'library/alpine:latest'], // both parts
    ['libary/alpine', '9.99', 'library/alpine'], // repository found, no tag close enough
    ['libary/alpine', undefined, 'library/alpine'], // a repository entry
    ['chart/mychart', '0.1.0', 'charts/mychart:0.1.0'],
    ['charts/mychart', '0.3.0', 'charts/mychart:0.1.0'], // ties: the name that sorts first
    ['library/alpine', '3.1', 'library/alpine:3.18'], // ties again: 3.18 and 3.19 are one edit away
    ['proj/tem/app/debug', '1.0', 'proj/team/app/debug:1.0'], // the walk goes on below a replaced component
    ['proj/team/ap', '1.0', 'proj/team/app:1.0'],
    ['proj/team/app/debg', '1.0', 'proj/team/app/debug:1.0'], // _layers, _manifests, _uploads are no candidates
    ['library/alpine', '3.19', undefined], // exists: nothing better to offer
    ['library/alpine', '9.99', undefined], // too far from every tag
    ['zzzz/qqqq', '1', undefined],
    ['proj/team', '1.0', undefined], // a directory, not a repository
    ['library/alpine/uploads', '1', undefined], // only _-prefixed directories there
    ['librari/alpine', '3.19', 'library/alpine:3.19'], // a symlink is not the repository directory, its sibling is
    ['library/nginx', '1.26', 'library/nginx:1.25'], // a symlinked tag directory is no tag
    ['../etc', 'passwd', undefined], // no name outside the grammar becomes a path
  ])('%s:%s → %s', async (repository, tag, expected) => {
    const { v2 } = await makeStorage();
    expect(await suggestFor(v2, tag === undefined ? { repository } : { repository, tag })).toBe(expected);
  });

  it('reads the storage without changing it', async () => {
    const { v2 } = await makeStorage();
    const before = await snapshotTree(v2);
    for (const repository of ['libary/alpine', 'proj/tem/app/debug', 'librari/alpine', 'nothing/here']) await suggestFor(v2, { repository, tag: '3.91' });
    expect(await snapshotTree(v2)).toEqual(before);
  });

  it('finds the nearest of many tags in one pass', async () => {
    const { v2 } = await makeStorage();
    const tags = path.join(v2, 'repositories/big/app/_manifests/tags');
    await Promise.all(Array.from({ length: 3000 }, (_, i) => mkdir(path.join(tags, `build-${i}`), { recursive: true })));
    expect(await suggestFor(v2, { repository: 'big/app', tag: 'biuld-2999' })).toBe('big/app:build-2999');
    expect(await suggestFor(v2, { repository: 'big/app', tag: 'build-29999' })).toBe('big/app:build-2999');
    expect(await suggestFor(v2, { repository: 'big/app', tag: 'build-30000' })).toBe('big/app:build-1000'); // two edits from several: the first in order
  });

  it('is no suggestion when the storage is gone', async () => {
    expect(await suggestFor('/nonexistent/v2', { repository: 'library/alpine', tag: '3.19' })).toBeUndefined();
  });
});

describe('suggestionsFor + selectionProblems', () => {
  it('gives the documented messages for a tags file with typos', async () => {
    const { v2 } = await makeStorage();
    const entries = parseTagsFile(`library/alpine:3.19\nlibary/alpine:3.19\nproj/*:9\nlibary/nginx@sha256:${HEX}\nnothing/near:1\n`, 'rescue.tags');
    const unmatched = entries.slice(1);
    const suggestions = await suggestionsFor(v2, unmatched);
    expect(selectionProblems(unmatched, { scanned: 9, selected: 1, excluded: 0, tagsFile: { name: 'rescue.tags', path: '/etc/rr/rescue.tags', entries: 5, bytes: 120 } }, suggestions).map((p) => p.message)).toEqual([
      'rescue.tags:2: libary/alpine:3.19 is not in the storage (did you mean library/alpine:3.19?)',
      'rescue.tags:3: proj/*:9 matched no tag in the storage',
      `rescue.tags:4: libary/nginx@sha256:${HEX} is not in the storage (no tag of libary/nginx points to it; did you mean library/nginx@sha256:${HEX}?)`,
      'rescue.tags:5: nothing/near:1 is not in the storage',
    ]);
  });

  it('asks for at most `limit` entries, globs not counted', async () => {
    const { v2 } = await makeStorage();
    const entries = parseTagsFile('proj/*:9\nlibary/alpine:3.19\nlibary/alpine:3.18\nlibary/alpine:latest\n', 'f');
    const suggestions = await suggestionsFor(v2, entries, 2);
    expect([...suggestions.entries()].map(([e, s]) => [e.where, s])).toEqual([
      ['f:2', 'library/alpine:3.19'],
      ['f:3', 'library/alpine:3.18'],
    ]);
  });
});
