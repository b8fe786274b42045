// A rebuild replaces the directory at a layout's path, removing what it held. A directory there holding files that
// registry-rescue never writes (someone's notes, a copy of something) is not its own: the image fails, named, and
// nothing there is touched; a layout holding only layout files (half-made, or its manifest.json lost) is rebuilt.
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';

describe('a directory at a layout path holding files registry-rescue does not write', () => {
  it('is not replaced: the image fails naming the files, the rest go on (exit 4), the dry run says the same', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    expect((await cli(['export', storage, '--out', out, '-q'])).exitCode).toBe(4); // the fixture's broken images
    const theirs = path.join(out, 'proj/a/app:1.0');
    const half = path.join(out, 'proj/b/app:1.0');
    // Someone's own directory at a layout's path: notes beside what looks like a layout without its manifest.
    await rm(path.join(theirs, 'manifest.json'));
    await writeFile(path.join(theirs, 'notes.txt'), 'keep me\n');
    // Ours, half-made: only layout files, its manifest.json lost.
    await rm(path.join(half, 'manifest.json'));
    const before = (await readdir(theirs)).sort();

    for (const dry of [true, false]) {
      const r = await cli(['export', storage, '--out', out, '--json', ...(dry ? ['--dry-run'] : [])]);
      expect(r.exitCode, r.stderr).toBe(4);
      const doc = JSON.parse(r.stdout);
      const image = (id: string) => doc.images.find((i: any) => `${i.repository}:${i.tag}` === id);
      expect(image('proj/a/app:1.0')).toMatchObject({ status: 'ok', outcome: 'failed' });
      expect(image('proj/a/app:1.0').error).toBe(
        'proj/a/app:1.0: the directory at this layout\'s path in the output holds files registry-rescue does not write ("notes.txt"): it is not replaced; move them away or remove the directory, then run again',
      );
      expect(image('proj/b/app:1.0').outcome).toBe(dry ? 'would-rebuild' : 'rebuilt');
      expect(image('library/alpine-like:3.19').outcome).toBe('unchanged');
      expect(doc.summary.counts.failed).toBe(1);
    }
    expect((await readdir(theirs)).sort()).toEqual(before);
    expect(await readFile(path.join(theirs, 'notes.txt'), 'utf8')).toBe('keep me\n');
    expect((await readdir(half)).includes('manifest.json')).toBe(true);

    // The text output names it too, under the image's line.
    const text = await cli(['export', storage, '--out', out]);
    expect(text.stdout).toMatch(/^FAILED +proj\/a\/app:1\.0 .*\n +the directory at this layout's path in the output holds files registry-rescue does not write \("notes\.txt"\)/m);
  });

  it('--prune keeps the directory of a gone tag when it holds files registry-rescue does not write, and says so', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const out = path.join(dir, 'out');
    await cli(['export', storage, '--out', out, '-q']);
    await writeFile(path.join(out, 'proj/b/app:1.0', 'notes.txt'), 'keep me\n');
    // Both tags are gone from the storage: one layout holds someone's file, the other only layout files.
    await rm(path.join(v2, 'repositories/proj/b/app/_manifests/tags/1.0'), { recursive: true });
    await rm(path.join(v2, 'repositories/proj/a/app/_manifests/tags/1.0'), { recursive: true });

    const r = await cli(['export', storage, '--out', out, '--prune', '--json']);
    expect(JSON.parse(r.stdout).summary.pruned).toBe(1);
    expect(r.stderr).toContain(`proj/b/app:1.0: its tag is gone from the storage, but ${path.join(out, 'proj/b/app:1.0')} holds files registry-rescue does not write ("notes.txt"): not pruned; move them away or remove it`);
    expect(await readFile(path.join(out, 'proj/b/app:1.0', 'notes.txt'), 'utf8')).toBe('keep me\n');
    await expect(readdir(path.join(out, 'proj/a/app:1.0'))).rejects.toThrow(/ENOENT/);
  });
});
