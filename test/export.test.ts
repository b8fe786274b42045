// list and export against a storage tree written by a real docker-registry (fixtures/make-storage.sh),
// through the real CLI. Each test works on its own copy of the fixture in one temp dir, so hard links
// stay on one filesystem.
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { blobPath, cli, copyFixture, expectedTags, snapshotTree, type ExpectedTag } from './helpers/cli.js';

let expected: ExpectedTag[];
beforeAll(async () => {
  expected = await expectedTags();
});

const idOf = (t: { repository: string; tag: string }) => `${t.repository}:${t.tag}`;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('list', () => {
  it('reports every tag of the fixture with its digest, kind and status', async () => {
    const { storage } = await copyFixture();
    const r = await cli(['list', '--verify-blobs', storage, '--json']);
    expect(r.exitCode, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as { images: Array<Record<string, any>>; summary: Record<string, any> };
    const byId = new Map(doc.images.map((i) => [idOf(i as any), i]));
    expect([...byId.keys()].sort()).toEqual(expected.map(idOf).sort());
    for (const t of expected) {
      const got = byId.get(idOf(t))!;
      expect({ id: idOf(t), status: got.status, digest: got.digest }).toEqual({ id: idOf(t), status: t.status, digest: t.digest });
      // What an unreadable manifest was meant to be cannot be known from storage.
      if (t.status === 'ok') expect(got.kind, idOf(t)).toBe(t.kind);
      if (t.problemCode) expect(got.problems.map((p: any) => p.code), idOf(t)).toContain(t.problemCode);
      else expect(got.problems, idOf(t)).toEqual([]);
      if (t.platforms) expect(got.platforms).toEqual(t.platforms);
      for (const p of got.problems) expect(p.message.startsWith(`${idOf(t)}: `), p.message).toBe(true);
    }
    expect(doc.summary.broken).toBe(expected.filter((t) => t.status === 'broken').length);
  });

  it('prints exportable tags as a tags file that selects exactly them', async () => {
    const { storage, dir } = await copyFixture();
    const r = await cli(['list', '--verify-blobs', storage, '--format', 'tags']);
    const lines = r.stdout.trim().split('\n');
    expect(lines.sort()).toEqual(expected.filter((t) => t.status === 'ok').map(idOf).sort());
    await writeFile(path.join(dir, 'ok.tags'), r.stdout);
    const again = await cli(['list', '--verify-blobs', storage, '--json', '--tags-file', path.join(dir, 'ok.tags')]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).images.every((i: any) => i.status === 'ok')).toBe(true);
  });

  it('names the file, digest and descriptor at fault', async () => {
    const { storage } = await copyFixture();
    const r = await cli(['list', '--verify-blobs', storage]);
    // Each broken tag has its row, and the line under it names the descriptor, digest and file.
    for (const t of expected.filter((x) => x.status === 'broken')) {
      expect(r.stdout).toMatch(new RegExp(`^broken +${idOf(t).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'));
    }
    const json = JSON.parse((await cli(['list', '--verify-blobs', storage, '--json'])).stdout);
    for (const i of json.images.filter((x: any) => x.status === 'broken')) expect(i.problems[0].message.startsWith(`${idOf(i)}: `)).toBe(true);
    expect(r.stdout).toMatch(/layer 2 sha256:[0-9a-f]{64} is missing \(blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}\/data\)/);
    expect(r.stdout).toMatch(/the link file is empty \(repositories\/.*\/current\/link\)/);
  });

  it('accepts the volume root, docker/registry and docker/registry/v2, and refuses anything else (exit 3)', async () => {
    const { storage } = await copyFixture();
    for (const p of [storage, path.join(storage, 'docker/registry'), path.join(storage, 'docker/registry/v2')]) {
      const r = await cli(['list', '--verify-blobs', p, '--format', 'tags', '-q']);
      expect(r.stdout.trim().split('\n').length, `${p}: ${r.stderr}`).toBe(expected.filter((t) => t.status === 'ok').length);
    }
    const bad = await cli(['list', '--verify-blobs', path.join(storage, 'docker')]);
    expect(bad.exitCode).toBe(3);
    expect(bad.stderr).toContain('no registry storage found at');
    expect(bad.stderr).toContain('docker/registry/v2/{repositories,blobs}');
    expect((await cli(['list', '--verify-blobs', '/nonexistent/registry'])).exitCode).toBe(3);
    expect((await cli(['list'])).exitCode).toBe(2);
    const noTags = await cli(['list', storage, '--tags-file', '/nonexistent/rescue.tags']);
    expect(noTags.exitCode).toBe(2);
    expect(noTags.stderr).toContain('cannot read the tags file /nonexistent/rescue.tags: ENOENT');
  });

  it('filters with a tags file and --exclude, and reports listed tags missing from storage', async () => {
    const { storage, dir } = await copyFixture();
    const file = path.join(dir, 'rescue.tags');
    await writeFile(file, '# from Harbor\nproj/**\nlibrary/alpine-like:3.19\nlibrary/alpine-like:gone\nnothing/*:x\n');
    const r = await cli(['list', '--verify-blobs', storage, '--json', '--tags-file', file, '--exclude', 'proj/team/app/debug']);
    const doc = JSON.parse(r.stdout);
    const ids = doc.images.map(idOf).sort();
    const want = expected.filter((t) => (t.repository.startsWith('proj/') && t.repository !== 'proj/team/app/debug') || idOf(t) === 'library/alpine-like:3.19').map(idOf).sort();
    expect(ids).toEqual(want);
    expect(doc.summary.missingFromStorage).toEqual(['library/alpine-like:gone']);
    expect(doc.summary.unmatchedEntries).toEqual(['nothing/*:x']);
    expect(doc.summary.filteredOut).toBe(expected.length - want.length);
  });
});

describe('accessories', () => {
  it('a signature tag (sha256-<digest>.sig) follows its image into a tags-file selection, unless excluded', async () => {
    const { storage, dir } = await copyFixture();
    const app = expected.find((t) => idOf(t) === 'proj/team/app:1.0')!;
    const sig = `proj/team/app:sha256-${app.digest!.slice(7)}.sig`;
    const file = path.join(dir, 'one.tags');
    await writeFile(file, 'proj/team/app:1.0\n');
    const r = JSON.parse((await cli(['list', storage, '--json', '--tags-file', file])).stdout);
    expect(r.images.map(idOf).sort()).toEqual(['proj/team/app:1.0', sig].sort());
    expect(r.summary.filteredOut).toBe(expected.length - 2);
    const ex = JSON.parse((await cli(['list', storage, '--json', '--tags-file', file, '--exclude', 'proj/team/app:sha256-*'])).stdout);
    expect(ex.images.map(idOf)).toEqual(['proj/team/app:1.0']);
  });
});

describe('blob verification', () => {
  it('catches a same-size corrupt layer only with --verify-blobs (sizes are always checked)', async () => {
    const { storage } = await copyFixture();
    const corrupt = expected.find((t) => t.problemCode === 'blob-digest-mismatch')!;
    const quick = JSON.parse((await cli(['list', storage, '--json'])).stdout).images.find((i: any) => idOf(i) === idOf(corrupt));
    expect(quick.status).toBe('ok');
    const full = JSON.parse((await cli(['list', storage, '--json', '--verify-blobs'])).stdout).images.find((i: any) => idOf(i) === idOf(corrupt));
    expect(full.status).toBe('broken');
    expect(full.problems[0].message).toMatch(/is corrupt: its content hashes to sha256:[0-9a-f]{64} \(blobs\/sha256\//);
  });
});

describe('export', () => {
  it('writes one hard-linked dir: layout per exportable tag and leaves the storage untouched', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const before = await snapshotTree(storage);
    const out = path.join(dir, 'out');
    const r = await cli(['export', '--verify-blobs', storage, '--out', out]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(await snapshotTree(storage)).toEqual(before);

    for (const t of expected) {
      const layout = path.join(out, idOf(t));
      if (t.status !== 'ok') {
        await expect(stat(layout), idOf(t)).rejects.toThrow();
        continue;
      }
      const names = (await readdir(layout)).sort();
      expect(names).toContain('manifest.json');
      expect(names).toContain('version');
      expect(names.filter((n) => n.startsWith('signature'))).toEqual([]);
      // layoutFiles counts manifests and distinct blobs; `version` comes on top.
      if (t.layoutFiles !== undefined) expect(names.length, idOf(t)).toBe(t.layoutFiles + 1);
      expect(await readFile(path.join(layout, 'version'), 'utf8')).toBe('Directory Transport Version: 1.1\n');
      const manifest = await readFile(path.join(layout, 'manifest.json'));
      expect(sha256(manifest)).toBe(t.digest);
      for (const name of names.filter((n) => n !== 'version')) {
        const digest = name === 'manifest.json' ? t.digest! : `sha256:${name.replace('.manifest.json', '')}`;
        const [a, b] = await Promise.all([stat(path.join(layout, name)), stat(blobPath(v2, digest))]);
        expect(a.ino, `${idOf(t)}/${name} is a hard link to its blob`).toBe(b.ino);
      }
    }
    // The run's staging directory is gone, and the shared one it left empty.
    await expect(readdir(path.join(dir, '.out.registry-rescue-staging'))).rejects.toThrow(/ENOENT/);
  });

  it('lists an index\'s children as <hex>.manifest.json with all their blobs in the same dir', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const out = path.join(dir, 'out');
    await cli(['export', '--verify-blobs', storage, '--out', out, '-q']);
    const indexes = expected.filter((t) => t.status === 'ok' && t.kind === 'index');
    expect(indexes.length).toBeGreaterThanOrEqual(2);
    for (const t of indexes) {
      const layout = path.join(out, idOf(t));
      const index = JSON.parse(await readFile(path.join(layout, 'manifest.json'), 'utf8'));
      const want = new Set(['manifest.json', 'version']);
      for (const child of index.manifests) {
        const hex = child.digest.slice(7);
        want.add(`${hex}.manifest.json`);
        const m = JSON.parse(await readFile(blobPath(v2, child.digest), 'utf8'));
        for (const d of [m.config, ...m.layers]) want.add(d.digest.slice(7));
      }
      expect((await readdir(layout)).sort()).toEqual([...want].sort());
    }
  });

  it('is idempotent, rebuilds a moved tag and prunes a removed one', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const out = path.join(dir, 'out');
    await cli(['export', '--verify-blobs', storage, '--out', out, '-q']);
    const ok = expected.filter((t) => t.status === 'ok');
    const first = await snapshotTree(out);

    const again = await cli(['export', '--verify-blobs', storage, '--out', out, '--json']);
    const doc = JSON.parse(again.stdout);
    expect(doc.images.filter((i: any) => i.status === 'ok').every((i: any) => i.outcome === 'unchanged')).toBe(true);
    expect(doc.summary.counts.unchanged).toBe(ok.length);
    expect(await snapshotTree(out)).toEqual(first);

    // Move a tag on disk the way a push does: current/link now names another manifest of the repository.
    const a = ok.find((t) => idOf(t) === 'library/alpine-like:3.19')!;
    const b = ok.find((t) => t.kind === 'image' && t.digest !== a.digest && t.repository === a.repository) ?? undefined;
    const moveTo = b?.digest ?? ok.find((t) => t.kind === 'image' && t.digest !== a.digest)!.digest!;
    const repoDir = path.join(v2, 'repositories', a.repository);
    await mkdir(path.join(repoDir, '_manifests/revisions/sha256', moveTo.slice(7)), { recursive: true });
    await writeFile(path.join(repoDir, '_manifests/revisions/sha256', moveTo.slice(7), 'link'), moveTo);
    await writeFile(path.join(repoDir, '_manifests/tags', a.tag, 'current/link'), moveTo);
    // And remove another tag entirely.
    const gone = ok.find((t) => t.repository === 'proj/b/app')!;
    await rm(path.join(v2, 'repositories', gone.repository, '_manifests/tags', gone.tag), { recursive: true });

    const beforeThird = await snapshotTree(storage);
    const third = await cli(['export', '--verify-blobs', storage, '--out', out, '--json', '--prune']);
    // Rebuilding and pruning layouts leaves the storage as untouched as creating them.
    expect(await snapshotTree(storage)).toEqual(beforeThird);
    const d3 = JSON.parse(third.stdout);
    const moved = d3.images.find((i: any) => idOf(i) === idOf(a));
    expect(moved.outcome).toBe('rebuilt');
    expect(moved.reason).toBe(`the tag moved from ${a.digest} to ${moveTo}`);
    expect(sha256(await readFile(path.join(out, idOf(a), 'manifest.json')))).toBe(moveTo);
    expect(d3.summary.pruned).toBe(1);
    // Pruning ran inside the run: its staging is gone afterwards, and so is its lock.
    await expect(readdir(path.join(dir, '.out.registry-rescue-staging'))).rejects.toThrow(/ENOENT/);
    await expect(stat(path.join(out, '.registry-rescue.lock'))).rejects.toThrow(/ENOENT/);
    await expect(stat(path.join(out, idOf(gone)))).rejects.toThrow();
    expect((await stat(path.join(out, 'proj/a/app:1.0'))).isDirectory()).toBe(true);
  });

  it('dry run prints the plan from the same code and touches nothing', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    const r = await cli(['export', '--verify-blobs', storage, '--out', out, '--dry-run']);
    expect(r.exitCode).toBe(4);
    await expect(stat(out)).rejects.toThrow();
    await expect(stat(path.join(dir, '.out.registry-rescue-staging'))).rejects.toThrow();
    for (const t of expected.filter((x) => x.status === 'ok')) {
      expect(r.stdout).toMatch(new RegExp(`would create +${idOf(t).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  ${out}/\\S+  ${t.layoutFiles! + 1} files`));
    }
    const json = JSON.parse((await cli(['export', '--verify-blobs', storage, '--out', out, '--dry-run', '--json'])).stdout);
    expect(json.images.filter((i: any) => i.outcome === 'would-create').length).toBe(expected.filter((t) => t.status === 'ok').length);
    // The real run does what the dry run said.
    const real = JSON.parse((await cli(['export', '--verify-blobs', storage, '--out', out, '--json'])).stdout);
    expect(real.images.map((i: any) => [idOf(i), i.action, i.files])).toEqual(json.images.map((i: any) => [idOf(i), i.action, i.files]));
  });

  it('refuses an output dir inside the registry tree or on another filesystem (exit 3), naming the alternatives', async () => {
    const { storage, v2 } = await copyFixture();
    const inside = await cli(['export', '--verify-blobs', storage, '--out', path.join(v2, 'rescue')]);
    expect(inside.exitCode).toBe(3);
    expect(inside.stderr).toContain('is inside the registry storage');
    await expect(stat(path.join(v2, 'rescue'))).rejects.toThrow();
    // /dev/shm is a tmpfs: another filesystem than the temp dir on every Linux machine with it.
    const shm = await stat('/dev/shm').catch(() => undefined);
    if (shm && shm.dev !== (await stat(storage)).dev) {
      const other = await cli(['export', '--verify-blobs', storage, '--out', `/dev/shm/rr-${process.pid}`]);
      expect(other.exitCode).toBe(3);
      expect(other.stderr).toContain('--link symlink');
      await rm(`/dev/shm/rr-${process.pid}`, { recursive: true, force: true });
      await rm(`/dev/shm/.rr-${process.pid}.registry-rescue-staging`, { recursive: true, force: true });
    }
  });

  it('--link symlink points at the blobs in storage; --link copy copies them', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const t = expected.find((x) => x.status === 'ok' && x.kind === 'image')!;
    await cli(['export', '--verify-blobs', storage, '--out', path.join(dir, 'sym'), '--link', 'symlink', '-q']);
    const sym = path.join(dir, 'sym', idOf(t), 'manifest.json');
    expect((await lstat(sym)).isSymbolicLink()).toBe(true);
    expect(await readlink(sym)).toBe(blobPath(v2, t.digest!));
    await cli(['export', '--verify-blobs', storage, '--out', path.join(dir, 'copy'), '--link', 'copy', '-q']);
    const copied = path.join(dir, 'copy', idOf(t), 'manifest.json');
    expect((await stat(copied)).ino).not.toBe((await stat(blobPath(v2, t.digest!))).ino);
    expect(sha256(await readFile(copied))).toBe(t.digest);
  });
});
