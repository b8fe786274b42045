// The rescue flow of the README: a tag list taken from a live registry (`tags`) drives list and sync,
// which report the listed tags the storage lost and how many storage tags the list left out.
import { appendFile, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { BIN, cli, copyFixture, expectedTags, snapshotTree } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';

let reg: TestRegistry;
beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
});

describe('tags -> --tags-file', () => {
  it('lists what the live registry has, and list/sync report what the storage lacks and what the list left out', async () => {
    const { dir, storage } = await copyFixture();
    const all = await expectedTags();
    const wanted = all.filter((t) => t.status === 'ok' && t.repository.startsWith('proj/'));
    const seed = path.join(dir, 'seed.tags');
    await appendFile(seed, 'proj/**\n');
    const first = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', seed, '-q']);
    expect(first.exitCode, first.stderr).toBe(0);

    const file = path.join(dir, 'rescue.tags');
    const listed = await cli(['tags', '--from', reg.url, '--output', file]);
    expect(listed.exitCode, listed.stderr).toBe(0);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect([...lines].sort()).toEqual(wanted.map((t) => `${t.repository}:${t.tag}`).sort());

    // A tag the live registry knows but the storage lost.
    await appendFile(file, 'proj/lost/app:1.0\n');
    const list = JSON.parse((await cli(['list', storage, '--json', '--tags-file', file])).stdout);
    expect(list.summary.missingFromStorage).toEqual(['proj/lost/app:1.0']);
    expect(list.summary.filteredOut).toBe(all.length - wanted.length);
    expect(list.images).toHaveLength(wanted.length);

    const report = path.join(dir, 'report.json');
    const again = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', file, '--report', report]);
    // A listed tag the storage lacks is data loss in a DR job: the run is partial, and says which line.
    expect(again.exitCode, again.stderr).toBe(4);
    expect(again.stderr).toMatch(/^MISSING: rescue\.tags:\d+: proj\/lost\/app:1\.0 is not in the storage/m);
    expect(again.stderr).toContain(`${all.length - wanted.length} tags in storage left out by the tags file`);
    const doc = JSON.parse(await readFile(report, 'utf8'));
    expect(doc.selection).toEqual({ tagsInStorage: all.length, filteredOut: all.length - wanted.length, missingFromStorage: ['proj/lost/app:1.0'], unmatchedEntries: [], unreadable: [], pruned: 0, problems: [expect.objectContaining({ code: 'listed-missing' })] });
    expect(doc.images.map((i: { status: string }) => i.status)).toEqual(wanted.map(() => 'up-to-date'));
  });
});

describe('sync --prune', () => {
  it('removes the exported layout of a tag that is gone from the storage, and keeps the others', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const out = path.join(dir, 'out');
    const file = path.join(dir, 'a.tags');
    await appendFile(file, 'proj/a/app\nproj/b/app\n');
    const first = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', file, '--out', out, '-q']);
    expect(first.exitCode, first.stderr).toBe(0);
    await rm(path.join(v2, 'repositories/proj/b/app/_manifests/tags/1.0'), { recursive: true });
    const before = await snapshotTree(v2);
    const second = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', file, '--out', out, '--prune', '-q']);
    expect(await snapshotTree(v2)).toEqual(before);
    // The tags file lists proj/b/app, which no longer has a tag: a listed repository missing is exit 4.
    expect(second.exitCode, second.stderr).toBe(4);
    expect(second.stderr).toMatch(/^MISSING: a\.tags:2: proj\/b\/app is not in the storage/m);
    await expect(stat(path.join(out, 'proj/b/app:1.0'))).rejects.toThrow(/ENOENT/);
    expect((await stat(path.join(out, 'proj/a/app:1.0', 'manifest.json'))).isFile()).toBe(true);
  });
});

describe('sync details the README promises', () => {
  it('a closed stdout stops the writing, not the run: the report is written and the exit code is real', async () => {
    const { dir, storage } = await copyFixture();
    const report = path.join(dir, 'report.json');
    // `true` exits without reading, so the first per-image line already hits EPIPE.
    const cmd = `node ${JSON.stringify(BIN)} sync --verify-blobs ${JSON.stringify(storage)} --to ${reg.host} --dest-tls-verify=false --report ${JSON.stringify(report)} | true`;
    const r = await execa('bash', ['-o', 'pipefail', '-c', cmd], { reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(4);
    expect(String(r.stderr)).not.toMatch(/EPIPE|internal error|\n\s+at /);
    const doc = JSON.parse(await readFile(report, 'utf8'));
    expect(doc.summary.selected).toBe((await expectedTags()).length);
  });

  it('--create-projects on a registry that is not Harbor says it does nothing there', async () => {
    const { dir, storage } = await copyFixture();
    const file = path.join(dir, 'one.tags');
    await appendFile(file, 'proj/a/app:1.0\n');
    const r = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', file, '--create-projects']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: ${reg.host} is not a Harbor (no /api/v2.0/systeminfo); --create-projects does nothing there`);
  });

  it('verify refuses --dest-password-stdin together with --dest-authfile (exit 2)', async () => {
    const { storage } = await copyFixture();
    const r = await cli(['verify', storage, '--to', reg.host, '--dest-authfile', '/etc/hostname', '--dest-password-stdin'], { input: 'x\n' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--dest-password-stdin and --dest-authfile exclude each other');
  });
});
