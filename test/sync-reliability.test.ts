// What keeps an unattended sync honest when pushes fail: --abort-on-error, a per-image timeout that kills a
// hung skopeo and retries it, the HEAD before a push retried on a transient 503 like the push itself, and
// export's own --report.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cli, copyFixture, expectedTags } from './helpers/cli.js';
import { startRegistry } from './helpers/registry.js';
import { idOf } from './helpers/sync.js';

const BIN_DIR = path.join(import.meta.dirname, 'bin');
const FAIL = path.join(BIN_DIR, 'skopeo-fail-sync.js');
const HANG = path.join(BIN_DIR, 'skopeo-hang-sync.js');

async function threeTags(dir: string): Promise<string> {
  const file = path.join(dir, 'three.tags');
  await writeFile(file, 'library/alpine-like:3.19\nproj/a/app:1.0\nproj/b/app:1.0\n');
  return file;
}

describe('sync when pushes fail', () => {
  it('--abort-on-error: after the first failed image no push starts; the rest are not-attempted, exit 4', async () => {
    const reg = await startRegistry();
    onTestFinished(() => reg.stop());
    const { dir, storage } = await copyFixture();
    const report = path.join(dir, 'r.json');
    const r = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', await threeTags(dir), '--concurrency', '1', '--abort-on-error', '--report', report, '--skopeo', FAIL]);
    expect(r.exitCode, r.stderr).toBe(4);
    const doc = JSON.parse(await readFile(report, 'utf8'));
    expect(doc.images.map((i: { status: string }) => i.status).sort()).toEqual(['failed', 'not-attempted', 'not-attempted']);
    expect(doc.images.find((i: { status: string }) => i.status === 'failed')).toMatchObject({ code: 'denied', attempts: 1 });
    expect(doc.summary.stoppedEarly).toMatch(/^--abort-on-error: /);
  });

  it('--image-timeout kills a hung skopeo and retries it; the image fails as a timeout after its attempts', async () => {
    const reg = await startRegistry();
    onTestFinished(() => reg.stop());
    const { dir, storage } = await copyFixture();
    const one = path.join(dir, 'one.tags');
    await writeFile(one, 'proj/a/app:1.0\n');
    const report = path.join(dir, 'r.json');
    const started = Date.now();
    const r = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', one, '--image-timeout', '1s', '--retries', '1', '--report', report, '--skopeo', HANG]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(Date.now() - started).toBeLessThan(30_000);
    const [image] = JSON.parse(await readFile(report, 'utf8')).images;
    expect(image).toMatchObject({ status: 'failed', code: 'timeout', attempts: 2 });
    expect(image.log).toMatch(/\.registry-rescue-logs\/proj\/a\/app:1\.0\.log$/);
    expect(await readFile(image.log, 'utf8')).toMatch(/attempt 2: .*\n(.|\n)*\(timed out\)/);
  });

  it('the HEAD before a push is retried on 503 like the push: two 503s, then the target has the image (up to date)', async () => {
    const { dir, storage } = await copyFixture();
    const digest = (await expectedTags()).find((t) => idOf(t) === 'proj/a/app:1.0')?.digest as string;
    // A stand-in target: /v2/ answers, the first two HEADs of the manifest answer 503, later ones name the digest.
    let heads = 0;
    const server = http.createServer((req, res) => {
      if (req.method === 'HEAD' && req.url?.includes('/manifests/')) {
        heads++;
        if (heads <= 2) res.writeHead(503).end();
        else res.writeHead(200, { 'docker-content-digest': digest, 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'content-length': '0' }).end();
        return;
      }
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => void server.close());
    const one = path.join(dir, 'one.tags');
    await writeFile(one, 'proj/a/app:1.0\n');
    const report = path.join(dir, 'r.json');
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await cli(['sync', storage, '--to', host, '--dest-tls-verify=false', '--tags-file', one, '--retries', '2', '--report', report, '--skopeo', FAIL]);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(heads).toBe(3);
    expect(JSON.parse(await readFile(report, 'utf8')).images[0]).toMatchObject({ status: 'up-to-date' });
  });
});

describe('export --report', () => {
  it('writes the same versioned document as --json, atomically, beside the text output', async () => {
    const { dir, storage } = await copyFixture();
    const report = path.join(dir, 'export.json');
    const r = await cli(['export', storage, '--out', path.join(dir, 'out'), '--report', report]);
    expect(r.exitCode).toBe(4);
    const doc = JSON.parse(await readFile(report, 'utf8'));
    expect(doc).toMatchObject({ version: 1, command: 'export' });
    expect(doc.images).toHaveLength((await expectedTags()).length);
    const ok = doc.images.filter((i: { status: string }) => i.status === 'ok');
    expect(ok.length).toBeGreaterThan(10);
    expect(doc.summary.counts.created).toBe(ok.length);
    expect(ok.every((i: { outcome: string }) => i.outcome === 'created')).toBe(true);
  });
});
