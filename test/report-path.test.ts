// Where --report and --metrics-file are written: both are renamed into place when the run ends, so a path that can
// never take that rename (an existing directory) is refused before anything runs, and a report that still cannot be
// written at the very end (here: its path made a directory while the run works) gives the run one last line, the
// error, never an `exit 0` line followed by it; the metrics file still records the run's counts, with that exit 3.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags, type ExpectedTag } from './helpers/cli.js';
import { startRegistry } from './helpers/registry.js';
import { idOf, writeTagsFile } from './helpers/sync.js';

const TIMEOUT = 120_000;
const lastLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('registry-rescue: exit'));
/** The samples of a metrics file (Prometheus text), `name{labels}` → value. */
const samples = async (file: string) =>
  new Map((await readFile(file, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));

describe('--report and --metrics-file naming a directory', () => {
  for (const flag of ['--report', '--metrics-file'] as const) {
    it(`${flag} <existing directory>: refused before anything runs (exit 3, nothing exported), in the run's one last line`, async () => {
      const { dir, storage } = await copyFixture();
      const taken = path.join(dir, 'taken.json');
      await mkdir(path.join(taken, 'inside'), { recursive: true });
      const out = path.join(dir, 'out');
      const r = await cli(['export', storage, '--out', out, '-q', flag, taken]);
      expect(r.exitCode, r.stderr).toBe(3);
      expect(lastLines(r.stderr)).toEqual([`registry-rescue: exit 3, ${flag}: ${taken} is a directory; give the path of a file (it is written whole when the run ends)`]);
      // Nothing was exported, and the directory is as it was.
      await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await readdir(taken)).toEqual(['inside']);
    });
  }
});

describe('a report that cannot be written when the run ends', () => {
  it('export: the summary, then one last line, the report error (exit 3); the layouts are written', async () => {
    const { dir, storage } = await copyFixture();
    const report = path.join(dir, 'r.json');
    const out = path.join(dir, 'out');
    // The tags file is a FIFO: the run checks --report first, then blocks reading the list until it is written. The
    // report's path is made a directory in between, so only the final rename can fail.
    const fifo = path.join(dir, 'rescue.tags');
    execFileSync('mkfifo', [fifo]);
    const metrics = path.join(dir, 'rescue.prom');
    const run = cli(['export', storage, '--out', out, '-q', '--tags-file', fifo, '--report', report, '--metrics-file', metrics]);
    const writer = await open(fifo, 'w'); // returns once the run has opened the list for reading
    await mkdir(path.join(report, 'inside'), { recursive: true });
    await writer.writeFile('proj/a/app:1.0\n');
    await writer.close();
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/1 selected: 1 created/);
    expect(lastLines(r.stderr)).toEqual([`registry-rescue: exit 3, cannot write the report ${report}: EISDIR`]);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`registry-rescue: exit 3, cannot write the report ${report}: EISDIR`);
    expect(await readdir(path.join(out, 'proj/a'))).toEqual(['app:1.0']);
    // The metrics file records what was done, with the exit code the process ended with.
    const m = await samples(metrics);
    expect(m.get('registry_rescue_last_run_exit_code{command="export"}')).toBe(3);
    expect(m.get('registry_rescue_last_run_success{command="export"}')).toBe(0);
    expect(m.get('registry_rescue_images{command="export",status="created"}')).toBe(1);
    expect(m.get('registry_rescue_tags_selected{command="export"}')).toBe(1);
    expect(await readdir(report)).toEqual(['inside']);
    expect((await readdir(dir)).filter((n) => n.includes('r.json') && n !== 'r.json')).toEqual([]);
  }, TIMEOUT);

  it('sync: the summary is printed, then one last line, the report error (exit 3), not `exit 0` before it', async () => {
    const reg = await startRegistry();
    const { dir, storage } = await copyFixture();
    const tag = (await expectedTags()).find((t) => idOf(t) === 'proj/a/app:1.0') as ExpectedTag;
    const tagsFile = await writeTagsFile(path.join(dir, 'one.tags'), [tag]);
    const report = path.join(dir, 'r.json');
    // A skopeo that first makes the report's path a directory (as a disk filling up during the run would make the
    // final write fail), then pushes with the real one.
    const skopeo = path.join(dir, 'skopeo-blocks-report');
    await writeFile(skopeo, `#!/bin/sh\nmkdir -p '${report}/inside'\nexec skopeo "$@"\n`);
    await chmod(skopeo, 0o755);
    const metrics = path.join(dir, 'rescue.prom');
    const r = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--metrics-file', metrics, '--skopeo', skopeo]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/1 synced/);
    expect(lastLines(r.stderr)).toEqual([`registry-rescue: exit 3, cannot write the report ${report}: EISDIR`]);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`registry-rescue: exit 3, cannot write the report ${report}: EISDIR`);
    const m = await samples(metrics);
    expect(m.get('registry_rescue_last_run_exit_code{command="sync"}')).toBe(3);
    expect(m.get('registry_rescue_last_run_success{command="sync"}')).toBe(0);
    expect(m.get('registry_rescue_images{command="sync",status="synced"}')).toBe(1);
    expect(m.get('registry_rescue_last_run_bytes_pushed{command="sync"}')).toBeGreaterThan(0);
    // The rename never happened: the directory holds only what was put there, no half-written report.
    expect(await readdir(report)).toEqual(['inside']);
    expect((await readdir(dir)).filter((n) => n.includes('r.json') && n !== 'r.json')).toEqual([]);
  }, TIMEOUT);
});
