/**
 * Untagged OCI 1.1 referrers (a manifest with `subject` and no tag: how oras, cosign 2 and notation attach SBOMs and
 * signatures to a registry with a referrers API) are exported as `repository@sha256:<hex>` layouts and pushed by
 * digest after their subject. The source storage is written by a real docker-registry (Distribution 2.8) in the test,
 * through its HTTP API (blob uploads and manifest PUTs, the referrers untagged: PUT by digest); the target is
 * another real docker-registry, and skopeo 1.9.3 is real (behind test/bin/skopeo-record.js).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cli } from './helpers/cli.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { makeTempDir, registryRequest, requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startBucketServer } from './helpers/s3.js';
import { getManifest, readRecord, readReport, RECORD_BIN, syncCalls } from './helpers/sync.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type Reg = Pick<TestRegistry, 'url' | 'tls'>;

/** A monolithic blob upload (POST, then PUT ?digest=), as any client does it. */
async function putBlob(reg: Reg, repo: string, bytes: Buffer): Promise<{ mediaType: string; digest: string; size: number }> {
  const start = await registryRequest(reg, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(start.status, start.body.toString()).toBe(202);
  const location = new URL(String(start.headers.location), reg.url);
  location.searchParams.set('digest', sha(bytes));
  const put = await registryRequest(reg, `${location.pathname}${location.search}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  expect(put.status, put.body.toString()).toBe(201);
  return { mediaType: 'application/octet-stream', digest: sha(bytes), size: bytes.length };
}

async function putManifest(reg: Reg, repo: string, reference: string, doc: unknown, mediaType = OCI_MANIFEST): Promise<{ mediaType: string; digest: string; size: number; body: Buffer }> {
  const body = Buffer.from(JSON.stringify(doc));
  const ref = reference === 'digest' ? sha(body) : reference;
  const res = await registryRequest(reg, `/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'content-type': mediaType }, body });
  expect(res.status, res.body.toString()).toBe(201);
  return { mediaType, digest: sha(body), size: body.length, body };
}

describe('untagged referrers (subject) restored by digest, after their subject', () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let work: string;
  const repo = 'rr/app';
  let image: Awaited<ReturnType<typeof putManifest>>;
  let other: Awaited<ReturnType<typeof putManifest>>;
  let sbom: Awaited<ReturnType<typeof putManifest>>;
  let sig: Awaited<ReturnType<typeof putManifest>>;
  let orphan: Awaited<ReturnType<typeof putManifest>>;
  let tagIndex: Awaited<ReturnType<typeof putManifest>>;
  let schemaImage: Awaited<ReturnType<typeof putManifest>>;
  let multiIndex: Awaited<ReturnType<typeof putManifest>>;
  let childSig: Awaited<ReturnType<typeof putManifest>>;

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    [source, target] = await Promise.all([startRegistry(), startRegistry()]);
    work = await makeTempDir('rr-referrers');
    const empty = { ...(await putBlob(source, repo, Buffer.from('{}'))), mediaType: EMPTY };
    const config = async (text: string) => ({ ...(await putBlob(source, repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, comment: text })))), mediaType: 'application/vnd.oci.image.config.v1+json' });
    const layer = async (text: string) => ({ ...(await putBlob(source, repo, gzipSync(Buffer.from(text)))), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    const manifest = (c: object, layers: object[], extra: object = {}) => ({ schemaVersion: 2, mediaType: OCI_MANIFEST, ...extra, config: c, layers });
    const desc = (m: { mediaType: string; digest: string; size: number }) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size });
    image = await putManifest(source, repo, '1.0', manifest(await config('1.0'), [await layer('one')]));
    other = await putManifest(source, repo, '2.0', manifest(await config('2.0'), [await layer('two')]));
    // An SBOM of 1.0 and a signature of that SBOM, both untagged, as `oras attach` / `cosign attest` write them.
    sbom = await putManifest(source, repo, 'digest', manifest(empty, [{ ...(await putBlob(source, repo, Buffer.from('{"spdxVersion":"SPDX-2.3"}'))), mediaType: 'application/spdx+json' }], { artifactType: 'application/spdx+json', subject: desc(image) }));
    sig = await putManifest(source, repo, 'digest', manifest(empty, [{ ...(await putBlob(source, repo, Buffer.from('signature'))), mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json' }], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: desc(sbom) }));
    // An untagged manifest without a subject (an old revision): not a referrer, never exported.
    orphan = await putManifest(source, repo, 'digest', manifest(await config('old'), [await layer('old')]));
    // The referrers "tag schema" index (OCI 1.1 fallback for registries without a referrers API, as oras and cosign
    // write it), in a repository of its own: tag sha256-<hex of the subject>, descriptors carrying artifactType and
    // annotations. skopeo 1.9.3 cannot push it unchanged. Its SBOM is tagged here, so that it is no untagged referrer.
    const s = 'rr/schema';
    const sEmpty = { ...(await putBlob(source, s, Buffer.from('{}'))), mediaType: EMPTY };
    const sConfig = { ...(await putBlob(source, s, Buffer.from('{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'))), mediaType: 'application/vnd.oci.image.config.v1+json' };
    schemaImage = await putManifest(source, s, '1.0', manifest(sConfig, [{ ...(await putBlob(source, s, gzipSync(Buffer.from('schema')))), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]));
    const sSbom = await putManifest(source, s, '1.0-sbom', manifest(sEmpty, [{ ...(await putBlob(source, s, Buffer.from('{"spdxVersion":"SPDX-2.3","name":"schema"}'))), mediaType: 'application/spdx+json' }], { artifactType: 'application/spdx+json', subject: desc(schemaImage) }));
    // A multi-platform index whose arm64 child carries a signature of its own (subject: the child, not the index).
    const mr = 'rr/multi';
    const mEmpty = { ...(await putBlob(source, mr, Buffer.from('{}'))), mediaType: EMPTY };
    const mConfig = { ...(await putBlob(source, mr, Buffer.from('{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'))), mediaType: 'application/vnd.oci.image.config.v1+json' };
    const child = await putManifest(source, mr, 'digest', manifest(mConfig, [{ ...(await putBlob(source, mr, gzipSync(Buffer.from('arm64')))), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]));
    multiIndex = await putManifest(source, mr, '1.0', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...desc(child), platform: { architecture: 'arm64', os: 'linux' } }] }, 'application/vnd.oci.image.index.v1+json');
    childSig = await putManifest(source, mr, 'digest', manifest(mEmpty, [{ ...(await putBlob(source, mr, Buffer.from('arm64 signature'))), mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json' }], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: desc(child) }));
    tagIndex = await putManifest(source, s, `sha256-${schemaImage.digest.slice(7)}`, {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...desc(sSbom), artifactType: 'application/spdx+json', annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }],
    }, 'application/vnd.oci.image.index.v1+json');
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('list shows each referrer by digest, kind referrer with its subject, after the tags; an untagged manifest without a subject is not listed', async () => {
    const r = await cli(['list', source.storage, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const images = (JSON.parse(r.stdout) as { images: Array<Record<string, unknown>> }).images.filter((i) => i.repository === repo);
    expect(images.map((i) => [i.tag, i.digest, i.kind, i.subject ?? null, i.status])).toEqual([
      ['1.0', image.digest, 'image', null, 'ok'],
      ['2.0', other.digest, 'image', null, 'ok'],
      [null, sbom.digest, 'referrer', image.digest, 'ok'],
      [null, sig.digest, 'referrer', sbom.digest, 'ok'],
    ]);
    expect(images[2]).toMatchObject({ artifactType: 'application/spdx+json' });
    expect(images.some((i) => i.digest === orphan.digest)).toBe(false);
    // The signature of an index child follows the index (its subject is the child, which no tag names).
    const multi = (JSON.parse(r.stdout) as { images: Array<Record<string, unknown>> }).images.filter((i) => i.repository === 'rr/multi');
    expect(multi.map((i) => [i.tag, i.digest, i.kind])).toEqual([['1.0', multiIndex.digest, 'index'], [null, childSig.digest, 'referrer']]);
    const text = await cli(['list', source.storage]);
    expect(text.stdout).toContain(`${repo}@${sbom.digest}`);
    // KIND holds the word; the subject and type come last, after the digest (the columns keep their places).
    const sbomRow = text.stdout.split('\n').find((l) => l.includes(`${repo}@${sbom.digest}`));
    expect(sbomRow).toMatch(new RegExp(` referrer +[0-9.]+ k?B +${sbom.digest} +of ${image.digest} \\(application/spdx\\+json\\)$`));
    expect(text.stderr).toMatch(/^6 tags \(and 3 untagged referrers\) in storage, 9 selected: 9 ok/m);
  });

  it('sync pushes the referrers by digest after their subject, byte for byte; a second run finds them up to date', async () => {
    const record = path.join(work, 'all.jsonl');
    const report = path.join(work, 'all.json');
    const args = ['sync', source.storage, '--to', target.host, '--dest-tls-verify=false', '--out', path.join(source.storage, 'rescue-all'), '--report', report, '--skopeo', RECORD_BIN];
    const r = await cli(args, { env: { SKOPEO_RECORD_FILE: record } });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const order = syncCalls(await readRecord(record)).map((a) => path.basename(a.at(-2) as string));
    // Within each repository (repositories push in parallel): skopeo for all but the artifactType index, which
    // registry-rescue pushes itself (no skopeo process for it).
    expect(order.filter((n) => n.startsWith('app'))).toEqual(['app:1.0', 'app:2.0', `app@${sbom.digest}`, `app@${sig.digest}`]);
    expect(order.filter((n) => n.startsWith('schema'))).toEqual(['schema:1.0', 'schema:1.0-sbom']);
    expect(order.filter((n) => n.startsWith('multi'))).toEqual(['multi:1.0', `multi@${childSig.digest}`]);
    expect((await getManifest(target, 'rr/multi', childSig.digest)).body.equals(childSig.body)).toBe(true);
    const images = (await readReport(report)).images;
    expect(images.find((i) => i.id === `${repo}@${sbom.digest}`)).toMatchObject({ status: 'synced', target: `${target.host}/${repo}@${sbom.digest}`, digest: sbom.digest });
    for (const m of [image, sbom, sig]) {
      const got = await getManifest(target, repo, m.digest);
      expect(got.status, m.digest).toBe(200);
      expect(got.body.equals(m.body), m.digest).toBe(true);
    }
    expect((await getManifest(target, repo, orphan.digest)).status).toBe(404);
    const tagged = `sha256-${schemaImage.digest.slice(7)}`;
    expect(images.find((i) => i.id === `rr/schema:${tagged}`)).toMatchObject({ status: 'synced', attempts: 1, digest: tagIndex.digest });
    const index = await getManifest(target, 'rr/schema', tagged);
    expect(index.header).toBe(tagIndex.digest);
    expect(index.body.equals(tagIndex.body), 'the artifactType index, byte for byte').toBe(true);

    const again = await cli(args, { env: { SKOPEO_RECORD_FILE: path.join(work, 'again.jsonl') } });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(syncCalls(await readRecord(path.join(work, 'again.jsonl')))).toEqual([]);
    expect((await readReport(report)).images.map((i) => i.status)).toEqual(Array(9).fill('up-to-date'));
  });

  it('a 500 to the manifest PUT of the index registry-rescue pushes itself: failed with code server-error, as skopeo\'s 500 is coded', async () => {
    const fresh = await startRegistry();
    onTestFinished(() => fresh.stop());
    const tagged = `sha256-${schemaImage.digest.slice(7)}`;
    const proxy = await startFaultProxy(fresh.host, (q) => (q.method === 'PUT' && q.url === `/v2/rr/schema/manifests/${tagged}` ? { status: 500 } : undefined));
    const tags = path.join(work, 'schema.tags');
    await writeFile(tags, `rr/schema:${tagged}\n`);
    const report = path.join(work, 'schema-5xx.json');
    const r = await cli(['sync', source.storage, '--to', proxy.host, '--dest-tls-verify=false', '--tags-file', tags, '--retries', '0', '--out', path.join(source.storage, 'rescue-5xx'), '--report', report]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(proxy.log.filter((l) => l.outcome === '500')).toHaveLength(1);
    const [img] = (await readReport(report)).images;
    expect(img).toMatchObject({ id: `rr/schema:${tagged}`, status: 'failed', code: 'server-error' });
    expect(img?.reason).toMatch(/^pushing it through the Distribution API failed: .*500/);
  });

  it('a tags file selecting the subject brings its referrers; --exclude of one drops it and what refers to it; another tag brings none', async () => {
    const tags = path.join(work, 'one.tags');
    await writeFile(tags, `${repo}:1.0\n`);
    const list = async (extra: string[]) => {
      const r = await cli(['list', source.storage, '--json', '--tags-file', tags, ...extra]);
      expect(r.exitCode, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { images: Array<{ digest: string }> }).images.map((i) => i.digest);
    };
    expect(await list([])).toEqual([image.digest, sbom.digest, sig.digest]);
    expect(await list(['--exclude', `${repo}@${sbom.digest}`])).toEqual([image.digest]);
    await writeFile(tags, `${repo}:2.0\n`);
    expect(await list([])).toEqual([other.digest]);
    // Named by digest in the tags file: selected even though its subject is excluded (the entry says so).
    await writeFile(tags, `${repo}:1.0\n${repo}@${sig.digest}\n`);
    expect(await list(['--exclude', `${repo}@${sbom.digest}`])).toEqual([image.digest, sig.digest]);
  });

  it('a bucket holding the same tree lists the same referrers (revisions listed per repository, one level)', async () => {
    const s3 = await startBucketServer();
    try {
      await s3.upload(source.storage, 'root');
      const disk = await cli(['list', source.storage, '--json']);
      const bucket = await cli(['list', `s3://${s3.bucket}/root`, '--json', '--s3-endpoint', s3.endpoint, '--s3-path-style'], { env: s3.env() });
      expect(bucket.exitCode, bucket.stderr).toBe(disk.exitCode);
      const a = JSON.parse(disk.stdout);
      const b = JSON.parse(bucket.stdout);
      delete a.storage;
      delete b.storage;
      expect(b).toEqual(a);
      expect(b.images.filter((i: { kind: string }) => i.kind === 'referrer').length).toBe(3);
    } finally {
      await s3.stop();
    }
  }, 120_000);
});
