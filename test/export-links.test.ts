// Hard-link limits of real filesystems: ext4's 65000 links per inode (EMLINK) and
// fs.protected_hardlinks (EPERM for a user who does not own the blobs). Both run on the real
// kernel; each test states the condition it needs and is skipped, by name, where it cannot hold.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { chmod, chown, link, lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, blobPath, cli, copyFixture, expectedTags } from './helpers/cli.js';

const fsType = (p: string) => execFileSync('stat', ['-f', '-c', '%T', p], { encoding: 'utf8' }).trim();
const isRoot = process.getuid?.() === 0;
const protectedHardlinks = await readFile('/proc/sys/fs/protected_hardlinks', 'utf8').then((s) => s.trim() === '1', () => false);
const NOBODY = 65534;

/** Whether this machine lets us bind-mount (root with CAP_SYS_ADMIN, as on CI); tried once on scratch dirs. */
function canBindMount(): boolean {
  if (!isRoot) return false;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'rr-bind-'));
  const [a, b] = [path.join(scratch, 'a'), path.join(scratch, 'b')];
  mkdirSync(a);
  mkdirSync(b);
  try {
    execFileSync('mount', ['--bind', a, b], { stdio: 'ignore' });
    execFileSync('umount', [b], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs the CLI as nobody (uid 65534), who owns none of the fixture's root-owned blobs. */
function asNobody(args: string[]): { exitCode: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'node', BIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { exitCode: 0, stdout, stderr: '' };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { exitCode: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('hard-link limits', () => {
  it.runIf(fsType('/tmp') === 'ext2/ext3')('a blob at ext4\'s link limit (EMLINK) is symlinked instead, with a warning', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const t = (await expectedTags()).find((x) => x.status === 'ok' && x.repository === 'proj/b/app')!;
    const manifest = JSON.parse(await readFile(blobPath(v2, t.digest!), 'utf8'));
    const layer = manifest.layers[0].digest as string;
    // Use up the layer's link count the way 65000 exported layouts would.
    const filler = path.join(dir, 'filler');
    await mkdir(filler);
    let n = 0;
    for (;;) {
      try {
        await link(blobPath(v2, layer), path.join(filler, String(n++)));
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('EMLINK');
        break;
      }
    }
    await writeFile(path.join(dir, 'one.tags'), `${t.repository}:${t.tag}\n`);
    const out = path.join(dir, 'out');
    const r = await cli(['export', storage, '--out', out, '--tags-file', path.join(dir, 'one.tags'), '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const image = JSON.parse(r.stdout).images[0];
    expect(image.outcome).toBe('created');
    expect(image.warnings.join('\n')).toContain('hard-link limit (EMLINK');
    const file = path.join(out, `${t.repository}:${t.tag}`, layer.slice(7));
    expect((await lstat(file)).isSymbolicLink()).toBe(true);
    expect(await readlink(file)).toBe(blobPath(v2, layer));
  }, 120_000);

  it.runIf(isRoot && protectedHardlinks)('a user who does not own the blobs gets a clear preflight error (EPERM), and --link symlink works', async () => {
    const { dir, storage } = await copyFixture();
    await chmod(dir, 0o755);
    const area = path.join(dir, 'nobody');
    await mkdir(area);
    await chown(area, NOBODY, NOBODY);
    const hard = asNobody(['export', storage, '--out', path.join(area, 'out'), '-q']);
    expect(hard.exitCode, hard.stderr).toBe(3);
    expect(hard.stderr).toContain('operation not permitted (fs.protected_hardlinks=1');
    expect(hard.stderr).toContain('--link symlink');
    const sym = asNobody(['export', storage, '--out', path.join(area, 'out'), '--link', 'symlink', '-q', '--verify-blobs']);
    expect(sym.exitCode, sym.stderr).toBe(4);
    const ok = (await expectedTags()).filter((x) => x.status === 'ok');
    for (const t of ok) expect((await lstat(path.join(area, 'out', `${t.repository}:${t.tag}`, 'manifest.json'))).isSymbolicLink()).toBe(true);
  });

  it.runIf(isRoot)('an unreadable directory makes the run incomplete (exit 4) and stops --prune from removing anything', async () => {
    const { dir, storage, v2 } = await copyFixture();
    await chmod(dir, 0o755);
    const area = path.join(dir, 'nobody');
    await mkdir(area);
    await chown(area, NOBODY, NOBODY);
    const tags = path.join(area, 'ok.tags');
    await writeFile(tags, 'proj/**\n');
    const out = path.join(area, 'out');
    const first = asNobody(['export', storage, '--out', out, '--link', 'symlink', '--tags-file', tags, '-q']);
    expect(first.exitCode, first.stderr).toBe(0);
    await chmod(path.join(v2, 'repositories/proj/b'), 0o000);
    try {
      const second = asNobody(['export', storage, '--out', out, '--link', 'symlink', '--tags-file', tags, '--prune']);
      expect(second.exitCode, second.stderr).toBe(4);
      expect(second.stderr).toContain('warning: cannot read repositories/proj/b (EACCES); tags below it are not listed');
      expect(second.stderr).toContain('INCOMPLETE: 1 storage directory could not be read');
      expect((await lstat(path.join(out, 'proj/b/app:1.0', 'manifest.json'))).isSymbolicLink()).toBe(true);
    } finally {
      await chmod(path.join(v2, 'repositories/proj/b'), 0o755);
    }
  });

  it.runIf(canBindMount())('refuses an --out that is a bind mount (same st_dev, but rename fails with EXDEV), leaving nothing behind', async () => {
    const { dir, storage } = await copyFixture();
    const source = path.join(dir, 'mnt-src');
    const out = path.join(dir, 'out');
    await mkdir(source);
    await mkdir(out);
    execFileSync('mount', ['--bind', source, out], { stdio: 'ignore' });
    try {
      const r = await cli(['export', storage, '--out', out, '--link', 'symlink']);
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toContain(`the output directory ${out} is a mount point`);
      await expect(lstat(path.join(dir, '.out.registry-rescue-staging'))).rejects.toThrow(/ENOENT/);
      const inside = await cli(['export', storage, '--out', path.join(out, 'rescue'), '--link', 'symlink', '--verify-blobs', '-q']);
      expect(inside.exitCode, inside.stderr).toBe(4);
    } finally {
      execFileSync('umount', [out]);
    }
  });
});
