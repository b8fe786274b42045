/**
 * --verify-blobs from a bucket: each blob is fetched once per run. An image that gets a layout is verified by the
 * layout write, which downloads and hashes every file anyway; `list`, `export --dry-run` and an image whose layout
 * is kept hash the bucket's objects as the resolver always did. A corrupt blob gives the same result either way:
 * `list --verify-blobs` (the resolver's check, untouched) is the reference the export and sync results are held to.
 * The s3rver request log counts the GETs of each object.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, FIXTURE_STORAGE } from './helpers/cli.js';
import { makeTempDir, requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';
import { blobGets as blobGetsIn, corruptedCopy, HEALTHY_ONLY as HEALTHY, SHARED_LAYER as SHARED, SHARED_LAYER_REL as SHARED_REL, startBucketServer, type TestBucketServer } from './helpers/s3.js';

const GOOD = 'verify/registry';
const BAD = 'verify-corrupt/registry';
/** Exported healthy, then its shared layer corrupted in the bucket: the kept layouts' case. */
const LATER = 'verify-later/registry';

let s3: TestBucketServer;
let corruptBytes: Buffer;
beforeAll(async () => {
  s3 = await startBucketServer();
  for (const prefix of [GOOD, BAD, LATER]) await s3.upload(FIXTURE_STORAGE, prefix);
  corruptBytes = await corruptedCopy(path.join(FIXTURE_STORAGE, SHARED_REL));
  await s3.put(`${BAD}/${SHARED_REL}`, corruptBytes);
}, 180_000);
afterAll(async () => s3?.stop());

const bucketArgs = () => ['--s3-endpoint', s3.endpoint, '--s3-path-style'];
const url = (prefix: string) => `s3://${s3.bucket}/${prefix}`;

/** GETs per blob object in the log since the last clearLog. */
const blobGets = () => blobGetsIn(s3.requests);

const fetchedTwice = () => [...blobGets()].filter(([, n]) => n > 1);

type Image = { repository: string; tag: string | null; subject?: string; status: string; outcome?: string; action?: string; problems: Array<{ code: string; message: string; digest?: string; file?: string }> };
const idOf = (i: Image) => (i.subject !== undefined ? `${i.repository}@${i.subject}` : `${i.repository}:${i.tag}`);

/** What `list --verify-blobs --json` (the resolver's own check) says of each image: the reference. */
async function listVerified(prefix: string): Promise<Map<string, Pick<Image, 'status' | 'problems'>>> {
  const r = await cli(['list', url(prefix), '--json', '--verify-blobs', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
  const doc = JSON.parse(r.stdout) as { images: Image[] };
  return new Map(doc.images.map((i) => [idOf(i), { status: i.status, problems: i.problems }]));
}

/** Status and problems per image of an export's --json. */
function verdicts(stdout: string): Map<string, Pick<Image, 'status' | 'problems'>> {
  const doc = JSON.parse(stdout) as { images: Image[] };
  return new Map(doc.images.map((i) => [idOf(i), { status: i.status, problems: i.problems }]));
}

describe('export --verify-blobs from a bucket', () => {
  it('fetches each blob once: the layout write is the check', async () => {
    const work = await makeTempDir('rr-s3-verify-');
    s3.clearLog();
    const r = await cli(['export', url(GOOD), '--out', path.join(work, 'out'), '--json', '--verify-blobs', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { images: Image[] };
    expect(doc.images.filter((i) => i.outcome === 'created').length).toBeGreaterThan(10);
    expect(blobGets().get(SHARED)).toBe(1);
    expect(fetchedTwice()).toEqual([]);
  }, 240_000);

  it('list and export --dry-run still hash every blob (one GET each)', async () => {
    const work = await makeTempDir('rr-s3-verify-dry-');
    for (const args of [['list', url(GOOD), '--json'], ['export', url(GOOD), '--out', path.join(work, 'out'), '--dry-run', '--json']]) {
      s3.clearLog();
      const r = await cli([...args, '--verify-blobs', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(blobGets().get(SHARED), args[0]).toBe(1);
      expect(fetchedTwice(), args[0]).toEqual([]);
    }
  }, 240_000);

  it('reports a corrupt blob as the resolver does: broken, blob-digest-mismatch, naming the image, digest and s3:// object', async () => {
    const work = await makeTempDir('rr-s3-verify-bad-');
    const reference = await listVerified(BAD);
    const object = `${url(BAD)}/${SHARED_REL}`;
    const broken = [...reference].filter(([, v]) => v.status === 'broken');
    expect(broken.length).toBeGreaterThan(3);
    for (const [id, v] of broken) {
      expect(v.problems.length, id).toBeGreaterThan(0);
      for (const p of v.problems) {
        expect(p, id).toEqual({ code: 'blob-digest-mismatch', digest: SHARED, file: object, message: expect.stringMatching(new RegExp(`^${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*${SHARED} .*is corrupt: its content hashes to sha256:[0-9a-f]{64} \\(${object.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`)) });
      }
    }
    for (const dry of [true, false]) {
      s3.clearLog();
      const r = await cli(['export', url(BAD), '--out', path.join(work, 'out'), '--json', '--verify-blobs', ...(dry ? ['--dry-run'] : []), ...HEALTHY, ...bucketArgs()], { env: s3.env() });
      expect(r.exitCode, r.stderr).toBe(4);
      expect(verdicts(r.stdout), dry ? 'dry run' : 'export').toEqual(reference);
      // The corrupt blob once. (A blob a broken image's layout downloaded before reaching it may be fetched again by a
      // later layout, as without --verify-blobs: a failed layout's downloads are removed with it.)
      expect(blobGets().get(SHARED)).toBe(1);
    }
  }, 240_000);

  it('an unchanged layout: the bucket is still hashed (one GET per blob), a blob corrupted since is broken and the layout kept', async () => {
    const work = await makeTempDir('rr-s3-verify-kept-');
    const out = path.join(work, 'out');
    const first = await cli(['export', url(LATER), '--out', out, '-q', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
    expect(first.exitCode, first.stderr).toBe(0);
    await s3.put(`${LATER}/${SHARED_REL}`, corruptBytes);
    const reference = await listVerified(LATER);
    s3.clearLog();
    const r = await cli(['export', url(LATER), '--out', out, '--json', '--verify-blobs', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(verdicts(r.stdout)).toEqual(reference);
    const doc = JSON.parse(r.stdout) as { images: Image[] };
    const broken = doc.images.filter((i) => i.status === 'broken');
    expect(broken.length).toBeGreaterThan(3);
    // As from disk: a tag broken now keeps the layout exported earlier.
    for (const i of broken) expect((await stat(path.join(out, idOf(i), 'manifest.json'))).isFile(), idOf(i)).toBe(true);
    expect(doc.images.filter((i) => i.status === 'ok').every((i) => i.outcome === 'unchanged')).toBe(true);
    expect(blobGets().get(SHARED)).toBe(1);
    expect(fetchedTwice()).toEqual([]);
  }, 240_000);
});

describe('sync --verify-blobs from a bucket', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    reg = await startRegistry();
  }, 120_000);
  afterAll(async () => reg?.stop());

  it('pushes or finds up to date what list calls ok, and reports the corrupt blob as the resolver does', async () => {
    const work = await makeTempDir('rr-s3-verify-sync-');
    const reference = await listVerified(BAD);
    for (const run of ['first', 'again']) {
      s3.clearLog();
      const r = await cli(['sync', url(BAD), '--to', reg.host, '--dest-tls-verify=false', '--out', path.join(work, 'scratch'), '--json', '--verify-blobs', ...HEALTHY, ...bucketArgs()], { env: s3.env() });
      expect(r.exitCode, r.stderr).toBe(4);
      const doc = JSON.parse(r.stdout) as { images: Array<{ id: string; status: string; code?: string; reason?: string }> };
      for (const [id, v] of reference) {
        const got = doc.images.find((i) => i.id === id);
        if (v.status === 'broken') {
          expect(got?.status, `${run} ${id}`).toBe('broken');
          expect(got?.code, `${run} ${id}`).toBe('blob-digest-mismatch');
          for (const p of v.problems) expect(got?.reason, `${run} ${id}`).toContain(p.message);
        } else if (v.status === 'ok') expect(got?.status, `${run} ${id}`).toBe(run === 'first' ? 'synced' : 'up-to-date');
        else expect(got?.status, `${run} ${id}`).toBe(v.status);
      }
      // The corrupt blob once per run: by the first layout write needing it (its verdict is shared), or hashed.
      // Other blobs may be fetched again: sync deletes a layout after its push and a failed layout's downloads
      // (README: "Each blob at most once per run"), which --verify-blobs does not change.
      expect(blobGets().get(SHARED), run).toBe(1);
    }
  }, 400_000);
});
