/**
 * `sync` of several tags of one image in one repository (Harbor's `1.4.2`, `1.4`, `latest`): skopeo pushes the
 * image once, the run's further tags of it are a manifest PUT only (no layout, no skopeo), verified like any push;
 * a refused PUT falls back to skopeo. Real docker-registry, real skopeo behind test/bin/skopeo-record.js.
 */
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_ONLY_PUSH_COMMAND } from '../src/core/sync-plan.js';
import { cli, copyFixture, expectedTags, type ExpectedTag } from './helpers/cli.js';
import { isManifest, startFaultProxy } from './helpers/fault-proxy.js';
import { makeTempDir, requireTool, startRegistry } from './helpers/registry.js';
import { blobGets, startBucketServer } from './helpers/s3.js';
import { byId, expectSameImage, getManifest, idOf, readRecord, readReport, RECORD_BIN, sourceManifest, syncCalls, targetRepositoryOf, writeTagsFile } from './helpers/sync.js';

const REPO = 'library/alpine-like';
const MIRROR = 'mirror/library/alpine-like';

describe('sync: further tags of an image already pushed into the repository', () => {
  let fx: { dir: string; storage: string; v2: string };
  /** library/alpine-like:3.19, :latest and a third tag :3, one manifest; mirror/library/alpine-like:3.19, the same manifest elsewhere. */
  let tags: ExpectedTag[];
  let tagsFile: string;
  let work: string;

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    fx = await copyFixture();
    work = await makeTempDir('rr-manifest-only');
    const fixture = await expectedTags();
    const latest = fixture.find((t) => idOf(t) === `${REPO}:latest`) as ExpectedTag;
    // A third tag of the same manifest, as the registry writes one (current/link and index/ of the digest).
    const tagsDir = path.join(fx.v2, 'repositories', REPO, '_manifests/tags');
    await cp(path.join(tagsDir, 'latest'), path.join(tagsDir, '3'), { recursive: true });
    tags = [...fixture.filter((t) => t.repository === REPO || t.repository === MIRROR), { ...latest, tag: '3' }];
    expect(tags.map(idOf).sort()).toEqual([`${REPO}:3`, `${REPO}:3.19`, `${REPO}:latest`, `${MIRROR}:3.19`]);
    expect(new Set(tags.map((t) => t.digest)).size).toBe(1);
    tagsFile = await writeTagsFile(path.join(work, 'tags.txt'), tags);
  });

  it('runs skopeo once per repository; the other tags are manifest PUTs, on the target with the digest, synced', async () => {
    const reg = await startRegistry();
    const record = path.join(work, 'put.jsonl');
    const report = path.join(work, 'put-report.json');
    const r = await cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN], { env: { SKOPEO_RECORD_FILE: record } });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(/^4 synced, 0 up to date, 0 skipped, 0 broken at source, 0 failed; /m);

    const pushes = syncCalls(await readRecord(record)).map(targetRepositoryOf).sort();
    expect(pushes).toEqual([REPO, MIRROR]);
    for (const t of tags) await expectSameImage(reg, fx.v2, t);

    const images = byId(await readReport(report));
    for (const t of tags) expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', attempts: 1, digest: t.digest });
    // Counted as a skopeo push is: the image's bytes.
    expect(new Set(tags.map((t) => images.get(idOf(t))?.bytes))).toEqual(new Set([images.get(`${MIRROR}:3.19`)?.bytes]));
    const manifestOnly = tags.filter((t) => images.get(idOf(t))?.command === MANIFEST_ONLY_PUSH_COMMAND).map(idOf);
    // Whichever of the three went first was the skopeo push; the mirror repository needed its own.
    expect(manifestOnly).toHaveLength(2);
    expect(manifestOnly.every((id) => id.startsWith(`${REPO}:`))).toBe(true);
    expect(images.get(`${MIRROR}:3.19`)?.command).toBeUndefined();

    // A second run finds them all up to date: nothing pushed, by skopeo or otherwise.
    const again = await cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--skopeo', RECORD_BIN], { env: { SKOPEO_RECORD_FILE: path.join(work, 'again.jsonl') } });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^0 synced, 4 up to date, /m);
  });

  it('a refused manifest PUT falls back to skopeo for that image, which pushes it', async () => {
    const reg = await startRegistry();
    // registry-rescue's own manifest PUTs (no User-Agent) answered 500; skopeo's (`skopeo/…`) pass.
    const proxy = await startFaultProxy(reg.host, (q) => (isManifest(q, 'PUT') && !q.userAgent?.startsWith('skopeo/') ? { status: 500 } : undefined));
    const record = path.join(work, 'refused.jsonl');
    const report = path.join(work, 'refused-report.json');
    const r = await cli(['sync', fx.storage, '--to', proxy.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN], { env: { SKOPEO_RECORD_FILE: record } });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(/^4 synced, 0 up to date, 0 skipped, 0 broken at source, 0 failed; /m);
    // The two further tags' PUTs were tried and refused, then skopeo pushed each.
    expect(proxy.log.filter((q) => isManifest(q, 'PUT') && q.outcome === '500')).toHaveLength(2);
    expect(r.stderr.match(/the manifest PUT of an image already pushed into library\/alpine-like failed .*HTTP 500.*; pushing it with skopeo instead/g)).toHaveLength(2);
    expect(syncCalls(await readRecord(record)).map(targetRepositoryOf).sort()).toEqual([REPO, REPO, REPO, MIRROR]);

    const images = byId(await readReport(report));
    for (const t of tags) {
      expect((await getManifest(reg, t.repository, t.tag)).header, idOf(t)).toBe(t.digest);
      expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', digest: t.digest });
      expect(images.get(idOf(t))?.command, idOf(t)).toBeUndefined();
    }
  });

  it('from a bucket, the further tags download nothing: each blob of the image at most once per repository', async () => {
    const [reg, s3] = await Promise.all([startRegistry(), startBucketServer()]);
    try {
      await s3.upload(fx.storage, 'manifest-only/registry');
      s3.clearLog();
      const record = path.join(work, 'bucket.jsonl');
      const report = path.join(work, 'bucket-report.json');
      const args = ['sync', `s3://${s3.bucket}/manifest-only/registry`, '--s3-endpoint', s3.endpoint, '--s3-path-style', '--out', path.join(work, 'scratch'), '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN];
      const r = await cli(args, { env: { ...s3.env(), SKOPEO_RECORD_FILE: record } });
      expect(r.exitCode, r.stderr + r.stdout).toBe(0);
      expect(syncCalls(await readRecord(record)).map(targetRepositoryOf).sort()).toEqual([REPO, MIRROR]);
      for (const t of tags) expect((await getManifest(reg, t.repository, t.tag)).header, idOf(t)).toBe(t.digest);
      expect([...byId(await readReport(report)).values()].map((i) => i.status)).toEqual(tags.map(() => 'synced'));
      // Its config and layers: downloaded for library/alpine-like's one layout, and for the mirror's (unless it
      // could link the first download), never for the other two tags.
      const m = JSON.parse((await sourceManifest(fx.v2, tags[0]?.digest as string)).toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
      const getsOf = blobGets(s3.requests);
      for (const { digest } of [m.config, ...m.layers]) {
        const gets = getsOf.get(digest) ?? 0;
        expect(gets, digest).toBeGreaterThanOrEqual(1);
        expect(gets, digest).toBeLessThanOrEqual(2);
      }
    } finally {
      await Promise.all([reg.stop(), s3.stop()]);
    }
  });
});
