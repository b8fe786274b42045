/** Runs the real CLI (node bin/registry-rescue.js, built by `npm test`'s tsc step) and copies fixture storage. */
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from './registry.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/registry-rescue.js');
export const FIXTURE_STORAGE = path.join(ROOT, 'fixtures/storage');

export interface ExpectedTag {
  repository: string;
  tag: string;
  digest: string | null;
  mediaType: string | null;
  kind: string;
  status: 'ok' | 'broken' | 'skipped';
  problem: string | null;
  problemCode: string | null;
  layoutFiles?: number;
  platforms?: string[];
}

/** fixtures/expected.json: what the fixture script pushed and broke, tag by tag. */
export async function expectedTags(): Promise<ExpectedTag[]> {
  return (JSON.parse(await readFile(path.join(ROOT, 'fixtures/expected.json'), 'utf8')) as { tags: ExpectedTag[] }).tags;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; never throws on a non-zero exit. */
export async function cli(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}): Promise<CliResult> {
  const r = await execa('node', [BIN, ...args], {
    reject: false,
    cwd: opts.cwd ?? ROOT,
    env: { ...opts.env, FORCE_COLOR: '0' },
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' }),
    timeout: 240_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A temp dir holding a copy of the fixture storage at `<dir>/storage` (mtimes kept), removed after the test. */
export async function copyFixture(): Promise<{ dir: string; storage: string; v2: string }> {
  const dir = await makeTempDir('rr-export-');
  const storage = path.join(dir, 'storage');
  await cp(FIXTURE_STORAGE, storage, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  return { dir, storage, v2: path.join(storage, 'docker/registry/v2') };
}

/** Every path under `root` with its type, size, mtime and content hash: compare two to prove nothing changed. */
export async function snapshotTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      const s = await lstat(p);
      if (entry.isDirectory()) {
        out.set(path.relative(root, p), `dir ${s.mode.toString(8)} ${s.mtimeMs}`);
        await walk(p);
      } else {
        const hash = entry.isFile() ? createHash('sha256').update(await readFile(p)).digest('hex') : 'link';
        out.set(path.relative(root, p), `file ${s.mode.toString(8)} ${s.size} ${s.mtimeMs} ${hash}`);
      }
    }
  }
  await walk(root);
  return out;
}

/** Path of a blob's data file under a v2 root. */
export function blobPath(v2: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(v2, 'blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** Stores `body` as a blob and tags it in `repository`, as a push would (blob, revision link, tag link). */
export async function pushOnDisk(v2: string, repository: string, tag: string, body: string): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  await mkdir(path.dirname(blobPath(v2, digest)), { recursive: true });
  await writeFile(blobPath(v2, digest), body);
  const repo = path.join(v2, 'repositories', repository, '_manifests');
  await mkdir(path.join(repo, 'revisions/sha256', digest.slice(7)), { recursive: true });
  await writeFile(path.join(repo, 'revisions/sha256', digest.slice(7), 'link'), digest);
  await mkdir(path.join(repo, 'tags', tag, 'current'), { recursive: true });
  await writeFile(path.join(repo, 'tags', tag, 'current/link'), digest);
  return digest;
}
