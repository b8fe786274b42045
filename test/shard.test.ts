import { describe, expect, it } from 'vitest';
import { formatShard, hashRepository, inShard, parseShard, shardOf, type Shard } from '../src/core/shard.js';
import { UsageError } from '../src/errors.js';

// Names shaped like a Harbor's: project/repository, some nested, sequential numbers, shared prefixes.
const PROJECTS = ['library', 'team-a', 'team-b', 'ci', 'platform/base', 'ml'];
const REPOS = Array.from({ length: 10_000 }, (_, i) => `${PROJECTS[i % PROJECTS.length]}/service-${i}`);

describe('parseShard', () => {
  it.each([
    ['1/1', { index: 1, count: 1 }],
    ['2/4', { index: 2, count: 4 }],
    ['10000/10000', { index: 10_000, count: 10_000 }],
  ])('%s', (text, shard) => {
    expect(parseShard(text)).toEqual(shard);
    expect(formatShard(parseShard(text))).toBe(text);
  });

  it.each([
    ['0/3', /K counts from 1 .*JOB_COMPLETION_INDEX\+1/],
    ['4/3', /K must be at most N/],
    ['1/0', /N must be 1 to 10000/],
    ['1/10001', /N must be 1 to 10000/],
    ['1', /expected K\/N/],
    ['a/b', /expected K\/N/],
    ['-1/3', /expected K\/N/],
    ['1.5/3', /expected K\/N/],
    ['', /expected K\/N/],
  ])('refuses %j', (text, why) => {
    expect(() => parseShard(text)).toThrow(UsageError);
    expect(() => parseShard(text)).toThrow(why);
  });
});

describe('inShard', () => {
  for (const count of [1, 2, 3, 7]) {
    it(`splits 10k repositories over ${count} shards: disjoint, complete, balanced`, () => {
      const shards: Shard[] = Array.from({ length: count }, (_, i) => ({ index: i + 1, count }));
      const sizes = shards.map(() => 0);
      const notInExactlyOne: string[] = [];
      for (const repo of REPOS) {
        const owners = shards.filter((s) => inShard(repo, s));
        if (owners.length === 1) sizes[(owners[0] as Shard).index - 1]! += 1;
        else notInExactlyOne.push(repo);
      }
      expect(notInExactlyOne).toEqual([]); // disjoint, and together the whole
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(REPOS.length);
      const mean = REPOS.length / count;
      for (const size of sizes) {
        expect(size).toBeGreaterThanOrEqual(mean * 0.7);
        expect(size).toBeLessThanOrEqual(mean * 1.3);
      }
    });
  }

  it('balances names that plain FNV-1a mod 2 would put in one shard (anagrams)', () => {
    // Permutations of one set of bytes: same parity of odd bytes, so without fmix32 all in shard 1.
    const names = ['ab/cd', 'ba/dc', 'ab/dc', 'ba/cd', 'cd/ab', 'dc/ba', 'dc/ab', 'cd/ba', 'ac/bd', 'bd/ac', 'ca/db', 'db/ca'];
    expect(new Set(names.map((n) => shardOf(n, 2))).size).toBe(2);
  });

  it('is stable: the same repository always lands in the same shard (pinned values)', () => {
    // A change here moves repositories between hosts that keep their own exported layouts: bump deliberately.
    expect([
      'library/nginx',
      'team-a/api',
      'platform/base/debian',
      'ml/model-server',
      'données/é',
    ].map((r) => [hashRepository(r), shardOf(r, 2), shardOf(r, 3), shardOf(r, 7)])).toEqual(PINNED);
    for (const repo of REPOS.slice(0, 100)) expect(shardOf(repo, 7)).toBe(shardOf(repo, 7));
  });
});

const PINNED: number[][] = [
  [2146657499, 2, 3, 1],
  [3050877974, 1, 3, 5],
  [2279267496, 1, 1, 3],
  [1942584960, 1, 1, 2],
  [2400654853, 2, 2, 3],
];
