// Faults during an export: the output filesystem full (ENOSPC: out of inodes with hard links, out of bytes
// with --link copy) on a small tmpfs, and the export killed by SIGTERM or SIGKILL mid-run. Each time nothing is
// half-written (every layout in --out is complete and identical to a clean export's), the storage tree is
// unchanged, and the next run finishes the job. EXDEV, EMLINK and EPERM on real filesystems are in
// export-links.test.ts and export.test.ts (see README "Guarantees").
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, copyFile, cp, mkdir, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateStorage } from '../scripts/bench/generate-storage.mjs';
import { BIN, blobPath, cli, copyFixture, expectedTags, FIXTURE_STORAGE } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';
import { expectInterruptedLastLine } from './helpers/last-line.js';
import { expectStorageUnchanged, snapshotStorage } from './helpers/tree.js';

const TIMEOUT = 240_000;
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const protectedHardlinks = await readFile('/proc/sys/fs/protected_hardlinks', 'utf8').then((x) => x.trim() === '1', () => false);

/** Whether tmpfs can be mounted here (root with CAP_SYS_ADMIN); tried once. */
async function canMountTmpfs(): Promise<boolean> {
  if (!isRoot) return false;
  const dir = await makeTempDir('rr-tmpfs-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const tmpfsOk = await canMountTmpfs();

/** Mounts a tmpfs at `dir` (unmounted when the test finishes). */
function mountTmpfs(dir: string, options: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  onTestFinished(() => void execFileSync('umount', ['-l', dir], { stdio: 'ignore' }));
}
const remount = (dir: string, options: string): void => void execFileSync('mount', ['-o', `remount,${options}`, dir]);

/** Every layout under `out` (a directory `<repository>:<tag>` holding manifest.json): its files and their sha256. */
async function layoutsOf(out: string): Promise<Map<string, string>> {
  const layouts = new Map<string, string>();
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const names = entries.map((e) => e.name);
    if (path.basename(dir).includes(':') && names.includes('manifest.json')) {
      const files = await Promise.all(names.sort().map(async (n) => `${n}=${createHash('sha256').update(await readFile(path.join(dir, n))).digest('hex').slice(0, 12)}`));
      layouts.set(path.relative(out, dir), files.join(' '));
      return;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(path.join(dir, e.name));
  }
  await walk(out);
  return layouts;
}

/** The layouts a clean export of the fixture writes (on the test's ordinary filesystem). */
async function referenceLayouts(): Promise<Map<string, string>> {
  const { dir, storage } = await copyFixture();
  const out = path.join(dir, 'out');
  const r = await cli(['export', storage, '--out', out, '-q']);
  expect(r.exitCode, r.stderr).toBe(4); // the fixture's broken tags
  return layoutsOf(out);
}

/** Asserts every layout in `got` is one of `reference`, byte for byte: nothing half-written. */
function expectComplete(got: Map<string, string>, reference: Map<string, string>): void {
  for (const [id, files] of got) expect(files, `layout ${id} is not complete`).toBe(reference.get(id));
}

describe('ENOSPC during export', () => {
  it.runIf(tmpfsOk).each([
    ['out of inodes, hard links', 'hard'],
    ['out of bytes, --link copy', 'copy'],
  ])('%s: the failed images are named, no layout is half-written, storage unchanged, the next run finishes', async (_what, link) => {
    const reference = await referenceLayouts();
    const dir = await makeTempDir('rr-enospc-');
    const mnt = path.join(dir, 'mnt');
    await mkdir(mnt);
    mountTmpfs(mnt, 'size=64m,nr_inodes=100000');
    const storage = path.join(mnt, 'storage');
    await cp(FIXTURE_STORAGE, storage, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    const before = await snapshotStorage(storage);
    // Room for a few layouts and no more: 12 inodes (hard links need none, directories one each), or 6 pages.
    const fs = await statfs(mnt);
    if (link === 'hard') remount(mnt, `nr_inodes=${fs.files - fs.ffree + 12}`);
    else remount(mnt, `size=${(fs.blocks - fs.bfree + 6) * fs.bsize}`);
    const out = path.join(mnt, 'out');
    const r = await cli(['export', storage, '--out', out, '--link', link as string, '-q']);
    expect(r.exitCode, r.stderr).toBe(4);
    // Each failed image is named with the cause.
    expect(r.stdout + r.stderr).toMatch(/no space left|ENOSPC/i);
    const partial = await layoutsOf(out);
    expect(partial.size).toBeLessThan(reference.size);
    expectComplete(partial, reference);
    // Nothing of this run is left in staging.
    expect(await readdir(path.join(mnt, '.out.registry-rescue-staging')).catch(() => [])).toEqual([]);
    await expectStorageUnchanged(storage, before, `export on a full filesystem (${link})`);
    remount(mnt, 'size=64m,nr_inodes=100000');
    const next = await cli(['export', storage, '--out', out, '--link', link as string, '-q']);
    expect(next.exitCode, next.stderr).toBe(4);
    expect(await layoutsOf(out)).toEqual(reference);
    await expectStorageUnchanged(storage, before, 'export after the filesystem was enlarged');
  }, TIMEOUT);
});

describe('export interrupted mid-run', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal}: every layout written is complete, the storage is unchanged, and the next run finishes the job`, async () => {
      const dir = await makeTempDir('rr-export-kill-');
      const storage = path.join(dir, 'storage');
      // Big enough that the export is still running when the first layouts appear (500 took under half a second).
      const { tagsFile: every } = generateStorage({ dir: storage, tags: 1000, seed: 11 });
      // Every second tag: the tags file leaves out half of what the walk reads.
      const half = path.join(dir, 'half.tags');
      await writeFile(half, (await readFile(every, 'utf8')).split('\n').filter((_, i) => i % 2 === 1).map((l) => `${l}\n`).join(''));
      const before = await snapshotStorage(storage);
      const out = path.join(dir, 'out');
      // Not quiet under SIGTERM: its summary is checked.
      const report = path.join(dir, 'report.json');
      const child = execa('node', [BIN, 'export', storage, '--out', out, '--report', report, '--tags-file', half, ...(signal === 'SIGKILL' ? ['-q'] : [])], { reject: false });
      // Wait until some layouts are in place, then interrupt.
      const deadline = Date.now() + 120_000;
      // Counted by name only (layoutsOf reads every file): a slow probe would miss the run.
      while ((await readdir(out, { recursive: true }).catch(() => [] as string[])).filter((n) => /:[^/]*$/.test(n)).length < 10) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the export did not get going (exit ${child.exitCode})`);
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill(signal);
      const r = await child;
      if (signal === 'SIGTERM') {
        expect(r.exitCode, String(r.stderr)).toBe(143);
        await expect(stat(path.join(out, '.registry-rescue.lock'))).rejects.toThrow(/ENOENT/);
        // The summary counts what the walk read before the signal, and does not call it the storage.
        const read = Number(/^(\d+) tags read before the run stopped, /m.exec(String(r.stderr))?.[1]);
        expect(read, String(r.stderr)).toBeGreaterThan(0);
        expect(read).toBeLessThan(1000);
        expect(String(r.stderr)).not.toContain('in storage');
        const doc = JSON.parse(await readFile(report, 'utf8'));
        expect(doc.interrupted).toBe(true);
        expect(doc.summary.tags).toBe(read);
        // So are the tags the tags file left out: among those read, which the line above counts.
        expect(doc.summary.filteredOut).toBeGreaterThan(0);
        expect(String(r.stderr)).toContain(`\n${doc.summary.filteredOut} tags read left out by the tags file or --exclude\n`);
        // The last line has the shape of every run's (README, Exit codes), the signal's code and the report's counts.
        expect(doc.summary.counts.created).toBeGreaterThan(0);
        expectInterruptedLastLine(String(r.stderr), 'SIGTERM', doc);
        // The run's own staging directory, and the shared one it left empty, went with the partial report.
        await expect(readdir(path.join(dir, '.out.registry-rescue-staging'))).rejects.toThrow(/ENOENT/);
      } else {
        expect(r.signal).toBe('SIGKILL');
        // Left for the next run to sweep.
        expect((await readdir(path.join(dir, '.out.registry-rescue-staging'))).length).toBe(1);
      }
      const partial = await layoutsOf(out);
      await expectStorageUnchanged(storage, before, `export stopped by ${signal}`);
      const next = await cli(['export', storage, '--out', out, '-q', '--report', report]);
      expect(next.exitCode, next.stderr).toBe(0);
      expect(JSON.parse(await readFile(report, 'utf8')).interrupted).toBe(false);
      const full = await layoutsOf(out);
      expect(partial.size).toBeLessThan(full.size);
      // What the interrupted run left visible was complete: the finished run found it unchanged.
      for (const [id, files] of partial) expect(full.get(id), id).toBe(files);
      await expect(readdir(path.join(dir, '.out.registry-rescue-staging'))).rejects.toThrow(/ENOENT/);
      await expectStorageUnchanged(storage, before, 'the export after the interrupt');
      await rm(out, { recursive: true, force: true });
    }, TIMEOUT);
  }
});

/** The blob export's preflight probes (the first data file in readdir order, as run-export's findOneBlob): left alone. */
async function probedBlob(v2: string): Promise<string | undefined> {
  const root = path.join(v2, 'blobs/sha256');
  for (const prefix of await readdir(root)) {
    for (const hex of await readdir(path.join(root, prefix))) {
      const data = path.join(root, prefix, hex, 'data');
      if (await stat(data).then((x) => x.isFile(), () => false)) return data;
    }
  }
  return undefined;
}

/** A layer of proj/a/app:1.0 that is not the probed blob, and the ids of every layout holding it. */
async function victim(v2: string, reference: Map<string, string>): Promise<{ digest: string; ids: string[] }> {
  const probe = await probedBlob(v2);
  const files = (reference.get('proj/a/app:1.0') as string).split(' ').map((f) => f.split('=')[0] as string);
  const hex = files.find((n) => /^[0-9a-f]{64}$/.test(n) && blobPath(v2, `sha256:${n}`) !== probe) as string;
  const ids = [...reference].filter(([, f]) => f.split(' ').some((x) => x.startsWith(`${hex}=`))).map(([id]) => id);
  expect(ids).toContain('proj/a/app:1.0');
  return { digest: `sha256:${hex}`, ids };
}

describe('EPERM and EXDEV on one blob, mid-export', () => {
  it.runIf(isRoot && protectedHardlinks)('EPERM: a blob owned by another user (fs.protected_hardlinks=1) fails exactly the images holding it, named with the fixes; --link symlink finishes', async () => {
    const reference = await referenceLayouts();
    const { dir, storage, v2 } = await copyFixture();
    await chmod(dir, 0o755);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, storage]);
    const { digest, ids } = await victim(v2, reference);
    await chown(blobPath(v2, digest), 0, 0); // readable (0644) by nobody, but not theirs to hard-link
    const before = await snapshotStorage(storage);
    const area = path.join(dir, 'area');
    await mkdir(area);
    await chown(area, NOBODY, NOBODY);
    const out = path.join(area, 'out');
    const asNobody = (args: string[]) => execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'node', BIN, ...args], { reject: false });
    const r = await asNobody(['export', storage, '--out', out, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(4);
    const failed = (JSON.parse(String(r.stdout)).images as Array<{ id?: string; repository: string; tag: string; outcome?: string; status: string; error?: string }>)
      .filter((i) => i.outcome === 'failed');
    expect(failed.map((i) => `${i.repository}:${i.tag}`).sort()).toEqual([...ids].sort());
    for (const i of failed) expect(i.error).toMatch(new RegExp(`cannot hard-link ${digest} .*operation not permitted.*protected_hardlinks=1.*--link symlink`));
    const partial = await layoutsOf(out);
    expectComplete(partial, reference);
    for (const id of ids) expect(partial.has(id), id).toBe(false);
    await expectStorageUnchanged(storage, before, 'export as another user');
    const next = await asNobody(['export', storage, '--out', out, '--link', 'symlink', '-q']);
    expect(next.exitCode, String(next.stderr)).toBe(4);
    expect([...(await layoutsOf(out)).keys()].sort()).toEqual([...reference.keys()].sort());
    await expectStorageUnchanged(storage, before, 'the export after EPERM');
  }, TIMEOUT);

  it.runIf(tmpfsOk)('EXDEV: a blob on another filesystem (a mount inside the blob store) fails exactly the images holding it, named; --link symlink finishes', async () => {
    const reference = await referenceLayouts();
    const { dir, storage, v2 } = await copyFixture();
    const { digest, ids } = await victim(v2, reference);
    const blobDir = path.dirname(blobPath(v2, digest));
    const saved = path.join(dir, 'saved-data');
    await copyFile(blobPath(v2, digest), saved);
    mountTmpfs(blobDir, 'size=16m');
    await cp(saved, path.join(blobDir, 'data'), { preserveTimestamps: true });
    const before = await snapshotStorage(storage);
    const out = path.join(dir, 'out');
    const r = await cli(['export', storage, '--out', out, '--json']);
    expect(r.exitCode, r.stderr).toBe(4);
    const failed = (JSON.parse(r.stdout).images as Array<{ repository: string; tag: string; outcome?: string; error?: string }>).filter((i) => i.outcome === 'failed');
    expect(failed.map((i) => `${i.repository}:${i.tag}`).sort()).toEqual([...ids].sort());
    for (const i of failed) expect(i.error).toMatch(new RegExp(`cannot hard-link ${digest} .*are on different filesystems or mounts; use --link symlink or --link copy`));
    const partial = await layoutsOf(out);
    expectComplete(partial, reference);
    for (const id of ids) expect(partial.has(id), id).toBe(false);
    await expectStorageUnchanged(storage, before, 'export across filesystems');
    const next = await cli(['export', storage, '--out', out, '--link', 'symlink', '-q']);
    expect(next.exitCode, next.stderr).toBe(4);
    expect([...(await layoutsOf(out)).keys()].sort()).toEqual([...reference.keys()].sort());
  }, TIMEOUT);
});

// The comparisons above are only as good as the reference: it holds a layout for every exportable tag.
it('the reference export holds exactly the fixture\'s exportable tags (a same-size corrupt layer is only found with --verify-blobs)', async () => {
  const ok = (await expectedTags()).filter((t) => t.status === 'ok' || t.problemCode === 'blob-digest-mismatch').map((t) => `${t.repository}:${t.tag}`).sort();
  expect([...(await referenceLayouts()).keys()].sort()).toEqual(ok);
}, TIMEOUT);
