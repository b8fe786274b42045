// The dry run's fixed-memory "counted already?" filter: it never forgets a pair (no blob counted twice), keeps
// groups apart, and mistakes a new pair for a seen one about as rarely as its size promises.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSeenFilter } from '../src/core/seen-filter.js';

const digest = (n: number, salt = '') => `sha256:${createHash('sha256').update(`${salt}${n}`).digest('hex')}`;

describe('createSeenFilter', () => {
  it('never forgets a pair it was given, in any group', () => {
    const f = createSeenFilter(1024 * 1024);
    const keys = Array.from({ length: 20_000 }, (_, i) => digest(i));
    for (const [i, k] of keys.entries()) f.testAndAdd(`project${i % 3}`, k);
    expect(keys.every((k, i) => f.testAndAdd(`project${i % 3}`, k))).toBe(true);
  });

  it('keeps groups apart: a digest counted in one project is new in another', () => {
    const f = createSeenFilter(1024 * 1024);
    const keys = Array.from({ length: 20_000 }, (_, i) => digest(i));
    for (const k of keys) f.testAndAdd('a', k);
    const mistaken = keys.filter((k) => f.testAndAdd('b', k)).length;
    expect(mistaken).toBeLessThan(20);
  });

  it('takes few new pairs for seen ones at 700k blobs in the default 8 MiB (theory: ~2 in 700k)', () => {
    const f = createSeenFilter();
    const n = 700_000;
    for (let i = 0; i < n; i++) f.testAndAdd('library', digest(i));
    let mistaken = 0;
    for (let i = 0; i < n; i++) if (f.testAndAdd('library', digest(i, 'new'))) mistaken++;
    expect(mistaken).toBeLessThan(70);
  }, 60_000);

  it('hashes keys that are not sha256 digests too', () => {
    const f = createSeenFilter(64 * 1024);
    expect(f.testAndAdd('p', 'sha512:abc')).toBe(false);
    expect(f.testAndAdd('p', 'sha512:abc')).toBe(true);
    expect(f.testAndAdd('p', 'sha512:abd')).toBe(false);
  });

  it('refuses a size that is not a power of two', () => {
    expect(() => createSeenFilter(1000)).toThrow(/power of two/);
  });
});
