/**
 * --shard with one tags file shared by every shard (examples/kubernetes/indexed-job.yaml): an entry naming a
 * repository of another shard is not "missing from the storage", and a shard whose listed repositories all lie in
 * other shards has nothing to do rather than "nothing selected" (exit 4 every night).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../src/core/shard.js';
import { cli, copyFixture } from './helpers/cli.js';

describe('--shard with a shared tags file', () => {
  it('reports a listed tag missing only when it is missing, in the one shard that owns its repository', async () => {
    const { dir, storage } = await copyFixture();
    const present = ['proj/a/app:1.0', 'proj/b/app:1.0', 'library/alpine-like:3.19', 'charts/mychart:0.1.0'];
    const typo = 'proj/a/app:no-such-tag';
    const tagsFile = path.join(dir, 'rescue.tags');
    await writeFile(tagsFile, `${[...present, typo].join('\n')}\n`);
    const count = 8;
    const reported: string[] = [];
    for (let k = 1; k <= count; k++) {
      const r = await cli(['list', storage, '--tags-file', tagsFile, '--shard', `${k}/${count}`, '--format', 'tags']);
      const mine = present.filter((t) => shardOf(t.split(':')[0] as string, count) === k);
      expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([...mine].sort());
      const missing = r.stderr.split('\n').filter((l) => l.startsWith('MISSING:'));
      reported.push(...missing);
      expect(r.stderr).not.toMatch(/nothing selected/);
      const ownsTypo = shardOf('proj/a/app', count) === k;
      expect({ shard: k, exitCode: r.exitCode }).toEqual({ shard: k, exitCode: ownsTypo ? 4 : 0 });
    }
    // Every shard together: exactly the one real problem, once.
    expect(reported).toEqual([`MISSING: rescue.tags:5: ${typo} is not in the storage`]);
  }, 120_000);
});
