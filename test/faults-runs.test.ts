// Faults of the run itself: a skopeo that hangs (killed by the per-image timeout, the image retried and
// pushed), and two runs at once on one output directory (exactly one works, the other exits 75 at once).
// skopeo missing or too old: sync-tls.test.ts ("preflight failures"); SIGTERM/SIGINT/SIGKILL of a sync:
// interrupt.test.ts; of an export: faults-export.test.ts.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags, type ExpectedTag } from './helpers/cli.js';
import { startRegistry } from './helpers/registry.js';
import { byId, expectSameImage, FLAKY_BIN, idOf, readReport, RECORD_BIN, writeTagsFile } from './helpers/sync.js';
import { expectStorageUnchanged, snapshotStorage } from './helpers/tree.js';

const TIMEOUT = 240_000;
const alive = (pid: number): boolean => {
  // kill(0, 0) signals our own process group: an unread pid must not pass for a live one.
  if (!(pid > 1)) throw new Error(`not a process id: ${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a hung skopeo', () => {
  it('is killed at --image-timeout, and the retry pushes the image: synced with attempts 2, the hung process gone', async () => {
    const reg = await startRegistry();
    const { dir, storage, v2 } = await copyFixture();
    const tag = (await expectedTags()).find((t) => idOf(t) === 'proj/a/app:1.0') as ExpectedTag;
    const tagsFile = await writeTagsFile(path.join(dir, 'one.tags'), [tag]);
    const report = path.join(dir, 'r.json');
    const pidFile = path.join(dir, 'hung.pid');
    const started = Date.now();
    const r = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--image-timeout', '3s', '--retries', '1', '--report', report, '--skopeo', FLAKY_BIN], {
      env: { SKOPEO_FLAKY_COUNTER: path.join(dir, 'count'), SKOPEO_FLAKY_FAILURES: '1', SKOPEO_FLAKY_HANG: '1', SKOPEO_FLAKY_PID_FILE: pidFile },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(120_000);
    const image = (await readReport(report)).images[0];
    expect(image).toMatchObject({ status: 'synced', attempts: 2 });
    expect(alive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
    const log = await readFile(path.join(storage, 'registry-rescue-export/.registry-rescue-logs/proj/a/app:1.0.log'), 'utf8');
    expect(log).toMatch(/attempt 1: .*\n(.|\n)*\(timed out\)(.|\n)*attempt 2: /);
    await expectSameImage(reg, v2, tag);
  }, TIMEOUT);
});

describe('two runs at once', () => {
  it('two syncs started together on one output directory: one exits 75 naming the holder, the other pushes everything', async () => {
    const reg = await startRegistry();
    const { dir, storage, v2 } = await copyFixture();
    const before = await snapshotStorage(storage);
    const tags = (await expectedTags()).filter((t) => ['proj/a/app:1.0', 'proj/b/app:1.0', 'library/alpine-like:3.19'].includes(idOf(t)));
    const tagsFile = await writeTagsFile(path.join(dir, 'sel.tags'), tags);
    const run = (n: number) =>
      cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', path.join(dir, `r${n}.json`), '--skopeo', RECORD_BIN], {
        // Each push waits 1 s before the real skopeo: the first run still holds the lock when the second asks.
        env: { SKOPEO_RECORD_DELAY_MS: '1000' },
      });
    const results = await Promise.all([run(1), run(2)]);
    const codes = results.map((r) => r.exitCode).sort();
    expect(codes, results.map((r) => r.stderr).join('\n----\n')).toEqual([0, 75]);
    const loser = results.find((r) => r.exitCode === 75) as (typeof results)[number];
    expect(loser.stderr).toMatch(/another registry-rescue sync \(pid \d+ on .*\) holds the lock on .*\/registry-rescue-export\/\.registry-rescue\.lock/);
    const winner = results.indexOf(results.find((r) => r.exitCode === 0) as (typeof results)[number]) + 1;
    expect([...byId(await readReport(path.join(dir, `r${winner}.json`))).values()].map((i) => i.status)).toEqual(['synced', 'synced', 'synced']);
    for (const t of tags) await expectSameImage(reg, v2, t);
    await expectStorageUnchanged(storage, before, 'two syncs at once');
  }, TIMEOUT);
});
