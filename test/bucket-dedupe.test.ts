/**
 * From a bucket every blob a layout needs is downloaded (no hard link into a bucket), but each at most once per
 * run: two tags of one image, or images sharing base layers, get hard links to the first download, and a
 * manifest is written from the bytes read to resolve it. The s3rver request log counts the GETs of each object.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, copyFixture, FIXTURE_STORAGE, snapshotTree } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';
import { blobGets as blobGetsIn, corruptedCopy, HEALTHY_ONLY as HEALTHY, SHARED_LAYER as SHARED, SHARED_LAYER_REL as SHARED_REL, startBucketServer, type TestBucketServer } from './helpers/s3.js';

const GOOD = 'dedupe/registry';
const BAD = 'dedupe-corrupt/registry';

let s3: TestBucketServer;
beforeAll(async () => {
  s3 = await startBucketServer();
  await s3.upload(FIXTURE_STORAGE, GOOD);
  await s3.upload(FIXTURE_STORAGE, BAD);
  await s3.put(`${BAD}/${SHARED_REL}`, await corruptedCopy(path.join(FIXTURE_STORAGE, SHARED_REL)));
}, 180_000);
afterAll(async () => s3?.stop());

const bucketArgs = () => ['--s3-endpoint', s3.endpoint, '--s3-path-style'];

/** GETs per blob object in the log since the last clearLog. */
const blobGets = () => blobGetsIn(s3.requests);

/** Every layout file below `out` (not skopeo's `version`, ours): path → inode, size. */
async function layoutFiles(out: string): Promise<Map<string, { ino: string; size: number }>> {
  const files = new Map<string, { ino: string; size: number }>();
  for (const e of await readdir(out, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name === 'version') continue;
    const p = path.join(e.parentPath, e.name);
    const info = await lstat(p);
    files.set(path.relative(out, p), { ino: `${info.dev}:${info.ino}`, size: info.size });
  }
  return files;
}

type ExportDoc = { images: Array<{ repository: string; tag: string; status: string; outcome?: string; problems: Array<{ code: string; message: string; digest?: string }> }>; summary: { bytesDownloaded: number } };

describe('export from a bucket downloads each blob once', () => {
  it('links a blob (and a manifest) that two tags or two images share to its one download, and counts its bytes once', async () => {
    const work = await makeTempDir('rr-s3-dedupe-');
    const out = path.join(work, 'bucket');
    s3.clearLog();
    const r = await cli(['export', `s3://${s3.bucket}/${GOOD}`, '--out', out, '--json', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
    const doc = JSON.parse(r.stdout) as ExportDoc;
    expect(doc.images.filter((i) => i.outcome === 'created').length).toBeGreaterThan(10);
    expect(doc.images.filter((i) => i.status === 'broken')).toEqual([]);

    // Every object at most once: layers and configs by the layout that needs them first, manifests by the resolver.
    const gets = blobGets();
    expect(gets.get(SHARED)).toBe(1);
    expect([...gets].filter(([, n]) => n > 1)).toEqual([]);

    // The shared layer is one file, hard-linked into every layout that holds it .
    const files = await layoutFiles(out);
    const shared = [...files].filter(([p]) => path.basename(p) === SHARED.slice(7));
    expect(shared.length).toBeGreaterThan(3);
    expect(new Set(shared.map(([, f]) => f.ino)).size).toBe(1);
    // library/alpine-like:3.19, :latest and mirror/library/alpine-like:3.19 are one manifest: one file, three links.
    const tagsOfOne = ['library/alpine-like:3.19', 'library/alpine-like:latest', 'mirror/library/alpine-like:3.19'].map((id) => files.get(`${id}/manifest.json`)?.ino);
    expect(tagsOfOne[0]).toBeDefined();
    expect(new Set(tagsOfOne)).toEqual(new Set([tagsOfOne[0]]));
    // bytesDownloaded tells the truth: each file on disk once, however many layouts link it.
    const distinct = new Map([...files.values()].map((f) => [f.ino, f.size]));
    expect(doc.summary.bytesDownloaded).toBe([...distinct.values()].reduce((a, b) => a + b, 0));
    expect(doc.summary.bytesDownloaded).toBeLessThan([...files.values()].reduce((a, b) => a + b.size, 0));

    // The layouts are those a copy export of the same tree on disk writes, byte for byte (type, mode, size, content).
    const fx = await copyFixture();
    await cli(['export', fx.storage, '--out', path.join(work, 'disk'), '--link', 'copy', '-q', ...HEALTHY]);
    const strip = (m: Map<string, string>) => new Map([...m].map(([p, v]) => [p, v.split(' ').filter((_, i) => i !== (v.startsWith('dir') ? 2 : 3)).join(' ')]));
    expect(strip(await snapshotTree(out))).toEqual(strip(await snapshotTree(path.join(work, 'disk'))));
  }, 240_000);

  it('fails every image needing a corrupt shared blob, named, after one download, and only those', async () => {
    const work = await makeTempDir('rr-s3-dedupe-bad-');
    // Which images hold the shared layer: their layouts from the healthy copy of the tree.
    const good = await cli(['export', `s3://${s3.bucket}/${GOOD}`, '--out', path.join(work, 'good'), '-q', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
    expect(good.exitCode).toBe(0);
    const users = new Set([...(await layoutFiles(path.join(work, 'good'))).keys()].filter((p) => path.basename(p) === SHARED.slice(7)).map((p) => path.dirname(p)));
    expect(users.size).toBeGreaterThan(3);

    s3.clearLog();
    const r = await cli(['export', `s3://${s3.bucket}/${BAD}`, '--out', path.join(work, 'bad'), '--json', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
    expect(r.exitCode).toBe(4);
    const doc = JSON.parse(r.stdout) as ExportDoc;
    const object = `s3://${s3.bucket}/${BAD}/${SHARED_REL}`;
    for (const i of doc.images) {
      const id = `${i.repository}:${i.tag}`;
      if (users.has(id)) {
        expect(i.status, id).toBe('broken');
        expect(i.problems, id).toEqual([
          expect.objectContaining({ code: 'blob-digest-mismatch', digest: SHARED, message: expect.stringContaining(`${id}: ${SHARED} (${object}) is corrupt: its content hashes to sha256:`) }),
        ]);
      } else if (i.status === 'ok') expect(i.outcome, id).toBe('created');
    }
    expect(doc.images.filter((i) => i.outcome === 'created').length).toBeGreaterThan(3);
    expect(blobGets().get(SHARED)).toBe(1);
  }, 240_000);
});
