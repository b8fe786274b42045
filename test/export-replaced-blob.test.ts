// A blob's data file replaced by a new inode in the storage after an export (a corrupt copy repaired with rsync,
// or `cp` to a temporary name and a rename): a hard-linked layout keeps the old inode, so its manifest still
// matches and a check by manifest alone calls it unchanged, while skopeo refuses the old bytes at push time
// ("Digest did not match") night after night. With --verify-blobs in hard-link mode the export compares each
// layout file's inode with its blob's and rebuilds; without it nothing changes (the nightly fast path).
// Only the blob this test replaces is touched in the storage, in the test's own copy of the fixture.
import { createHash } from 'node:crypto';
import { copyFile, cp, lstat, readFile, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobPath, cli, copyFixture } from './helpers/cli.js';

/** Tags of the fixture: two images sharing their base layer, an OCI index (child manifests), an unrelated image. */
const TAGS = ['proj/team/app:1.0', 'proj/team/app:1.1', 'multi/oci-index:1.0', 'library/alpine-like:3.19'];

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function setUp(link: 'hard' | 'symlink' | 'copy' = 'hard') {
  const f = await copyFixture();
  const tags = path.join(f.dir, 'rescue.tags');
  await writeFile(tags, `${TAGS.join('\n')}\n`);
  const out = path.join(f.dir, 'out');
  // The image's signature would follow it into the selection (an accessory): left out, to keep the list short.
  const run = (...more: string[]) => cli(['export', f.storage, '--out', out, '--tags-file', tags, '--exclude', 'proj/team/app:sha256-*', '--link', link, ...more]);
  const first = await run('-q');
  expect(first.exitCode, first.stderr).toBe(0);
  return { ...f, out, run };
}

/** The `i`-th layer of a tag's manifest, read from its layout. */
async function layerOf(out: string, id: string, i = 0): Promise<string> {
  return JSON.parse(await readFile(path.join(out, id, 'manifest.json'), 'utf8')).layers[i].digest as string;
}

/** Replaces a blob's data file by a new inode with the same bytes, as rsync or `cp` + rename does. */
async function replaceBlob(v2: string, digest: string): Promise<void> {
  const data = blobPath(v2, digest);
  await copyFile(data, `${data}.restore`);
  await rename(`${data}.restore`, data);
}

/** Outcome per layout id of a `--json` export. */
async function outcomes(r: { exitCode: number; stdout: string; stderr: string }): Promise<Record<string, string>> {
  expect(r.exitCode, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout);
  return Object.fromEntries(doc.images.map((i: any) => [`${i.repository}:${i.tag}`, i.outcome]));
}

describe('a blob replaced by a new inode after the export', () => {
  it('--verify-blobs rebuilds the hard-linked layouts still holding the old inode, naming the tag, file and digest', async () => {
    const { v2, out, run } = await setUp();
    // The second layer: shared by the two app tags only (the first is everyone's base layer).
    const layer = await layerOf(out, 'proj/team/app:1.0', 1);
    const hex = layer.slice('sha256:'.length);
    const holders = [];
    for (const id of TAGS) if ((await readdir(path.join(out, id))).includes(hex)) holders.push(id);
    expect(holders, 'the layer is shared by both app tags').toEqual(['proj/team/app:1.0', 'proj/team/app:1.1']);

    await replaceBlob(v2, layer);
    const stale = path.join(out, 'proj/team/app:1.0', hex);
    const [old, now] = await Promise.all([lstat(stale), lstat(blobPath(v2, layer))]);
    // Only ever written once it is no longer the storage's file: the old inode, held by the layouts alone.
    expect(old.ino).not.toBe(now.ino);
    // The layouts hold what the storage held before its repair: same size, other bytes.
    await writeFile(stale, Buffer.alloc(old.size, 0x5a));

    // Without --verify-blobs the layouts are judged by their manifests only: nothing is looked at or rebuilt.
    const quick = await outcomes(await run('--json'));
    expect(quick).toEqual(Object.fromEntries(TAGS.map((id) => [id, 'unchanged'])));

    const verified = await run('--verify-blobs');
    expect(verified.exitCode, verified.stderr).toBe(0);
    for (const id of holders) {
      const line = verified.stdout.split('\n').find((l) => l.startsWith('rebuilt') && l.includes(` ${id} `));
      expect(line, `${id} is rebuilt:\n${verified.stdout}`).toBeDefined();
      expect(line).toContain(`${hex} is not a hard link to the storage's blob ${layer} (blobs/sha256/${hex.slice(0, 2)}/${hex}/data)`);
    }
    expect(verified.stdout).not.toContain('multi/oci-index:1.0');
    expect(verified.stdout).not.toContain('library/alpine-like:3.19');
    for (const id of holders) {
      const file = path.join(out, id, hex);
      expect((await stat(file)).ino, `${id}/${hex} links the storage's blob again`).toBe(now.ino);
      expect(sha256(await readFile(file))).toBe(layer);
    }
    // And the next run finds nothing to do.
    expect(await outcomes(await run('--verify-blobs', '--json'))).toEqual(Object.fromEntries(TAGS.map((id) => [id, 'unchanged'])));
  });

  it('--verify-blobs rebuilds for a replaced manifest or index child too', async () => {
    const { v2, out, run } = await setUp();
    const index = JSON.parse(await readFile(path.join(out, 'multi/oci-index:1.0', 'manifest.json'), 'utf8'));
    const child = index.manifests[0].digest as string;
    await replaceBlob(v2, child);
    const appDigest = sha256(await readFile(path.join(out, 'proj/team/app:1.0', 'manifest.json')));
    await replaceBlob(v2, appDigest);

    const r = await run('--verify-blobs');
    expect(r.exitCode, r.stderr).toBe(0);
    const lineOf = (id: string) => r.stdout.split('\n').find((l) => l.startsWith('rebuilt') && l.includes(` ${id} `)) ?? r.stdout;
    expect(lineOf('multi/oci-index:1.0')).toContain(`${child.slice(7)}.manifest.json is not a hard link to the storage's blob ${child}`);
    expect(lineOf('proj/team/app:1.0')).toContain(`manifest.json is not a hard link to the storage's blob ${appDigest}`);
    expect((await stat(path.join(out, 'multi/oci-index:1.0', `${child.slice(7)}.manifest.json`))).ino).toBe((await stat(blobPath(v2, child))).ino);
    expect((await stat(path.join(out, 'proj/team/app:1.0', 'manifest.json'))).ino).toBe((await stat(blobPath(v2, appDigest))).ino);
  });

  it('--verify-blobs rebuilds a layout copied instead of linked, and keeps a file symlinked to its blob (the EMLINK fallback)', async () => {
    const { v2, out, run } = await setUp();
    // Someone copied a layout back from a backup: same names and bytes, none of them the storage's files.
    const copied = path.join(out, 'library/alpine-like:3.19');
    await cp(copied, `${copied}.copy`, { recursive: true });
    await rm(copied, { recursive: true });
    await rename(`${copied}.copy`, copied);
    // A layer at ext4's link limit is symlinked to its blob's path: it follows a replaced inode by itself.
    const layer = await layerOf(out, 'proj/team/app:1.1');
    const symlinked = path.join(out, 'proj/team/app:1.1', layer.slice(7));
    await rm(symlinked);
    await symlink(blobPath(v2, layer), symlinked);

    expect(await outcomes(await run('--json'))).toEqual(Object.fromEntries(TAGS.map((id) => [id, 'unchanged'])));
    const r = await run('--verify-blobs');
    expect(r.exitCode, r.stderr).toBe(0);
    const rebuilt = r.stdout.split('\n').filter((l) => l.startsWith('rebuilt'));
    expect(rebuilt, r.stdout).toHaveLength(1);
    expect(rebuilt[0]).toContain(' library/alpine-like:3.19 ');
    expect(rebuilt[0]).toMatch(/is not a hard link to the storage's blob sha256:[0-9a-f]{64} \(blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}\/data\).*and 3 more files/);
    for (const name of await readdir(copied)) {
      if (name === 'version') continue;
      const digest = name === 'manifest.json' ? sha256(await readFile(path.join(copied, name))) : `sha256:${name.replace('.manifest.json', '')}`;
      expect((await stat(path.join(copied, name))).ino, name).toBe((await stat(blobPath(v2, digest))).ino);
    }
    expect(await readlink(symlinked)).toBe(blobPath(v2, layer));
  });

  for (const link of ['symlink', 'copy'] as const) {
    it(`--link ${link}: a replaced blob needs no rebuild, with or without --verify-blobs`, async () => {
      const { v2, out, run } = await setUp(link);
      const layer = await layerOf(out, 'proj/team/app:1.0');
      await replaceBlob(v2, layer);
      const unchanged = Object.fromEntries(TAGS.map((id) => [id, 'unchanged']));
      expect(await outcomes(await run('--json'))).toEqual(unchanged);
      expect(await outcomes(await run('--json', '--verify-blobs'))).toEqual(unchanged);
      // What skopeo reads is the blob's bytes either way: the symlink follows the new inode, the copy has its own.
      expect(sha256(await readFile(path.join(out, 'proj/team/app:1.0', layer.slice(7))))).toBe(layer);
    });
  }
});
