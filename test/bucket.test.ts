/**
 * A registry whose storage lived in an S3-compatible bucket (Harbor's imageChartStorage.s3, MinIO, Ceph RGW):
 * list, export, sync and verify read it as `s3://bucket/rootdirectory`, with the same results as the same tree
 * on disk, and only ever read. The bucket is s3rver holding fixtures/storage uploaded key by key: helpers/s3.ts
 * says why it is not a tree written by docker-registry's own s3 driver (that driver cannot upload a blob to
 * s3rver: `501 NotImplemented` on its multipart PATCH).
 */
import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import fg from 'fast-glob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, copyFixture, expectedTags, FIXTURE_STORAGE, ROOT, snapshotTree, type ExpectedTag } from './helpers/cli.js';
import { makeTempDir, requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';
import { blobGets, startBucketServer, type TestBucketServer } from './helpers/s3.js';
import { byId, expectSameImage, idOf, readReport } from './helpers/sync.js';
import { isBucketUrl, parseBucketUrl } from '../src/storage/bucket-client.js';

const ROOT_DIR = 'harbor/registry';
const FIXTURE_V2 = path.join(FIXTURE_STORAGE, 'docker/registry/v2');
/** skopeo's dir: `version` file, in every layout beside the image's own files. */
/**
 * All `list -q` says on stderr about the fixture tree (no warning, no progress): its last line, which explains
 * exit 4 (the 8 tags broken on purpose; the corrupt layer needs --verify-blobs).
 */
const LIST_Q_LAST_LINE = 'registry-rescue: exit 4, partial: 8 broken (see above)';
const VERSION_BYTES = 'Directory Transport Version: 1.1\n'.length;
let s3: TestBucketServer;
let tags: ExpectedTag[];

beforeAll(async () => {
  s3 = await startBucketServer();
  await s3.upload(FIXTURE_STORAGE, ROOT_DIR);
  tags = await expectedTags();
}, 180_000);
afterAll(async () => s3?.stop());

const url = () => `s3://${s3.bucket}/${ROOT_DIR}`;
const bucketArgs = () => ['--s3-endpoint', s3.endpoint, '--s3-path-style'];

/** What a request did: GET/HEAD of an object, or a list (GET on the bucket with list-type=2). */
function describeRequest(r: { method: string; url: string }): string {
  const u = new URL(r.url, 'http://x');
  if (u.searchParams.has('list-type')) return `LIST ${u.searchParams.get('prefix') ?? ''} delimiter=${u.searchParams.get('delimiter')}`;
  return `${r.method} ${decodeURIComponent(u.pathname)}${u.search}`;
}

/** Only reads: GET and HEAD of objects, and lists one level deep; never `repositories/` whole, never `blobs/`. */
function expectReadOnly(requests: Array<{ method: string; url: string }>): void {
  expect(requests.length).toBeGreaterThan(0);
  const methods = new Set(requests.map((r) => r.method));
  expect([...methods].filter((m) => m !== 'GET' && m !== 'HEAD')).toEqual([]);
  // No sub-resource calls either (?uploads, ?uploadId, ?acl, ?tagging…): plain objects and lists only.
  const odd = requests.filter((r) => {
    const u = new URL(r.url, 'http://x');
    return [...u.searchParams.keys()].some((k) => !['list-type', 'prefix', 'delimiter', 'continuation-token', 'x-id'].includes(k));
  });
  expect(odd.map(describeRequest)).toEqual([]);
  const lists = requests.map(describeRequest).filter((d) => d.startsWith('LIST '));
  expect(lists.length).toBeGreaterThan(0);
  expect(lists.filter((d) => !d.endsWith('delimiter=/'))).toEqual([]);
  expect(lists.filter((d) => /\/(blobs\/|_layers\/|_uploads\/)/.test(d))).toEqual([]);
  // Revisions are listed one level, `revisions/sha256/` of a repository (its manifests' digests, to find untagged
  // referrers), never below a revision.
  expect(lists.filter((d) => /\/_manifests\/revisions\//.test(d) && !/\/_manifests\/revisions\/sha256\/ delimiter=\/$/.test(d))).toEqual([]);
}

describe('s3:// storage arguments', () => {
  it.each([
    ['s3://harbor', { bucket: 'harbor', root: '' }],
    ['s3://harbor/', { bucket: 'harbor', root: '' }],
    ['s3://harbor//registry/', { bucket: 'harbor', root: 'registry' }],
    ['S3://my.bucket-1/a/b/docker/registry/v2', { bucket: 'my.bucket-1', root: 'a/b/docker/registry/v2' }],
  ])('%s', (given, want) => {
    expect(isBucketUrl(given)).toBe(true);
    expect(parseBucketUrl(given)).toEqual(want);
  });
  it.each(['s3://', 's3:///root', 's3://b', 's3://bad bucket/x', 's3://harbor/../etc'])('refuses %s', (given) => {
    expect(() => parseBucketUrl(given)).toThrow(/s3:\/\/BUCKET|\.\./);
  });
  it('leaves directories alone', () => {
    expect(isBucketUrl('/data/registry')).toBe(false);
    expect(isBucketUrl('s3-backup/registry')).toBe(false);
  });
});

describe('list on a bucket', () => {
  it('equals list on the same tree on disk, reading with GET, HEAD and delimited lists only', async () => {
    const fx = await copyFixture();
    const disk = await cli(['list', fx.storage, '--json']);
    s3.clearLog();
    const bucket = await cli(['list', url(), '--json', ...bucketArgs()], { env: s3.env() });
    expect(bucket.stderr).toBe('');
    expect(bucket.exitCode).toBe(disk.exitCode);
    const a = JSON.parse(disk.stdout);
    // Problems name a blob by its s3:// object where the disk run names its path below docker/registry/v2.
    const b = JSON.parse(bucket.stdout.replaceAll(`${url()}/docker/registry/v2/blobs/`, 'blobs/'));
    expect(bucket.stdout).toContain(`(${url()}/docker/registry/v2/blobs/sha256/`);
    expect(b.storage).toBe(`${url()}/docker/registry/v2`);
    delete a.storage;
    delete b.storage;
    expect(b).toEqual(a);
    expect(b.images.map((i: { repository: string; tag: string }) => `${i.repository}:${i.tag}`).sort()).toEqual(tags.map(idOf).sort());
    expectReadOnly(s3.requests);
  }, 180_000);

  it('selects with a tags file as on disk, with the same "did you mean" suggestions for typos', async () => {
    const fx = await copyFixture();
    const file = path.join(fx.dir, 'rescue.tags');
    await writeFile(file, 'proj/team/ap:1.0\nlibrary/alpine-like:3.18\nmulti/oci-index:1.0\nprojx/**\n');
    const disk = await cli(['list', fx.storage, '--tags-file', file, '--json']);
    const bucket = await cli(['list', url(), '--tags-file', file, '--json', ...bucketArgs()], { env: s3.env() });
    expect(bucket.exitCode).toBe(disk.exitCode);
    const [a, b] = [JSON.parse(disk.stdout), JSON.parse(bucket.stdout)];
    delete a.storage;
    delete b.storage;
    expect(b).toEqual(a);
    const messages = JSON.stringify(b.summary);
    expect(messages).toContain('did you mean proj/team/app:1.0?');
    expect(messages).toContain('did you mean library/alpine-like:3.19?');
  }, 180_000);

  it('names a blob of the wrong size by its s3:// object, not as a file on disk', async () => {
    const root = 'short-blob/registry';
    await s3.upload(FIXTURE_STORAGE, root);
    const t = tags.find((x) => x.repository === 'library/alpine-like' && x.tag === '3.19') as ExpectedTag;
    const hex = (await blobHexes(t.repository, t.tag)).at(-1) as string;
    const rel = `docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    const bytes = await readFile(path.join(FIXTURE_STORAGE, rel));
    await s3.put(`${root}/${rel}`, bytes.subarray(0, bytes.length - 10));
    const r = await cli(['list', `s3://${s3.bucket}/${root}`, '--json', ...bucketArgs()], { env: s3.env() });
    const image = (JSON.parse(r.stdout) as { images: Array<{ repository: string; tag: string; status: string; problems: Array<{ code: string; message: string; file?: string }> }> }).images.find(
      (i) => i.repository === t.repository && i.tag === t.tag,
    );
    expect(image?.status).toBe('broken');
    const object = `s3://${s3.bucket}/${root}/${rel}`;
    expect(image?.problems).toEqual([
      expect.objectContaining({ code: 'blob-size-mismatch', file: object, message: expect.stringContaining(`sha256:${hex} is ${bytes.length - 10} bytes in the storage, the manifest says ${bytes.length} (${object})`) }),
    ]);
  }, 180_000);

  it('ignores a stale AWS_CA_BUNDLE for an http:// endpoint, but not a missing --s3-ca-cert', async () => {
    const args = ['list', url(), '--format', 'tags', '-q', ...bucketArgs()];
    const want = tags.filter((t) => t.status === 'ok' || t.problemCode === 'blob-digest-mismatch').map(idOf).sort();
    const stale = await cli(args, { env: { ...s3.env(), AWS_CA_BUNDLE: '/nonexistent/ca-bundle.pem' } });
    expect(stale.stderr).toBe(LIST_Q_LAST_LINE);
    expect(stale.stdout.trim().split('\n').sort()).toEqual(want);
    const viaEnv = await cli(['list', url(), '--format', 'tags', '-q', '--s3-path-style'], { env: { ...s3.env(), AWS_ENDPOINT_URL: s3.endpoint, AWS_CA_BUNDLE: '/nonexistent/ca-bundle.pem' } });
    expect(viaEnv.stderr).toBe(LIST_Q_LAST_LINE);
    expect(viaEnv.stdout.trim().split('\n').sort()).toEqual(want);
    const stated = await cli([...args, '--s3-ca-cert', '/nonexistent/ca.pem'], { env: s3.env() });
    expect(stated.exitCode).toBe(3);
    expect(stated.stderr).toContain('cannot read the CA certificate file /nonexistent/ca.pem (--s3-ca-cert)');
  }, 180_000);

  it('finds the tree from the rootdirectory or from …/docker/registry/v2, and names what is missing', async () => {
    // --verify-blobs streams every layer from the bucket through sha256: the corrupt one is not listed as exportable.
    const deeper = await cli(['list', `${url()}/docker/registry/v2`, '--format', 'tags', '-q', '--verify-blobs', ...bucketArgs()], { env: s3.env() });
    expect(deeper.stdout.trim().split('\n').sort()).toEqual(tags.filter((t) => t.status === 'ok').map(idOf).sort());
    const wrong = await cli(['list', `s3://${s3.bucket}/nothing-here`, ...bucketArgs()], { env: s3.env() });
    expect(wrong.exitCode).toBe(3);
    expect(wrong.stderr).toContain(`no registry storage found in s3://${s3.bucket}/nothing-here`);
    expect(wrong.stderr).toContain('persistence.imageChartStorage.s3');
  }, 180_000);

  it('says which credentials are missing when the SDK finds none, and never prints a secret it was given', async () => {
    const none = await cli(['list', url(), ...bucketArgs()], { env: { ...s3.env(), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined } });
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toContain('AWS_ACCESS_KEY_ID');
    // s3rver checks the key id, not SigV4 signatures: an unknown key id is the refusal it can give.
    const bad = await cli(['list', url(), ...bucketArgs()], { env: { ...s3.env(), AWS_ACCESS_KEY_ID: 'RRTESTUNKNOWNKEY', AWS_SECRET_ACCESS_KEY: 'wrong-secret-value-123' } });
    expect(bad.exitCode).toBe(3);
    expect(bad.stderr).toContain(`cannot list ${url()}/docker/registry/v2/: InvalidAccessKeyId (HTTP 403): `);
    expect(`${bad.stdout}${bad.stderr}`).not.toContain('wrong-secret-value-123');
  }, 180_000);
});

describe('a bucket behind TLS with a private CA', () => {
  it('is refused without the CA (naming --s3-ca-cert), read with --s3-ca-cert or AWS_CA_BUNDLE', async () => {
    requireTool('openssl');
    const dir = await makeTempDir('rr-s3-tls-');
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', key, '-out', cert, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const tls = await startBucketServer({ tls: { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') } });
    try {
      await tls.upload(FIXTURE_STORAGE, ROOT_DIR);
      const args = ['list', `s3://${tls.bucket}/${ROOT_DIR}`, '--format', 'tags', '-q', '--s3-endpoint', tls.endpoint, '--s3-path-style'];
      const refused = await cli(args, { env: tls.env() });
      expect(refused.exitCode).toBe(3);
      expect(refused.stderr).toMatch(/certificate/i);
      expect(refused.stderr).toContain('--s3-ca-cert');
      const okTags = tags.filter((t) => t.status === 'ok' || t.problemCode === 'blob-digest-mismatch').map(idOf).sort();
      const withFlag = await cli([...args, '--s3-ca-cert', cert], { env: tls.env() });
      expect(withFlag.stderr).toBe(LIST_Q_LAST_LINE);
      expect(withFlag.stdout.trim().split('\n').sort()).toEqual(okTags);
      const withBundle = await cli(args, { env: { ...tls.env(), AWS_CA_BUNDLE: cert } });
      expect(withBundle.stdout.trim().split('\n').sort()).toEqual(okTags);
      const missing = await cli([...args, '--s3-ca-cert', path.join(dir, 'nope.pem')], { env: tls.env() });
      expect(missing.exitCode).toBe(3);
      expect(missing.stderr).toContain(`cannot read the CA certificate file ${path.join(dir, 'nope.pem')} (--s3-ca-cert)`);
    } finally {
      await tls.stop();
    }
  }, 240_000);
});

describe('export from a bucket', () => {
  it('downloads the same layouts, byte for byte, as a copy export from the tree on disk', async () => {
    const fx = await copyFixture();
    const work = await makeTempDir('rr-s3-export-');
    const disk = await cli(['export', fx.storage, '--out', path.join(work, 'disk'), '--link', 'copy', '--verify-blobs', '-q']);
    const bucket = await cli(['export', url(), '--out', path.join(work, 'bucket'), '-q', ...bucketArgs()], { env: s3.env() });
    expect(bucket.exitCode).toBe(disk.exitCode);
    expect(bucket.stderr).toBe(disk.stderr);
    // Type, mode, size and content; not the times.
    const strip = (m: Map<string, string>) => new Map([...m].map(([p, v]) => [p, v.split(' ').filter((_, i) => i !== (v.startsWith('dir') ? 2 : 3)).join(' ')]));
    const [a, b] = [await snapshotTree(path.join(work, 'disk')), await snapshotTree(path.join(work, 'bucket'))];
    expect(strip(b)).toEqual(strip(a));
    expect([...strip(b).keys()].filter((p) => p.endsWith('/manifest.json')).length).toBe(tags.filter((t) => t.status === 'ok').length);
  }, 240_000);
});

/** Bytes of the layout files on local disk now: layouts in `out`, everything in its staging directory. */
async function scratchBytes(out: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  async function walk(dir: string, counted: boolean): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === '.registry-rescue-logs') continue; // skopeo's text logs, not image data
        await walk(p, counted || e.name.includes(':'));
      } else if (counted && e.isFile()) {
        const info = await lstat(p).catch(() => undefined);
        if (info && !seen.has(`${info.dev}:${info.ino}`)) {
          seen.add(`${info.dev}:${info.ino}`);
          total += info.size;
        }
      }
    }
  }
  await walk(out, false);
  await walk(path.join(path.dirname(out), `.${path.basename(out)}.registry-rescue-staging`), true);
  return total;
}

describe('sync from a bucket', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    reg = await startRegistry();
  }, 120_000);
  afterAll(async () => reg?.stop());

  it('arrives byte-identical, within --concurrency images of scratch, corrupt blobs named broken, only reads, no secret shown', async () => {
    const work = await makeTempDir('rr-s3-sync-');
    const out = path.join(work, 'scratch');
    const report = path.join(work, 'report.json');
    const metrics = path.join(work, 'rescue.prom');
    const concurrency = 2;
    const list = JSON.parse((await cli(['list', url(), '--json', ...bucketArgs()], { env: s3.env() })).stdout) as { images: Array<{ repository: string; tag: string; size: number; status: string }> };
    const layoutSizes = list.images.filter((i) => i.status === 'ok').map((i) => i.size + VERSION_BYTES).sort((x, y) => y - x);
    const bound = layoutSizes.slice(0, concurrency).reduce((x, y) => x + y, 0);
    // The bound must be able to fail: all the layouts together are far more than the largest two.
    expect(layoutSizes.reduce((x, y) => x + y, 0)).toBeGreaterThan(2 * bound);

    s3.clearLog();
    const child = execa('node', [BIN, 'sync', url(), '--to', reg.host, '--dest-tls-verify=false', '--out', out, '--concurrency', String(concurrency), '--report', report, '--metrics-file', metrics, ...bucketArgs()], {
      reject: false, cwd: ROOT, env: { ...s3.env(), FORCE_COLOR: '0' }, stdin: 'ignore', timeout: 300_000,
    });
    let peak = 0;
    let samples = 0;
    const argvWithSecret: string[] = [];
    let running = true;
    const watch = (async () => {
      while (running) {
        peak = Math.max(peak, await scratchBytes(out));
        samples++;
        // Every process's argv, as `ps` shows it: neither key may be there.
        for (const pid of await readdir('/proc').catch(() => [])) {
          if (!/^\d+$/.test(pid)) continue;
          const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (argv.includes(s3.secretAccessKey) || argv.includes(s3.accessKeyId)) argvWithSecret.push(argv.replaceAll('\0', ' '));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const r = await child;
    running = false;
    await watch;

    expect(r.exitCode, r.stderr).toBe(4); // broken and skipped tags make the run partial, as from disk
    const doc = await readReport(report);
    const results = byId(doc);
    for (const t of tags.filter((x) => x.status === 'ok')) {
      expect(results.get(idOf(t))?.status, idOf(t)).toBe('synced');
      await expectSameImage(reg, FIXTURE_V2, t);
    }
    // The corrupt layer is caught while downloading (no --verify-blobs here), named with its digest and object.
    const corrupt = tags.find((t) => t.problemCode === 'blob-digest-mismatch') as ExpectedTag & { problemDigest: string };
    const got = results.get(idOf(corrupt));
    expect(got?.status).toBe('broken');
    expect(got?.reason).toContain(corrupt.problemDigest);
    expect(got?.reason).toContain(`${url()}/docker/registry/v2/blobs/sha256/`);
    expect(got?.reason).toMatch(/corrupt: its content hashes to sha256:/);
    for (const t of tags.filter((x) => x.status === 'broken' && x !== corrupt)) expect(results.get(idOf(t))?.status, idOf(t)).toBe('broken');

    // Scratch: never more than the largest --concurrency layouts at once, and nothing left afterwards.
    expect(samples).toBeGreaterThan(3);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(bound);
    expect(await scratchBytes(out)).toBe(0);
    // Progress counts the downloaded bytes, and so does the metrics file: the ok images' layouts in full, and of the
    // corrupt image what was read before it was refused. A layout's files are written in name order (hex digests,
    // then manifest.json), one after the other, and the write stops at the corrupt blob: the files after it are never
    // downloaded.
    expect(r.stderr).toMatch(/downloaded/);
    const okBytes = list.images.filter((i) => i.status === 'ok' && `${i.repository}:${i.tag}` !== idOf(corrupt)).reduce((sum, i) => sum + i.size, 0);
    const corruptFiles = await layoutFiles(corrupt.digest as string);
    const readOfCorrupt = corruptFiles.slice(0, corruptFiles.findIndex((f) => f.digest === corrupt.problemDigest) + 1).reduce((sum, f) => sum + f.size, 0);
    expect(readOfCorrupt).toBeGreaterThan(0);
    const downloaded = Number(/^registry_rescue_last_run_bytes_downloaded\{command="sync"\} (\d+)$/m.exec(await readFile(metrics, 'utf8'))?.[1]);
    // A blob two layouts on disk at once both need is downloaded once and linked (bucket-dedupe.test.ts): never
    // more than every layout in full, and never less than the layers and configs fetched from the bucket (only
    // layout writes GET those; manifests come from the bytes read to resolve them).
    expect(downloaded).toBeLessThanOrEqual(okBytes + readOfCorrupt);
    const manifestsRead = await manifestHexes(tags);
    for (const d of await fg('repositories/**/_manifests/revisions/sha256/*', { cwd: FIXTURE_V2, onlyDirectories: true })) manifestsRead.add(path.basename(d));
    let layerBytes = 0;
    for (const [digest, gets] of blobGets(s3.requests)) {
      const hex = digest.slice(7);
      if (!manifestsRead.has(hex)) layerBytes += gets * (await lstat(path.join(FIXTURE_V2, 'blobs/sha256', hex.slice(0, 2), hex, 'data'))).size;
    }
    expect(layerBytes).toBeGreaterThan(0);
    expect(downloaded).toBeGreaterThanOrEqual(layerBytes);

    expectReadOnly(s3.requests);
    expect(argvWithSecret).toEqual([]);
    const everything = `${r.stdout}${r.stderr}${await readFile(report, 'utf8')}`;
    expect(everything).not.toContain(s3.secretAccessKey);
    expect(everything).not.toContain(s3.accessKeyId);

    // verify on the bucket agrees: every ok tag is on the target with its digest.
    const verify = await cli(['verify', url(), '--to', reg.host, '--dest-tls-verify=false', '--json', ...bucketArgs()], { env: s3.env() });
    const audit = JSON.parse(verify.stdout) as { images: Array<{ id: string; status: string }> };
    for (const t of tags.filter((x) => x.status === 'ok')) expect(audit.images.find((i) => i.id === idOf(t))?.status, idOf(t)).toBe('ok');
  }, 400_000);

  it('downloads nothing for images the target already has', async () => {
    const work = await makeTempDir('rr-s3-sync2-');
    s3.clearLog();
    const r = await cli(['sync', url(), '--to', reg.host, '--dest-tls-verify=false', '--out', path.join(work, 'scratch'), '--json', '-q', ...bucketArgs()], { env: s3.env() });
    const doc = JSON.parse(r.stdout) as { images: Array<{ id: string; status: string }> };
    expect(doc.images.filter((i) => i.status === 'up-to-date').length).toBe(tags.filter((t) => t.status === 'ok').length);
    // Manifests are read (and hashed) to decide; layers and configs only HEAD-ed: no blob of an image the
    // target holds was downloaded. The one with a corrupt layer (not on the target) is downloaded again and refused.
    expect(doc.images.find((i) => i.id === 'broken/corrupt-layer:1.0')?.status).toBe('broken');
    const gets = s3.requests.filter((q) => q.method === 'GET' && q.url.includes('/blobs/sha256/'));
    const allowed = await manifestHexes(tags);
    for (const hex of await blobHexes('broken/corrupt-layer', '1.0')) allowed.add(hex);
    // Untagged manifests (moved/app's old revision) are read too: one with a `subject` would be a referrer to push.
    const revisions = (await fg('repositories/**/_manifests/revisions/sha256/*', { cwd: FIXTURE_V2, onlyDirectories: true })).map((d) => path.basename(d));
    expect(revisions.length).toBeGreaterThan(0);
    for (const hex of revisions) allowed.add(hex);
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.map(describeRequest).filter((d) => !allowed.has(d.split('/').at(-2) ?? ''))).toEqual([]);
  }, 300_000);
});

/** The hex of every manifest the tags point at, and of their index children (read from the fixture on disk). */
async function manifestHexes(ts: ExpectedTag[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const t of ts) {
    if (!t.digest) continue;
    out.add(t.digest.slice(7));
    const hex = t.digest.slice(7);
    const bytes = await readFile(path.join(FIXTURE_V2, 'blobs/sha256', hex.slice(0, 2), hex, 'data')).catch(() => undefined);
    const parsed = (() => { try { return JSON.parse(String(bytes)) as { manifests?: Array<{ digest: string }> }; } catch { return {}; } })();
    for (const c of parsed.manifests ?? []) out.add(c.digest.slice(7));
  }
  return out;
}

/** The config and layer hexes of a tag's manifest (an image, not an index), from the fixture on disk. */
async function blobHexes(repository: string, tag: string): Promise<string[]> {
  const t = tags.find((x) => x.repository === repository && x.tag === tag) as ExpectedTag;
  const hex = (t.digest as string).slice(7);
  const m = JSON.parse(await readFile(path.join(FIXTURE_V2, 'blobs/sha256', hex.slice(0, 2), hex, 'data'), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
  return [m.config, ...m.layers].map((d) => d.digest.slice(7));
}

/** A single-image layout's files in the order the export writes them: name order (hex digests, then manifest.json). */
async function layoutFiles(manifestDigest: string): Promise<Array<{ name: string; digest: string; size: number }>> {
  const blob = (digest: string) => path.join(FIXTURE_V2, 'blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');
  const bytes = await readFile(blob(manifestDigest));
  const m = JSON.parse(bytes.toString('utf8')) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };
  const files = [m.config, ...m.layers].map((d) => ({ name: d.digest.slice(7), digest: d.digest, size: d.size }));
  files.push({ name: 'manifest.json', digest: manifestDigest, size: bytes.length });
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
