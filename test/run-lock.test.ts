// The run lock against real second processes: holders are `node -e` scripts importing the built
// dist/output/run-lock.js (build with `npx tsc -p .` first; `npm test` does).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EXIT, LockHeldError } from '../src/errors.js';
import { acquireRunLock, LOCK_FILE_NAME, parseLock, waitForRunLock } from '../src/output/run-lock.js';

const DIST = path.join(import.meta.dirname, '../dist/output/run-lock.js');
const SRC = path.join(import.meta.dirname, '../src/output/run-lock.ts');
const HOST = os.hostname();

// argv: dir, releaseAfterMs (-1: hold until killed). Prints `held` or `locked`, then `released`.
const HOLDER = `
import { acquireRunLock } from ${JSON.stringify(pathToFileURL(DIST).href)};
const [dir, after] = process.argv.slice(1);
try {
  const lock = await acquireRunLock(dir, { command: 'sync' });
  console.log('held');
  if (Number(after) >= 0) setTimeout(async () => { await lock.release(); console.log('released'); }, Number(after));
  else setInterval(() => {}, 1e6);
} catch (error) {
  console.log(error.exitCode === 75 ? 'locked' : 'error ' + error.message);
}
`;

beforeAll(() => {
  if (!existsSync(DIST) || statSync(DIST).mtimeMs < statSync(SRC).mtimeMs) {
    throw new Error('dist/output/run-lock.js is missing or older than src: run `npx tsc -p .` first');
  }
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-lock-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a holder process and resolves once it printed its first line (`held` or `locked`). */
async function startHolder(dir: string, releaseAfterMs = -1): Promise<{ child: ChildProcess; first: string; output: () => string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, dir, String(releaseAfterMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onTestFinished(() => void child.kill('SIGKILL'));
  let out = '';
  const first = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`holder exited ${code} before printing: ${out}`)));
  });
  return { child, first, output: () => out };
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

async function catchError(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const lockJson = (holder: { pid: number; host: string; startedAt?: string; command?: string }) =>
  `${JSON.stringify({ startedAt: '2026-11-29T03:00:00.000Z', command: 'sync', ...holder })}\n`;

describe('acquireRunLock', () => {
  it('creates the directory and a complete lock file; release removes it, twice is harmless', async () => {
    const dir = path.join(await tempDir(), 'out', 'nested');
    const lock = await acquireRunLock(dir, { command: 'export', now: () => Date.UTC(2026, 10, 29, 3) });
    expect(lock.file).toBe(path.join(dir, LOCK_FILE_NAME));
    expect(JSON.parse(await readFile(lock.file, 'utf8'))).toEqual({
      pid: process.pid,
      host: HOST,
      startedAt: '2026-11-29T03:00:00.000Z',
      command: 'export',
    });
    expect((await stat(lock.file)).mode & 0o777).toBe(0o644);
    await lock.release();
    await lock.release();
    expect(await readdir(dir)).toEqual([]); // no temp or aside files left
    const again = await acquireRunLock(dir, { command: 'sync' });
    again.releaseSync();
    expect(existsSync(again.file)).toBe(false);
  });

  it('refuses while a second process holds it: LockHeldError, exit 75, naming the holder', async () => {
    const dir = await tempDir();
    const holder = await startHolder(dir);
    expect(holder.first).toBe('held');
    const error = await catchError(acquireRunLock(dir, { command: 'sync' }));
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as LockHeldError).exitCode).toBe(EXIT.locked);
    expect((error as LockHeldError).exitCode).toBe(75);
    expect((error as LockHeldError).holder).toMatchObject({ pid: holder.child.pid, host: HOST, command: 'sync' });
    const file = path.join(dir, LOCK_FILE_NAME);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^another registry-rescue sync \\(pid ${holder.child.pid} on ${HOST}, started \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ, \\d+ s ago\\) ` +
          `holds the lock on ${file.replace(/[.]/g, '\\.')}; wait for it, or use --wait-lock 30m$`,
      ),
    );
    // The holder's lock is untouched by the failed attempt.
    expect(parseLock(await readFile(file, 'utf8'))?.pid).toBe(holder.child.pid);
  });

  it('says how long ago a live holder on this host started', async () => {
    const dir = await tempDir();
    const file = path.join(dir, LOCK_FILE_NAME);
    // Our parent process is alive on this host; the lock was refreshed just now (fresh mtime).
    const startedAt = new Date(Date.now() - 2 * 3_600_000 - 30_000).toISOString();
    await writeFile(file, lockJson({ pid: process.ppid, host: HOST, startedAt }));
    const error = await catchError(acquireRunLock(dir, { command: 'export' }));
    expect((error as Error).message).toBe(
      `another registry-rescue sync (pid ${process.ppid} on ${HOST}, started ${startedAt.replace(/\.\d{3}Z$/, 'Z')}, 2 h ago) ` +
        `holds the lock on ${file}; wait for it, or use --wait-lock 30m`,
    );
    // Not refreshed for hours although the pid is alive: the pid may be another program's now.
    const old = new Date(Date.now() - 3 * 3_600_000);
    await utimes(file, old, old);
    expect(((await catchError(acquireRunLock(dir, { command: 'export' }))) as Error).message).toMatch(
      new RegExp(`. It has not refreshed the lock for 3 h: if pid ${process.ppid} is not registry-rescue, remove .*lock$`),
    );
  });

  it('with waitMs, gets the lock when the holder releases it during the wait', async () => {
    const dir = await tempDir();
    const holder = await startHolder(dir, 1_200);
    expect(holder.first).toBe('held');
    const start = performance.now();
    const lock = await acquireRunLock(dir, { command: 'sync', waitMs: 20_000 });
    expect(performance.now() - start).toBeGreaterThan(500);
    expect(holder.output()).toContain('released');
    expect(parseLock(await readFile(lock.file, 'utf8'))?.pid).toBe(process.pid);
    await lock.release();
  });

  it('with waitMs, says once that it waits and for whom, so a cron log does not go silent for the wait', async () => {
    const dir = await tempDir();
    const holder = await startHolder(dir, 1_200);
    const said: string[] = [];
    const lock = await acquireRunLock(dir, { command: 'export', waitMs: 20_000, pollMs: 100, onWaiting: (m) => said.push(m) });
    await lock.release();
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(new RegExp(`^another registry-rescue sync \\(pid ${holder.child.pid} on ${HOST}, started .*\\) holds the lock on .*${LOCK_FILE_NAME}; waiting up to 20 s for it \\(--wait-lock\\)$`));
    // sync waits before it reads credentials (waitForRunLock): the same notice.
    const again = await startHolder(dir, 1_200);
    const told: string[] = [];
    await waitForRunLock(dir, { waitMs: 20_000, pollMs: 100, onWaiting: (m) => told.push(m) });
    expect(told).toHaveLength(1);
    expect(told[0]).toContain(`(pid ${again.child.pid} on ${HOST}`);
    // A free lock: nothing to say.
    const none: string[] = [];
    const free = await acquireRunLock(dir, { command: 'export', waitMs: 20_000, onWaiting: (m) => none.push(m) });
    await free.release();
    expect(none).toEqual([]);
  });

  it('with waitMs, fails when the holder keeps it past the wait, saying it waited', async () => {
    const dir = await tempDir();
    const holder = await startHolder(dir);
    const start = performance.now();
    const error = await catchError(acquireRunLock(dir, { command: 'sync', waitMs: 1_300, pollMs: 200 }));
    expect(performance.now() - start).toBeGreaterThanOrEqual(1_250);
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as Error).message).toContain(`(pid ${holder.child.pid} on ${HOST}`);
    expect((error as Error).message).toMatch(/; waited 1 s for it; try again later, or use a longer --wait-lock$/);
  });

  it('stops waiting when the signal aborts, with its reason', async () => {
    const dir = await tempDir();
    await startHolder(dir);
    const reason = new Error('interrupted by SIGTERM');
    const error = await catchError(acquireRunLock(dir, { command: 'sync', waitMs: 60_000, signal: AbortSignal.timeout(300) }));
    expect((error as Error).name).toBe('TimeoutError'); // AbortSignal.timeout's reason
    const ac = new AbortController();
    setTimeout(() => ac.abort(reason), 300);
    expect(await catchError(acquireRunLock(dir, { command: 'sync', waitMs: 60_000, signal: ac.signal }))).toBe(reason);
  });

  it('takes over the lock of a dead process on this host, with a warning naming it', async () => {
    const dir = await tempDir();
    const pid = await deadPid();
    await writeFile(path.join(dir, LOCK_FILE_NAME), lockJson({ pid, host: HOST, command: 'export' }));
    const warnings: string[] = [];
    const lock = await acquireRunLock(dir, { command: 'sync', onWarning: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^took over the lock .*\.registry-rescue\.lock from a registry-rescue export that is no longer running /);
    expect(warnings[0]).toContain(`(pid ${pid} on ${HOST}, started 2026-11-29T03:00:00Z, `);
    expect(parseLock(await readFile(lock.file, 'utf8'))?.pid).toBe(process.pid);
    await lock.release();
  });

  it.each([
    ['empty (a crash between create and write)', '', /it is empty, not a registry-rescue lock$/],
    ['truncated JSON', '{"pid": 12', /it holds "\{\\"pid\\": 12", not a registry-rescue lock$/],
    ['a pid that would signal a process group', lockJson({ pid: 0, host: HOST }), /not a registry-rescue lock$/],
  ])('takes over a garbage lock file: %s', async (_, content, warning) => {
    const dir = await tempDir();
    await writeFile(path.join(dir, LOCK_FILE_NAME), content);
    const warnings: string[] = [];
    const lock = await acquireRunLock(dir, { command: 'sync', onWarning: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(warning);
    await lock.release();
  });

  it('refuses a second acquire in this process, but takes over our pid left by an earlier run', async () => {
    const dir = await tempDir();
    const lock = await acquireRunLock(dir, { command: 'sync' });
    expect(await catchError(acquireRunLock(dir, { command: 'sync' }))).toBeInstanceOf(LockHeldError);
    await lock.release();
    // A restarted container is pid 1 (or any small pid) again: a lock with our pid we do not hold is stale.
    await writeFile(path.join(dir, LOCK_FILE_NAME), lockJson({ pid: process.pid, host: HOST }));
    const warnings: string[] = [];
    const again = await acquireRunLock(dir, { command: 'sync', onWarning: (w) => warnings.push(w) });
    expect(warnings[0]).toContain("from an earlier registry-rescue sync that had this process's pid");
    await again.release();
  });

  it("treats another host's lock as held while refreshed, and takes it over once it is not", async () => {
    const dir = await tempDir();
    const file = path.join(dir, LOCK_FILE_NAME);
    await writeFile(file, lockJson({ pid: 4242, host: 'node-b' }));
    const error = await catchError(acquireRunLock(dir, { command: 'sync' }));
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as Error).message).toMatch(/^another registry-rescue sync on another host \(pid 4242 on node-b, /);
    expect((error as Error).message).toMatch(/cannot be checked from here: it refreshed the lock 0 s ago.*more than 10 min ago; if node-b is gone, remove /);
    const old = new Date(Date.now() - 11 * 60_000);
    await utimes(file, old, old);
    const warnings: string[] = [];
    const lock = await acquireRunLock(dir, { command: 'sync', onWarning: (w) => warnings.push(w) });
    expect(warnings[0]).toMatch(/from a registry-rescue sync on another host \(pid 4242 on node-b, .*\): not refreshed for 11 min, so that run is gone$/);
    await lock.release();
  });

  it('refreshes its mtime while held (so other hosts see it alive) and warns if it loses the lock', async () => {
    const dir = await tempDir();
    const warnings: string[] = [];
    const lock = await acquireRunLock(dir, { command: 'sync', staleMs: 500, onWarning: (w) => warnings.push(w) });
    const old = new Date(Date.now() - 3_600_000);
    await utimes(lock.file, old, old);
    await new Promise((r) => setTimeout(r, 300));
    expect(Date.now() - (await stat(lock.file)).mtimeMs).toBeLessThan(1_000);
    await writeFile(`${lock.file}.other`, lockJson({ pid: 4242, host: 'node-b' }));
    await rename(`${lock.file}.other`, lock.file);
    await new Promise((r) => setTimeout(r, 300));
    expect(warnings).toEqual([expect.stringMatching(/^lost the lock .*: another run took it over/)]);
    await lock.release();
  });

  it('release does not remove a lock that someone else took over', async () => {
    const dir = await tempDir();
    const other = lockJson({ pid: 4242, host: 'node-b' });
    for (const release of ['release', 'releaseSync'] as const) {
      const lock = await acquireRunLock(dir, { command: 'sync' });
      await writeFile(`${lock.file}.other`, other);
      await rename(`${lock.file}.other`, lock.file); // the takeover replaces the file atomically
      await lock[release]();
      expect(await readFile(lock.file, 'utf8')).toBe(other);
      expect(await readdir(dir)).toEqual([LOCK_FILE_NAME]);
      await rm(lock.file);
    }
  });

  it('lets exactly one of several processes racing for a stale lock win', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, LOCK_FILE_NAME), lockJson({ pid: await deadPid(), host: HOST }));
    const racers = await Promise.all(Array.from({ length: 6 }, () => startHolder(dir)));
    expect(racers.map((r) => r.first).sort()).toEqual(['held', 'locked', 'locked', 'locked', 'locked', 'locked']);
    const winner = racers.find((r) => r.first === 'held')!;
    expect(parseLock(await readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'))?.pid).toBe(winner.child.pid);
    expect(await readdir(dir)).toEqual([LOCK_FILE_NAME]);
  });
});
