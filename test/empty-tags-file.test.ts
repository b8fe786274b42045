/**
 * A tags file with no entry (empty, or only comments and blank lines) was reported as `nothing selected: no entry
 * of empty.txt matched any of the 30 tags in the storage`, which reads as a list that names the wrong tags. In a
 * cron job it means the job that writes the list broke: every command that takes --tags-file now says the file
 * holds no entry, naming it, and keeps exit 4 and the `nothing-selected` code of README "Tags files".
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';
import { requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';

interface Selection {
  problems: Array<{ code: string; message: string }>;
}

/** What a list generator that failed after its header may leave (ASCII: its length is its size in bytes). */
const COMMENTS = '# written by tags --from at 03:00\n\n   \n# (nothing below: the job failed)\n';

describe('a tags file without entries', () => {
  let reg: TestRegistry;
  let fx: { dir: string; storage: string };
  let empty: string;
  let comments: string;
  const said = (file: string, what: string) => `nothing selected: the tags file ${file} ${what}; the job that writes it may have failed`;
  const forEmpty = () => said(empty, 'is empty (0 bytes)');
  const forComments = () => said(comments, `holds no entry, only comments and blank lines (${COMMENTS.length} bytes)`);

  beforeAll(async () => {
    requireTool('docker-registry');
    reg = await startRegistry();
    fx = await copyFixture();
    empty = path.join(fx.dir, 'empty.txt');
    comments = path.join(fx.dir, 'comments.tags');
    await writeFile(empty, '');
    await writeFile(comments, COMMENTS);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const commands = (file: string): Record<string, string[]> => ({
    list: ['list', fx.storage, '--tags-file', file],
    export: ['export', fx.storage, '--out', path.join(fx.dir, 'out'), '--tags-file', file],
    sync: ['sync', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--out', path.join(fx.dir, 'scratch'), '--tags-file', file],
    verify: ['verify', fx.storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', file],
  });

  it('says so for list, export, sync and verify, naming the file, on stderr and in the JSON; exit 4 as before', async () => {
    for (const [file, message] of [[empty, forEmpty()], [comments, forComments()]] as const) {
      for (const [name, args] of Object.entries(commands(file))) {
        const text = await cli(args);
        expect(text.exitCode, `${name}: ${text.stderr}`).toBe(4);
        expect(text.stderr, name).toContain(`${message}\n`);
        expect(text.stderr, name).not.toContain('matched any of');
        expect(text.stderr.trimEnd().split('\n').at(-1), name).toBe('registry-rescue: exit 4, partial: nothing selected (see above)');
        const json = await cli([...args, '--json']);
        expect(json.exitCode, name).toBe(4);
        const doc = JSON.parse(json.stdout) as { selection?: Selection; summary: { selectionProblems?: Selection['problems'] } };
        const problems = doc.selection?.problems ?? doc.summary.selectionProblems;
        expect(problems, name).toEqual([{ code: 'nothing-selected', message }]);
      }
    }
    const quiet = await cli(['list', fx.storage, '--tags-file', empty, '-q']);
    expect(quiet.stderr).toBe(`${forEmpty()}\nregistry-rescue: exit 4, partial: nothing selected (see above)`);
  }, 120_000);

  it('a file whose entries match no tag still says that', async () => {
    const other = path.join(fx.dir, 'other.tags');
    await writeFile(other, 'nowhere/**\n');
    const r = await cli(['list', fx.storage, '--tags-file', other]);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/nothing selected: no entry of other\.tags matched any of the \d+ tags in the storage/);
  });
});
