// The storage is read-only to every command: after each one (successful, failed, refused or interrupted) the
// registry tree (`<storage>/docker`) is byte-identical: same entries, contents, modes, owners and mtimes of files
// and directories (helpers/tree.ts). Hard links made by an export change only a blob's link count and ctime.
import { chmod, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, cli, copyFixture } from './helpers/cli.js';
import { closedPort, startRegistry } from './helpers/registry.js';
import { killStrays } from './helpers/proc-watch.js';
import { diffTrees, expectStorageUnchanged, snapshotStorage } from './helpers/tree.js';

const TIMEOUT = 300_000;
const FAIL = path.join(import.meta.dirname, 'bin/skopeo-fail-sync.js');
const HANG = path.join(import.meta.dirname, 'bin/skopeo-hang-sync.js');

async function waitForFile(file: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await readFile(file, 'utf8').catch(() => '')).trim()) {
    if (Date.now() > end) throw new Error(`${file} never appeared`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the tree snapshot', () => {
  it('notices a directory touched, a file rewritten with the same size and mtime, a mode change, an entry removed', async () => {
    const { storage, v2 } = await copyFixture();
    const before = await snapshotStorage(storage);
    expect(diffTrees(before, await snapshotStorage(storage))).toEqual([]);
    const repo = path.join(v2, 'repositories/proj/a/app');
    await utimes(repo, new Date(), new Date(1_000_000));
    const link = path.join(repo, '_manifests/tags/1.0/current/link');
    const old = await readFile(link, 'utf8');
    const stamp = (await stat(link)).mtime;
    await writeFile(link, old.replace(/.$/, old.endsWith('0') ? '1' : '0'));
    await utimes(link, stamp, stamp);
    await chmod(path.join(v2, 'repositories/proj/b'), 0o700);
    await rm(path.join(v2, 'repositories/legacy'), { recursive: true });
    const diff = diffTrees(before, await snapshotStorage(storage)).map((l) => l.split(':')[0]);
    expect(diff).toEqual(expect.arrayContaining([
      '~ registry/v2/repositories/proj/a/app',
      '~ registry/v2/repositories/proj/a/app/_manifests/tags/1.0/current/link',
      '~ registry/v2/repositories/proj/b',
      '- registry/v2/repositories/legacy',
      '~ registry/v2/repositories',
    ]));
  });
});

describe('the storage tree is byte-identical after every command', () => {
  it('list, export (every link mode, again, --prune, dry run) and refused or failed runs of them', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const before = await snapshotStorage(storage);
    const out = path.join(dir, 'out');
    const badTags = path.join(dir, 'bad.tags');
    await writeFile(badTags, 'not a valid line:a:b\n');
    const runs: Array<[string[], number]> = [
      [['list', storage], 4],
      [['list', storage, '--json', '--verify-blobs'], 4],
      [['list', storage, '--format', 'tags'], 4],
      [['export', storage, '--out', out, '--dry-run'], 4],
      [['export', storage, '--out', out], 4],
      [['export', storage, '--out', out], 4],
      [['export', storage, '--out', out, '--prune', '--verify-blobs'], 4],
      [['export', storage, '--out', path.join(dir, 'sym'), '--link', 'symlink'], 4],
      [['export', storage, '--out', path.join(dir, 'copy'), '--link', 'copy'], 4],
      // Refused: an --out inside the registry tree, a malformed tags file.
      [['export', storage, '--out', path.join(v2, 'repositories', 'rescue-out')], 3],
      [['list', storage, '--tags-file', badTags], 2],
    ];
    for (const [args, code] of runs) {
      const r = await cli([...args, '-q']);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      await expectStorageUnchanged(storage, before, args.slice(0, 1).concat(args.slice(2)).join(' '));
    }
  }, TIMEOUT);

  it('sync (dry run, real push, again), verify, and syncs that fail: target unreachable, every push failing', async () => {
    const reg = await startRegistry();
    const { dir, storage } = await copyFixture();
    const before = await snapshotStorage(storage);
    const to = ['--to', reg.host, '--dest-tls-verify=false'];
    const runs: Array<[string[], number]> = [
      [['sync', storage, ...to, '--dry-run'], 4],
      [['sync', storage, ...to, '--report', path.join(dir, 'r.json')], 4],
      [['sync', storage, ...to], 4],
      [['verify', storage, ...to], 4],
      [['sync', storage, '--to', `127.0.0.1:${await closedPort()}`, '--dest-tls-verify=false'], 3],
      [['sync', storage, '--to', `${reg.host}/failing`, '--dest-tls-verify=false', '--skopeo', FAIL, '--retries', '0'], 4],
    ];
    for (const [args, code] of runs) {
      const r = await cli([...args, '-q']);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      await expectStorageUnchanged(storage, before, args.slice(0, 1).concat(args.slice(2)).join(' '));
    }
  }, TIMEOUT);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`a sync stopped by ${signal} while pushing, and the run after it`, async () => {
      const reg = await startRegistry();
      const { dir, storage } = await copyFixture();
      const before = await snapshotStorage(storage);
      const pids = path.join(dir, 'pids');
      const child = execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--skopeo', HANG, '-q'], { reject: false, env: { SKOPEO_HANG_PID_FILE: pids } });
      await waitForFile(pids);
      child.kill(signal);
      const r = await child;
      if (signal === 'SIGTERM') expect(r.exitCode, String(r.stderr)).toBe(143);
      else expect(r.signal).toBe('SIGKILL');
      for (const pid of (await readFile(pids, 'utf8')).trim().split('\n').map(Number)) {
        try {
          process.kill(pid, 'SIGKILL'); // a hung fake left behind by SIGKILL of its parent
        } catch {
          // already gone
        }
      }
      await killStrays(storage); // a fake spawned just before the kill, whose pid was not written yet
      await expectStorageUnchanged(storage, before, `sync stopped by ${signal}`);
      const next = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '-q']);
      expect(next.exitCode, next.stderr).toBe(4);
      await expectStorageUnchanged(storage, before, `the sync after ${signal}`);
    }, TIMEOUT);
  }
});
