import { describe, expect, it } from 'vitest';
import { parseLink } from '../src/core/digest.js';
import { MEDIA, parseManifest } from '../src/core/manifest.js';
import { foreignNames, planExportItem } from '../src/core/plan.js';
import { repositoryNameProblem, tagProblem } from '../src/core/reference.js';
import type { ResolvedImage } from '../src/core/types.js';

const H = (c: string) => `sha256:${c.repeat(64)}` as const;
const enc = (x: unknown) => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));

describe('parseLink', () => {
  it.each([
    [`sha256:${'a'.repeat(64)}`, { ok: true, digest: H('a') }],
    [`  sha256:${'a'.repeat(64)}\n`, { ok: true, digest: H('a'), padded: 'a leading "  " and a trailing "\\n"' }],
    [`sha256:${'a'.repeat(64)}\r\n`, { ok: true, digest: H('a'), padded: 'a trailing "\\r\\n"' }],
    ['', { ok: false, code: 'link-empty', detail: 'the link file is empty' }],
    ['sha256:xyz', { ok: false, code: 'link-invalid', detail: 'the link file holds "sha256:xyz", not sha256:<64 hex>' }],
    [`sha256:${'A'.repeat(64)}`, { ok: false, code: 'link-invalid', detail: `the link file holds "sha256:${'A'.repeat(64)}", not sha256:<64 hex>` }],
    [`sha256:../../${'a'.repeat(58)}`, { ok: false, code: 'link-invalid', detail: `the link file holds "sha256:../../${'a'.repeat(58)}", not sha256:<64 hex>` }],
  ])('%j', (text, expected) => expect(parseLink(text)).toEqual(expected));
});

describe('parseManifest', () => {
  const config = { mediaType: MEDIA.dockerConfig, digest: H('c'), size: 10 };
  it('reads a Docker schema2 manifest, skipping nothing', () => {
    const r = parseManifest(enc({ schemaVersion: 2, mediaType: MEDIA.dockerManifest, config, layers: [{ mediaType: 'x', digest: H('1'), size: 3, urls: ['https://example.invalid/l'] }] }));
    expect(r).toMatchObject({ ok: true, manifest: { type: 'manifest', mediaType: MEDIA.dockerManifest, implicitMediaType: false, layers: [{ digest: H('1'), urls: ['https://example.invalid/l'] }] } });
  });
  it('treats a manifest without mediaType as OCI (Helm charts), an array of manifests as an index', () => {
    expect(parseManifest(enc({ schemaVersion: 2, config: { ...config, mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [] }))).toMatchObject({ ok: true, manifest: { mediaType: MEDIA.ociManifest, implicitMediaType: true } });
    const idx = parseManifest(enc({ schemaVersion: 2, manifests: [{ mediaType: MEDIA.ociManifest, digest: H('d'), size: 5, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, artifactType: 'a/b' }] }));
    expect(idx).toEqual({ ok: true, manifest: { type: 'index', mediaType: MEDIA.ociIndex, manifests: [{ mediaType: MEDIA.ociManifest, digest: H('d'), size: 5, platform: 'linux/arm64/v8', artifactType: 'a/b' }] } });
  });
  it('reads the subject (OCI 1.1) of an image manifest and of an index; a malformed one is no subject', () => {
    const subject = { mediaType: MEDIA.ociManifest, digest: H('5'), size: 7 };
    expect(parseManifest(enc({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: [], subject }))).toMatchObject({ ok: true, manifest: { type: 'manifest', subject: H('5') } });
    expect(parseManifest(enc({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [], subject }))).toEqual({ ok: true, manifest: { type: 'index', mediaType: MEDIA.ociIndex, manifests: [], subject: H('5') } });
    for (const odd of [{ ...subject, digest: 'sha256:short' }, 'sha256:x', null]) {
      const r = parseManifest(enc({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: [], subject: odd }));
      expect(r.ok && r.manifest.type === 'manifest' ? r.manifest.subject : 'not parsed').toBeUndefined();
    }
  });
  it('recognises schema1 and refuses what it cannot use', () => {
    expect(parseManifest(enc({ schemaVersion: 1, name: 'x' }))).toMatchObject({ ok: true, manifest: { type: 'schema1' } });
    expect(parseManifest(enc('{not json'))).toMatchObject({ ok: false });
    expect(parseManifest(enc({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { ...config, digest: 'sha256:short' } }))).toEqual({ ok: false, code: 'unparseable', reason: 'config has digest "sha256:short", not sha256:<64 hex>' });
    expect(parseManifest(enc({ schemaVersion: 2, mediaType: 'text/plain', config }))).toEqual({ ok: false, code: 'unsupported', reason: 'unknown media type "text/plain"' });
    expect(parseManifest(enc({ schemaVersion: 2 }))).toEqual({ ok: false, code: 'unparseable', reason: 'neither "manifests" nor "config" is present' });
  });
  // What skopeo 1.9.3 refused when pushing such a dir: layout (--all --preserve-digests), tried by hand.
  it.each([
    ['no mediaType, manifests and config (CVE-2021-41190)', { schemaVersion: 2, config: { ...config, mediaType: MEDIA.ociConfig }, manifests: [{ mediaType: MEDIA.ociManifest, digest: H('d'), size: 5 }] }, 'ambiguous'],
    ['no mediaType, manifests and layers', { schemaVersion: 2, layers: [], manifests: [{ mediaType: MEDIA.ociManifest, digest: H('d'), size: 5 }] }, 'ambiguous'],
    ['an OCI manifest holding manifests', { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { ...config, mediaType: MEDIA.ociConfig }, manifests: [] }, 'ambiguous'],
    ['an index holding config', { schemaVersion: 2, mediaType: MEDIA.ociIndex, config, manifests: [] }, 'ambiguous'],
    ['no mediaType and a Docker config (skopeo guesses Docker schema2)', { schemaVersion: 2, config, layers: [] }, 'ambiguous'],
    ['no mediaType and no children', { schemaVersion: 2, manifests: [] }, 'ambiguous'],
    ['a key differing only by case', { schemaVersion: 2, mediaType: MEDIA.ociManifest, Config: config, config }, 'ambiguous'],
    ['a descriptor key with a long s (Go folds it to "size")', { schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: { ...config, 'ſize': 3 } }, 'ambiguous'],
    ['size as a string', { schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: { ...config, size: '10' } }, 'unparseable'],
    ['a negative size', { schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: { ...config, size: -1 } }, 'unparseable'],
    ['urls that are not strings', { schemaVersion: 2, mediaType: MEDIA.dockerManifest, config, layers: [{ ...config, urls: [1] }] }, 'unparseable'],
    ['annotations that are not strings', { schemaVersion: 2, mediaType: MEDIA.dockerManifest, config, annotations: { a: 1 } }, 'unparseable'],
    ['schemaVersion 3', { schemaVersion: 3, mediaType: MEDIA.dockerManifest, config }, 'unsupported'],
  ])('refuses %s', (_name, doc, code) => expect(parseManifest(enc(doc))).toMatchObject({ ok: false, code }));
  it('refuses sizes written 1.0 or 1e1 (JSON.parse reads an integer, Go refuses them)', () => {
    const text = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.dockerManifest, config });
    expect(parseManifest(enc(text))).toMatchObject({ ok: true });
    expect(parseManifest(enc(text.replace('"size":10', '"size":10.0')))).toEqual({ ok: false, code: 'unparseable', reason: '"size" is 10.0, not an integer (Go readers such as skopeo and the registry refuse it)' });
    expect(parseManifest(enc(text.replace('"size":10', '"size":1e1')))).toMatchObject({ ok: false, code: 'unparseable' });
    expect(parseManifest(enc(text.replace('"schemaVersion":2', '"schemaVersion":2.0')))).toMatchObject({ ok: false, code: 'unparseable' });
  });
});

describe('reference grammar', () => {
  it.each(['a', 'proj/team/sub/deep/app', 'a-b/c__d/e.f', 'x--y'])('accepts %s', (n) => expect(repositoryNameProblem(n)).toBeUndefined());
  it.each(['App', 'a//b', '-a', 'a_', 'a/_b', 'a'.repeat(256)])('refuses %s', (n) => expect(repositoryNameProblem(n)).toBeDefined());
  it('checks tags', () => {
    expect(tagProblem('v1.2-rc_3')).toBeUndefined();
    expect(tagProblem('sha256-abc.sig')).toBeUndefined();
    expect(tagProblem('.hidden')).toBeDefined();
    expect(tagProblem('x'.repeat(129))).toBeDefined();
  });
});

describe('planExportItem', () => {
  const image = (over: Partial<ResolvedImage> = {}): ResolvedImage => ({
    repository: 'p/app', tag: '1', digest: H('a'), kind: 'image', status: 'ok', problems: [], warnings: [], size: 30,
    files: [
      { name: 'manifest.json', digest: H('a'), size: 10, source: { path: '/s/a' } },
      { name: 'b'.repeat(64), digest: H('b'), size: 20, source: { path: '/s/b' } },
    ],
    ...over,
  });
  it('creates, keeps, rebuilds and skips', () => {
    expect(planExportItem(image(), undefined)).toMatchObject({ id: 'p/app:1', action: 'create', fileCount: 3, bytes: 30 });
    expect(planExportItem(image(), { manifestDigest: H('a'), names: ['manifest.json', 'b'.repeat(64), 'version'] })).toMatchObject({ action: 'unchanged', files: [] });
    expect(planExportItem(image(), { manifestDigest: H('f'), names: ['manifest.json', 'version'] })).toMatchObject({ action: 'rebuild', reason: `the tag moved from ${H('f')} to ${H('a')}` });
    expect(planExportItem(image(), { manifestDigest: H('a'), names: ['manifest.json', 'version'] })).toMatchObject({ action: 'rebuild', reason: 'the layout has other files than expected' });
    // As many files as expected, but not the same ones: another blob, or no version file.
    expect(planExportItem(image(), { manifestDigest: H('a'), names: ['manifest.json', 'c'.repeat(64), 'version'] })).toMatchObject({ action: 'rebuild', reason: 'the layout has other files than expected' });
    // A name no layout of ours holds: someone else's directory, never replaced (the image fails, named).
    expect(planExportItem(image(), { manifestDigest: H('a'), names: ['manifest.json', 'b'.repeat(64), 'manifest.json.tmp'] })).toMatchObject({
      action: 'rebuild',
      blocked: 'p/app:1: the directory at this layout\'s path in the output holds files registry-rescue does not write ("manifest.json.tmp"): it is not replaced; move them away or remove the directory, then run again',
    });
    expect(planExportItem(image(), { names: ['a', 'b', 'c', 'd', 'version'] }).blocked).toContain('("a", "b", "c", and 1 more)');
    expect(foreignNames(['version', 'manifest.json', 'b'.repeat(64), `${'c'.repeat(64)}.manifest.json`, 'B'.repeat(64), 'signature-1', '.x'])).toEqual(['B'.repeat(64), 'signature-1', '.x']);
    expect(planExportItem(image({ status: 'broken', files: [] }), { names: [] })).toMatchObject({ action: 'skip', reason: 'broken; the layout already exported for this tag is left as it was' });
    // No readable manifest.json: nothing says the tag moved.
    expect(planExportItem(image(), { names: ['b'.repeat(64), 'version'] })).toMatchObject({ action: 'rebuild', reason: 'the layout has no readable manifest.json (half-made or damaged)' });
  });
  it('fails an image whose layout has something in the way, as the write would (the dry run says so too)', () => {
    const file = { inTheWay: '/o/p/app:1', out: '/o', kind: 'a plain file', atLayout: true };
    expect(planExportItem(image(), file)).toMatchObject({
      action: 'create',
      blocked: 'p/app:1: /o/p/app:1 is a plain file, where the layout of p/app:1 goes: registry-rescue writes only its own layout directories into the output directory /o and does not remove what it did not write; remove or rename it, then run again',
    });
    const link = { inTheWay: '/o/p', out: '/o', kind: 'a symlink', atLayout: false };
    expect(planExportItem(image(), link).blocked).toBe(
      'p/app:1: /o/p is a symlink: layouts are written only into real directories of the output directory /o (a symlink could lead anywhere, even into the registry storage), and the layouts below p/ go into that one; remove or rename it, then run again',
    );
    // A broken image is skipped as ever: nothing would be written.
    expect(planExportItem(image({ status: 'broken', files: [] }), file)).toMatchObject({ action: 'skip', reason: 'broken' });
  });
});
