// The output wing's layout store, used directly (dist/, built by `npm test`): what it reports of a layout
// already in the output directory decides whether a nightly run rebuilds it.
import { createHash } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLayoutStore } from '../dist/output/layout-store.js';
import type { OutputAt } from '../src/core/plan.js';

/** The layout read (not something in the way of one). */
const layoutIn = (x: OutputAt | undefined) => (x !== undefined && 'names' in x ? x : undefined);

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setup() {
  const root = await mkdtemp(path.join(os.tmpdir(), 'rr-store-'));
  dirs.push(root);
  const blob = path.join(root, 'storage-blob');
  const content = '{"schemaVersion":2}';
  await writeFile(blob, content);
  const sha = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const out = path.join(root, 'out');
  const layout = path.join(out, 'repo:tag');
  await mkdir(layout, { recursive: true });
  await writeFile(path.join(layout, 'version'), 'Directory Transport Version: 1.1\n');
  const info = await lstat(blob);
  return { root, blob, sha, out, layout, identity: `${info.dev}:${info.ino}` };
}

describe('readExisting', () => {
  it('trusts a layout manifest that is a hard link to the storage file without reading it', async () => {
    const s = await setup();
    await link(s.blob, path.join(s.layout, 'manifest.json'));
    // The digest given is not the content's: only the identity can have produced it, so nothing was hashed.
    const claimed = `sha256:${'a'.repeat(64)}` as const;
    const existing = await openLayoutStore(s.out).readExisting('repo:tag', { digest: claimed, identity: s.identity });
    expect(existing).toEqual({ names: ['manifest.json', 'version'], manifestDigest: claimed });
  });

  it('hashes a layout manifest that is a separate file (a copy, or a link to another blob)', async () => {
    const s = await setup();
    await writeFile(path.join(s.layout, 'manifest.json'), '{"schemaVersion":2}');
    const claimed = `sha256:${'a'.repeat(64)}` as const;
    const existing = await openLayoutStore(s.out).readExisting('repo:tag', { digest: claimed, identity: s.identity });
    expect(layoutIn(existing)?.manifestDigest).toBe(s.sha);
  });

  it('hashes when the storage file has no known identity, and reports no layout when there is none', async () => {
    const s = await setup();
    await link(s.blob, path.join(s.layout, 'manifest.json'));
    const store = openLayoutStore(s.out);
    expect(layoutIn(await store.readExisting('repo:tag'))?.manifestDigest).toBe(s.sha);
    expect(await store.readExisting('repo:other')).toBeUndefined();
  });
});

describe('write (hard links made on the builder thread)', () => {
  it('builds the layout in staging and renames it into place, every file a hard link to its blob', async () => {
    const s = await setup();
    const store = openLayoutStore(s.out);
    try {
      const warnings = await store.write('repo:new', [{ name: 'manifest.json', digest: s.sha as `sha256:${string}`, size: 19, source: { path: s.blob } }], 'hard', false);
      expect(warnings).toEqual([]);
      const made = path.join(s.out, 'repo:new');
      expect((await lstat(path.join(made, 'manifest.json'))).ino).toBe((await lstat(s.blob)).ino);
      expect((await lstat(path.join(made, 'version'))).isFile()).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a blob gone before its link fails the layout with a message naming it, and leaves nothing behind', async () => {
    const s = await setup();
    const store = openLayoutStore(s.out);
    try {
      const gone = path.join(s.root, 'gone-blob');
      const digest = `sha256:${'b'.repeat(64)}` as const;
      await expect(store.write('repo:broken', [{ name: 'manifest.json', digest, size: 1, source: { path: gone } }], 'hard', false)).rejects.toThrow(
        `cannot hard-link ${digest} (${gone}): the blob disappeared during the export`,
      );
      await expect(lstat(path.join(s.out, 'repo:broken'))).rejects.toThrow(/ENOENT/);
      // Staging holds the run's version template only: the half-built layout was removed.
      expect((await readdir(store.staging)).filter((n) => !n.startsWith('version.'))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
