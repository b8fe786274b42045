// fixtures/storage is what a real registry writes: the committed script regenerates it (docker-registry on
// 127.0.0.1, pushes with skopeo, API deletes, on-disk damage) with the same digests, statuses and blobs.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';
import { makeTempDir, requireTool } from './helpers/registry.js';

async function blobNames(storage: string): Promise<string[]> {
  const root = path.join(storage, 'docker/registry/v2/blobs/sha256');
  const names: string[] = [];
  for (const prefix of await readdir(root)) {
    for (const hex of await readdir(path.join(root, prefix))) {
      // A blob dir whose data was removed on purpose stays empty on disk, and git does not keep empty dirs.
      const files = await readdir(path.join(root, prefix, hex));
      if (files.length > 0) names.push(`${hex}:${files.join(',')}`);
    }
  }
  return names.sort();
}

describe('fixtures/make-storage.sh', () => {
  it('regenerates the committed storage: same tags, digests, statuses, problems and blobs', async () => {
    for (const tool of ['skopeo', 'docker-registry', 'openssl'] as const) requireTool(tool);
    const out = await makeTempDir('rr-fixtures');
    const r = await execa('bash', [path.join(ROOT, 'fixtures/make-storage.sh')], { env: { FIXTURE_OUT: out }, reject: false, timeout: 180_000 });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    const committed = JSON.parse(await readFile(path.join(ROOT, 'fixtures/expected.json'), 'utf8'));
    const fresh = JSON.parse(await readFile(path.join(out, 'expected.json'), 'utf8'));
    const byId = (doc: { tags: Array<{ repository: string; tag: string }> }) => new Map(doc.tags.map((t) => [`${t.repository}:${t.tag}`, t]));
    expect(byId(fresh)).toEqual(byId(committed));
    expect(await blobNames(path.join(out, 'storage'))).toEqual(await blobNames(path.join(ROOT, 'fixtures/storage')));
  }, 240_000);
});
