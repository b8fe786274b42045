/**
 * What the output directory already holds for a layout, read on whichever thread resolved the image (storage/
 * resolver.ts and src/resolve-worker.ts): the layout check is a readdir and an lstat per tag, the main thread's
 * largest single cost on a nightly run over an unchanged tree. Synchronous calls: a layout is a dozen names, in
 * the page cache after the first run. Reads only.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Lru } from '../core/lru.js';
import type { ReadExisting } from '../core/plan.js';
import { identityOf } from '../storage/fast-fs.js';

/** Repository directories of the output whose layout names are remembered (tree order: a few cover the walk). */
const DIR_CACHE = 256;

/** A reader of the layouts in `out`, with its own cache (one per thread). */
export function existingLayoutReader(out: string): ReadExisting {
  const listings = new Lru<string, Set<string>>(DIR_CACHE);
  const entriesOf = (dir: string) =>
    listings.getOrSet(dir, () => {
      try {
        return new Set(fs.readdirSync(dir));
      } catch {
        return new Set<string>();
      }
    });
  return (id, manifest) => {
    const dir = path.join(out, id);
    // One readdir per repository directory tells which of its tags have layouts: no call per new tag.
    if (!entriesOf(path.dirname(dir)).has(path.basename(dir))) return undefined;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return undefined;
    }
    // A nightly run over an unchanged tree: one lstat instead of reading and hashing every layout's manifest.
    if (manifest?.identity !== undefined && names.includes('manifest.json')) {
      try {
        if (identityOf(fs.lstatSync(path.join(dir, 'manifest.json'))) === manifest.identity) return { names, manifestDigest: manifest.digest };
      } catch {
        // Gone since the readdir: hashed below, which fails the same way.
      }
    }
    let manifestDigest: string | undefined;
    try {
      manifestDigest = `sha256:${createHash('sha256').update(fs.readFileSync(path.join(dir, 'manifest.json'))).digest('hex')}`;
    } catch {
      manifestDigest = undefined;
    }
    return { names, ...(manifestDigest ? { manifestDigest } : {}) };
  };
}
