// Hostile storage: one copy of the real-registry fixture tree, damaged in many ways at once (each case in its
// own repository under hostile/), read by one `list --json` as root and one as `nobody` (EACCES cases). Each
// case asserts the exact status, problem code and a message naming repository, tag, digest and file; the run
// goes on with every other image (the fixture's own tags keep their expected status) and exits 4.
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cli, copyFixture, expectedTags } from './helpers/cli.js';
import { bases, Damage, rel, sha, type Bases } from './helpers/hostile-tree.js';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const SECRET = `SECRET-OUTSIDE-THE-STORAGE-${process.pid}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** What one case must produce. `digest`/`file` must be the problem's fields and appear in its message. */
type Expect =
  | { status: 'ok'; warning?: { includes: string[] } }
  | { status: 'broken' | 'skipped'; code: string; digest?: string; file?: string; includes?: string[] }
  /** Not listed at all; the walk reports the path (summary.unreadable, exit 4). */
  | { walk: string };

interface Case {
  name: string;
  repo: string;
  tag?: string;
  /** Damages the tree; returns what `list` must say. */
  build(t: Damage, b: Bases, c: { outside: string }): Expect;
  /** EACCES cases: read as `nobody`; as root (which reads everything) the same image must be `ok`. */
  nobody?: boolean;
}

const repoOf = (slug: string) => `hostile/${slug}`;
/** Tags the base OCI image in a fresh repository: the usual start of a case. */
const plain = (t: Damage, b: Bases, repo: string, tag = 't') => t.tag(repo, tag, b.oci);
/** A copy of the OCI image whose layer 1 is a blob of its own (so breaking it breaks no other case). */
function ownLayer(t: Damage, b: Bases, repo: string, salt: string) {
  const layer = t.uniqueLayer(t.doc(b.oci).layers[0].digest, salt);
  const digest = t.tag(repo, 't', t.mutate(b.oci, (m) => (m.layers[0] = { ...m.layers[0], ...layer })));
  return { digest, layer: layer.digest };
}
/** The OCI image with a descriptor changed in its raw JSON text (for sizes JSON.stringify cannot write). */
function rawEdit(t: Damage, b: Bases, repo: string, edit: (text: string, doc: any) => string) {
  const doc = t.doc(b.oci);
  const digest = t.store(edit(JSON.stringify(doc), doc));
  return t.tag(repo, 't', digest);
}
const badDescriptor = (field: string, value: unknown, says: string) => (t: Damage, b: Bases, repo: string): Expect => {
  const digest = t.tag(repo, 't', t.mutate(b.oci, (m) => (m.layers[0][field] = value)));
  return { status: 'broken', code: 'manifest-unparseable', digest, file: rel.blob(digest), includes: [says] };
};

const cases: Case[] = [
  // ---- tag link files
  ...(
    [
      ['link-empty', '', 'link-empty'],
      ['link-garbage', 'sha256:xyz', 'link-invalid'],
      ['link-uppercase-hex', `sha256:${'A'.repeat(64)}`, 'link-invalid'],
      ['link-path-traversal', `sha256:../../../../etc/${'a'.repeat(50)}`, 'link-invalid'],
      ['link-two-digests', `sha256:${'a'.repeat(64)}\nsha256:${'b'.repeat(64)}`, 'link-invalid'],
      ['link-one-mebibyte-of-junk', 'x'.repeat(1 << 20), 'link-invalid'],
    ] as const
  ).map(([slug, content, code]): Case => ({
    name: `tag link: ${slug}`,
    repo: repoOf(slug),
    build: (t, b) => {
      plain(t, b, repoOf(slug));
      t.tagLink(repoOf(slug), 't', content);
      return { status: 'broken', code, file: rel.tagLink(repoOf(slug), 't') };
    },
  })),
  ...(['fifo', 'socket', 'device'] as const).map((kind): Case => ({
    name: `tag link is a ${kind} (never opened for reading, never hangs)`,
    repo: repoOf(`link-${kind}`),
    build: (t, b) => {
      plain(t, b, repoOf(`link-${kind}`));
      t.special(rel.tagLink(repoOf(`link-${kind}`), 't'), kind);
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repoOf(`link-${kind}`), 't'), includes: ['not a regular file'] };
    },
  })),
  {
    name: 'tag link is a directory',
    repo: repoOf('link-directory'),
    build: (t, b) => {
      const repo = repoOf('link-directory');
      plain(t, b, repo);
      rmSync(t.abs(rel.tagLink(repo, 't')));
      mkdirSync(t.abs(rel.tagLink(repo, 't')));
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repo, 't') };
    },
  },
  {
    name: 'tag link missing from current/',
    repo: repoOf('link-missing'),
    build: (t, b) => {
      const repo = repoOf('link-missing');
      plain(t, b, repo);
      rmSync(t.abs(rel.tagLink(repo, 't')));
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repo, 't'), includes: ['no such file'] };
    },
  },
  {
    name: 'tag link is a symlink to a file outside the storage (not followed, not quoted)',
    repo: repoOf('link-symlink-outside'),
    build: (t, b, c) => {
      const repo = repoOf('link-symlink-outside');
      plain(t, b, repo);
      rmSync(t.abs(rel.tagLink(repo, 't')));
      symlinkSync(path.join(c.outside, 'link'), t.abs(rel.tagLink(repo, 't')));
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repo, 't'), includes: ['not a regular file'] };
    },
  },
  {
    name: 'tag link with CRLF: exported with a warning (the registry itself could not read it)',
    repo: repoOf('link-crlf'),
    build: (t, b) => {
      const repo = repoOf('link-crlf');
      plain(t, b, repo);
      t.tagLink(repo, 't', `${b.oci}\r\n`);
      return { status: 'ok', warning: { includes: [rel.tagLink(repo, 't'), b.oci, 'a trailing "\\r\\n"', 'which the registry itself cannot read'] } };
    },
  },
  {
    name: 'tag link with trailing blanks: exported with a warning',
    repo: repoOf('link-trailing-blanks'),
    build: (t, b) => {
      const repo = repoOf('link-trailing-blanks');
      plain(t, b, repo);
      t.tagLink(repo, 't', `${b.oci}  \t`);
      return { status: 'ok', warning: { includes: [rel.tagLink(repo, 't'), b.oci, 'a trailing "  \\t"'] } };
    },
  },
  // ---- tag and repository directories of the wrong type, or symlinked
  {
    name: 'current/ is a symlink to a directory outside the storage (not followed, not quoted)',
    repo: repoOf('current-symlink-outside'),
    build: (t, b, c) => {
      const repo = repoOf('current-symlink-outside');
      plain(t, b, repo);
      const current = path.dirname(t.abs(rel.tagLink(repo, 't')));
      rmSync(current, { recursive: true });
      symlinkSync(c.outside, current);
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repo, 't'), includes: [`reached through a symlinked directory, which a registry never writes: ${rel.tagDir(repo, 't')}/current`] };
    },
  },
  {
    name: 'tag directory is a symlink to another tag: reported by the walk, not listed',
    repo: repoOf('tag-dir-symlink'),
    tag: 'linked',
    build: (t, b) => {
      const repo = repoOf('tag-dir-symlink');
      plain(t, b, repo, 'real');
      symlinkSync(t.abs(rel.tagDir(repo, 'real')), t.abs(rel.tagDir(repo, 'linked')));
      return { walk: `${rel.tagDir(repo, 'linked')} is a symlink, not a tag directory` };
    },
  },
  ...(['plain file', 'FIFO'] as const).map((kind): Case => ({
    name: `tag directory is a ${kind}: reported by the walk, not listed`,
    repo: repoOf(`tag-dir-${kind.replace(' ', '-')}`),
    build: (t, b) => {
      const repo = repoOf(`tag-dir-${kind.replace(' ', '-')}`);
      plain(t, b, repo, 'other');
      if (kind === 'FIFO') t.special(rel.tagDir(repo, 't'), 'fifo');
      else t.writeFile(rel.tagDir(repo, 't'), b.oci);
      return { walk: `${rel.tagDir(repo, 't')} is a ${kind}, not a tag directory` };
    },
  })),
  {
    name: 'repository directory is a symlink to another repository: reported, not followed',
    repo: repoOf('repo-symlink'),
    build: (t) => {
      symlinkSync(t.abs('repositories/proj/a/app'), t.abs(`repositories/${repoOf('repo-symlink')}`));
      return { walk: `repositories/${repoOf('repo-symlink')} is a symlink, where a repository directory should be` };
    },
  },
  {
    name: 'repository directory is a symlink leading outside the storage: reported, not followed',
    repo: repoOf('repo-symlink-outside'),
    build: (t, _b, c) => {
      symlinkSync(c.outside, t.abs(`repositories/${repoOf('repo-symlink-outside')}`));
      return { walk: `repositories/${repoOf('repo-symlink-outside')} is a symlink` };
    },
  },
  {
    name: '_manifests of a repository is a symlink: reported, its tags not listed',
    repo: repoOf('manifests-symlink'),
    build: (t, b) => {
      const repo = repoOf('manifests-symlink');
      plain(t, b, 'hostile/manifests-target');
      mkdirSync(t.abs(`repositories/${repo}`), { recursive: true });
      symlinkSync(t.abs('repositories/hostile/manifests-target/_manifests'), t.abs(`repositories/${repo}/_manifests`));
      return { walk: `repositories/${repo}/_manifests is a symlink, not a directory` };
    },
  },
  {
    name: '_manifests/tags of a repository is a symlink: reported, its tags not listed',
    repo: repoOf('tags-symlink'),
    build: (t, b) => {
      const repo = repoOf('tags-symlink');
      plain(t, b, 'hostile/tags-target');
      mkdirSync(t.abs(`repositories/${repo}/_manifests`), { recursive: true });
      symlinkSync(t.abs('repositories/hostile/tags-target/_manifests/tags'), t.abs(`repositories/${repo}/_manifests/tags`));
      return { walk: `repositories/${repo}/_manifests/tags is a symlink, not a directory` };
    },
  },
  {
    name: '_manifests/tags of a repository is a plain file: reported once by its type, its tags not listed',
    repo: repoOf('tags-file'),
    build: (t) => {
      const repo = repoOf('tags-file');
      mkdirSync(t.abs(`repositories/${repo}/_manifests`), { recursive: true });
      writeFileSync(t.abs(`repositories/${repo}/_manifests/tags`), 'not a directory\n');
      return { walk: `repositories/${repo}/_manifests/tags is a plain file, not a directory; the tags of ${repo} are not listed` };
    },
  },
  // ---- revision links
  {
    name: 'revision link removed (deleted through the API): skipped',
    repo: repoOf('revision-deleted'),
    build: (t, b) => {
      const repo = repoOf('revision-deleted');
      plain(t, b, repo);
      rmSync(t.abs(rel.revision(repo, b.oci)));
      return { status: 'skipped', code: 'manifest-deleted', digest: b.oci, file: rel.revision(repo, b.oci) };
    },
  },
  ...(
    [
      ['garbage', 'not a digest', 'the link file holds "not a digest"'],
      ['empty', '', 'the link file is empty'],
      ['other-digest', `sha256:${'e'.repeat(64)}`, `holds sha256:${'e'.repeat(64)}, not the digest it is filed under`],
    ] as const
  ).map(([slug, content, says]): Case => ({
    name: `revision link ${slug}: exported with a warning naming it`,
    repo: repoOf(`revision-${slug}`),
    build: (t, b) => {
      const repo = repoOf(`revision-${slug}`);
      plain(t, b, repo);
      t.revision(repo, b.oci, content);
      return { status: 'ok', warning: { includes: [rel.revision(repo, b.oci), b.oci, says] } };
    },
  })),
  {
    name: 'revision directory is a symlink leading outside the storage: broken, not followed',
    repo: repoOf('revision-dir-symlink'),
    build: (t, b, c) => {
      const repo = repoOf('revision-dir-symlink');
      plain(t, b, repo);
      const dir = path.dirname(t.abs(rel.revision(repo, b.oci)));
      rmSync(dir, { recursive: true });
      symlinkSync(c.outside, dir);
      return { status: 'broken', code: 'link-unreadable', digest: b.oci, file: rel.revision(repo, b.oci), includes: ['reached through a symlinked directory'] };
    },
  },
  {
    name: 'revision link is a FIFO: broken, never hangs',
    repo: repoOf('revision-fifo'),
    build: (t, b) => {
      const repo = repoOf('revision-fifo');
      plain(t, b, repo);
      t.special(rel.revision(repo, b.oci), 'fifo');
      return { status: 'broken', code: 'link-unreadable', digest: b.oci, file: rel.revision(repo, b.oci) };
    },
  },
  // ---- manifests
  ...(
    [
      ['manifest-not-json', (t: Damage, b: Bases) => t.store(t.read(b.oci).subarray(0, 100)), 'manifest-unparseable', 'not JSON'],
      ['manifest-json-array', (t: Damage, b: Bases) => t.store(JSON.stringify([t.doc(b.oci)])), 'manifest-unparseable', 'not a JSON object'],
      ['manifest-layers-not-array', (t: Damage, b: Bases) => t.mutate(b.oci, (m) => (m.layers = { 0: m.layers[0] })), 'manifest-unparseable', '"layers" is an object'],
      ['manifest-config-missing', (t: Damage, b: Bases) => t.mutate(b.oci, (m) => delete m.config), 'manifest-unparseable', 'without "config"'],
      ['manifest-cve-2021-41190-no-mediatype-manifests-and-layers', (t: Damage, b: Bases) => t.mutate(b.oci, (m) => { delete m.mediaType; m.manifests = t.doc(b.index).manifests; }), 'manifest-ambiguous', 'CVE-2021-41190'],
      ['manifest-declared-oci-holding-manifests', (t: Damage, b: Bases) => t.mutate(b.oci, (m) => (m.manifests = t.doc(b.index).manifests)), 'manifest-ambiguous', 'also holds "manifests"'],
      ['index-declared-holding-layers', (t: Damage, b: Bases) => t.mutate(b.index, (m) => (m.layers = t.doc(b.oci).layers)), 'manifest-ambiguous', 'also holds "layers"'],
      ['manifest-no-mediatype-docker-config', (t: Damage, b: Bases) => t.mutate(b.docker, (m) => delete m.mediaType), 'manifest-ambiguous', 'Docker schema2'],
      ['manifest-key-differs-by-case', (t: Damage, b: Bases) => t.mutate(b.oci, (m) => (m.Layers = [])), 'manifest-ambiguous', 'key "Layers"'],
      ['manifest-unknown-media-type', (t: Damage, b: Bases) => t.mutate(b.oci, (m) => (m.mediaType = 'application/vnd.example.unknown+json')), 'manifest-unsupported', 'unknown media type'],
      ['manifest-schema-version-3', (t: Damage, b: Bases) => t.mutate(b.oci, (m) => (m.schemaVersion = 3)), 'manifest-unsupported', 'schemaVersion 3'],
      ['manifest-over-4-mib', (t: Damage, b: Bases) => t.store(padTo(t.doc(b.oci), 4 * 1024 * 1024 + 1)), 'manifest-unsupported', 'more than 4194304'],
    ] as const
  ).map(([slug, make, code, says]): Case => ({
    name: slug.replace(/-/g, ' '),
    repo: repoOf(slug),
    build: (t, b) => {
      const digest = t.tag(repoOf(slug), 't', make(t, b));
      return { status: 'broken', code, digest, file: rel.blob(digest), includes: [says] };
    },
  })),
  {
    name: 'manifest with a wrong digest (bytes changed in place)',
    repo: repoOf('manifest-wrong-digest'),
    build: (t, b) => {
      const digest = t.tag(repoOf('manifest-wrong-digest'), 't', t.mutate(b.oci, (m) => (m.annotations = { case: 'wrong-digest' })));
      t.storeAt(digest, t.read(digest).toString('utf8').replace('wrong-digest', 'WRONG-digest'));
      return { status: 'broken', code: 'manifest-digest-mismatch', digest, file: rel.blob(digest), includes: ['its content hashes to'] };
    },
  },
  {
    name: 'manifest blob missing (revision link kept)',
    repo: repoOf('manifest-missing'),
    build: (t, b) => {
      const digest = t.tag(repoOf('manifest-missing'), 't', t.mutate(b.oci, (m) => (m.annotations = { case: 'missing' })));
      rmSync(t.abs(rel.blob(digest)));
      return { status: 'broken', code: 'manifest-missing', digest, file: rel.blob(digest) };
    },
  },
  ...(['symlink', 'fifo'] as const).map((kind): Case => ({
    name: `manifest blob is a ${kind}`,
    repo: repoOf(`manifest-${kind}`),
    build: (t, b, c) => {
      const digest = t.tag(repoOf(`manifest-${kind}`), 't', t.mutate(b.oci, (m) => (m.annotations = { case: kind })));
      if (kind === 'fifo') t.special(rel.blob(digest), 'fifo');
      else {
        rmSync(t.abs(rel.blob(digest)));
        symlinkSync(path.join(c.outside, 'data'), t.abs(rel.blob(digest)));
      }
      return { status: 'broken', code: 'manifest-unreadable', digest, file: rel.blob(digest), includes: ['not a regular file'] };
    },
  })),
  // ---- descriptors
  ...(
    [
      ['digest-uppercase-hex', 'digest', `sha256:${'A'.repeat(64)}`, 'layers[0] has digest'],
      ['digest-sha512', 'digest', `sha512:${'a'.repeat(128)}`, 'layers[0] has digest'],
      ['digest-path-traversal', 'digest', `sha256:../../../${'a'.repeat(55)}`, 'layers[0] has digest'],
      ['size-negative', 'size', -1, 'layers[0] has an invalid size -1'],
      ['size-fractional', 'size', 1.5, '"size" is 1.5, not an integer'],
      ['size-huge-beyond-2-53', 'size', 2 ** 64, 'layers[0] has an invalid size 18446744073709552000'],
      ['size-string', 'size', '505', 'layers[0] has an invalid size "505"'],
      ['size-null', 'size', null, 'layers[0] has an invalid size null'],
    ] as const
  ).map(([slug, field, value, says]): Case => ({ name: `descriptor ${slug.replace(/-/g, ' ')}`, repo: repoOf(slug), build: (t, b) => badDescriptor(field, value, says)(t, b, repoOf(slug)) })),
  {
    name: 'descriptor size written 505.0 (JSON.parse reads 505, skopeo refuses it)',
    repo: repoOf('size-written-with-fraction'),
    build: (t, b) => {
      const digest = rawEdit(t, b, repoOf('size-written-with-fraction'), (text, doc) => text.replace(`"size":${doc.config.size}`, `"size":${doc.config.size}.0`));
      return { status: 'broken', code: 'manifest-unparseable', digest, file: rel.blob(digest), includes: ['not an integer'] };
    },
  },
  {
    name: 'descriptor size a safe integer but not the blob size',
    repo: repoOf('size-wrong'),
    build: (t, b) => {
      const layer = t.doc(b.oci).layers[0];
      t.tag(repoOf('size-wrong'), 't', t.mutate(b.oci, (m) => (m.layers[0].size = Number.MAX_SAFE_INTEGER)));
      return { status: 'broken', code: 'blob-size-mismatch', digest: layer.digest, file: rel.blob(layer.digest), includes: [`the manifest says ${Number.MAX_SAFE_INTEGER}`] };
    },
  },
  {
    name: 'layer blob missing',
    repo: repoOf('layer-missing'),
    build: (t, b) => {
      const { layer } = ownLayer(t, b, repoOf('layer-missing'), 'missing');
      rmSync(t.abs(rel.blob(layer)));
      return { status: 'broken', code: 'blob-missing', digest: layer, file: rel.blob(layer) };
    },
  },
  {
    name: 'layer blob is a symlink to a file outside the storage',
    repo: repoOf('layer-symlink'),
    build: (t, b, c) => {
      const { layer } = ownLayer(t, b, repoOf('layer-symlink'), 'symlink');
      rmSync(t.abs(rel.blob(layer)));
      symlinkSync(path.join(c.outside, 'data'), t.abs(rel.blob(layer)));
      return { status: 'broken', code: 'blob-unreadable', digest: layer, file: rel.blob(layer), includes: ['not a regular file'] };
    },
  },
  {
    name: 'layer blob directory is a symlink leading outside the storage',
    repo: repoOf('layer-dir-symlink'),
    build: (t, b, c) => {
      const { layer } = ownLayer(t, b, repoOf('layer-dir-symlink'), 'dir-symlink');
      const dir = path.dirname(t.abs(rel.blob(layer)));
      rmSync(dir, { recursive: true });
      symlinkSync(c.outside, dir);
      return { status: 'broken', code: 'blob-unreadable', digest: layer, file: rel.blob(layer), includes: ['reached through a symlinked directory'] };
    },
  },
  {
    // Blob directories are checked from one listing of their prefix directory (its entries' types), not one lstat each.
    name: 'layer blob directory is a plain file',
    repo: repoOf('layer-dir-file'),
    build: (t, b) => {
      const { layer } = ownLayer(t, b, repoOf('layer-dir-file'), 'dir-file');
      const dir = path.dirname(t.abs(rel.blob(layer)));
      rmSync(dir, { recursive: true });
      writeFileSync(dir, 'not a directory');
      return { status: 'broken', code: 'blob-unreadable', digest: layer, file: rel.blob(layer), includes: ['not a directory'] };
    },
  },
  {
    name: 'manifest blob directory is a symlink leading outside the storage',
    repo: repoOf('manifest-dir-symlink'),
    build: (t, b, c) => {
      const digest = t.tag(repoOf('manifest-dir-symlink'), 't', t.mutate(b.oci, (m) => (m.annotations = { case: 'manifest-dir-symlink' })));
      const dir = path.dirname(t.abs(rel.blob(digest)));
      rmSync(dir, { recursive: true });
      symlinkSync(c.outside, dir);
      return { status: 'broken', code: 'manifest-unreadable', digest, file: rel.blob(digest), includes: ['reached through a symlinked directory'] };
    },
  },
  {
    name: 'layer blob is a socket',
    repo: repoOf('layer-socket'),
    build: (t, b) => {
      const { layer } = ownLayer(t, b, repoOf('layer-socket'), 'socket');
      t.special(rel.blob(layer), 'socket');
      return { status: 'broken', code: 'blob-unreadable', digest: layer, file: rel.blob(layer) };
    },
  },
  // ---- indexes
  {
    name: 'index listing its own digest (content addressing makes it a corrupt blob)',
    repo: repoOf('index-self-reference'),
    build: (t, b) => {
      const self = sha('index-self-reference');
      const doc = t.doc(b.index);
      doc.manifests[0].digest = self;
      t.storeAt(self, JSON.stringify(doc));
      t.tag(repoOf('index-self-reference'), 't', self);
      return { status: 'broken', code: 'manifest-digest-mismatch', digest: self, file: rel.blob(self) };
    },
  },
  {
    name: 'index cycle: a child whose bytes are an index pointing back (caught by its digest)',
    repo: repoOf('index-cycle'),
    build: (t, b) => {
      const repo = repoOf('index-cycle');
      const child = sha('index-cycle-child');
      const doc = t.doc(b.index);
      doc.manifests[0] = { ...doc.manifests[0], digest: child };
      const top = t.tagIndex(repo, 't', doc);
      t.storeAt(child, JSON.stringify({ ...t.doc(b.index), manifests: [{ mediaType: OCI_INDEX, digest: top, size: t.read(top).length }] }));
      return { status: 'broken', code: 'child-digest-mismatch', digest: child, file: rel.blob(child) };
    },
  },
  {
    name: 'index nested in an index (skopeo 1.9.3 refuses it)',
    repo: repoOf('index-nested'),
    build: (t, b) => {
      const repo = repoOf('index-nested');
      for (const m of t.doc(b.index).manifests) t.revision(repo, m.digest);
      t.tagIndex(repo, 't', { ...t.doc(b.index), manifests: [{ mediaType: OCI_INDEX, digest: b.index, size: t.read(b.index).length }] });
      return { status: 'broken', code: 'manifest-unsupported', digest: b.index, file: rel.blob(b.index), includes: ['cannot push an index inside an index'] };
    },
  },
  {
    name: 'index depth 5 (indexes nested five deep)',
    repo: repoOf('index-depth-5'),
    build: (t, b) => {
      const repo = repoOf('index-depth-5');
      let inner = b.index;
      for (const m of t.doc(b.index).manifests) t.revision(repo, m.digest);
      t.revision(repo, inner);
      let first = inner;
      for (let depth = 2; depth <= 5; depth++) {
        const doc = { ...t.doc(b.index), annotations: { depth: String(depth) }, manifests: [{ mediaType: OCI_INDEX, digest: inner, size: t.read(inner).length }] };
        first = inner;
        inner = depth < 5 ? t.store(JSON.stringify(doc)) : t.tagIndex(repo, 't', doc);
        if (depth < 5) t.revision(repo, inner);
      }
      return { status: 'broken', code: 'manifest-unsupported', digest: first, file: rel.blob(first), includes: ['is itself an index'] };
    },
  },
  {
    name: 'index child descriptor says image manifest, the child is an index',
    repo: repoOf('index-child-type-index'),
    build: (t, b) => {
      const repo = repoOf('index-child-type-index');
      t.tagIndex(repo, 't', { ...t.doc(b.index), manifests: [{ mediaType: OCI_MANIFEST, digest: b.index, size: t.read(b.index).length }] });
      return { status: 'broken', code: 'child-media-type-mismatch', digest: b.index, file: rel.blob(b.index), includes: [`says ${OCI_MANIFEST}, but the child is ${OCI_INDEX}`] };
    },
  },
  {
    name: 'index child descriptor says Docker manifest, the child is OCI',
    repo: repoOf('index-child-type-docker'),
    build: (t, b) => {
      const doc = t.doc(b.index);
      doc.manifests[1].mediaType = DOCKER_MANIFEST;
      t.tagIndex(repoOf('index-child-type-docker'), 't', doc);
      return { status: 'broken', code: 'child-media-type-mismatch', digest: doc.manifests[1].digest, file: rel.blob(doc.manifests[1].digest) };
    },
  },
  {
    name: 'index child descriptor without mediaType',
    repo: repoOf('index-child-no-media-type'),
    build: (t, b) => {
      const doc = t.doc(b.index);
      delete doc.manifests[0].mediaType;
      t.tagIndex(repoOf('index-child-no-media-type'), 't', doc);
      return { status: 'broken', code: 'child-media-type-mismatch', digest: doc.manifests[0].digest, file: rel.blob(doc.manifests[0].digest), includes: ['gives no mediaType'] };
    },
  },
  {
    name: 'index child is schema1',
    repo: repoOf('index-child-schema1'),
    build: (t, b) => {
      const doc = t.doc(b.index);
      doc.manifests[0] = { ...doc.manifests[0], digest: b.schema1, size: t.read(b.schema1).length };
      t.tagIndex(repoOf('index-child-schema1'), 't', doc);
      return { status: 'broken', code: 'schema1', digest: b.schema1, file: rel.blob(b.schema1) };
    },
  },
  {
    name: 'index child only in another repository (no revision link here)',
    repo: repoOf('index-child-other-repo'),
    build: (t, b) => {
      const repo = repoOf('index-child-other-repo');
      const doc = t.doc(b.index);
      doc.manifests[1] = { ...doc.manifests[1], mediaType: OCI_MANIFEST, digest: b.oci, size: t.read(b.oci).length };
      t.tag(repo, 't', t.store(JSON.stringify(doc)));
      t.revision(repo, doc.manifests[0].digest);
      return { status: 'broken', code: 'child-deleted', digest: b.oci, file: rel.revision(repo, b.oci), includes: ['pushed only to another repository'] };
    },
  },
  {
    name: 'index child size differs from its descriptor',
    repo: repoOf('index-child-size'),
    build: (t, b) => {
      const doc = t.doc(b.index);
      doc.manifests[0].size += 1;
      t.tagIndex(repoOf('index-child-size'), 't', doc);
      return { status: 'broken', code: 'manifest-size-mismatch', digest: doc.manifests[0].digest, file: rel.blob(doc.manifests[0].digest) };
    },
  },
  {
    name: 'index of 3,000 children, one of them deleted: exactly that one named',
    repo: repoOf('index-thousands-one-deleted'),
    build: (t, b) => {
      const repo = repoOf('index-thousands-one-deleted');
      const children = manyChildren(t, b, 3000);
      t.tagIndex(repo, 't', { ...t.doc(b.index), manifests: children });
      const gone = children[1777]!.digest;
      rmSync(t.abs(rel.revision(repo, gone)));
      return { status: 'broken', code: 'child-deleted', digest: gone, file: rel.revision(repo, gone), includes: ['child linux/arch1777 '] };
    },
  },
  // ---- names outside the grammar
  ...(
    [
      ['uppercase repository', 'hostile/Upper', 't', 'name-invalid'],
      ['repository component with ..', 'hostile/a..b', 't', 'name-invalid'],
      ['repository name of 259 characters', `hostile/${'a'.repeat(120)}/${'b'.repeat(130)}`, 't', 'name-invalid'],
      ['tag of 129 characters', repoOf('tag-129'), 'x'.repeat(129), 'tag-invalid'],
      ['tag starting with a dot', repoOf('tag-dot'), '.hidden', 'tag-invalid'],
      ['tag with a plus sign', repoOf('tag-plus'), 'v1+build', 'tag-invalid'],
    ] as const
  ).map(([what, repo, tag, code]): Case => ({
    name: `name outside the grammar: ${what}`,
    repo,
    tag,
    build: (t, b) => {
      plain(t, b, repo, tag);
      return { status: 'broken', code, file: rel.tagDir(repo, tag) };
    },
  })),
  // ---- positive controls: these stay ok
  {
    name: 'ok: a layer listed twice',
    repo: repoOf('ok-layer-twice'),
    build: (t, b) => (t.tag(repoOf('ok-layer-twice'), 't', t.mutate(b.oci, (m) => m.layers.push(m.layers[0]))), { status: 'ok' }),
  },
  {
    name: 'ok: an image with the OCI empty config',
    repo: repoOf('ok-empty-config'),
    build: (t, b) => {
      const empty = t.doc(b.emptyConfig).config;
      t.tag(repoOf('ok-empty-config'), 't', t.mutate(b.oci, (m) => (m.config = empty)));
      return { status: 'ok' };
    },
  },
  {
    name: 'ok: a manifest of exactly 4 MiB',
    repo: repoOf('ok-4-mib'),
    build: (t, b) => (t.tag(repoOf('ok-4-mib'), 't', t.store(padTo(t.doc(b.oci), 4 * 1024 * 1024))), { status: 'ok' }),
  },
  {
    name: 'ok: a 128-character tag',
    repo: repoOf('ok-tag-128'),
    tag: 't'.repeat(128),
    build: (t, b) => (plain(t, b, repoOf('ok-tag-128'), 't'.repeat(128)), { status: 'ok' }),
  },
  {
    name: 'ok: an index of 5,000 children',
    repo: repoOf('ok-index-5000'),
    build: (t, b) => (t.tagIndex(repoOf('ok-index-5000'), 't', { ...t.doc(b.index), manifests: manyChildren(t, b, 5000) }), { status: 'ok' }),
  },
  {
    name: 'ok: a Docker list whose child is an OCI manifest (skopeo 1.9.3 pushes it)',
    repo: repoOf('ok-docker-list-oci-child'),
    build: (t, b) => {
      const list = t.doc(b.index);
      list.mediaType = 'application/vnd.docker.distribution.manifest.list.v2+json';
      list.manifests = [{ mediaType: OCI_MANIFEST, digest: b.oci, size: t.read(b.oci).length, platform: { os: 'linux', architecture: 'amd64' } }];
      t.tagIndex(repoOf('ok-docker-list-oci-child'), 't', list);
      return { status: 'ok' };
    },
  },
  // ---- EACCES, read as nobody (root reads all of these: ok)
  {
    name: 'EACCES: layer blob mode 000 owned by the running user (refused from its mode, before any link)',
    repo: repoOf('eacces-layer-own-000'),
    nobody: true,
    build: (t, b) => {
      const { layer } = ownLayer(t, b, repoOf('eacces-layer-own-000'), 'own-000');
      chownSync(t.abs(rel.blob(layer)), NOBODY, NOBODY);
      t.chmod(rel.blob(layer), 0o000);
      return { status: 'broken', code: 'blob-unreadable', digest: layer, file: rel.blob(layer), includes: ['permission denied (mode 0000, owner uid 65534'] };
    },
  },
  {
    name: 'EACCES: layer blob mode 600 owned by root',
    repo: repoOf('eacces-layer-root-600'),
    nobody: true,
    build: (t, b) => {
      const { layer } = ownLayer(t, b, repoOf('eacces-layer-root-600'), 'root-600');
      t.chmod(rel.blob(layer), 0o600);
      return { status: 'broken', code: 'blob-unreadable', digest: layer, file: rel.blob(layer), includes: ['permission denied (mode 0600, owner uid 0'] };
    },
  },
  {
    name: 'EACCES: layer blob directory mode 700',
    repo: repoOf('eacces-layer-dir'),
    nobody: true,
    build: (t, b) => {
      const { layer } = ownLayer(t, b, repoOf('eacces-layer-dir'), 'dir-700');
      t.chmod(path.dirname(rel.blob(layer)), 0o700);
      // The directory that refuses, not only the file below it: what the administrator has to chmod.
      const says = `permission denied by the directory ${path.dirname(rel.blob(layer))} (mode 0700, owner uid 0 gid 0; running as uid ${NOBODY}): this user cannot enter it; chmod it`;
      return { status: 'broken', code: 'blob-unreadable', digest: layer, file: rel.blob(layer), includes: [says] };
    },
  },
  {
    name: 'EACCES: manifest blob mode 600',
    repo: repoOf('eacces-manifest'),
    nobody: true,
    build: (t, b) => {
      const digest = t.tag(repoOf('eacces-manifest'), 't', t.mutate(b.oci, (m) => (m.annotations = { case: 'eacces' })));
      t.chmod(rel.blob(digest), 0o600);
      return { status: 'broken', code: 'manifest-unreadable', digest, file: rel.blob(digest), includes: ['permission denied'] };
    },
  },
  {
    name: 'EACCES: index child manifest mode 600',
    repo: repoOf('eacces-child'),
    nobody: true,
    build: (t, b) => {
      const child = t.mutate(b.oci, (m) => (m.annotations = { case: 'eacces-child' }));
      t.tagIndex(repoOf('eacces-child'), 't', { ...t.doc(b.index), manifests: [{ mediaType: OCI_MANIFEST, digest: child, size: t.read(child).length }] });
      t.chmod(rel.blob(child), 0o600);
      return { status: 'broken', code: 'child-unreadable', digest: child, file: rel.blob(child), includes: ['permission denied'] };
    },
  },
  {
    name: 'EACCES: tag link mode 600',
    repo: repoOf('eacces-tag-link'),
    nobody: true,
    build: (t, b) => {
      plain(t, b, repoOf('eacces-tag-link'));
      t.chmod(rel.tagLink(repoOf('eacces-tag-link'), 't'), 0o600);
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repoOf('eacces-tag-link'), 't'), includes: ['permission denied'] };
    },
  },
  {
    name: 'EACCES: current/ directory mode 700',
    repo: repoOf('eacces-current'),
    nobody: true,
    build: (t, b) => {
      plain(t, b, repoOf('eacces-current'));
      t.chmod(path.dirname(rel.tagLink(repoOf('eacces-current'), 't')), 0o700);
      const says = `permission denied by the directory ${path.dirname(rel.tagLink(repoOf('eacces-current'), 't'))} (mode 0700, owner uid 0 gid 0; running as uid ${NOBODY})`;
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repoOf('eacces-current'), 't'), includes: [says] };
    },
  },
  {
    name: 'EACCES: tag directory mode 000 (named, not the link file below it)',
    repo: repoOf('eacces-tag-dir-000'),
    nobody: true,
    build: (t, b) => {
      plain(t, b, repoOf('eacces-tag-dir-000'));
      const dir = `repositories/${repoOf('eacces-tag-dir-000')}/_manifests/tags/t`;
      t.chmod(dir, 0o000);
      const says = `permission denied by the directory ${dir} (mode 0000, owner uid 0 gid 0; running as uid ${NOBODY}): this user cannot enter it; chmod it`;
      return { status: 'broken', code: 'link-unreadable', file: rel.tagLink(repoOf('eacces-tag-dir-000'), 't'), includes: [says] };
    },
  },
  {
    name: 'EACCES: _manifests/revisions directory mode 000 (named, not the revision link below it)',
    repo: repoOf('eacces-revisions-000'),
    nobody: true,
    build: (t, b) => {
      plain(t, b, repoOf('eacces-revisions-000'));
      const dir = `repositories/${repoOf('eacces-revisions-000')}/_manifests/revisions`;
      t.chmod(dir, 0o000);
      const says = `permission denied by the directory ${dir} (mode 0000, owner uid 0 gid 0; running as uid ${NOBODY}): this user cannot enter it; chmod it`;
      return { status: 'broken', code: 'link-unreadable', digest: b.oci, file: rel.revision(repoOf('eacces-revisions-000'), b.oci), includes: [says] };
    },
  },
  {
    name: 'EACCES: revision link mode 600 (broken, never taken for deleted)',
    repo: repoOf('eacces-revision'),
    nobody: true,
    build: (t, b) => {
      plain(t, b, repoOf('eacces-revision'));
      t.chmod(rel.revision(repoOf('eacces-revision'), b.oci), 0o600);
      return { status: 'broken', code: 'link-unreadable', digest: b.oci, file: rel.revision(repoOf('eacces-revision'), b.oci), includes: ['permission denied'] };
    },
  },
  {
    name: 'EACCES: _manifests/tags directory mode 700 (reported by the walk)',
    repo: repoOf('eacces-tags-dir'),
    nobody: true,
    build: (t, b) => {
      plain(t, b, repoOf('eacces-tags-dir'));
      t.chmod(`repositories/${repoOf('eacces-tags-dir')}/_manifests/tags`, 0o700);
      return { walk: `cannot read repositories/${repoOf('eacces-tags-dir')}/_manifests/tags (EACCES)` };
    },
  },
  {
    name: 'EACCES: repository directory mode 700 (reported by the walk)',
    repo: repoOf('eacces-repo-dir'),
    nobody: true,
    build: (t, b) => {
      plain(t, b, repoOf('eacces-repo-dir'));
      t.chmod(`repositories/${repoOf('eacces-repo-dir')}`, 0o700);
      return { walk: `cannot read repositories/${repoOf('eacces-repo-dir')} (EACCES)` };
    },
  },
  {
    name: 'EACCES control: a layer mode 640 of the running user\'s group stays ok',
    repo: repoOf('eacces-ok-group-read'),
    nobody: true,
    build: (t, b) => {
      const { layer } = ownLayer(t, b, repoOf('eacces-ok-group-read'), 'group-640');
      chownSync(t.abs(rel.blob(layer)), 0, NOBODY);
      t.chmod(rel.blob(layer), 0o640);
      return { status: 'ok' };
    },
  },
];

/** `n` distinct children: the base OCI manifest with an annotation each, stored under its own digest. */
const childCache = new Map<number, any[]>();
function manyChildren(t: Damage, b: Bases, n: number): any[] {
  const cached = [...childCache.entries()].find(([k]) => k >= n);
  if (cached) return cached[1].slice(0, n);
  const children = Array.from({ length: n }, (_, i) => {
    const digest = t.mutate(b.oci, (m) => (m.annotations = { child: String(i) }));
    return { mediaType: OCI_MANIFEST, digest, size: t.read(digest).length, platform: { os: 'linux', architecture: `arch${i}` } };
  });
  childCache.set(n, children);
  return children;
}

/** The manifest with an annotation padding it to exactly `bytes` bytes. */
function padTo(doc: any, bytes: number): string {
  doc.annotations = { pad: '' };
  const short = Buffer.byteLength(JSON.stringify(doc));
  doc.annotations.pad = 'p'.repeat(bytes - short);
  const text = JSON.stringify(doc);
  if (Buffer.byteLength(text) !== bytes) throw new Error(`padTo: ${Buffer.byteLength(text)} bytes, wanted ${bytes}`);
  return text;
}

const idOf = (c: Case) => `${c.repo}:${c.tag ?? 't'}`;

interface Run {
  exitCode: number;
  output: string;
  images: Map<string, any>;
  unreadable: string[];
}

async function listAs(storage: string, user: 'root' | 'nobody'): Promise<Run> {
  const args = ['list', storage, '--json'];
  const r =
    user === 'root'
      ? await cli(args)
      : await execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'node', BIN, ...args], { reject: false, cwd: ROOT, env: { FORCE_COLOR: '0' }, stdin: 'ignore', timeout: 240_000 }).then((x) => ({
          exitCode: x.exitCode ?? -1,
          stdout: String(x.stdout),
          stderr: String(x.stderr),
        }));
  const doc = JSON.parse(r.stdout);
  return {
    exitCode: r.exitCode,
    output: r.stdout + r.stderr,
    images: new Map((doc.images as any[]).map((i) => [`${i.repository}:${i.tag}`, i])),
    unreadable: doc.summary.unreadable,
  };
}

function check(run: Run, c: Case, e: Expect): void {
  const id = idOf(c);
  if ('walk' in e) {
    expect(run.images.has(id), `${id} must not be listed`).toBe(false);
    expect(run.unreadable.filter((m) => m.includes(e.walk)), run.unreadable.join('\n')).toHaveLength(1);
    return;
  }
  const got = run.images.get(id);
  expect(got, `${id} listed`).toBeDefined();
  expect(got.status, JSON.stringify(got.problems)).toBe(e.status);
  if (e.status === 'ok') {
    expect(got.problems).toEqual([]);
    if (e.warning) {
      expect(got.warnings).toHaveLength(1);
      for (const s of [id, ...e.warning.includes]) expect(got.warnings[0]).toContain(s);
    } else expect(got.warnings).toEqual([]);
    return;
  }
  expect(got.problems.map((p: any) => p.code)).toEqual([e.code]);
  const [p] = got.problems;
  expect(p.message.startsWith(`${id}: `), p.message).toBe(true);
  if (e.digest !== undefined) {
    expect(p.digest).toBe(e.digest);
    expect(p.message).toContain(e.digest);
  }
  if (e.file !== undefined) {
    expect(p.file).toBe(e.file);
    expect(p.message).toContain(`(${e.file})`);
  }
  for (const s of e.includes ?? []) expect(p.message).toContain(s);
}

describe('hostile storage', () => {
  const expects = new Map<Case, Expect>();
  let asRoot: Run;
  let asNobody: Run | undefined;

  beforeAll(async () => {
    const { dir, storage, v2 } = await copyFixture();
    chmodSync(dir, 0o755); // mkdtemp's 0700 would hide everything from nobody
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'link'), `sha256:${'0'.repeat(64)}${SECRET}`);
    writeFileSync(path.join(outside, 'data'), SECRET);
    mkdirSync(path.join(outside, 'current'));
    writeFileSync(path.join(outside, 'current', 'link'), SECRET);
    const t = new Damage(v2);
    const b = await bases();
    mkdirSync(t.abs('repositories/hostile'), { recursive: true });
    for (const c of cases) expects.set(c, c.build(t, b, { outside }));
    asRoot = await listAs(storage, 'root');
    if (isRoot) asNobody = await listAs(storage, 'nobody');
  }, 600_000);

  it('has at least 40 distinct damage cases and positive controls', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(new Set(cases.map(idOf)).size).toBe(cases.length);
    expect(cases.filter((c) => !c.nobody).length).toBeGreaterThanOrEqual(40);
  });

  it('goes on with every other image and exits 4', async () => {
    expect(asRoot.exitCode).toBe(4);
    for (const t of await expectedTags()) {
      const got = asRoot.images.get(`${t.repository}:${t.tag}`);
      // corrupt-layer needs --verify-blobs (same size, bytes flipped): list without it says ok.
      const want = t.repository === 'broken/corrupt-layer' ? 'ok' : t.status;
      expect(got?.status, `${t.repository}:${t.tag}`).toBe(want);
    }
  });

  it('never reads or quotes anything outside the storage', () => {
    expect(asRoot.output).not.toContain(SECRET);
    expect(asNobody?.output ?? '').not.toContain(SECRET);
  });

  for (const c of cases.filter((x) => !x.nobody)) {
    it(c.name, () => check(asRoot, c, expects.get(c)!));
  }

  // setpriv needs root; as another user the test process itself cannot chown blobs to someone else.
  describe.skipIf(!isRoot)('as a non-root user (setpriv --reuid=nobody; skipped unless the tests run as root)', () => {
    it('the non-root run exits 4 and keeps the fixture\'s ok tags ok', async () => {
      expect(asNobody!.exitCode).toBe(4);
      for (const t of (await expectedTags()).filter((x) => x.status === 'ok')) expect(asNobody!.images.get(`${t.repository}:${t.tag}`)?.status, `${t.repository}:${t.tag}`).toBe('ok');
    });
    for (const c of cases.filter((x) => x.nobody)) {
      it(c.name, () => {
        check(asNobody!, c, expects.get(c)!);
        // Root reads all of it (mode bits do not stop it): the same image is ok in the root run.
        expect(asRoot.images.get(idOf(c))?.status).toBe('ok');
      });
    }
  });
});
