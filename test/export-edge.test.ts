// Damage a real registry would not write by itself, made on a copy of the fixture storage the way
// disks and hands make it: a layer of one index child gone, a subject that is gone, a foreign layer,
// names outside the reference grammar, a repository reached through a symlinked storage path.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { blobPath, cli, copyFixture, expectedTags, pushOnDisk } from './helpers/cli.js';

const idOf = (t: { repository: string; tag: string }) => `${t.repository}:${t.tag}`;
async function listJson(storage: string, extra: string[] = []) {
  const r = await cli(['list', storage, '--json', ...extra]);
  return { exitCode: r.exitCode, images: new Map((JSON.parse(r.stdout).images as any[]).map((i) => [idOf(i), i])) };
}


describe('damage and oddities', () => {
  it('shows a person ten problems of an image and how many more; --json keeps every one', async () => {
    // A store damaged in bulk: a manifest whose 14 layers are all gone (random digests, never stored).
    const { storage, v2 } = await copyFixture();
    const config = (await expectedTags()).find((x) => idOf(x) === 'library/alpine-like:3.19')!;
    const configDesc = JSON.parse(await readFile(blobPath(v2, config.digest!), 'utf8')).config;
    const layers = Array.from({ length: 14 }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 100 + i, digest: `sha256:${createHash('sha256').update(`gone ${i}`).digest('hex')}` }));
    await pushOnDisk(v2, 'damaged/many', '1.0', JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers }));

    const { images } = await listJson(storage);
    const full = images.get('damaged/many:1.0');
    expect(full.status).toBe('broken');
    expect(full.problems).toHaveLength(14);
    for (const l of layers) expect(full.problems.some((p: any) => p.digest === l.digest)).toBe(true);

    const text = await cli(['list', storage]);
    const block = text.stdout.slice(text.stdout.indexOf('damaged/many:1.0')).split('\n').slice(1);
    const under = block.slice(0, block.findIndex((l) => !l.startsWith('        ')));
    expect(under).toHaveLength(11);
    expect(under.slice(0, 10).every((l) => l.includes('damaged/many:1.0') || /sha256:[0-9a-f]{64}/.test(l))).toBe(true);
    expect(under[10]?.trim()).toBe('… and 4 more problems (registry-rescue list --json shows every one)');

    // sync's reason (report and text) is bounded the same way.
    const dry = await cli(['sync', storage, '--to', '127.0.0.1:1', '--dry-run', '--json', '--tags-file', await tagsFileOf(storage, ['damaged/many:1.0'])]);
    const reason = (JSON.parse(dry.stdout).images as any[]).find((i) => i.source === 'damaged/many:1.0')?.reason as string;
    expect(reason.split('; ')).toHaveLength(11);
    expect(reason).toMatch(/; … and 4 more problems \(registry-rescue list --json shows every one\)$/);
  });

  it('names the layer, the child platform and both digests when a child\'s layer is missing', async () => {
    const { storage, v2 } = await copyFixture();
    const t = (await expectedTags()).find((x) => idOf(x) === 'multi/oci-index:1.0')!;
    const index = JSON.parse(await readFile(blobPath(v2, t.digest!), 'utf8'));
    const arm = index.manifests.find((m: any) => m.platform.architecture === 'arm64');
    const child = JSON.parse(await readFile(blobPath(v2, arm.digest), 'utf8'));
    const layer = child.layers[child.layers.length - 1].digest;
    await rm(blobPath(v2, layer));
    const { images } = await listJson(storage);
    const got = images.get(idOf(t));
    expect(got.status).toBe('broken');
    expect(got.problems).toEqual([
      {
        code: 'blob-missing',
        message: `${idOf(t)}: layer ${child.layers.length} ${layer} of child linux/arm64 ${arm.digest} is missing (blobs/sha256/${layer.slice(7, 9)}/${layer.slice(7)}/data)`,
        digest: layer,
        file: `blobs/sha256/${layer.slice(7, 9)}/${layer.slice(7)}/data`,
      },
    ]);
  });

  it('treats subject as a reference: a referrer stays exportable when its subject is gone', async () => {
    const { storage, v2 } = await copyFixture();
    const sbom = (await expectedTags()).find((x) => idOf(x) === 'proj/team/app:1.0-sbom')!;
    const subject = (sbom as any).subject as string;
    await rm(blobPath(v2, subject));
    const { images } = await listJson(storage);
    expect(images.get(idOf(sbom)).status).toBe('ok');
    expect(images.get('proj/team/app:1.0').status).toBe('broken');
  });

  it('skips foreign layers (urls) with a warning and exports the rest', async () => {
    const { storage, v2, dir } = await copyFixture();
    const base = (await expectedTags()).find((x) => idOf(x) === 'proj/a/app:1.0')!;
    const m = JSON.parse(await readFile(blobPath(v2, base.digest!), 'utf8'));
    const foreign = { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: `sha256:${'f'.repeat(64)}`, size: 1234, urls: ['https://example.invalid/layer.tar.gz'] };
    m.layers = [foreign, ...m.layers];
    const digest = await pushOnDisk(v2, 'proj/a/app', 'windows', JSON.stringify(m));
    const { images } = await listJson(storage);
    const got = images.get('proj/a/app:windows');
    expect(got.status).toBe('ok');
    expect(got.digest).toBe(digest);
    expect(got.warnings.join('\n')).toContain(`layer 1 ${foreign.digest} is a foreign layer (urls: https://example.invalid/layer.tar.gz)`);
    const out = path.join(dir, 'out');
    await writeFile(path.join(dir, 'one.tags'), 'proj/a/app:windows\n');
    const r = await cli(['export', storage, '--out', out, '--tags-file', path.join(dir, 'one.tags'), '-q']);
    expect(r.exitCode, r.stderr).toBe(0);
    await expect(lstat(path.join(out, 'proj/a/app:windows', 'f'.repeat(64)))).rejects.toThrow();
  });

  it('reports repository names and tags outside the reference grammar', async () => {
    const { storage, v2 } = await copyFixture();
    const body = await readFile(blobPath(v2, (await expectedTags()).find((x) => idOf(x) === 'proj/a/app:1.0')!.digest!), 'utf8');
    await pushOnDisk(v2, 'Upper/Case', '1.0', body);
    await pushOnDisk(v2, 'proj/a/app', '-bad-tag', body);
    const { images, exitCode } = await listJson(storage);
    expect(exitCode).toBe(4);
    expect(images.get('Upper/Case:1.0').problems.map((p: any) => p.code)).toEqual(['name-invalid']);
    expect(images.get('Upper/Case:1.0').problems[0].message).toContain('path component "Upper" is not valid');
    expect(images.get('proj/a/app:-bad-tag').problems.map((p: any) => p.code)).toEqual(['tag-invalid']);
  });

  it('never descends into _uploads, _layers or revisions, and skips _-prefixed directories', async () => {
    const { storage, v2 } = await copyFixture();
    const body = await readFile(blobPath(v2, (await expectedTags()).find((x) => idOf(x) === 'proj/a/app:1.0')!.digest!), 'utf8');
    // Tag-like trees where a careless walk would find them.
    await pushOnDisk(v2, 'proj/a/app/_uploads/x', 'ghost', body);
    await pushOnDisk(v2, 'proj/a/app/_layers/y', 'ghost', body);
    await pushOnDisk(v2, 'proj/_hidden', 'ghost', body);
    const { images } = await listJson(storage);
    expect([...images.keys()].filter((k) => k.includes('ghost'))).toEqual([]);
    expect(images.size).toBe((await expectedTags()).length);
  });

  it('refuses a blob that is a symlink (a registry never writes one; it could point anywhere on the host)', async () => {
    const { storage, v2 } = await copyFixture();
    const t = (await expectedTags()).find((x) => idOf(x) === 'proj/b/app:1.0')!;
    const m = JSON.parse(await readFile(blobPath(v2, t.digest!), 'utf8'));
    const layer = m.layers[0].digest as string;
    await rm(blobPath(v2, layer));
    await symlink('/etc/hostname', blobPath(v2, layer));
    const { images } = await listJson(storage);
    const got = images.get(idOf(t));
    expect(got.status).toBe('broken');
    expect(got.problems[0].message).toContain(`layer 1 ${layer} cannot be read: not a regular file`);
  });

  it('reports a FIFO where a link file should be instead of hanging on it', async () => {
    const { storage, v2 } = await copyFixture();
    const link = path.join(v2, 'repositories/proj/a/app/_manifests/tags/1.0/current/link');
    await rm(link);
    execFileSync('mkfifo', [link]);
    const { images } = await listJson(storage);
    expect(images.get('proj/a/app:1.0').problems[0].message).toContain("cannot read the tag's link: not a regular file");
  });

  it('refuses a blob reached through a symlinked directory (it could lead anywhere on the host)', async () => {
    const { storage, v2, dir } = await copyFixture();
    const t = (await expectedTags()).find((x) => idOf(x) === 'proj/b/app:1.0')!;
    const m = JSON.parse(await readFile(blobPath(v2, t.digest!), 'utf8'));
    const layer = m.layers[0].digest as string;
    const blobDir = path.dirname(blobPath(v2, layer));
    await rename(blobDir, path.join(dir, 'elsewhere'));
    await symlink(path.join(dir, 'elsewhere'), blobDir);
    const { images } = await listJson(storage);
    expect(images.get(idOf(t)).problems[0].message).toContain(`layer 1 ${layer} cannot be read: reached through a symlinked directory`);
  });

  it('accepts a blob store moved to another directory and symlinked back (an operator\'s choice)', async () => {
    const { storage, v2, dir } = await copyFixture();
    await rename(path.join(v2, 'blobs'), path.join(dir, 'moved-blobs'));
    await symlink(path.join(dir, 'moved-blobs'), path.join(v2, 'blobs'));
    const { images } = await listJson(storage);
    const ok = (await expectedTags()).filter((t) => t.status === 'ok' && t.problemCode === null);
    for (const t of ok) expect(images.get(idOf(t)).status, idOf(t)).toBe('ok');
  });

  it('refuses an output directory that contains the registry tree (exit 3)', async () => {
    const { storage } = await copyFixture();
    const r = await cli(['export', storage, '--out', path.join(storage, 'docker')]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('is inside the registry storage');
  });

  for (const link of ['hard', 'copy'] as const) {
    it(`a plain file where a namespace directory or a layout goes fails those images by name, the rest go on, --prune too (--link ${link})`, async () => {
      const { storage, dir } = await copyFixture();
      const out = path.join(dir, 'out');
      // What an operator may leave in --out: a file named like a project, another named like a layout.
      await mkdir(path.join(out, 'multi'), { recursive: true });
      await writeFile(path.join(out, 'proj'), 'notes\n');
      await writeFile(path.join(out, 'multi', 'oci-index:1.0'), 'notes\n');
      // A layout whose tag is not in the storage: --prune still removes it beside the failures.
      await mkdir(path.join(out, 'gone', 'app:1.0'), { recursive: true });
      await writeFile(path.join(out, 'gone', 'app:1.0', 'manifest.json'), '{}');
      const r = await cli(['export', storage, '--out', out, '--link', link, '--prune', '--json']);
      expect(r.exitCode, r.stderr).toBe(4);
      const images = new Map((JSON.parse(r.stdout).images as any[]).map((i) => [idOf(i), i]));
      const underProj = [...images.values()].filter((i) => i.repository.startsWith('proj/') && i.status === 'ok');
      expect(underProj.length).toBeGreaterThan(0);
      for (const i of underProj) {
        expect(i.outcome, idOf(i)).toBe('failed');
        expect(i.error).toContain(`${path.join(out, 'proj')} is a plain file: layouts are written only into real directories of the output directory ${out}`);
        expect(i.error).toMatch(/remove or rename it/);
      }
      const blocked = images.get('multi/oci-index:1.0');
      expect(blocked.outcome).toBe('failed');
      expect(blocked.error).toContain(`${path.join(out, 'multi', 'oci-index:1.0')} is a plain file, where the layout of multi/oci-index:1.0 goes`);
      expect(blocked.error).toMatch(/remove or rename it/);
      // No raw Node error, no staging path in any message.
      expect(r.stdout).not.toMatch(/ENOTDIR:|EEXIST:|registry-rescue-staging/);
      // The other images are exported, the stale layout pruned, and what was in the way is left as it was.
      expect(images.get('multi/docker-list:1.0').outcome).toBe('created');
      expect((await lstat(path.join(out, 'multi', 'docker-list:1.0', 'manifest.json'))).isFile()).toBe(true);
      expect(JSON.parse(r.stdout).summary.pruned).toBe(1);
      await expect(lstat(path.join(out, 'gone', 'app:1.0'))).rejects.toThrow(/ENOENT/);
      expect(await readFile(path.join(out, 'proj'), 'utf8')).toBe('notes\n');
      expect(await readFile(path.join(out, 'multi', 'oci-index:1.0'), 'utf8')).toBe('notes\n');
    });
  }

  it('--prune removes the namespace directories it left empty, and nothing else', async () => {
    const { storage, dir } = await copyFixture();
    const out = path.join(dir, 'out');
    const layout = async (id: string) => {
      await mkdir(path.join(out, id), { recursive: true });
      await writeFile(path.join(out, id, 'manifest.json'), '{}');
    };
    // Layouts of tags the storage does not hold: each is pruned.
    await layout('team/app:1');
    await layout('deep/a/b/app:1');
    await layout('kept/app:1');
    await layout('proj/gone/app:1'); // proj/ also holds the fixture's layouts
    await writeFile(path.join(out, 'kept', 'notes.txt'), 'mine\n'); // not empty after the prune
    await mkdir(path.join(out, 'empty-before')); // empty, but not made so by the prune
    // A namespace reached through a symlink is neither listed nor emptied, nor is what it leads to.
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(path.join(elsewhere, 'ns'), { recursive: true });
    await symlink(elsewhere, path.join(out, 'linked'));
    const r = await cli(['export', storage, '--out', out, '--prune', '--json']);
    expect(r.exitCode, r.stderr).toBe(4); // the fixture's broken tags
    expect(JSON.parse(r.stdout).summary.pruned).toBe(4);
    for (const gone of ['team', 'deep', 'proj/gone']) await expect(lstat(path.join(out, gone)), gone).rejects.toThrow(/ENOENT/);
    expect(await readdir(path.join(out, 'kept'))).toEqual(['notes.txt']);
    expect((await lstat(path.join(out, 'empty-before'))).isDirectory()).toBe(true);
    expect((await lstat(path.join(out, 'proj', 'a', 'app:1.0', 'manifest.json'))).isFile()).toBe(true);
    expect((await lstat(path.join(out, 'linked'))).isSymbolicLink()).toBe(true);
    expect((await lstat(path.join(elsewhere, 'ns'))).isDirectory()).toBe(true);
    expect((await lstat(out)).isDirectory()).toBe(true);
  });

  it('sweeps half-built layouts an interrupted run left in staging, and stages long names fine', async () => {
    const { storage, v2, dir } = await copyFixture();
    const out = path.join(dir, 'out');
    const staging = path.join(dir, '.out.registry-rescue-staging');
    await mkdir(path.join(staging, 'layout-old'), { recursive: true });
    await writeFile(path.join(staging, 'layout-old', 'manifest.json'), '{}');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(path.join(staging, 'layout-old'), old, old);
    // A valid name near the limits: 150-character repository, 100-character tag.
    const repo = `long/${'a'.repeat(145)}`;
    const tag = 't'.repeat(100);
    const body = await readFile(blobPath(v2, (await expectedTags()).find((x) => idOf(x) === 'proj/a/app:1.0')!.digest!), 'utf8');
    await pushOnDisk(v2, repo, tag, body);
    await mkdir(path.join(v2, 'repositories', repo, '_layers'), { recursive: true });
    await writeFile(path.join(dir, 'one.tags'), `${repo}:${tag}\n`);
    const r = await cli(['export', storage, '--out', out, '--tags-file', path.join(dir, 'one.tags')]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain('removed 1 staging directory left in');
    await expect(readdir(staging)).rejects.toThrow(/ENOENT/);
    expect((await lstat(path.join(out, `${repo}:${tag}`, 'manifest.json'))).isFile()).toBe(true);
  });

  it('each run stages in its own directory: a dead run\'s is swept at once, a live run\'s is left alone', async () => {
    const { storage, dir } = await copyFixture();
    const staging = path.join(dir, '.out.registry-rescue-staging');
    const dead = execFileSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const host = os.hostname();
    for (const name of [`run-${dead}-deadbeef@${host}`, `run-${process.pid}-0badcafe@${host}`]) {
      await mkdir(path.join(staging, name, 'layout-x'), { recursive: true });
    }
    const r = await cli(['export', storage, '--out', path.join(dir, 'out'), '-q']);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain('removed 1 staging directory left in');
    expect(await readdir(staging)).toEqual([`run-${process.pid}-0badcafe@${host}`]);
  });

  it('symlinks point at the real blobs when the storage path goes through a symlink', async () => {
    const { dir, storage, v2 } = await copyFixture();
    await rename(storage, path.join(dir, 'real-storage'));
    await symlink(path.join(dir, 'real-storage'), storage);
    const out = path.join(dir, 'out');
    await cli(['export', storage, '--out', out, '--link', 'symlink', '-q']);
    const target = await readlink(path.join(out, 'proj/a/app:1.0', 'manifest.json'));
    expect(target.startsWith(await realpath(path.join(dir, 'real-storage')))).toBe(true);
    expect(target.startsWith(v2)).toBe(false);
  });
});

async function tagsFileOf(storage: string, ids: string[]): Promise<string> {
  const file = path.join(path.dirname(storage), 'selected.tags');
  await writeFile(file, ids.map((id) => `${id}\n`).join(''));
  return file;
}
