// What sync decides before any push, seen through --dry-run (which contacts nothing): indexes skopeo 1.9.3
// cannot push unchanged are pushed by registry-rescue itself, and invalid target names fail only their own image.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobPath, cli, copyFixture, expectedTags, pushOnDisk } from './helpers/cli.js';
import { closedPort } from './helpers/registry.js';


describe('sync plan', () => {
  it('an index whose descriptors carry artifactType (skopeo 1.9.3 would have to rewrite it) is pushed through the Distribution API, the rest with skopeo', async () => {
    const { storage, v2, dir } = await copyFixture();
    const child = (await expectedTags()).find((t) => t.repository === 'proj/a/app' && t.tag === '1.0')!;
    const size = (await readFile(blobPath(v2, child.digest!))).length;
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: child.mediaType, digest: child.digest, size, artifactType: 'application/vnd.example.sbom' }],
    };
    await pushOnDisk(v2, 'proj/a/app', 'referrers', JSON.stringify(index));
    const list = JSON.parse((await cli(['list', storage, '--json'])).stdout).images.find((i: any) => i.tag === 'referrers');
    expect(list.status).toBe('ok');
    expect(list.warnings.join('\n')).toContain('carries artifactType in its index descriptor');

    const port = await closedPort();
    const out = path.join(dir, 'out');
    const r = await cli(['sync', storage, '--to', `127.0.0.1:${port}`, '--dry-run', '--json', '--out', out]);
    expect(r.exitCode, r.stderr).toBe(4);
    const images = new Map(JSON.parse(r.stdout).images.map((i: any) => [i.source, i]));
    expect(images.get('proj/a/app:referrers')).toMatchObject({ status: 'would-sync', command: expect.stringMatching(/^registry-rescue pushes it itself through the Distribution API/) });
    expect(images.get('proj/a/app:1.0')).toMatchObject({ status: 'would-sync', command: expect.stringContaining(' sync --src dir --dest docker --all --preserve-digests ') });
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('fails only the images whose target name would be invalid (too long with the prefix)', async () => {
    const { storage } = await copyFixture();
    const port = await closedPort();
    const host = `127.0.0.1:${port}`;
    // 255 characters in all for host/prefix/repository: "proj/a/app" fits, "proj/team/sub/deep/app" does not.
    const prefix = 'p'.repeat(255 - host.length - '/'.length - '/proj/a/app'.length);
    const r = await cli(['sync', storage, '--to', `${host}/${prefix}`, '--dry-run', '--json']);
    const images = new Map(JSON.parse(r.stdout).images.map((i: any) => [i.source, i]));
    expect(images.get('proj/a/app:1.0')).toMatchObject({ status: 'would-sync', target: `${host}/${prefix}/proj/a/app:1.0` });
    expect(images.get('proj/team/sub/deep/app:2.0')).toMatchObject({ status: 'failed', reason: expect.stringContaining('more than 255') });
  });

  it('refuses a --report in a directory that does not exist before doing anything (exit 3)', async () => {
    const { storage, dir } = await copyFixture();
    const port = await closedPort();
    const out = path.join(dir, 'out');
    const r = await cli(['sync', storage, '--to', `127.0.0.1:${port}`, '--out', out, '--report', path.join(dir, 'missing', 'report.json')]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`--report: the directory ${path.join(dir, 'missing')} does not exist`);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });
});
