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
