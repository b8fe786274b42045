// Property-based tests (fast-check) of the parsers that meet untrusted bytes: manifests, link files, the
// reference grammar and tags files. Random and mutated inputs never throw (or only the documented usage
// error), never take long, and a bad input never comes out `ok`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseLink } from '../src/core/digest.js';
import { MEDIA, parseManifest } from '../src/core/manifest.js';
import { repositoryNameProblem, tagProblem } from '../src/core/reference.js';
import { literalOf, parseTagsFile, TagsFileError } from '../src/core/selection.js';
import { ROOT } from './helpers/cli.js';

const RUNS = { numRuns: 400 };
/** Far above what any of these parsers needs (microseconds); a backtracking regex or a loop would blow it. */
const SLOW_MS = 1000;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Calls `fn` and fails when one call takes longer than SLOW_MS. */
function timed<T>(fn: () => T): T {
  const started = performance.now();
  const result = fn();
  expect(performance.now() - started).toBeLessThan(SLOW_MS);
  return result;
}

/** Every manifest the real registry wrote into the fixture tree, as bytes. */
const realManifests: Buffer[] = (() => {
  const tags = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/expected.json'), 'utf8')).tags as Array<{ digest: string | null; status: string; kind: string }>;
  const v2 = path.join(ROOT, 'fixtures/storage/docker/registry/v2');
  const digests = new Set(tags.filter((t) => t.status === 'ok' && t.kind !== 'schema1').map((t) => t.digest!));
  return [...digests].map((d) => readFileSync(path.join(v2, 'blobs/sha256', d.slice(7, 9), d.slice(7), 'data')));
})();

const enc = (x: unknown) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x));
const hex64 = fc.stringMatching(/^[a-f0-9]{64}$/);
const digest = hex64.map((h) => `sha256:${h}`);
const descriptor = fc.record({ mediaType: fc.constantFrom(MEDIA.ociManifest, MEDIA.dockerManifest, MEDIA.ociConfig, 'x/y'), digest, size: fc.nat() });

describe('parseManifest', () => {
  it('never throws on random bytes, and names a failure code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const r = timed(() => parseManifest(bytes));
        if (!r.ok) expect(['unparseable', 'ambiguous', 'unsupported']).toContain(r.code);
      }),
      RUNS,
    );
  });

  it('never throws on random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => void timed(() => parseManifest(enc(v)))), RUNS);
  });

  // V8's own JSON.parse needs ~0.5 s for a million `[` (more on a loaded machine: a fixed 1 s bound failed in CI at
  // 1,044 ms), so the bound is relative to it, both measured here: linear checks on top of the engine's parse stay
  // well within 3x; a backtracking or quadratic pass over a megabyte would take orders of magnitude longer.
  it('survives deep nesting and huge arrays in about the time JSON.parse itself takes', () => {
    const fastest = (fn: () => unknown) =>
      Math.min(
        ...[0, 1].map(() => {
          const started = performance.now();
          fn();
          return performance.now() - started;
        }),
      );
    const inputs: Array<[string, object]> = [
      ['['.repeat(1_000_000), { ok: false, code: 'unparseable' }],
      [`{"schemaVersion":2,"manifests":${'['.repeat(200_000)}`, { ok: false }],
    ];
    for (const [text, outcome] of inputs) {
      const bytes = enc(text);
      expect(parseManifest(bytes)).toMatchObject(outcome);
      const ours = fastest(() => parseManifest(bytes));
      const engine = fastest(() => {
        try {
          JSON.parse(text);
        } catch {
          // The engine's refusal is what is timed.
        }
      });
      expect(ours).toBeLessThan(3 * engine + 50);
    }
  });

  // Random combinations of the fields that tell manifest kinds apart: whatever comes out ok is unambiguous.
  it('accepts only what the registry and skopeo read alike', () => {
    const doc = fc.record(
      {
        schemaVersion: fc.constantFrom(2, 1, 3, '2', 2.5),
        mediaType: fc.constantFrom(MEDIA.ociManifest, MEDIA.dockerManifest, MEDIA.ociIndex, MEDIA.dockerList, '', 'application/x-unknown', 7),
        config: fc.oneof(descriptor, fc.constant(null), fc.constant({ mediaType: MEDIA.dockerConfig, digest: `sha256:${'c'.repeat(64)}`, size: 3 })),
        layers: fc.oneof(fc.array(descriptor, { maxLength: 3 }), fc.constant({})),
        manifests: fc.oneof(fc.array(descriptor, { maxLength: 3 }), fc.constant(null)),
        fsLayers: fc.constant([]),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(doc, (d: Record<string, unknown>) => {
        const r = timed(() => parseManifest(enc(d)));
        if (!r.ok || r.manifest.type === 'schema1') return;
        const has = (k: string) => d[k] !== undefined && d[k] !== null;
        expect(d.schemaVersion).toBe(2);
        expect(has('fsLayers')).toBe(false);
        if (r.manifest.type === 'index') {
          expect(has('config') || has('layers')).toBe(false);
          expect([MEDIA.ociIndex, MEDIA.dockerList]).toContain(r.manifest.mediaType);
          if (!d.mediaType) expect((d.manifests as unknown[]).length).toBeGreaterThan(0);
          for (const m of r.manifest.manifests) expect(m.digest).toMatch(DIGEST);
        } else {
          expect(has('manifests')).toBe(false);
          expect([MEDIA.ociManifest, MEDIA.dockerManifest]).toContain(r.manifest.mediaType);
          if (!d.mediaType) expect((d.config as { mediaType: string }).mediaType).not.toBe(MEDIA.dockerConfig);
          for (const x of [r.manifest.config, ...r.manifest.layers]) {
            expect(x.digest).toMatch(DIGEST);
            expect(Number.isSafeInteger(x.size) && x.size >= 0).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  // Each mutation makes a real manifest unusable; none may come out ok.
  const mutations: Array<[string, fc.Arbitrary<(doc: any, text: string) => string>]> = [
    ['cut short', fc.nat().map((n) => (_doc, text) => text.slice(0, n % text.lastIndexOf('}')))],
    ['a descriptor size negative, fractional, huge or a string', fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true, noNaN: true }), fc.constant(2 ** 64), fc.string()).map((size) => (doc) => JSON.stringify(descriptors(doc).length ? (descriptors(doc)[0]!.size = size, doc) : { ...doc, schemaVersion: 9 }))],
    ['a descriptor digest not sha256:<64 hex>', fc.string().filter((s) => !DIGEST.test(s)).map((bad) => (doc) => JSON.stringify(descriptors(doc).length ? (descriptors(doc)[0]!.digest = bad, doc) : { ...doc, schemaVersion: 9 }))],
    ['the other kind\'s field added', fc.constant((doc: any) => JSON.stringify(doc.manifests ? { ...doc, layers: [] } : { ...doc, manifests: [] }))],
    ['an unknown mediaType', fc.string({ minLength: 1 }).filter((s) => !Object.values(MEDIA).includes(s as never)).map((mt) => (doc) => JSON.stringify({ ...doc, mediaType: mt }))],
    ['a known key re-cased', fc.constant((doc: any) => JSON.stringify(Object.fromEntries(Object.entries(doc).map(([k, v]) => [k === 'schemaVersion' ? 'SchemaVersion' : k, v]))))],
    ['schemaVersion changed', fc.oneof(fc.integer().filter((n) => n !== 1 && n !== 2), fc.string()).map((v) => (doc) => JSON.stringify({ ...doc, schemaVersion: v }))],
  ];
  for (const [what, mutation] of mutations) {
    it(`refuses a real manifest with ${what}`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...realManifests), mutation, (bytes, mutate) => {
          const text = bytes.toString('utf8');
          expect(parseManifest(bytes).ok).toBe(true);
          expect(timed(() => parseManifest(enc(mutate(JSON.parse(text), text)))).ok).toBe(false);
        }),
        RUNS,
      );
    });
  }
});

/** The config, layers and manifests of a parsed manifest document (the objects themselves, for mutation). */
function descriptors(doc: any): any[] {
  return [...(doc.config ? [doc.config] : []), ...(doc.layers ?? []), ...(doc.manifests ?? [])];
}

describe('parseLink', () => {
  it('never throws; ok only for one sha256 digest, flagged when anything surrounds it', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), digest.chain((d) => fc.tuple(fc.string(), fc.string()).map(([a, z]) => a + d + z))), (text) => {
        const r = timed(() => parseLink(text));
        if (!r.ok) return;
        expect(r.digest).toMatch(DIGEST);
        expect(text.trim()).toBe(r.digest);
        expect(r.padded !== undefined).toBe(text !== r.digest);
      }),
      RUNS,
    );
  });

  it('refuses a digest with one character changed to something that is not lowercase hex', () => {
    fc.assert(
      fc.property(digest, fc.nat(), fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !/[a-f0-9\s]/.test(c)), (d, at, c) => {
        const i = 7 + (at % 64);
        expect(parseLink(d.slice(0, i) + c + d.slice(i + 1)).ok).toBe(false);
      }),
      RUNS,
    );
  });
});

describe('reference grammar', () => {
  /** An independent reading of distribution's grammar, character by character (no regular expression). */
  function validComponent(c: string): boolean {
    const alnum = (ch: string) => (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    if (c === '' || !alnum(c[0]!) || !alnum(c[c.length - 1]!)) return false;
    for (let i = 0; i < c.length; ) {
      if (alnum(c[i]!)) { i++; continue; }
      let j = i;
      while (j < c.length && !alnum(c[j]!)) j++;
      const sep = c.slice(i, j);
      if (!(sep === '.' || sep === '_' || sep === '__' || /^-+$/.test(sep))) return false;
      i = j;
    }
    return true;
  }
  const nameChars = fc.string({ unit: fc.constantFrom(...'abz09._-/A:@ '.split('')), maxLength: 40 });

  it('accepts a repository name exactly when an independent reading of the grammar does', () => {
    fc.assert(
      fc.property(fc.oneof(nameChars, fc.string()), (name) => {
        const ok = timed(() => repositoryNameProblem(name)) === undefined;
        expect(ok).toBe(name.length > 0 && name.length <= 255 && name.split('/').every(validComponent));
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts a tag exactly when it is 1-128 word characters, dots and dashes, not starting with . or -', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: fc.constantFrom(...'aZ9_.-+/ é'.split('')), maxLength: 140 }), fc.string()), (tag) => {
        const word = (ch: string) => /^[A-Za-z0-9_]$/.test(ch);
        const expected = tag.length >= 1 && tag.length <= 128 && word(tag[0]!) && [...tag].every((ch) => word(ch) || ch === '.' || ch === '-');
        expect(timed(() => tagProblem(tag)) === undefined).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('answers quickly on inputs built to make a backtracking regex explode', () => {
    for (const unit of ['a-', 'a.', 'a_', 'a__', 'a--', '-a', '0']) {
      for (const end of ['!', '-', '_', 'A']) {
        const name = unit.repeat(10_000) + end;
        timed(() => repositoryNameProblem(name.slice(0, 255)));
        timed(() => repositoryNameProblem(name));
        timed(() => tagProblem(name));
      }
    }
  });
});

describe('parseTagsFile', () => {
  const line = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: fc.constantFrom(...'ab0./-_:@*?[]{}!#Aé \t'.split('')), maxLength: 40 }),
    digest.map((d) => `proj/app@${d}`),
  );
  it('returns entries or throws the usage error (exit 2), nothing else; literal entries name only valid references', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => {
        let entries;
        try {
          entries = timed(() => parseTagsFile(lines.join(eol), 'rescue.tags'));
        } catch (error) {
          expect(error).toBeInstanceOf(TagsFileError);
          expect((error as TagsFileError).exitCode).toBe(2);
          return;
        }
        for (const e of entries) {
          const name = literalOf(e);
          if (!name) continue;
          expect(repositoryNameProblem(name.repository), e.text).toBeUndefined();
          if (name.tag !== undefined) expect(tagProblem(name.tag), e.text).toBeUndefined();
          if (name.digest !== undefined) expect(name.digest).toMatch(DIGEST);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('reads back every valid repository:tag it is given, one per line', () => {
    const component = fc.stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}$/);
    const ref = fc.tuple(fc.array(component, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/));
    fc.assert(
      fc.property(fc.array(ref, { minLength: 1, maxLength: 10 }), (refs) => {
        const text = refs.map(([parts, tag]) => `${parts.join('/')}:${tag}`).join('\n');
        const entries = parseTagsFile(text, 'rescue.tags');
        expect(entries.map((e) => literalOf(e))).toEqual(refs.map(([parts, tag]) => ({ repository: parts.join('/'), tag })));
      }),
      RUNS,
    );
  });
});
