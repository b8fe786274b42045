// What an output directory may hold at the lock's name besides a lock: a symlink (to /etc/shadow, say), a FIFO,
// a directory. Reading through the symlink quoted the target's first bytes into the log; opening the FIFO hung
// the run for good; the directory ended it with a stack (exit 1). Each is now refused with exit 3, named, unread.
import { mkdir, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EXIT } from '../src/errors.js';
import { acquireRunLock, LOCK_FILE_NAME } from '../src/output/run-lock.js';

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-lock-hostile-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('a lock name that is not a regular file', () => {
  it('a symlink is neither followed nor quoted nor removed', async () => {
    const dir = await tempDir();
    const secret = path.join(dir, 'shadow');
    await writeFile(secret, 'root:$6$SECRETHASH:19000:0:99999:7:::\n');
    const out = path.join(dir, 'out');
    await mkdir(out);
    await symlink(secret, path.join(out, LOCK_FILE_NAME));
    const warnings: string[] = [];
    const error = await acquireRunLock(out, { command: 'export', onWarning: (w) => warnings.push(w) }).then(
      () => undefined,
      (e: unknown) => e as { exitCode: number; message: string },
    );
    expect(error?.exitCode).toBe(EXIT.preflight);
    expect(error?.message).toMatch(/is a symlink, not a file registry-rescue writes/);
    expect(`${error?.message}${warnings.join('')}`).not.toMatch(/SECRETHASH/);
    expect(await readlink(path.join(out, LOCK_FILE_NAME))).toBe(secret);
  });

  it('a FIFO is refused at once instead of hanging, and so is a directory', async () => {
    const dir = await tempDir();
    execFileSync('mkfifo', [path.join(dir, LOCK_FILE_NAME)]);
    const fifo = acquireRunLock(dir, { command: 'export' }).then(
      () => 'acquired',
      (e: { exitCode: number; message: string }) => `${e.exitCode} ${e.message}`,
    );
    const outcome = await Promise.race([fifo, new Promise((resolve) => setTimeout(() => resolve('hung'), 5000))]);
    expect(outcome).toMatch(new RegExp(`^${EXIT.preflight} .*is a FIFO`));

    const other = await tempDir();
    await mkdir(path.join(other, LOCK_FILE_NAME));
    await expect(acquireRunLock(other, { command: 'export' })).rejects.toMatchObject({ exitCode: EXIT.preflight, message: expect.stringMatching(/is a directory/) });
  });
});
