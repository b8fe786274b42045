import { describe, expect, it } from 'vitest';
import { createSelector, parseSelector, parseTagsFile } from '../src/core/selection.js';
import { UsageError } from '../src/errors.js';

const ref = (s: string) => {
  const i = s.lastIndexOf(':');
  return { repository: s.slice(0, i), tag: s.slice(i + 1) };
};

describe('tags-file entries', () => {
  it.each([
    ['proj/app:1.0', 'proj/app:1.0', true],
    ['proj/app:1.0', 'proj/app:1.1', false],
    ['proj/app:1.0', 'proj/app/debug:1.0', false],
    ['proj/app', 'proj/app:anything', true],
    ['proj/app', 'proj/app/debug:1.0', false],
    ['proj/*:v1.*', 'proj/app:v1.2', true],
    ['proj/*:v1.*', 'proj/team/app:v1.2', false],
    ['proj/*:v1.*', 'proj/app:v2.0', false],
    ['library/**', 'library/a/b/c:x', true],
    ['library/**', 'other/a:x', false],
    ['**:latest', 'a/b/c:latest', true],
    ['registry.local:5000/app', 'registry.local:5000/app:1', true],
  ])('%s matches %s: %s', (entry, tag, expected) => {
    const e = parseSelector(entry, 't:1');
    const r = ref(tag);
    expect(e.matchRepository(r.repository) && e.matchTag(r.tag)).toBe(expected);
  });

  it('marks only glob-free repository:tag entries as exact', () => {
    expect(parseSelector('a/b:1', 'x').exact).toBe(true);
    expect(parseSelector('a/b', 'x').exact).toBe(false);
    expect(parseSelector('a/*:1', 'x').exact).toBe(false);
  });

  it('ignores comments and blank lines, and names the line of a bad entry', () => {
    const entries = parseTagsFile('# header\n\nproj/app:1  # trailing comment\n  library/**  \n', 'rescue.tags');
    expect(entries.map((e) => [e.text, e.where])).toEqual([
      ['proj/app:1', 'rescue.tags:3'],
      ['library/**', 'rescue.tags:4'],
    ]);
    expect(() => parseTagsFile('ok:1\n:bad\n', 'f')).toThrow(new UsageError('f:2: ":bad" is not repository, repository:tag or a glob of them'));
  });
});

describe('selector', () => {
  it('applies the list, then excludes, and reports entries that matched nothing', () => {
    const s = createSelector({
      include: parseTagsFile('proj/app:1\nproj/gone:1\nnothing/**\nproj/app:2\n', 'f'),
      exclude: [parseSelector('proj/app:2', '--exclude')],
    });
    expect(s.select(ref('proj/app:1'))).toEqual({ selected: true });
    expect(s.select(ref('proj/app:2'))).toEqual({ selected: false, reason: 'excluded', by: 'proj/app:2' });
    expect(s.select(ref('other/x:1'))).toEqual({ selected: false, reason: 'not-listed' });
    expect(s.unmatched().map((e) => e.text)).toEqual(['proj/gone:1', 'nothing/**']);
  });

  it('selects everything without a list', () => {
    expect(createSelector({ exclude: [] }).select(ref('a:b'))).toEqual({ selected: true });
  });
});

describe('selector with long lists (exact and repository entries by lookup, globs by matcher)', () => {
  /** The plain definition: every entry's matchers, in list order. */
  const naive = (include: ReturnType<typeof parseTagsFile> | undefined, exclude: ReturnType<typeof parseTagsFile>) => {
    const matches = (e: (typeof exclude)[number], r: { repository: string; tag: string }) => e.matchRepository(r.repository) && e.matchTag(r.tag);
    return (r: { repository: string; tag: string }) => {
      if (include && !include.some((e) => matches(e, r))) return { selected: false, reason: 'not-listed' };
      const ex = exclude.find((e) => matches(e, r));
      return ex ? { selected: false, reason: 'excluded', by: ex.text } : { selected: true };
    };
  };

  it('selects exactly the listed tags among many, and names only the missing ones', () => {
    const N = 20_000;
    const storage = Array.from({ length: N }, (_, i) => `team${i % 13}/app${i % 97}:v${i}`);
    // every other storage tag listed, plus a few that storage does not hold
    const listed = [...storage.filter((_, i) => i % 2 === 0), 'team0/app0:gone', 'nowhere/app:1'];
    const s = createSelector({ include: parseTagsFile(listed.join('\n'), 'big.tags'), exclude: [] });
    const started = performance.now();
    const selected = storage.filter((t) => s.select(ref(t)).selected);
    expect(performance.now() - started).toBeLessThan(5_000); // quadratic matching took minutes
    expect(selected).toEqual(storage.filter((_, i) => i % 2 === 0));
    expect(s.unmatched().map((e) => [e.text, e.where, e.exact])).toEqual([
      ['team0/app0:gone', `big.tags:${N / 2 + 1}`, true],
      ['nowhere/app:1', `big.tags:${N / 2 + 2}`, true],
    ]);
  });

  it('counts every copy of a duplicated entry as matched', () => {
    const s = createSelector({ include: parseTagsFile('a/b:1\nproj/app\na/b:1\nproj/app\nx/y:9\n', 'f'), exclude: [] });
    expect(s.select(ref('a/b:1'))).toEqual({ selected: true });
    expect(s.select(ref('proj/app:7'))).toEqual({ selected: true });
    expect(s.unmatched().map((e) => e.where)).toEqual(['f:5']);
  });

  it('a repository entry and an exact entry for the same repository both match its tag', () => {
    const s = createSelector({ include: parseTagsFile('proj/app\nproj/app:1\nproj/app:2\nproj/*:9\n', 'f'), exclude: [] });
    expect(s.select(ref('proj/app:1'))).toEqual({ selected: true });
    expect(s.unmatched().map((e) => e.text)).toEqual(['proj/app:2', 'proj/*:9']);
    expect(s.select(ref('proj/app:3'))).toEqual({ selected: true });
    expect(s.select(ref('proj/app/sub:1'))).toEqual({ selected: false, reason: 'not-listed' });
    expect(s.select(ref('proj/other:1'))).toEqual({ selected: false, reason: 'not-listed' });
    expect(s.unmatched().map((e) => e.text)).toEqual(['proj/app:2', 'proj/*:9']);
  });

  it('excludes: exact, repository and glob entries, the first one in order named', () => {
    const exclude = ['proj/app:2', 'proj/*:2', 'proj/app', 'other/**', 'proj/app:3'].map((e, i) => parseSelector(e, `--exclude #${i + 1}`));
    const s = createSelector({ exclude });
    expect(s.select(ref('proj/app:2'))).toEqual({ selected: false, reason: 'excluded', by: 'proj/app:2' });
    expect(s.select(ref('proj/lib:2'))).toEqual({ selected: false, reason: 'excluded', by: 'proj/*:2' });
    expect(s.select(ref('proj/app:3'))).toEqual({ selected: false, reason: 'excluded', by: 'proj/app' });
    expect(s.select(ref('other/a/b:1'))).toEqual({ selected: false, reason: 'excluded', by: 'other/**' });
    expect(s.select(ref('proj/lib:3'))).toEqual({ selected: true });
    expect(s.select(ref('proj/app/sub:2'))).toEqual({ selected: true });
    // a glob listed before the exact entry is the one named
    const first = createSelector({ exclude: [parseSelector('p/*:1', 'g'), parseSelector('p/a:1', 'e'), parseSelector('p/a', 'r')] });
    expect(first.select(ref('p/a:1'))).toEqual({ selected: false, reason: 'excluded', by: 'p/*:1' });
  });

  it('agrees with matching every entry, on entries picomatch does not read literally too', () => {
    const entries = ['a/b:1', './a/b:1', 'a/b', './a/b', 'a+b:1', 'a/b:v1.0', 'a/b:v1.*', 'a/*', '**:1', 'a/b:..', 'a/b:.', 'r.l:5000/a', 'r.l:5000/a:1', 'a/(b):1', 'a/b:1', 'x:y:1'];
    const refs = ['a/b:1', 'a/b:2', 'ab:1', 'a+b:1', 'aab:1', 'a/b:v1.0', 'a/b:v1x0', 'a/b:..', 'a/b:.', 'a/c:1', 'r.l:5000/a:1', 'r.l:5000/a:2', 'a/b:1', 'x:y:1', 'x:y1'].map(ref);
    refs.push({ repository: 'x', tag: 'y:1' }, { repository: 'a', tag: 'b/c' });
    for (let i = 0; i < entries.length; i++) {
      const include = entries.slice(i).concat(entries.slice(0, i)).map((e, n) => parseSelector(e, `f:${n + 1}`));
      const exclude = entries.slice(0, i).map((e, n) => parseSelector(e, `--exclude #${n + 1}`));
      for (const inc of [include, undefined]) {
        const s = createSelector({ include: inc, exclude });
        const expected = naive(inc, exclude);
        for (const r of refs) expect([r, s.select(r)]).toEqual([r, expected(r)]);
      }
    }
  });

  it('runs entries built without parseSelector as matchers', () => {
    const handMade = { text: 'hand', where: 'x', matchRepository: (r: string) => r === 'h', matchTag: () => true, exact: false };
    const s = createSelector({ include: [handMade], exclude: [] });
    expect(s.select(ref('h:1'))).toEqual({ selected: true });
    expect(s.select(ref('i:1'))).toEqual({ selected: false, reason: 'not-listed' });
    expect(s.unmatched()).toEqual([]);
  });
});
