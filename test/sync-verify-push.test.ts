/**
 * After each push, `sync` reads the tag back from the target: the target's digest must equal the source digest,
 * else the image is `failed` ("pushed, but the target has … , source …"). A skopeo that exits 0 is not taken at
 * its word: test/bin/skopeo-noop.js answers `--version` like 1.9.3 and "succeeds" at every sync without pushing
 * anything. The target is a real docker-registry on 127.0.0.1; the real skopeo 1.9.3 only prepares the stale tag.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags, type ExpectedTag } from './helpers/cli.js';
import { makeTempDir, registryRequest, requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';
import { ACCEPT_ALL, byId, catalog, getManifest, idOf, NOOP_BIN, readRecord, readReport, syncCalls, writeTagsFile } from './helpers/sync.js';

describe('sync verifies the target digest after each push', () => {
  let reg: TestRegistry;
  let fx: { dir: string; storage: string; v2: string };
  let work: string;
  let ok: ExpectedTag[];
  const find = (id: string): ExpectedTag => {
    const t = ok.find((x) => idOf(x) === id);
    if (!t) throw new Error(`${id} is not an ok tag of the fixture`);
    return t;
  };

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    reg = await startRegistry();
    fx = await copyFixture();
    work = await makeTempDir('rr-verify-push');
    ok = (await expectedTags()).filter((t) => t.status === 'ok');
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('a skopeo that exits 0 but pushed nothing: every image failed ("target has no manifest"), exit 4', async () => {
    const selected = ['library/alpine-like:3.19', 'proj/a/app:1.0', 'multi/oci-index:1.0'].map(find);
    const tagsFile = await writeTagsFile(path.join(work, 'noop.txt'), selected);
    const record = path.join(work, 'noop.jsonl');
    const report = path.join(work, 'noop-report.json');
    const r = await cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', NOOP_BIN], {
      env: { SKOPEO_RECORD_FILE: record },
    });
    expect(r.exitCode, r.stderr + r.stdout).toBe(4);
    // skopeo "pushed" each image exactly once (a verification failure is not retried).
    expect(syncCalls(await readRecord(record))).toHaveLength(selected.length);

    const doc = await readReport(report);
    expect(doc.summary.selected).toBe(selected.length);
    expect(doc.summary.counts).toMatchObject({ synced: 0, failed: selected.length });
    const images = byId(doc);
    for (const t of selected) {
      const image = images.get(idOf(t));
      expect(image, idOf(t)).toMatchObject({ status: 'failed', attempts: 1, digest: t.digest });
      expect(image?.reason, idOf(t)).toBe(`pushed, but the target has no manifest for ${reg.host}/${idOf(t)}, source ${t.digest}`);
      expect(image?.command, idOf(t)).toContain(' sync ');
      expect(r.stdout).toContain(`failed     ${idOf(t)} -> ${reg.host}/${idOf(t)}  (`);
    }
    expect(await catalog(reg)).toEqual([]);
  });

  it('a tag the push left holding another digest (--overwrite: without it, that is drift and nothing is pushed): failed, naming both digests', async () => {
    const wanted = find('charts/mychart:0.2.0');
    const other = find('charts/mychart:0.1.0');
    expect(other.digest).not.toBe(wanted.digest);
    // Put 0.1.0 on the target with the real skopeo (through the CLI), then tag its manifest as 0.2.0 too.
    const prepared = await cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', await writeTagsFile(path.join(work, 'other.txt'), [other])]);
    expect(prepared.exitCode, prepared.stderr + prepared.stdout).toBe(0);
    const manifest = await getManifest(reg, other.repository, other.tag);
    expect(manifest.header).toBe(other.digest);
    const put = await registryRequest(reg, `/v2/${wanted.repository}/manifests/${wanted.tag}`, {
      method: 'PUT',
      headers: { 'content-type': other.mediaType as string, accept: ACCEPT_ALL },
      body: manifest.body,
    });
    expect(put.status, put.body.toString()).toBe(201);

    const report = path.join(work, 'stale-report.json');
    const tagsFile = await writeTagsFile(path.join(work, 'stale.txt'), [wanted]);
    const r = await cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', NOOP_BIN, '--overwrite']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(4);
    const image = byId(await readReport(report)).get(idOf(wanted));
    expect(image).toMatchObject({ status: 'failed', code: 'digest-mismatch', attempts: 1, digest: wanted.digest, targetDigest: other.digest });
    expect(image?.reason).toBe(`pushed, but the target has ${other.digest} for ${reg.host}/${idOf(wanted)}, source ${wanted.digest}`);
    // Nothing was changed on the target by the fake push.
    expect((await getManifest(reg, wanted.repository, wanted.tag)).header).toBe(other.digest);
  });
});
