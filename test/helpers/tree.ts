/**
 * Proof that a command left a tree alone: a snapshot of every entry under a root (type, mode, size, mtime of
 * files AND directories, file contents' sha256, symlink targets), and an assertion that names what differs.
 * Hard links made by an export change a blob's link count and ctime only, which the snapshot leaves out.
 */
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';

export type TreeSnapshot = Map<string, string>;

/** Every entry under `root`, the root itself included (as `.`). */
export async function snapshot(root: string): Promise<TreeSnapshot> {
  const out: TreeSnapshot = new Map();
  async function visit(p: string): Promise<void> {
    const s = await lstat(p);
    const rel = path.relative(root, p) || '.';
    const meta = `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} ${s.mtimeMs}`;
    if (s.isDirectory()) {
      out.set(rel, `dir ${meta}`);
      for (const name of (await readdir(p)).sort()) await visit(path.join(p, name));
    } else if (s.isSymbolicLink()) {
      out.set(rel, `symlink ${meta} -> ${await readlink(p)}`);
    } else if (s.isFile()) {
      out.set(rel, `file ${meta} ${s.size} ${createHash('sha256').update(await readFile(p)).digest('hex')}`);
    } else {
      out.set(rel, `special ${meta} ${s.mode.toString(8)}`);
    }
  }
  await visit(root);
  return out;
}

/** The registry tree of a storage root (`<storage>/docker`): what no command may change. */
export const snapshotStorage = (storage: string): Promise<TreeSnapshot> => snapshot(path.join(storage, 'docker'));

/** Lines `+ added`, `- removed`, `~ changed: before → after`, sorted. */
export function diffTrees(before: TreeSnapshot, after: TreeSnapshot): string[] {
  const lines: string[] = [];
  for (const [p, v] of before) {
    const w = after.get(p);
    if (w === undefined) lines.push(`- ${p}`);
    else if (w !== v) lines.push(`~ ${p}: ${v} → ${w}`);
  }
  for (const p of after.keys()) if (!before.has(p)) lines.push(`+ ${p}`);
  return lines.sort();
}

/** Asserts the storage's registry tree is byte-identical (contents and mtimes) to `before`, naming every difference. */
export async function expectStorageUnchanged(storage: string, before: TreeSnapshot, after: string): Promise<void> {
  expect(diffTrees(before, await snapshotStorage(storage)), `registry tree changed by ${after}`).toEqual([]);
}
