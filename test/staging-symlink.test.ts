// The staging directory beside --out (`.<name>.registry-rescue-staging`) is swept at the start of every export:
// what a dead run left is removed, and so was ANY entry older than an hour. With that path a symlink (planted,
// or an operator "moving staging to a bigger disk"), the sweep followed it and removed everything there: pointed
// at the storage's repositories/, one `export` deleted every repository of the registry and reported
// "0 tags in storage". Now a staging path that is a symlink (or not a directory) is refused (exit 3).
import { readdir, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture, snapshotTree } from './helpers/cli.js';

async function ageTree(root: string, when: Date): Promise<void> {
  for (const e of await readdir(root, { withFileTypes: true })) {
    const p = path.join(root, e.name);
    if (e.isDirectory()) await ageTree(p, when);
    await utimes(p, when, when);
  }
}

describe('staging directory', () => {
  it('a staging path symlinked into the storage is refused, and the storage stays whole', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await ageTree(storage, twoDaysAgo);
    const out = path.join(dir, 'out');
    await symlink(path.join(v2, 'repositories'), path.join(dir, '.out.registry-rescue-staging'));
    const before = await snapshotTree(storage);

    const r = await cli(['export', storage, '--out', out]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/staging directory .*\.out\.registry-rescue-staging .*is a symlink or not a directory/);
    expect(await snapshotTree(storage)).toEqual(before);
  });
});
