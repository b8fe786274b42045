// The storage is read-only to every command, also when the output directory holds a symlink planted below it
// (out/proj -> <storage>/docker/registry/v2/repositories/proj): mkdir -p and rename would follow it and write
// layouts, with hard links to blobs, into the registry tree. Layouts under such a symlink fail, named; the others
// are exported; the storage is byte-identical.
import { mkdir, readdir, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture, snapshotTree } from './helpers/cli.js';

describe('export into an output directory holding symlinks', () => {
  it('never writes through a symlink below --out, into the storage or elsewhere', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const out = path.join(dir, 'out');
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(out);
    await mkdir(elsewhere);
    await symlink(path.join(v2, 'repositories/proj'), path.join(out, 'proj'));
    await symlink(elsewhere, path.join(out, 'charts'));
    const before = await snapshotTree(storage);

    const r = await cli(['export', storage, '--out', out, '--json']);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(await snapshotTree(storage)).toEqual(before);
    expect(await readdir(elsewhere)).toEqual([]);
    const doc = JSON.parse(r.stdout);
    const failed = doc.images.filter((i: any) => i.outcome === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const i of failed) {
      expect(i.repository).toMatch(/^(proj|charts)\//);
      expect(i.error).toMatch(/is a symlink: layouts are written only into real directories/);
    }
    // Everything else was exported.
    expect((await stat(path.join(out, 'library/alpine-like:3.19/manifest.json'))).isFile()).toBe(true);
    expect(doc.images.filter((i: any) => i.status === 'ok' && !/^(proj|charts)\//.test(i.repository)).every((i: any) => i.outcome === 'created')).toBe(true);
  });
});
