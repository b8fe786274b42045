// Faults during an export: the output filesystem full (ENOSPC: out of inodes with hard links, out of bytes
// with --link copy) on a small tmpfs, and the export killed by SIGTERM or SIGKILL mid-run. Each time nothing is
// half-written (every layout in --out is complete and identical to a clean export's), the storage tree is
// unchanged, and the next run finishes the job. EXDEV, EMLINK and EPERM on real filesystems are in
// export-links.test.ts and export.test.ts (see README "Guarantees").
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateStorage } from '../scripts/bench/generate-storage.mjs';
import { BIN, cli, copyFixture, expectedTags, FIXTURE_STORAGE } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';
import { expectStorageUnchanged, snapshotStorage } from './helpers/tree.js';

const TIMEOUT = 240_000;
const isRoot = process.getuid?.() === 0;

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
      generateStorage({ dir: storage, tags: 500, seed: 11 });
      const before = await snapshotStorage(storage);
      const out = path.join(dir, 'out');
      const child = execa('node', [BIN, 'export', storage, '--out', out, '-q'], { reject: false });
      // Wait until some layouts are in place, then interrupt.
      const deadline = Date.now() + 120_000;
      while ((await layoutsOf(out)).size < 10) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the export did not get going (exit ${child.exitCode})`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill(signal);
      const r = await child;
      if (signal === 'SIGTERM') {
        expect(r.exitCode, String(r.stderr)).toBe(143);
        await expect(stat(path.join(out, '.registry-rescue.lock'))).rejects.toThrow(/ENOENT/);
      } else {
        expect(r.signal).toBe('SIGKILL');
      }
      const partial = await layoutsOf(out);
      await expectStorageUnchanged(storage, before, `export stopped by ${signal}`);
      const next = await cli(['export', storage, '--out', out, '-q']);
      expect(next.exitCode, next.stderr).toBe(0);
      const full = await layoutsOf(out);
      expect(partial.size).toBeLessThan(full.size);
      // What the interrupted run left visible was complete: the finished run found it unchanged.
      for (const [id, files] of partial) expect(full.get(id), id).toBe(files);
      expect(await readdir(path.join(dir, '.out.registry-rescue-staging')).catch(() => [])).toEqual([]);
      await expectStorageUnchanged(storage, before, 'the export after the interrupt');
      await rm(out, { recursive: true, force: true });
    }, TIMEOUT);
  }
});

// The comparisons above are only as good as the reference: it holds a layout for every exportable tag.
it('the reference export holds exactly the fixture\'s exportable tags (a same-size corrupt layer is only found with --verify-blobs)', async () => {
  const ok = (await expectedTags()).filter((t) => t.status === 'ok' || t.problemCode === 'blob-digest-mismatch').map((t) => `${t.repository}:${t.tag}`).sort();
  expect([...(await referenceLayouts()).keys()].sort()).toEqual(ok);
}, TIMEOUT);
