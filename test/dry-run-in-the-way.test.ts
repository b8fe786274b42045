// --dry-run renders the plan the real run executes: an entry of --out that is not a real directory where a layout or
// one of its namespace directories goes (a file `out/proj`, a file or a dangling symlink at `out/multi/oci-index:1.0`,
// a symlink `out/charts`) fails those images, with the same message, in the dry run as in the real one.
import { mkdir, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';

/** What the dry run says for an outcome of the real run. */
const DRY: Record<string, string> = { created: 'would-create', rebuilt: 'would-rebuild' };

describe('--dry-run with something in the way of a layout', () => {
  it('fails the same images with the same messages as the real run (JSON and text), and writes nothing', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(path.join(out, 'multi'), { recursive: true });
    await mkdir(elsewhere);
    await writeFile(path.join(out, 'proj'), 'notes\n'); // where the namespace directory proj/ goes
    await writeFile(path.join(out, 'multi', 'oci-index:1.0'), 'notes\n'); // where a layout goes
    await symlink(path.join(dir, 'nowhere'), path.join(out, 'multi', 'docker-list:1.0')); // dangling, where a layout goes
    await symlink(elsewhere, path.join(out, 'charts')); // a namespace directory that is a symlink
    const before = (await readdir(out, { recursive: true })).sort();

    const dry = await cli(['export', storage, '--out', out, '--dry-run', '--json']);
    expect((await readdir(out, { recursive: true })).sort()).toEqual(before);
    const real = await cli(['export', storage, '--out', out, '--json']);
    expect(dry.exitCode, dry.stderr).toBe(4);
    expect(real.exitCode, real.stderr).toBe(4);
    const byId = (doc: string) => new Map((JSON.parse(doc).images as any[]).map((i) => [`${i.repository}:${i.tag}`, i]));
    const dryImages = byId(dry.stdout);
    const realImages = byId(real.stdout);
    expect([...dryImages.keys()].sort()).toEqual([...realImages.keys()].sort());
    const failed = [...realImages.values()].filter((i) => i.outcome === 'failed');
    // Every image below proj/ and charts/ that resolved, and the two layouts in the way.
    const expectedFailed = [...realImages.values()].filter((i) => i.status === 'ok' && (/^(proj|charts)\//.test(i.repository) || /^multi\/(oci-index|docker-list):1\.0$/.test(`${i.repository}:${i.tag}`)));
    expect(failed.map((i) => `${i.repository}:${i.tag}`).sort()).toEqual(expectedFailed.map((i) => `${i.repository}:${i.tag}`).sort());
    expect(failed.length).toBeGreaterThan(3);
    for (const [id, r] of realImages) {
      const d = dryImages.get(id);
      expect(d.outcome, id).toBe(DRY[r.outcome] ?? r.outcome);
      expect(d.error, id).toBe(r.error);
    }
    const errorOf = (id: string) => dryImages.get(id).error as string;
    expect(errorOf('multi/oci-index:1.0')).toBe(
      `multi/oci-index:1.0: ${path.join(out, 'multi/oci-index:1.0')} is a plain file, where the layout of multi/oci-index:1.0 goes: registry-rescue writes only its own layout directories into the output directory ${out} and does not remove what it did not write; remove or rename it, then run again`,
    );
    expect(errorOf('multi/docker-list:1.0')).toContain(`${path.join(out, 'multi/docker-list:1.0')} is a symlink, where the layout of multi/docker-list:1.0 goes`);
    expect(errorOf('proj/a/app:1.0')).toBe(
      `proj/a/app:1.0: ${path.join(out, 'proj')} is a plain file: layouts are written only into real directories of the output directory ${out}, and the layouts below proj/ go into that one; remove or rename it, then run again`,
    );
    const chart = [...dryImages.keys()].find((id) => id.startsWith('charts/')) as string;
    expect(errorOf(chart)).toContain(`${path.join(out, 'charts')} is a symlink: layouts are written only into real directories of the output directory ${out} (a symlink could lead anywhere, even into the registry storage)`);
    expect(await readdir(elsewhere)).toEqual([]);

    // The text report of a dry run names them as the real run's does.
    const text = await cli(['export', storage, '--out', out, '--dry-run']);
    expect(text.exitCode).toBe(4);
    expect(text.stdout).toMatch(/^FAILED +multi\/oci-index:1\.0 .*\n +.*is a plain file, where the layout of multi\/oci-index:1\.0 goes/m);
    expect(text.stdout).toMatch(/^FAILED +proj\/a\/app:1\.0 .*\n +.*proj is a plain file: layouts are written only into real directories/m);
  });

  it('a layout below a symlinked namespace directory fails, also when it is unchanged, and nothing is written through the symlink', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    expect((await cli(['export', storage, '--out', out, '-q'])).exitCode).toBe(4); // the fixture's broken tags
    // The layouts of charts/ moved elsewhere and a symlink left in their place: read through it, they looked unchanged.
    const elsewhere = path.join(dir, 'elsewhere');
    await rename(path.join(out, 'charts'), elsewhere);
    await symlink(elsewhere, path.join(out, 'charts'));
    const inside = (await readdir(elsewhere, { recursive: true })).sort();
    for (const args of [['--dry-run'], []]) {
      const r = await cli(['export', storage, '--out', out, '--json', ...args]);
      expect(r.exitCode, r.stderr).toBe(4);
      const charts = (JSON.parse(r.stdout).images as any[]).filter((i) => i.repository.startsWith('charts/') && i.status === 'ok');
      expect(charts.length, args.join(' ')).toBeGreaterThan(0);
      for (const i of charts) {
        expect(i.outcome, `${i.repository}:${i.tag} ${args.join(' ')}`).toBe('failed');
        expect(i.error).toContain(`${path.join(out, 'charts')} is a symlink: layouts are written only into real directories`);
      }
    }
    expect((await readdir(elsewhere, { recursive: true })).sort()).toEqual(inside);
  });
});
