// The benchmark's storage generator must write what a registry writes (docs/storage-and-skopeo.md §2.1-2.3),
// or the bench measures a tree no one has: blobs named by their sha256 with the sizes manifests declare,
// 71-byte links, index children with revision links and no tags, moved tags with their older revision kept.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateStorage } from '../scripts/bench/generate-storage.mjs';
import { cli } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';

interface Descriptor {
  digest: string;
  size: number;
  mediaType: string;
}
interface Manifest {
  mediaType: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

/** Every file under `dir` whose name is `name`, recursively. */
function findFiles(dir: string, name: string, acc: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findFiles(p, name, acc);
    else if (e.name === name) acc.push(p);
  }
  return acc;
}

describe('bench storage generator', () => {
  it('writes a tree a registry would have written, and every tag lists as ok', async () => {
    const dir = await makeTempDir('rr-bench-gen');
    const stats = generateStorage({ dir, tags: 200, seed: 7 });
    const v2 = path.join(dir, 'docker/registry/v2');
    const blob = (digest: string): Buffer => readFileSync(path.join(v2, 'blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'));

    // Blobs: sha256(data) == dir name, stored under its first two hex characters.
    const blobs = findFiles(path.join(v2, 'blobs'), 'data');
    expect(blobs.length).toBe(stats.blobs);
    for (const p of blobs) {
      const hex = path.basename(path.dirname(p));
      expect(path.basename(path.dirname(path.dirname(p)))).toBe(hex.slice(0, 2));
      expect(createHash('sha256').update(readFileSync(p)).digest('hex')).toBe(hex);
    }

    // Links: exactly "sha256:<64 hex>", 71 bytes, no newline, naming the dir they sit in (except current/).
    const links = findFiles(path.join(v2, 'repositories'), 'link');
    for (const p of links) {
      const text = readFileSync(p, 'utf8');
      expect(text).toMatch(/^sha256:[0-9a-f]{64}$/);
      if (path.basename(path.dirname(p)) !== 'current') expect(path.basename(path.dirname(p))).toBe(text.slice(7));
    }

    // Every tag: its manifest parses, descriptors' sizes match the blobs, index children have revisions and no tags.
    const lines = readFileSync(stats.tagsFile, 'utf8').trim().split('\n');
    expect(lines.length).toBe(200);
    let indexes = 0;
    let moved = 0;
    const kinds = new Set<string>();
    for (const line of lines) {
      const [repository, tag] = line.split(':') as [string, string];
      const repo = path.join(v2, 'repositories', repository);
      const current = readFileSync(path.join(repo, '_manifests/tags', tag, 'current/link'), 'utf8');
      const history = readdirSync(path.join(repo, '_manifests/tags', tag, 'index/sha256'));
      expect(history).toContain(current.slice(7));
      for (const h of history) expect(existsSync(path.join(repo, '_manifests/revisions/sha256', h, 'link'))).toBe(true);
      for (const h of history) expect(blob(`sha256:${h}`).length).toBeGreaterThan(0); // older revision kept too
      if (history.length > 1) moved++;
      const m = JSON.parse(blob(current).toString('utf8')) as Manifest;
      kinds.add(m.mediaType);
      const check = (d: Descriptor): void => expect(blob(d.digest).length, `${line} ${d.digest}`).toBe(d.size);
      const images: Manifest[] = [m];
      if (m.manifests) {
        indexes++;
        expect(m.manifests.length).toBe(2);
        images.length = 0;
        for (const child of m.manifests) {
          check(child);
          expect(existsSync(path.join(repo, '_manifests/revisions/sha256', child.digest.slice(7), 'link'))).toBe(true);
          expect(existsSync(path.join(repo, '_manifests/tags', child.digest))).toBe(false);
          images.push(JSON.parse(blob(child.digest).toString('utf8')) as Manifest);
        }
      }
      for (const img of images) {
        expect(img.layers?.length).toBe(8);
        for (const d of [img.config!, ...img.layers!]) {
          check(d);
          expect(existsSync(path.join(repo, '_layers/sha256', d.digest.slice(7), 'link'))).toBe(true);
        }
      }
    }
    expect(kinds).toContain('application/vnd.docker.distribution.manifest.v2+json');
    expect(moved).toBe(stats.olderRevisions);
    expect(moved).toBeGreaterThan(5); // ~10% of 200
    expect(kinds).toContain('application/vnd.oci.image.manifest.v1+json');
    expect(indexes).toBeGreaterThan(0); // seed 7 has some; ~2% of tags
    // Some unfinished uploads, which an export must ignore.
    expect(stats.uploads).toBeGreaterThan(0);
    expect(statSync(findFiles(path.join(v2, 'repositories'), 'startedat')[0]!).size).toBeGreaterThan(0);

    // Deterministic for a seed: a second tree lists the same tags.
    const again = await makeTempDir('rr-bench-gen');
    generateStorage({ dir: again, tags: 200, seed: 7 });
    expect(readFileSync(path.join(again, 'every.tags'), 'utf8')).toBe(readFileSync(stats.tagsFile, 'utf8'));

    // registry-rescue agrees: every tag is ok.
    const r = await cli(['list', dir, '--json', '-q']);
    expect(r.exitCode, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as { images: { repository: string; tag: string; status: string }[] };
    expect(listed.images.length).toBe(200);
    expect(listed.images.filter((i) => i.status !== 'ok')).toEqual([]);
  });
});
