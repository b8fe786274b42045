// The staging directory beside --out (`.<name>.registry-rescue-staging`) is the runs' scratch space: a run removes its
// own directory in it when done, then the staging directory itself when that left it empty (rmdir only: another
// run's directory keeps it). An interrupted run's is removed by the next run. A dry run creates nothing there.
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';

const gone = (p: string) => expect(lstat(p), p).rejects.toThrow(/ENOENT/);

describe('the staging directory beside --out', () => {
  it('is gone after a run (creating, keeping, pruning layouts), and a dry run never makes one', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    const staging = path.join(dir, '.out.registry-rescue-staging');

    const dry = await cli(['export', storage, '--out', out, '--dry-run', '-q']);
    expect(dry.exitCode, dry.stderr).toBe(4); // the fixture's broken tags
    await gone(out);
    await gone(staging);

    const first = await cli(['export', storage, '--out', out, '--json']);
    expect(first.exitCode, first.stderr).toBe(4);
    expect(JSON.parse(first.stdout).summary.counts.created).toBeGreaterThan(0);
    await gone(staging);
    expect(await readdir(dir)).toEqual(expect.arrayContaining(['out', 'storage']));

    // A layout of a tag the storage does not hold: pruned through this run's staging directory.
    await mkdir(path.join(out, 'gone/app:1'), { recursive: true });
    await writeFile(path.join(out, 'gone/app:1/manifest.json'), '{}');
    const again = await cli(['export', storage, '--out', out, '--prune', '--json']);
    expect(JSON.parse(again.stdout).summary.pruned).toBe(1);
    await gone(staging);

    const dryAgain = await cli(['export', storage, '--out', out, '--dry-run', '--prune', '-q']);
    expect(dryAgain.exitCode, dryAgain.stderr).toBe(4);
    await gone(staging);
  });

  it('what an interrupted run left is removed by the next run, not by a dry run; another live run\'s keeps it', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    const staging = path.join(dir, '.out.registry-rescue-staging');
    const host = os.hostname();
    const deadPid = execFileSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const dead = path.join(staging, `run-${deadPid}-deadbeef@${host}`);
    await mkdir(path.join(dead, 'l1'), { recursive: true });
    await writeFile(path.join(dead, 'l1', 'manifest.json'), '{}');

    // A dry run touches nothing, not even what is left in staging.
    expect((await cli(['export', storage, '--out', out, '--dry-run', '-q'])).exitCode).toBe(4);
    expect(await readdir(path.join(dead, 'l1'))).toEqual(['manifest.json']);

    const r = await cli(['export', storage, '--out', out, '-q']);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain('removed 1 staging directory left in');
    await gone(staging);

    // A run still going (this process) keeps its directory, and so the staging directory: never removed with what it holds.
    const live = path.join(staging, `run-${process.pid}-0badcafe@${host}`);
    await mkdir(path.join(live, 'l1'), { recursive: true });
    expect((await cli(['export', storage, '--out', out, '-q'])).exitCode).toBe(4);
    expect(await readdir(staging)).toEqual([path.basename(live)]);
    expect(await readdir(live)).toEqual(['l1']);
  });
});
