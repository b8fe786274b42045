// --prune removes the layouts of tags that are gone from the storage. A tag whose directory is still there but
// whose `current/link` (or `current/`) was lost in a crash is broken, not gone: the same run lists it as broken,
// and its layout, which may be the only record of the digest it pointed at, must stay.
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';

describe('export --prune and a tag that lost its link', () => {
  it('keeps the layout of a tag whose current/link or current/ is lost, and prunes a tag whose directory is gone', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const out = path.join(dir, 'out');
    await cli(['export', storage, '--out', out, '-q']);
    for (const id of ['proj/a/app:1.0', 'mirror/library/alpine-like:3.19', 'proj/b/app:1.0']) expect((await stat(path.join(out, id))).isDirectory()).toBe(true);

    await rm(path.join(v2, 'repositories/proj/a/app/_manifests/tags/1.0/current/link'));
    await rm(path.join(v2, 'repositories/mirror/library/alpine-like/_manifests/tags/3.19/current'), { recursive: true });
    await rm(path.join(v2, 'repositories/proj/b/app/_manifests/tags/1.0'), { recursive: true });

    const r = await cli(['export', storage, '--out', out, '--prune', '--json']);
    expect(r.exitCode, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout);
    const status = (id: string) => doc.images.find((i: any) => `${i.repository}:${i.tag}` === id)?.status;
    expect(status('proj/a/app:1.0')).toBe('broken');
    expect(status('mirror/library/alpine-like:3.19')).toBe('broken');
    expect(doc.summary.pruned).toBe(1);
    expect((await stat(path.join(out, 'proj/a/app:1.0'))).isDirectory()).toBe(true);
    expect((await stat(path.join(out, 'mirror/library/alpine-like:3.19'))).isDirectory()).toBe(true);
    await expect(stat(path.join(out, 'proj/b/app:1.0'))).rejects.toThrow(/ENOENT/);
  });
});
