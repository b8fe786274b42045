import { describe, expect, it } from 'vitest';
import { createSelector, literalOf, parseSelector, parseTagsFile, selectionIssues, selectionProblems, TagsFileError } from '../src/core/selection.js';
import { emptyCounts, exitCodeForRun, NO_ISSUES } from '../src/core/results.js';

/** The run's exit code when the images all went through and only the selection had problems. */
const exitFor = (problems: Parameters<typeof selectionIssues>[0]) => exitCodeForRun(emptyCounts(), { ...NO_ISSUES, ...selectionIssues(problems) });
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
    ['proj/{a,b}:1', 'proj/b:1', true],
    ['proj/[a-c]pp:1', 'proj/bpp:1', true],
    ['proj/+(a|b):1', 'proj/ab:1', true],
    ['proj/app:v1.[0-9]', 'proj/app:v1.7', true],
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
    expect(() => parseTagsFile('ok:1\n:bad\n', 'f')).toThrow(UsageError);
    expect(() => parseTagsFile('ok:1\n:bad\n', 'f')).toThrow(/^f:2: ":bad" is not repository\[:tag\] \(the repository is empty\)$/);
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
    // Entries picomatch reads literally no longer pass validation (./a, a+b, tag '.', r.l:5000/a): globs stand in.
    const entries = ['a/b:1', 'a/b', 'a/b:v1.0', 'a/b:v1.*', 'a/*', '**:1', 'a/b:v1.?', 'a/?:1', 'a/(b):1', 'a/b:1', 'a/{b,c}', '+(a)b:1', 'r.l/a:1', 'a/b:[12]'];
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

const HEX = 'ab'.repeat(32);
const OTHER = 'cd'.repeat(32);

/** The reasons parseTagsFile gives, line by line (empty when the file is valid). */
const reasonsFor = (content: string): string[] => {
  try {
    parseTagsFile(content, 'rescue.tags');
    return [];
  } catch (error) {
    if (!(error instanceof TagsFileError)) throw error;
    return error.problems.map((p) => `${p.where} ${p.reason}`);
  }
};

describe('tags-file validation', () => {
  it.each([
    'library/alpine',
    'library/alpine:3.19',
    'proj/team/sub/deep/app:V1_0-rc.1',
    'a__b/c--d/e.f:x',
    `library/alpine@sha256:${HEX}`,
    'proj/*:v1.*',
    'library/**',
    '**:latest',
    'proj/{api,web}:1.*',
    'proj/[a-z]*:1',
    'proj/[A-Z]*', // a range may name uppercase; the names it matches are still lowercase
    'proj/!(test)',
    'proj/@(api|web):1',
    'proj/*:[Vv]1',
    'harbor.example.com/library/alpine:3.19', // a host without a port is a valid first component
  ])('accepts %s', (text) => {
    expect(reasonsFor(text)).toEqual([]);
  });

  it.each([
    ['charts/mychart 0.1.0', "it holds whitespace: one entry a line, the tag after ':'; did you mean charts/mychart:0.1.0?"],
    ['charts/mychart\t0.1.0', "it holds whitespace: one entry a line, the tag after ':'; did you mean charts/mychart:0.1.0?"],
    ['a b c', "it holds whitespace: one entry a line, the tag after ':'"],
    ['app:1.0:extra', "more than one ':': a repository name holds none, the tag follows the only one"],
    ['registry.local:5000/app:1', "a repository name holds no ':': write it as stored, without the registry's host:port"],
    ['registry.local:5000/app', "a repository name holds no ':': write it as stored, without the registry's host:port"],
    ['Library/Alpine:3.19', 'repository names are lowercase: library/alpine'],
    ['Proj/*:1', 'repository names are lowercase: proj/*'],
    ['Proj_/a', 'repository names are lowercase'], // lowercased it is still invalid: no name to offer
    [':1', 'the repository is empty'],
    ['a/b:', "the tag after ':' is empty"],
    ['a//b:1', 'path component "" is not valid (lowercase letters, digits and single . _ __ or - separators)'],
    ['./a/b:1', 'path component "." is not valid (lowercase letters, digits and single . _ __ or - separators)'],
    ['a+b:1', 'path component "a+b" is not valid (lowercase letters, digits and single . _ __ or - separators)'],
    ['proj/-app', 'path component "-app" is not valid (lowercase letters, digits and single . _ __ or - separators)'],
    ['proj//*', "an empty path component ('//', or '/' at an end)"],
    ['proj/*/', "an empty path component ('//', or '/' at an end)"],
    ['pr%j/*', 'path component "pr%j" is not valid (lowercase letters, digits and single . _ __ or - separators)'],
    ['proj/a\\*', 'path component "a\\\\*" holds characters no repository name has'],
    ['a/b:.hidden', 'a tag is 1-128 characters of letters, digits, _ . and -, not starting with . or -'],
    [`a/b:${'x'.repeat(129)}`, 'a tag is 1-128 characters of letters, digits, _ . and -, not starting with . or -'],
    ['a/b:v1~*', 'the tag glob "v1~*" holds characters no tag has'],
    ['a/b:v1%*', 'the tag glob "v1%*" holds characters no tag has'],
    [`a/b:1@sha256:${HEX}`, 'a tag and a digest: write repository:tag or repository@sha256:<hex>, not both'],
    [`a/*@sha256:${HEX}`, 'a digest entry names one repository, not a glob'],
    [`a/b@sha512:${HEX}${HEX}`, 'only sha256 digests are stored, not sha512'],
    [`a/b@sha256:${HEX.toUpperCase()}`, 'a digest is written in lowercase hex'],
    ['a/b@sha256:abc', 'a digest is sha256: and 64 hex digits, not 3 characters'],
    [`A/b@sha256:${HEX}`, 'repository names are lowercase: a/b'],
    [`${'a'.repeat(256)}:1`, 'the repository name is longer than 255 characters'],
  ])('rejects %s: %s', (text, reason) => {
    expect(reasonsFor(text)).toEqual([`rescue.tags:1 ${reason}`]);
  });

  it('reports every bad line of a file at once, in the documented form', () => {
    const file = '# rescue list\r\nlibrary/alpine:3.19\r\ncharts/mychart 0.1.0\r\n\r\napp:1.0:extra\r\nLibrary/nginx\r\n';
    expect(() => parseTagsFile(file, 'rescue.tags')).toThrow(
      new Error(
        [
          `rescue.tags:3: "charts/mychart 0.1.0" is not repository[:tag] (it holds whitespace: one entry a line, the tag after ':'; did you mean charts/mychart:0.1.0?)`,
          `rescue.tags:5: "app:1.0:extra" is not repository[:tag] (more than one ':': a repository name holds none, the tag follows the only one)`,
          `rescue.tags:6: "Library/nginx" is not repository[:tag] (repository names are lowercase: library/nginx)`,
        ].join('\n'),
      ).message,
    );
  });

  it('lists the first 20 bad lines and counts the rest, keeping all of them as data', () => {
    const file = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? `ok/app:${i}` : `bad app:${i}`)).join('\n');
    let error: unknown;
    try {
      parseTagsFile(file, 'f');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TagsFileError);
    expect(error).toBeInstanceOf(UsageError);
    const { message, problems } = error as TagsFileError;
    expect(problems).toHaveLength(25);
    const lines = message.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[0]).toMatch(/^f:2: "bad app:1" is not repository\[:tag\] \(it holds whitespace/);
    expect(lines[19]).toMatch(/^f:40: /);
    expect(lines[20]).toBe('… and 5 more entries that are not valid');
  });

  it('tolerates CRLF, a byte-order mark, comments and blank lines', () => {
    const entries = parseTagsFile('\uFEFFa/b:1\r\n   \r\n# x y z\r\nc/d  # every tag\r\n', 'f');
    expect(entries.map((e) => [e.text, e.where])).toEqual([
      ['a/b:1', 'f:1'],
      ['c/d', 'f:4'],
    ]);
  });

  it('checks --exclude entries too, one at a time', () => {
    expect(() => parseSelector('Proj/*', '--exclude #1')).toThrow('--exclude #1: "Proj/*" is not repository[:tag] (repository names are lowercase: proj/*)');
  });

  it('names what a glob-free entry names', () => {
    const [tag, repo, digest, glob] = parseTagsFile(`a/b:1\na/b\na/b@sha256:${HEX}\na/*:1\n`, 'f');
    expect([tag, repo, digest, glob].map((e) => literalOf(e!))).toEqual([
      { repository: 'a/b', tag: '1' },
      { repository: 'a/b' },
      { repository: 'a/b', digest: `sha256:${HEX}` },
      undefined,
    ]);
    expect([tag, repo, digest, glob].map((e) => e!.exact)).toEqual([true, false, true, false]);
    expect(digest!.digest).toBe(`sha256:${HEX}`);
  });
});

describe('digest entries (repository@sha256:…)', () => {
  const D = `sha256:${HEX}`;
  const E = `sha256:${OTHER}`;

  it('makes tags of that repository wait for their link, then selects those with the digest', () => {
    const s = createSelector({ include: parseTagsFile(`lib/app@${D}\nother/x:1\n`, 'f'), exclude: [] });
    expect(s.select(ref('lib/app:1'))).toEqual({ selected: false, reason: 'pending-digest' });
    expect(s.selectByDigest(ref('lib/app:1'), D)).toEqual({ selected: true });
    expect(s.selectByDigest(ref('lib/app:2'), E)).toEqual({ selected: false, reason: 'not-listed' });
    expect(s.selectByDigest(ref('lib/app:3'), undefined)).toEqual({ selected: false, reason: 'not-listed' }); // link unreadable
    // other repositories are decided at once, without their links
    expect(s.select(ref('other/x:1'))).toEqual({ selected: true });
    expect(s.select(ref('lib/app2:1'))).toEqual({ selected: false, reason: 'not-listed' });
    expect(s.unmatched()).toEqual([]);
    expect(s.tally()).toEqual({ selected: 2, notListed: 3, excluded: 0 });
  });

  it('reports a digest no tag points to as missing from storage (exact)', () => {
    const s = createSelector({ include: parseTagsFile(`lib/app@${D}\nlib/app@${E}\n`, 'f'), exclude: [] });
    s.selectByDigest(ref('lib/app:1'), D);
    expect(s.unmatched().map((e) => [e.where, e.exact])).toEqual([['f:2', true]]);
  });

  it('counts a digest entry as matched when another entry selects the same tag', () => {
    const s = createSelector({ include: parseTagsFile(`lib/app\nlib/app@${D}\n`, 'f'), exclude: [] });
    expect(s.select(ref('lib/app:1'))).toEqual({ selected: false, reason: 'pending-digest' });
    expect(s.selectByDigest(ref('lib/app:1'), D)).toEqual({ selected: true });
    expect(s.unmatched()).toEqual([]);
  });

  it('excludes by digest, named in list order', () => {
    const exclude = [parseSelector('lib/*:9', '--exclude #1'), parseSelector(`lib/app@${D}`, '--exclude #2')];
    const s = createSelector({ exclude });
    expect(s.select(ref('lib/app:1'))).toEqual({ selected: false, reason: 'pending-digest' });
    expect(s.selectByDigest(ref('lib/app:1'), D)).toEqual({ selected: false, reason: 'excluded', by: `lib/app@${D}` });
    expect(s.selectByDigest(ref('lib/app:9'), D)).toEqual({ selected: false, reason: 'excluded', by: 'lib/*:9' });
    expect(s.selectByDigest(ref('lib/app:2'), E)).toEqual({ selected: true });
    expect(s.select(ref('lib/other:1'))).toEqual({ selected: true });
    expect(s.tally()).toEqual({ selected: 2, notListed: 0, excluded: 2 });
  });

  it('costs the same per tag however many digest entries there are', () => {
    const N = 20_000;
    const digest = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;
    const s = createSelector({ include: parseTagsFile(Array.from({ length: N }, (_, i) => `r${i % 50}/app@${digest(i)}`).join('\n'), 'f'), exclude: [] });
    const started = performance.now();
    let selected = 0;
    for (let i = 0; i < N; i++) {
      const r = { repository: `r${i % 50}/app`, tag: `t${i}` };
      const v = s.select(r);
      if (!v.selected && v.reason === 'pending-digest' && s.selectByDigest(r, digest(i % 2 === 0 ? i : i + N)).selected) selected++;
    }
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(selected).toBe(N / 2);
    expect(s.unmatched()).toHaveLength(N / 2);
  });
});

describe('selector agrees with the plain definition on random lists (property)', () => {
  /** Small deterministic PRNG (mulberry32): the same cases on every run, many shapes of list. */
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const DIGESTS = [`sha256:${HEX}`, `sha256:${OTHER}`, `sha256:${'ef'.repeat(32)}`];
  const REPOS = ['a', 'a/b', 'a/b/c', 'b'];
  const TAGS = ['1', '2', 'v1.0', 'latest'];
  const GLOBS = ['a/*', '**', 'a/**:1', '*:v1.*', 'a/{b,c}:2', '**:latest'];

  it('on 300 random lists of exact, repository, digest and glob entries', () => {
    const next = random(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const entryText = (): string => {
      const kind = Math.floor(next() * 4);
      if (kind === 0) return `${pick(REPOS)}:${pick(TAGS)}`;
      if (kind === 1) return pick(REPOS);
      if (kind === 2) return `${pick(REPOS)}@${pick(DIGESTS)}`;
      return pick(GLOBS);
    };
    const matches = (e: ReturnType<typeof parseSelector>, r: { repository: string; tag: string }, digest: string) =>
      e.digest !== undefined ? e.matchRepository(r.repository) && e.digest === digest : e.matchRepository(r.repository) && e.matchTag(r.tag);
    for (let round = 0; round < 300; round++) {
      const include = next() < 0.8 ? Array.from({ length: 1 + Math.floor(next() * 6) }, (_, i) => parseSelector(entryText(), `f:${i + 1}`)) : undefined;
      const exclude = Array.from({ length: Math.floor(next() * 3) }, (_, i) => parseSelector(entryText(), `--exclude #${i + 1}`));
      const s = createSelector({ include, exclude });
      const hit = new Set<unknown>();
      for (const repository of REPOS) {
        for (const tag of TAGS) {
          const r = { repository, tag };
          const digest = pick(DIGESTS);
          let v = s.select(r);
          if (!v.selected && v.reason === 'pending-digest') v = s.selectByDigest(r, digest);
          const listed = include?.filter((e) => matches(e, r, digest));
          listed?.forEach((e) => hit.add(e));
          const ex = exclude.find((e) => matches(e, r, digest));
          const expected = listed?.length === 0 ? { selected: false, reason: 'not-listed' } : ex ? { selected: false, reason: 'excluded', by: ex.text } : { selected: true };
          expect([round, r, v]).toEqual([round, r, expected]);
        }
      }
      expect(s.unmatched()).toEqual((include ?? []).filter((e) => !hit.has(e)));
    }
  });
});

describe('selectionProblems', () => {
  const entries = parseTagsFile(`libary/alpine:3.19\nproj/*:v9\ncharts/mychart\nlib/app@sha256:${HEX}\ngone/app:1\n`, 'rescue.tags');
  const [typo, glob, , digest, gone] = entries as [(typeof entries)[number], (typeof entries)[number], unknown, (typeof entries)[number], (typeof entries)[number]];
  const suggestions = new Map([
    [typo, 'library/alpine:3.19'],
    [digest, `library/app@sha256:${HEX}`],
  ]);

  it('names each listed entry missing from storage (exit 4) and each unmatched glob (a warning)', () => {
    const problems = selectionProblems(entries, { scanned: 10, selected: 3, excluded: 0, tagsFile: { name: 'rescue.tags', path: '/etc/rr/rescue.tags', entries: 1, bytes: 20 } }, suggestions);
    expect(problems.map((p) => [p.code, p.severity, p.where, p.message])).toEqual([
      ['listed-missing', 'partial', 'rescue.tags:1', 'rescue.tags:1: libary/alpine:3.19 is not in the storage (did you mean library/alpine:3.19?)'],
      ['glob-unmatched', 'warning', 'rescue.tags:2', 'rescue.tags:2: proj/*:v9 matched no tag in the storage'],
      ['listed-missing', 'partial', 'rescue.tags:3', 'rescue.tags:3: charts/mychart is not in the storage (no tag of that repository)'],
      ['listed-missing', 'partial', 'rescue.tags:4', `rescue.tags:4: lib/app@sha256:${HEX} is not in the storage (no tag of lib/app points to it; did you mean library/app@sha256:${HEX}?)`],
      ['listed-missing', 'partial', 'rescue.tags:5', 'rescue.tags:5: gone/app:1 is not in the storage'],
    ]);
    expect(exitFor(problems)).toBe(4);
  });

  it('is a warning, not a partial run, when only globs matched nothing', () => {
    const problems = selectionProblems([glob], { scanned: 10, selected: 3, excluded: 0 });
    expect(exitFor(problems)).toBe(0);
    expect(exitFor([])).toBe(0);
  });

  it.each([
    [{ scanned: 0, selected: 0, excluded: 0 }, 'nothing selected: the storage holds no tags'],
    [{ scanned: 12, selected: 0, excluded: 0, tagsFile: { name: 'rescue.tags', path: '/etc/rr/rescue.tags', entries: 1, bytes: 20 } }, 'nothing selected: no entry of rescue.tags matched any of the 12 tags in the storage'],
    [{ scanned: 12, selected: 0, excluded: 3, tagsFile: { name: 'rescue.tags', path: '/etc/rr/rescue.tags', entries: 1, bytes: 20 } }, 'nothing selected: --exclude removed all 3 tags that rescue.tags listed'],
    [{ scanned: 12, selected: 0, excluded: 12 }, 'nothing selected: --exclude removed all 12 tags in the storage'],
    [{ scanned: 1, selected: 0, excluded: 1 }, 'nothing selected: --exclude removed all 1 tag in the storage'],
    // A list without entries is the cause whatever the storage holds (a cron job writing it broke), named by its path.
    [{ scanned: 30, selected: 0, excluded: 0, tagsFile: { name: 'empty.txt', path: '/etc/rr/empty.txt', entries: 0, bytes: 0 } },
      'nothing selected: the tags file /etc/rr/empty.txt is empty (0 bytes); the job that writes it may have failed'],
    [{ scanned: 0, selected: 0, excluded: 0, tagsFile: { name: 'r.tags', path: '/etc/rr/r.tags', entries: 0, bytes: 12 } },
      'nothing selected: the tags file /etc/rr/r.tags holds no entry, only comments and blank lines (12 bytes); the job that writes it may have failed'],
    [{ scanned: 30, selected: 0, excluded: 0, tagsFile: { name: 'r.tags', path: '/etc/rr/r.tags', entries: 2, bytes: 40 } },
      'nothing selected: no entry of r.tags matched any of the 30 tags in the storage'],
  ])('an empty selection is a partial run: %j', (counts, message) => {
    const problems = selectionProblems([], counts);
    expect(problems).toEqual([{ code: 'nothing-selected', severity: 'partial', message }]);
    expect(exitFor(problems)).toBe(4);
  });

  it('puts nothing-selected after the entries', () => {
    expect(selectionProblems([gone], { scanned: 5, selected: 0, excluded: 0, tagsFile: { name: 'rescue.tags', path: '/etc/rr/rescue.tags', entries: 1, bytes: 20 } }).map((p) => p.code)).toEqual(['listed-missing', 'nothing-selected']);
  });
});
