/**
 * README, Exit codes: "the last log line names the outcome". `list -q` in a cron job exited 4 with nothing on
 * stderr (the fixture storage has broken tags on purpose; `--verify-blobs` finds the corrupt layer too), while `export -q` ends with `registry-rescue: exit 4,
 * partial: …`. `list -q` still prints no progress and no totals, but ends with that line, and keeps above it what
 * the line's "see above" points at when stdout does not show it (a listed tag missing from the storage).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags } from './helpers/cli.js';
import { idOf } from './helpers/sync.js';

const lines = (stderr: string): string[] => stderr.trimEnd().split('\n').filter(Boolean);

describe('list -q ends stderr with the outcome line, as export -q does', () => {
  it('a storage with broken tags: exit 4, the line counts them, the table on stdout names them', async () => {
    const { storage } = await copyFixture();
    const broken = (await expectedTags()).filter((t) => t.status === 'broken');
    const list = await cli(['list', storage, '-q', '--verify-blobs']);
    expect(list.exitCode).toBe(4);
    const exported = await cli(['export', storage, '--out', path.join(path.dirname(storage), 'out'), '-q', '--verify-blobs']);
    // The same words as export's last line: one contract for every command.
    expect(lines(list.stderr)).toEqual([lines(exported.stderr).at(-1)]);
    expect(lines(list.stderr)).toEqual([`registry-rescue: exit 4, partial: ${broken.length} broken (see above)`]);
    // No totals under -q: only the line.
    expect(list.stderr).not.toMatch(/tags in storage/);
    for (const t of broken) expect(list.stdout, idOf(t)).toMatch(new RegExp(`^broken\\s+${idOf(t).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s`, 'm'));
  });

  it('a listed tag missing from the storage is named above the line (--format tags too); exit 0 ends with done', async () => {
    const { dir, storage } = await copyFixture();
    const ok = (await expectedTags()).filter((t) => t.status === 'ok');
    const typo = path.join(dir, 'typo.tags');
    await writeFile(typo, `${idOf(ok[0]!)}\nlibary/alpine-like:3.19\n`);
    for (const format of ['table', 'tags']) {
      const r = await cli(['list', storage, '-q', '--tags-file', typo, '--format', format]);
      expect(r.exitCode, format).toBe(4);
      expect(lines(r.stderr), format).toEqual([
        'MISSING: typo.tags:2: libary/alpine-like:3.19 is not in the storage (did you mean library/alpine-like:3.19?)',
        'registry-rescue: exit 4, partial: 1 listed tag missing from the storage (see above)',
      ]);
    }
    const good = path.join(dir, 'ok.tags');
    await writeFile(good, `${ok.map(idOf).join('\n')}\n`);
    const done = await cli(['list', storage, '-q', '--tags-file', good]);
    expect(done.exitCode).toBe(0);
    expect(done.stderr).toBe('registry-rescue: exit 0, done');
  });

  it('list --json -q, like export --json -q, leaves stderr to warnings: the document says why', async () => {
    const { storage } = await copyFixture();
    const broken = (await expectedTags()).filter((t) => t.status === 'broken');
    const r = await cli(['list', storage, '--json', '-q', '--verify-blobs']);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as { summary: { counts: Record<string, number> } };
    expect(doc.summary.counts.broken).toBe(broken.length);
  });
});
