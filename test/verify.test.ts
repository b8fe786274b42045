/**
 * `verify` end to end: the real CLI against a real docker-registry (plain http) on 127.0.0.1 filled by a real
 * `sync` (skopeo 1.9.3), then changed behind its back through the registry API: one tag deleted by digest
 * (storage-and-skopeo.md §2.5), one tag overwritten with another image.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobPath, cli, copyFixture, expectedTags, pushOnDisk, type ExpectedTag } from './helpers/cli.js';
import { makeTempDir, registryRequest, requireTool, skopeo, startRegistry, type TestRegistry } from './helpers/registry.js';
import { getManifest, idOf, writeTagsFile } from './helpers/sync.js';

interface VerifyJson {
  storage: string;
  target: string;
  images: Array<{ id: string; source: string; target: string; sourceDigest: string | null; targetDigest: string | null; status: string; reason?: string }>;
  summary: { counts: Record<string, number>; selected: number };
}

describe('verify against a synced registry', () => {
  let reg: TestRegistry;
  let fx: { dir: string; storage: string; v2: string };
  let tags: ExpectedTag[];
  let ok: ExpectedTag[];
  let okTagsFile: string;

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    reg = await startRegistry();
    fx = await copyFixture();
    tags = await expectedTags();
    ok = tags.filter((t) => t.status === 'ok');
    okTagsFile = await writeTagsFile(path.join(await makeTempDir('rr-verify'), 'ok.txt'), ok);
    const r = await cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--verify-blobs', '-q']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(4);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const verify = async (extra: string[] = []) => {
    const r = await cli(['verify', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--verify-blobs', '--json', ...extra]);
    let doc: VerifyJson | undefined;
    expect(() => (doc = JSON.parse(r.stdout) as VerifyJson), r.stdout + r.stderr).not.toThrow();
    return { ...r, doc: doc as unknown as VerifyJson, byId: new Map((doc as unknown as VerifyJson).images.map((i) => [i.id, i])) };
  };

  it('right after a sync: ok for every ok tag, broken (at source) for broken ones, exit 4 (0 with only ok tags)', async () => {
    const r = await verify();
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.doc.target).toBe(reg.host);
    expect([...r.byId.keys()].sort()).toEqual(tags.map(idOf).sort());
    for (const t of tags) {
      const image = r.byId.get(idOf(t));
      const want = { ok: 'ok', broken: 'broken', skipped: 'skipped' }[t.status];
      expect(image, idOf(t)).toMatchObject({ status: want, source: idOf(t), target: `${reg.host}/${idOf(t)}`, sourceDigest: t.digest });
      if (t.status === 'ok') expect(image?.targetDigest, idOf(t)).toBe(t.digest);
      else expect(image?.reason, idOf(t)).toMatch(/\S/);
    }
    expect({ ...r.doc.summary.counts, selected: r.doc.summary.selected }).toMatchObject({ ok: ok.length, missing: 0, drift: 0, 'broken': 9, skipped: 3, failed: 0, selected: tags.length });

    const only = await verify(['--tags-file', okTagsFile]);
    expect(only.exitCode, only.stderr).toBe(0);
    expect({ ...only.doc.summary.counts, selected: only.doc.summary.selected }).toMatchObject({ ok: ok.length, selected: ok.length });

    const report = path.join(fx.dir, 'verify-report.json');
    const text = await cli(['verify', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', okTagsFile, '--report', report]);
    expect(text.exitCode).toBe(0);
    // --report holds the same versioned document --json prints.
    const saved = JSON.parse(await readFile(report, 'utf8'));
    expect(saved).toMatchObject({ version: 1, command: 'verify', summary: { counts: { ok: ok.length }, selected: ok.length } });
    expect(saved.images.map((i: { status: string }) => i.status)).toEqual(ok.map(() => 'ok'));
    // Only what needs a look goes to stdout; the summary goes to stderr, as for every command.
    expect(text.stdout).toBe('');
    expect(text.stderr).toContain(`${ok.length} tags checked against ${reg.host}: ${ok.length} ok, 0 missing, 0 different, 0 drift, 0 broken at source, 0 skipped, 0 failed`);
  });

  it('names a listed tag the storage lacks, on stderr and in the JSON, as list, export and sync do', async () => {
    const listed = path.join(await makeTempDir('rr-verify-typo'), 'typo.tags');
    await writeFile(listed, 'libary/alpine-like:3.19\nmulti/oci-index:1.0\n');
    const text = await cli(['verify', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', listed]);
    expect(text.exitCode, text.stderr).toBe(4);
    // The last line says "see above": above must name the tag, with the nearest storage name.
    expect(text.stderr).toContain('MISSING: typo.tags:1: libary/alpine-like:3.19 is not in the storage (did you mean library/alpine-like:3.19?)');
    expect(text.stderr).toMatch(/^\d+ tags in storage left out by the tags file or --exclude$/m);
    expect(text.stderr).toMatch(/exit 4, partial: 1 listed tag missing from the storage/);
    // --json prints no summary on stderr: the document alone must say why the run is partial.
    const json = await verify(['--tags-file', listed]);
    expect(json.exitCode, json.stderr).toBe(4);
    const selection = (json.doc as unknown as { selection: { tagsInStorage: number; missingFromStorage: string[]; problems: Array<{ code: string; message: string }> } }).selection;
    expect(selection.tagsInStorage).toBe(tags.length);
    expect(selection.missingFromStorage).toEqual(['libary/alpine-like:3.19']);
    expect(selection.problems.map((p) => p.code)).toContain('listed-missing');
  });

  it('reports a tag deleted from the target as missing, and one holding another image as drift', async () => {
    // A digest no other tag shares: DELETE by digest removes every tag on it (§2.5).
    const gone = ok.find((t) => t.repository === 'proj/team/sub/deep/app') as ExpectedTag;
    expect(ok.filter((t) => t.digest === gone.digest)).toHaveLength(1);
    const del = await registryRequest(reg, `/v2/${gone.repository}/manifests/${gone.digest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await getManifest(reg, gone.repository, gone.tag)).status).toBe(404);

    // proj/b/app:1.0 now holds proj/a/app:1.0's image.
    const other = ok.find((t) => idOf(t) === 'proj/a/app:1.0') as ExpectedTag;
    const changed = ok.find((t) => idOf(t) === 'proj/b/app:1.0') as ExpectedTag;
    expect(other.digest).not.toBe(changed.digest);
    const copy = await skopeo([
      'copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false',
      `docker://${reg.host}/${idOf(other)}`, `docker://${reg.host}/${idOf(changed)}`,
    ]);
    expect(copy.exitCode, copy.stderr).toBe(0);

    const r = await verify(['--tags-file', okTagsFile]);
    expect(r.exitCode, r.stderr).toBe(4);
    // Like every other status, missing says why: what the target was asked and what it answered.
    const goneReason = `the target has no tag ${gone.tag} in ${gone.repository}: HEAD /v2/${gone.repository}/manifests/${gone.tag} answered 404`;
    expect(r.byId.get(idOf(gone))).toMatchObject({ status: 'missing', sourceDigest: gone.digest, targetDigest: null, reason: goneReason });
    expect(r.byId.get(idOf(changed))).toMatchObject({ status: 'drift', sourceDigest: changed.digest, targetDigest: other.digest });
    expect({ ...r.doc.summary.counts, selected: r.doc.summary.selected }).toMatchObject({ ok: ok.length - 2, missing: 1, drift: 1, 'broken': 0 });
    for (const t of ok.filter((x) => x !== gone && x !== changed)) expect(r.byId.get(idOf(t))?.status, idOf(t)).toBe('ok');

    const text = await cli(['verify', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', okTagsFile]);
    expect(text.exitCode).toBe(4);
    // execa strips the last newline of stdout.
    expect(`${text.stdout}\n`).toContain(`missing          ${idOf(gone)} -> ${reg.host}/${idOf(gone)}\n                 ${goneReason}\n`);
    expect(`${text.stdout}\n`).toContain(`drift            ${idOf(changed)} -> ${reg.host}/${idOf(changed)}\n                 target has ${other.digest}, which the source's tag never pointed at, source ${changed.digest}; sync leaves it alone unless --overwrite\n`);

    // A later sync restores the missing tag but leaves the drifted one alone (someone else's image), exit 4.
    const report = path.join(fx.dir, 'drift-report.json');
    const sync = (extra: string[]) => cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', okTagsFile, '--report', report, ...extra]);
    const first = await sync([]);
    expect(first.exitCode, first.stderr + first.stdout).toBe(4);
    expect(first.stderr).toMatch(new RegExp(`^1 synced, ${ok.length - 2} up to date, .*1 drift \\(left alone\\)`, 'm'));
    const drift = (JSON.parse(await readFile(report, 'utf8')) as { images: Array<Record<string, unknown>> }).images.find((i) => i.id === idOf(changed));
    expect(drift).toMatchObject({ status: 'drift', code: 'drift', digest: changed.digest, targetDigest: other.digest, attempts: 0 });
    expect((await getManifest(reg, changed.repository, changed.tag)).header).toBe(other.digest);

    // Had the source's tag once pointed at that image (its tag index records it, as Distribution's tagstore.go
    // writes it), the target would hold an earlier revision of this tag: `different` for verify, updated by sync.
    const history = path.join(fx.v2, 'repositories', changed.repository, '_manifests/tags', changed.tag, 'index/sha256', (other.digest as string).slice(7));
    await mkdir(history, { recursive: true });
    await writeFile(path.join(history, 'link'), other.digest as string);
    const moved = await verify(['--tags-file', okTagsFile]);
    expect(moved.byId.get(idOf(changed))).toMatchObject({ status: 'different', sourceDigest: changed.digest, targetDigest: other.digest });
    await rm(history, { recursive: true });

    // --overwrite replaces it.
    const fix = await sync(['--overwrite']);
    expect(fix.exitCode, fix.stderr + fix.stdout).toBe(0);
    expect(fix.stderr).toMatch(new RegExp(`^1 synced, ${ok.length - 1} up to date`, 'm'));
    expect((await verify(['--tags-file', okTagsFile])).exitCode).toBe(0);
  });

  it('says for a missing untagged referrer which digest the target lacks, and names the mapped repository it asked', async () => {
    // An attestation of proj/team/app:1.1 stored untagged (its revision link only), pushed after the sync: the target
    // lacks it. It is looked up by digest (a HEAD of manifests/<digest>), so its reason names the digest.
    const subject = ok.find((t) => idOf(t) === 'proj/team/app:1.1') as ExpectedTag;
    const sbom = ok.find((t) => idOf(t) === 'proj/team/app:1.0-sbom') as ExpectedTag;
    const sbomDoc = JSON.parse((await readFile(blobPath(fx.v2, sbom.digest as string))).toString()) as { config: unknown; layers: unknown[] };
    const subjectSize = (await readFile(blobPath(fx.v2, subject.digest as string))).length;
    const doc = {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example.attestation',
      config: sbomDoc.config, layers: sbomDoc.layers, subject: { mediaType: subject.mediaType, digest: subject.digest, size: subjectSize },
    };
    const digest = await pushOnDisk(fx.v2, subject.repository, 'to-be-untagged', JSON.stringify(doc));
    await rm(path.join(fx.v2, 'repositories', subject.repository, '_manifests/tags/to-be-untagged'), { recursive: true });
    try {
      const tagsFile = await writeTagsFile(path.join(await makeTempDir('rr-verify-referrer'), 'subject.tags'), [subject]);
      const r = await verify(['--tags-file', tagsFile]);
      expect(r.exitCode, r.stderr).toBe(4);
      expect(r.byId.get(idOf(subject))).toMatchObject({ status: 'ok' });
      expect(r.byId.get(`${subject.repository}@${digest}`)).toMatchObject({
        status: 'missing',
        reason: `the target has no manifest ${digest} in ${subject.repository}: HEAD /v2/${subject.repository}/manifests/${digest} answered 404`,
      });
      // A mistyped --map-project sends every look-up elsewhere: the reason names the repository that was asked.
      const mapped = await verify(['--tags-file', tagsFile, '--map-project', 'proj=prod']);
      const asked = `prod${subject.repository.slice('proj'.length)}`;
      expect(mapped.byId.get(idOf(subject))).toMatchObject({
        status: 'missing', target: `${reg.host}/${asked}:${subject.tag}`,
        reason: `the target has no tag ${subject.tag} in ${asked}: HEAD /v2/${asked}/manifests/${subject.tag} answered 404`,
      });
    } finally {
      await rm(path.join(fx.v2, 'repositories', subject.repository, '_manifests/revisions/sha256', digest.slice(7)), { recursive: true });
    }
  });
});
