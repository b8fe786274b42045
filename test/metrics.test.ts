import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readdirSync } from 'node:fs';
import { writeMetricsFile, writeMetricsFileSync } from '../src/output/write-metrics.js';
import { IMAGE_STATUSES, renderMetrics, type RunMetrics } from '../src/report/metrics.js';

const RUN: RunMetrics = {
  command: 'sync',
  startedAt: Date.UTC(2026, 10, 29, 3, 0, 0, 250),
  endedAt: Date.UTC(2026, 10, 29, 5, 0, 1, 750),
  exitCode: 4,
  counts: { synced: 12, 'up-to-date': 300, failed: 2, broken: 1 },
  bytesPushed: 123_456_789_012,
  bytesDownloaded: 98_765_432_109,
  tagsSelected: 320,
  tagsInStorage: 1000,
};

/** family name → list of [labels, value] from an independent parser. */
function parse(text: string): Map<string, { type: string; help: string; samples: [Record<string, string>, number][] }> {
  return new Map(
    parsePrometheusTextFormat(text).map((f) => [
      f.name,
      { type: f.type, help: f.help, samples: f.metrics.map((s) => [s.labels ?? {}, Number(s.value)] as [Record<string, string>, number]) },
    ]),
  );
}

describe('renderMetrics', () => {
  it('renders every metric as a documented gauge labelled by command', () => {
    const text = renderMetrics(RUN);
    const families = parse(text);
    expect([...families.keys()]).toEqual([
      'registry_rescue_last_run_start_timestamp_seconds',
      'registry_rescue_last_run_end_timestamp_seconds',
      'registry_rescue_last_run_success',
      'registry_rescue_last_run_duration_seconds',
      'registry_rescue_last_run_exit_code',
      'registry_rescue_images',
      'registry_rescue_last_run_bytes_pushed',
      'registry_rescue_last_run_bytes_downloaded',
      'registry_rescue_tags_selected',
      'registry_rescue_tags_in_storage',
    ]);
    for (const f of families.values()) {
      expect(f.type).toBe('GAUGE');
      expect(f.help).not.toBe('');
    }
    const single = (name: string) => {
      const samples = families.get(`registry_rescue_${name}`)!.samples;
      expect(samples).toHaveLength(1);
      expect(samples[0]![0]).toEqual({ command: 'sync' });
      return samples[0]![1];
    };
    expect(single('last_run_start_timestamp_seconds')).toBe(RUN.startedAt / 1000);
    expect(single('last_run_end_timestamp_seconds')).toBe(RUN.endedAt / 1000);
    expect(single('last_run_success')).toBe(0);
    expect(single('last_run_duration_seconds')).toBe(7201.5);
    expect(single('last_run_exit_code')).toBe(4);
    expect(single('last_run_bytes_pushed')).toBe(123_456_789_012);
    expect(single('last_run_bytes_downloaded')).toBe(98_765_432_109);
    expect(single('tags_selected')).toBe(320);
    expect(single('tags_in_storage')).toBe(1000);
    // No sample timestamps: node_exporter's textfile collector refuses them.
    expect(parsePrometheusTextFormat(text).flatMap((f) => f.metrics).some((s) => s.timestamp_ms)).toBe(false);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('has one images sample per status, every known status present even when 0, extras after', () => {
    const images = parse(renderMetrics({ ...RUN, counts: { ...RUN.counts, 'would-sync': 3 } })).get('registry_rescue_images')!;
    expect(images.samples).toEqual([
      [{ command: 'sync', status: 'synced' }, 12],
      [{ command: 'sync', status: 'up-to-date' }, 300],
      [{ command: 'sync', status: 'skipped' }, 0],
      [{ command: 'sync', status: 'broken' }, 1],
      [{ command: 'sync', status: 'failed' }, 2],
      [{ command: 'sync', status: 'canceled' }, 0],
      [{ command: 'sync', status: 'not-attempted' }, 0],
      [{ command: 'sync', status: 'would-sync' }, 3],
    ]);
    expect(IMAGE_STATUSES).toHaveLength(7);
  });

  it('adds shard="K/N" to every sample of a sharded run, and reports success as 1', () => {
    const families = parse(renderMetrics({ ...RUN, exitCode: 0, shard: { index: 2, count: 4 } }));
    for (const f of families.values()) for (const [labels] of f.samples) expect(labels).toMatchObject({ command: 'sync', shard: '2/4' });
    expect(families.get('registry_rescue_last_run_success')!.samples[0]![1]).toBe(1);
  });

  it('escapes backslash, double quote and newline in label values', () => {
    const command = 'sy"nc\\x\nnext';
    const text = renderMetrics({ ...RUN, command });
    expect(text).toContain('command="sy\\"nc\\\\x\\nnext"');
    for (const f of parse(text).values()) for (const [labels] of f.samples) expect(labels.command).toBe(command);
  });
});

describe('writeMetricsFile', () => {
  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-metrics-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it('replaces the old file by rename, mode 0644 whatever the umask, no temp file left', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'registry-rescue.prom');
    await writeFile(file, 'old content\n', { mode: 0o600 });
    const before = await stat(file);
    const oldUmask = process.umask(0o077);
    try {
      await writeMetricsFile(file, renderMetrics(RUN));
    } finally {
      process.umask(oldUmask);
    }
    const after = await stat(file);
    expect(after.ino).not.toBe(before.ino); // a new inode renamed into place, not the old one rewritten
    expect(after.mode & 0o777).toBe(0o644);
    expect(await readFile(file, 'utf8')).toBe(renderMetrics(RUN));
    expect(await readdir(dir)).toEqual(['registry-rescue.prom']);
  });

  it('leaves the old file and no temp file when writing fails', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'registry-rescue.prom');
    await writeFile(file, 'old content\n');
    // A directory where the file should be: the rename fails after the temp file was written.
    const blocked = path.join(dir, 'blocked.prom');
    await mkdir(path.join(blocked, 'child'), { recursive: true });
    await expect(writeMetricsFile(blocked, 'x 1\n')).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['blocked.prom', 'registry-rescue.prom']);
    expect(await readFile(file, 'utf8')).toBe('old content\n');
  });

  it('the exit-time write removes the temp file of a write still under way (a second signal during the record)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'registry-rescue.prom');
    const underWay = writeMetricsFile(file, 'run 1\n');
    // Hold the event loop, as a process that exits now does, until the async write has created its temp file.
    const deadline = Date.now() + 10_000;
    while (readdirSync(dir).length === 0 && Date.now() < deadline) {
      // busy: the open runs on libuv's pool meanwhile
    }
    expect(readdirSync(dir)[0]).toMatch(/^\.registry-rescue\.prom\..+\.tmp$/);
    writeMetricsFileSync(file, 'interrupted 1\n');
    expect(readdirSync(dir)).toEqual(['registry-rescue.prom']);
    expect(await readFile(file, 'utf8')).toBe('interrupted 1\n');
    // In a real exit the process ends here; in this test the abandoned write goes on and fails, leaving nothing.
    await underWay.catch(() => undefined);
    expect(readdirSync(dir)).toEqual(['registry-rescue.prom']);
  });
});
