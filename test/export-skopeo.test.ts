// Exported layouts read by the real skopeo: `skopeo copy --all dir:<layout> dir:<copy>` must yield the
// original manifest byte for byte for every image kind of the fixture (storage-and-skopeo.md §4).
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags } from './helpers/cli.js';
import { requireTool, skopeo } from './helpers/registry.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('exported layouts with the real skopeo', () => {
  it('copy dir: -> dir: keeps every manifest byte for byte, children included', async () => {
    requireTool('skopeo');
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    const r = await cli(['export', storage, '--out', out, '--verify-blobs', '-q']);
    expect(r.exitCode, r.stderr).toBe(4);
    const ok = (await expectedTags()).filter((t) => t.status === 'ok');
    const kinds = new Set(ok.map((t) => t.kind));
    expect([...kinds].sort()).toEqual(['artifact', 'image', 'index']);
    for (const t of ok) {
      const id = `${t.repository}:${t.tag}`;
      const copy = path.join(dir, 'copies', id.replaceAll('/', '_'));
      await mkdir(path.dirname(copy), { recursive: true });
      const c = await skopeo(['copy', '--all', '--preserve-digests', `dir:${path.join(out, id)}`, `dir:${copy}`]);
      expect(c.exitCode, `${id}: ${c.stderr}`).toBe(0);
      const manifest = await readFile(path.join(copy, 'manifest.json'));
      expect(sha256(manifest), id).toBe(t.digest);
      expect(manifest.equals(await readFile(path.join(out, id, 'manifest.json'))), id).toBe(true);
      if (t.kind === 'index') {
        const children = (JSON.parse(manifest.toString('utf8')) as { manifests: Array<{ digest: string }> }).manifests;
        const names = await readdir(copy);
        for (const child of children) {
          const hex = child.digest.slice('sha256:'.length);
          expect(names, `${id} child ${child.digest}`).toContain(`${hex}.manifest.json`);
          expect(sha256(await readFile(path.join(copy, `${hex}.manifest.json`)))).toBe(child.digest);
        }
      }
    }
  });
});
