/**
 * `sync` end to end into a plain-http target: the real CLI (dist/, built by `npm test`), the real skopeo 1.9.3
 * and a real docker-registry on 127.0.0.1 started here, the fixture storage copied to a temp dir
 * (storage-and-skopeo.md §5, style guide §7). skopeo and docker-registry are prerequisites: requireTool()
 * fails (never skips) with the install command.
 *
 * The tests of this file run in order and share one target registry: the first run fills it, the next ones
 * depend on what it holds (up to date, under a prefix, retries under fresh prefixes).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCommand } from '../src/core/target.js';
import { BIN, cli, copyFixture, expectedTags, snapshotTree, type ExpectedTag } from './helpers/cli.js';
import { makeTempDir, requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';
import {
  byId,
  catalog,
  closedPort,
  expectSameImage,
  FLAKY_BIN,
  getManifest,
  idOf,
  maxOverlap,
  readDetails,
  readRecord,
  readReport,
  RECORD_BIN,
  skopeoPushesFor,
  syncCalls,
  tagsOf,
  targetRepositoryOf,
  writeTagsFile,
} from './helpers/sync.js';

const EXPORT_DIR = 'registry-rescue-export';

describe('sync into a plain-http registry', () => {
  let reg: TestRegistry;
  let fx: { dir: string; storage: string; v2: string };
  let tags: ExpectedTag[];
  let ok: ExpectedTag[];
  let work: string;
  let okTagsFile: string;
  /** argv of every skopeo process of the first run. */
  let firstRun: string[][] = [];

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    reg = await startRegistry();
    fx = await copyFixture();
    work = await makeTempDir('rr-sync-work');
    tags = await expectedTags();
    ok = tags.filter((t) => t.status === 'ok');
    okTagsFile = await writeTagsFile(path.join(work, 'ok-tags.txt'), ok);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const base = (): string[] => ['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--verify-blobs'];

  it('pushes every ok tag byte for byte, nested names intact, never a broken or skipped one (exit 4)', async () => {
    // Every kind the fixture holds is among the ok tags, so "every ok tag" really covers them all.
    expect(new Set(ok.map((t) => t.kind))).toEqual(new Set(['image', 'index', 'artifact']));
    expect(ok.map(idOf)).toEqual(expect.arrayContaining(['multi/oci-index:1.0', 'multi/docker-list:1.0', 'charts/mychart:0.2.0', 'proj/team/app/debug:1.0', 'proj/a/app:1.0', 'proj/b/app:1.0']));

    const record = path.join(work, 'first.jsonl');
    const details = path.join(work, 'first.details.jsonl');
    const report = path.join(work, 'first-report.json');
    const r = await cli([...base(), '--report', report, '--skopeo', RECORD_BIN], { env: { SKOPEO_RECORD_FILE: record, SKOPEO_RECORD_DETAILS_FILE: details } });
    expect(r.exitCode, r.stderr + r.stdout).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`^${ok.length} synced, 0 up to date, 3 skipped, 9 broken at source, 0 failed; `, 'm'));

    for (const t of ok) await expectSameImage(reg, fx.v2, t);

    // Nested names arrive exactly: no flattened "app", no export path leaking into names.
    const okRepos = [...new Set(ok.map((t) => t.repository))].sort();
    expect(await catalog(reg)).toEqual(okRepos);
    expect(await tagsOf(reg, 'proj/team/app')).toEqual(ok.filter((t) => t.repository === 'proj/team/app').map((t) => t.tag).sort());
    // broken/links has an ok tag; its broken siblings must not be there.
    expect(await tagsOf(reg, 'broken/links')).toEqual(['ok']);
    for (const t of tags.filter((x) => x.status !== 'ok')) {
      const got = await getManifest(reg, t.repository, t.tag);
      expect(got.status, `${idOf(t)} (${t.status}) must not be on the target`).toBe(404);
    }

    // One skopeo sync per ok image and repository (plus the one `--version` preflight), each digest-preserving and
    // --all: library/alpine-like:latest is 3.19's manifest, PUT on its own.
    firstRun = await readRecord(record);
    const syncs = syncCalls(firstRun);
    expect(skopeoPushesFor(ok)).toBe(ok.length - 1);
    expect(syncs).toHaveLength(skopeoPushesFor(ok));
    expect(firstRun.length - syncs.length).toBe(1);
    for (const argv of syncs) expect(argv).toEqual(expect.arrayContaining(['--all', '--preserve-digests', '--dest-tls-verify=false']));
    // Concurrent (default 4), but never two pushes into one target repository at once (§5.6).
    const calls = (await readDetails(details)).filter((c) => c.argv.includes('sync'));
    expect(calls.map((c) => c.code)).toEqual(calls.map(() => 0));
    expect(Math.max(...maxOverlap(calls, () => 'all').values())).toBeLessThanOrEqual(4);
    const perRepo = maxOverlap(calls, (c) => targetRepositoryOf(c.argv));
    expect([...perRepo.keys()].sort()).toEqual(okRepos);
    for (const [repo, n] of perRepo) expect(n, repo).toBe(1);

    // The report: per image source, target, digest, status, reason, attempts, ms.
    const doc = await readReport(report);
    expect(doc).toMatchObject({ version: 1, command: 'sync', target: reg.host, dryRun: false });
    expect(doc.summary.selected).toBe(tags.length);
    expect(doc.summary.counts).toMatchObject({ synced: ok.length, 'up-to-date': 0, broken: 9, skipped: 3, failed: 0 });
    const images = byId(doc);
    expect([...images.keys()].sort()).toEqual(tags.map(idOf).sort());
    for (const t of tags) {
      const image = images.get(idOf(t));
      expect(image, idOf(t)).toMatchObject({ source: idOf(t), target: `${reg.host}/${idOf(t)}`, digest: t.digest });
      if (t.status === 'ok') {
        expect(image, idOf(t)).toMatchObject({ status: 'synced', attempts: 1 });
        expect(image?.ms, idOf(t)).toBeGreaterThan(0);
        expect(image?.reason, idOf(t)).toBeUndefined();
      } else {
        expect(image, idOf(t)).toMatchObject({ status: t.status, attempts: 0, ms: 0 });
        expect(image?.reason, idOf(t)).toMatch(/\S/);
      }
    }
    expect(images.get('broken/corrupt-layer:1.0')?.reason).toMatch(/corrupt/);
    expect(images.get('legacy/schema1:1.0')?.reason).toMatch(/schema ?1/i);
  });

  it('a second run finds everything up to date and starts no skopeo process at all', async () => {
    expect(syncCalls(firstRun).length).toBeGreaterThan(0);
    const record = path.join(work, 'second.jsonl');
    const report = path.join(work, 'second-report.json');
    const r = await cli([...base(), '--report', report, '--skopeo', RECORD_BIN], { env: { SKOPEO_RECORD_FILE: record } });
    expect(r.exitCode, r.stderr).toBe(4); // the broken tags are still broken
    expect(r.stderr).toMatch(new RegExp(`^0 synced, ${ok.length} up to date, 3 skipped, 9 broken at source, 0 failed; `, 'm'));
    expect(await readRecord(record)).toEqual([]); // not even `skopeo --version`
    const images = byId(await readReport(report));
    for (const t of ok) expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'up-to-date', digest: t.digest, attempts: 0 });

    // --json prints the same document on stdout.
    const json = await cli([...base(), '--json', '-q', '--skopeo', RECORD_BIN], { env: { SKOPEO_RECORD_FILE: record } });
    expect(json.exitCode).toBe(4);
    const doc = JSON.parse(json.stdout) as Awaited<ReturnType<typeof readReport>>;
    expect(doc.summary.counts).toMatchObject({ 'up-to-date': ok.length, broken: 9, skipped: 3, synced: 0 });

    // Only ok tags selected: nothing broken, nothing failed: exit 0 (still no process).
    const only = await cli([...base(), '--tags-file', okTagsFile, '--skopeo', RECORD_BIN], { env: { SKOPEO_RECORD_FILE: record } });
    expect(only.exitCode, only.stderr + only.stdout).toBe(0);
    expect(only.stderr).toMatch(new RegExp(`^0 synced, ${ok.length} up to date, 0 skipped, 0 broken at source, 0 failed; `, 'm'));
    expect(await readRecord(record)).toEqual([]);
  });

  it('--dry-run prints every target reference and the exact skopeo command line, and writes nothing', async () => {
    // Against the live target: the printed commands are exactly what the first real run executed.
    const before = await snapshotTree(fx.dir);
    const r = await cli([...base(), '--dry-run', '--skopeo', RECORD_BIN]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(await snapshotTree(fx.dir)).toEqual(before);
    // execa strips the last newline of stdout.
    for (const argv of syncCalls(firstRun)) expect(`${r.stdout}\n`).toContain(`   ${formatCommand(RECORD_BIN, argv)}\n`);
    for (const t of ok) expect(`${r.stdout}\n`).toContain(`would-sync ${idOf(t)} -> ${reg.host}/${idOf(t)}\n`);
    expect(r.stdout).not.toContain('--dest-authfile'); // no credentials: the real run passes no auth file either

    // On a fresh copy, against a port where nothing listens: no network, no export dir, exit code from the plan.
    const fresh = await copyFixture();
    const freshBefore = await snapshotTree(fresh.dir);
    const port = await closedPort();
    const to = `127.0.0.1:${port}/rescued`;
    const dry = await cli(['sync', fresh.storage, '--to', to, '--dest-tls-verify=false', '--verify-blobs', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(4);
    expect(await snapshotTree(fresh.dir)).toEqual(freshBefore);
    await expect(stat(path.join(fresh.storage, EXPORT_DIR))).rejects.toThrow(/ENOENT/);
    const dryOut = `${dry.stdout}\n`; // execa strips the last newline
    for (const t of ok) {
      expect(dryOut).toContain(`would-sync ${idOf(t)} -> ${to}/${idOf(t)}\n`);
      const parent = path.posix.dirname(`rescued/${t.repository}`);
      const layout = path.join(fresh.storage, EXPORT_DIR, idOf(t));
      expect(dryOut).toContain(
        `skopeo --insecure-policy sync --src dir --dest docker --all --preserve-digests --retry-times 0 --dest-tls-verify=false ${layout} 127.0.0.1:${port}/${parent}\n`,
      );
    }
    for (const t of tags.filter((x) => x.status !== 'ok')) expect(dry.stdout).toMatch(new RegExp(`^(broken|skipped) +${idOf(t).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} -> `, 'm'));
    // The reason under a broken image's line does not name the image again (the JSON's reason keeps the name).
    expect(dryOut).toMatch(/^broken +broken\/corrupt-manifest:1\.0 -> .*\n +manifest sha256:[0-9a-f]{64} is corrupt: /m);
    expect(dryOut).not.toMatch(/^ +broken\/corrupt-manifest:1\.0: /m);
    expect(dry.stderr).toMatch(new RegExp(`^dry run: ${ok.length} images would be pushed to ${to}, 3 skipped, 9 broken, 0 cannot be pushed; nothing was written or sent`, 'm'));

    const okOnly = await cli(['sync', fresh.storage, '--to', to, '--dest-tls-verify=false', '--tags-file', okTagsFile, '--dry-run']);
    expect(okOnly.exitCode, okOnly.stderr).toBe(0);
    expect(await snapshotTree(fresh.dir)).toEqual(freshBefore);
  });

  it('--to host/prefix puts every image under the prefix with the same digest', async () => {
    const r = await cli(['sync', fx.storage, '--to', `${reg.host}/rescued/dr`, '--dest-tls-verify=false', '--tags-file', okTagsFile]);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^${ok.length} synced, 0 up to date`, 'm'));
    for (const t of ok) await expectSameImage(reg, fx.v2, t, `rescued/dr/${t.repository}`);
    const repos = await catalog(reg);
    const okRepos = [...new Set(ok.map((t) => t.repository))];
    expect(repos.filter((x) => x.startsWith('rescued/'))).toEqual(okRepos.map((x) => `rescued/dr/${x}`).sort());
  });

  it('--concurrency 3 really pushes in parallel (pushes overlap), at most 3 at once and one per repository', async () => {
    const dir = await makeTempDir('rr-parallel');
    const ids = ['proj/a/app:1.0', 'proj/b/app:1.0', 'proj/team/app/debug:1.0', 'charts/mychart:0.2.0', 'multi/oci-index:1.0'];
    const selected = ok.filter((t) => ids.includes(idOf(t)));
    expect(selected.map(idOf).sort()).toEqual([...ids].sort());
    expect(new Set(selected.map((t) => t.repository)).size).toBeGreaterThanOrEqual(3);
    const tagsFile = await writeTagsFile(path.join(dir, 'tags.txt'), selected);
    const details = path.join(dir, 'details.jsonl');
    const report = path.join(dir, 'report.json');
    // Each push holds its slot >= 300 ms before the real skopeo even starts: parallel pushes overlap for certain.
    const r = await cli(['sync', fx.storage, '--to', `${reg.host}/parallel`, '--dest-tls-verify=false', '--tags-file', tagsFile, '--concurrency', '3', '--report', report, '--skopeo', RECORD_BIN], {
      env: { SKOPEO_RECORD_DETAILS_FILE: details, SKOPEO_RECORD_DELAY_MS: '300' },
    });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const calls = (await readDetails(details)).filter((c) => c.argv.includes('sync'));
    expect(calls).toHaveLength(selected.length);
    for (const c of calls) expect(c.end, JSON.stringify(c)).toBeGreaterThan(c.start);
    const overall = maxOverlap(calls, () => 'all').get('all') ?? 0;
    expect(overall, JSON.stringify(calls.map((c) => [c.start, c.end]))).toBeGreaterThanOrEqual(2);
    expect(overall).toBeLessThanOrEqual(3);
    for (const [repo, n] of maxOverlap(calls, (c) => targetRepositoryOf(c.argv))) expect(n, repo).toBe(1);
    const images = byId(await readReport(report));
    for (const t of selected) {
      expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', attempts: 1 });
      await expectSameImage(reg, fx.v2, t, `parallel/${t.repository}`);
    }
  });


  it('refuses --concurrency above 64 before reading or contacting anything (exit 2)', async () => {
    for (const n of ['65', '500']) {
      const r = await cli(['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--concurrency', n, '--skopeo', RECORD_BIN]);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`--concurrency must be an integer from 1 to 64, not "${n}"`);
      expect(r.stdout).toBe('');
    }
    const zero = await cli(['sync', fx.storage, '--to', reg.host, '--concurrency', '0']);
    expect(zero.stderr).toContain('--concurrency must be an integer from 1 to 64, not "0"');
  });
  it('retries a transient failure (the HTTP 500 race) and succeeds with attempts 2', async () => {
    const dir = await makeTempDir('rr-flaky');
    // An image without a signature tag: those would follow it into the selection (and into skopeo calls).
    const t = ok.find((x) => x.repository === 'proj/team/sub/deep/app' && x.tag === '2.0') as ExpectedTag;
    const one = await writeTagsFile(path.join(dir, 'one.txt'), [t]);
    const report = path.join(dir, 'report.json');
    const counter = path.join(dir, 'counter');
    const r = await cli(['sync', fx.storage, '--to', `${reg.host}/retry/race`, '--dest-tls-verify=false', '--tags-file', one, '--report', report, '--skopeo', FLAKY_BIN], {
      env: { SKOPEO_FLAKY_COUNTER: counter, SKOPEO_FLAKY_FAILURES: '1' },
    });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await readFile(counter, 'utf8')).toBe('2');
    expect(r.stdout).toContain(`synced     ${idOf(t)} -> ${reg.host}/retry/race/${idOf(t)}  (2 attempts`);
    expect(byId(await readReport(report)).get(idOf(t))).toMatchObject({ status: 'synced', attempts: 2, digest: t.digest });
    await expectSameImage(reg, fx.v2, t, `retry/race/${t.repository}`);
  });

  it('does not retry a non-transient failure (unauthorized): attempts 1, exit 4', async () => {
    const dir = await makeTempDir('rr-flaky');
    // An image without a signature tag: those would follow it into the selection (and into skopeo calls).
    const t = ok.find((x) => x.repository === 'proj/team/sub/deep/app' && x.tag === '2.0') as ExpectedTag;
    const one = await writeTagsFile(path.join(dir, 'one.txt'), [t]);
    const report = path.join(dir, 'report.json');
    const counter = path.join(dir, 'counter');
    const stderr =
      'time="2025-01-01T00:00:00Z" level=fatal msg="Error copying ref \\"dir:/x/app:1.0\\": trying to reuse blob sha256:c7e5 at destination: ' +
      'checking whether a blob sha256:c7e5 exists in 127.0.0.1:5000/d5/app: unauthorized: authentication required"\n';
    const r = await cli(['sync', fx.storage, '--to', `${reg.host}/retry/auth`, '--dest-tls-verify=false', '--tags-file', one, '--report', report, '--skopeo', FLAKY_BIN], {
      env: { SKOPEO_FLAKY_COUNTER: counter, SKOPEO_FLAKY_FAILURES: '99', SKOPEO_FLAKY_STDERR: stderr },
    });
    expect(r.exitCode, r.stderr + r.stdout).toBe(4);
    expect(await readFile(counter, 'utf8')).toBe('1');
    const image = byId(await readReport(report)).get(idOf(t));
    expect(image).toMatchObject({ status: 'failed', attempts: 1 });
    expect(image?.reason).toMatch(/^skopeo failed \(unauthorized\): .*unauthorized: authentication required/);
    expect(image?.command).toContain(' --preserve-digests ');
    expect(r.stderr).toMatch(/^1 image needs attention:\n {2}failed {3}proj\/team\/sub\/deep\/app:2\.0: skopeo failed \(unauthorized\)/m);
    expect((await getManifest(reg, `retry/auth/${t.repository}`, t.tag)).status).toBe(404);
  });

  it('SIGTERM during a push kills skopeo, still writes the report and exits 143', async () => {
    const dir = await makeTempDir('rr-term');
    const t = ok.find((x) => x.repository === 'proj/a/app') as ExpectedTag;
    const one = await writeTagsFile(path.join(dir, 'one.txt'), [t]);
    const report = path.join(dir, 'report.json');
    const pidFile = path.join(dir, 'skopeo.pid');
    const child = execa('node', [BIN, 'sync', fx.storage, '--to', `${reg.host}/term`, '--dest-tls-verify=false', '--tags-file', one, '--report', report, '--skopeo', FLAKY_BIN], {
      reject: false,
      stdin: 'ignore',
      env: { SKOPEO_FLAKY_COUNTER: path.join(dir, 'counter'), SKOPEO_FLAKY_HANG: '1', SKOPEO_FLAKY_PID_FILE: pidFile, FORCE_COLOR: '0' },
      timeout: 60_000,
    });
    const deadline = Date.now() + 30_000;
    while (!(await stat(pidFile).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error('the fake skopeo never started');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const skopeoPid = Number(await readFile(pidFile, 'utf8'));
    expect(skopeoPid).toBeGreaterThan(1); // never 0: kill(0, 0) signals our own process group and always succeeds
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode, `${r.signal} ${r.isTerminated} ${String(r.stderr)} ${String(r.stdout)}`).toBe(143);
    expect(() => process.kill(skopeoPid, 0)).toThrow(); // the hanging skopeo is gone
    const image = byId(await readReport(report)).get(idOf(t));
    expect(image).toMatchObject({ status: 'canceled' });
  });
});
