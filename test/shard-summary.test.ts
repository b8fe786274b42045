/**
 * --shard K/N: a run walks only its shard's repositories, so the summary's counts are the shard's and must say so;
 * `4 tags in storage` from a storage of 20 sent a tester looking for the 16 others.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyCounts } from '../src/core/results.js';
import { inShard } from '../src/core/shard.js';
import { createExportTally } from '../src/core/summary.js';
import { renderSyncSummary } from '../src/report/render-sync.js';
import { cli, copyFixture } from './helpers/cli.js';

const HEAD = /^(\d+) tags(?: \(and [^)]*\))? (in storage|in shard \d+\/\d+ of the storage), (\d+) selected/m;

describe('the summary of a sharded run', () => {
  it('names the shard its tag counts belong to (list and export)', async () => {
    const { dir, storage } = await copyFixture();
    const all = await cli(['list', storage]);
    const whole = HEAD.exec(all.stderr);
    expect(whole?.[2]).toBe('in storage');
    const tags = (JSON.parse((await cli(['list', storage, '--json'])).stdout) as { images: Array<{ repository: string; tag: string | null }> }).images.filter((i) => i.tag !== null);
    expect(tags.length).toBe(Number(whole?.[1]));
    let sum = 0;
    for (const k of [1, 2]) {
      const mine = tags.filter((t) => inShard(t.repository, { index: k, count: 2 })).length;
      const r = await cli(['list', storage, '--shard', `${k}/2`]);
      expect(r.stderr).toMatch(new RegExp(`^${mine} tags(?: \\(and [^)]*\\))? in shard ${k}/2 of the storage, ${mine} selected`, 'm'));
      sum += mine;
    }
    expect(sum).toBe(tags.length);
    // export (a dry run) and the tags file's "left out" line say it too.
    const tagsFile = path.join(dir, 'rescue.tags');
    await writeFile(tagsFile, 'library/alpine-like:3.19\n');
    const ex = await cli(['export', storage, '--out', path.join(dir, 'out'), '--dry-run', '--shard', '1/1', '--tags-file', tagsFile]);
    expect(ex.stderr).toMatch(new RegExp(`^${tags.length} tags(?: \\(and [^)]*\\))? in shard 1/1 of the storage, 1 selected`, 'm'));
    expect(ex.stderr).toContain(`${tags.length - 1} tags in shard 1/1 of the storage left out by the tags file or --exclude`);
  }, 120_000);

  it('names the shard in the sync summary', () => {
    const selection = createExportTally().summary;
    selection.filteredOut = 3;
    const totals = { selected: 1, counts: emptyCounts(), bytesSynced: 0, ms: 1000, walkComplete: true, notReached: 0 };
    expect(renderSyncSummary(totals, [], { dryRun: false, target: 'harbor.example', selection, shard: { index: 2, count: 4 } })).toContain('3 tags in shard 2/4 of the storage left out by the tags file or --exclude');
    expect(renderSyncSummary(totals, [], { dryRun: false, target: 'harbor.example', selection })).toContain('3 tags in storage left out by the tags file or --exclude');
    // An interrupted walk's count is the shard's too.
    selection.tags = 40;
    const cut = renderSyncSummary({ ...totals, walkComplete: false, notReached: 5 }, [], { dryRun: false, target: 'harbor.example', selection, shard: { index: 2, count: 4 } });
    expect(cut).toContain('never reached: 5 selected tags the walk had listed, and every tag the walk had not come to (the walk read 40 tags of shard 2/4 before the run stopped;');
    // And the tags the tags file left out are among those read, not the shard's.
    expect(cut).toContain('\n3 tags of shard 2/4 read left out by the tags file or --exclude\n');
    expect(cut).not.toContain('of the storage left out');
  });
});
