/**
 * What the output directory already holds for a layout, read on whichever thread resolved the image (storage/
 * resolver.ts and src/resolve-worker.ts): the layout check is a readdir and an lstat per tag, the main thread's
 * largest single cost on a nightly run over an unchanged tree. Synchronous calls: a layout is a dozen names, in
 * the page cache after the first run. With --verify-blobs in hard-link mode (core/plan.ts checksLinks) a kept
 * layout also costs an lstat per file, to tell files that are no longer hard links to their blobs. It also tells
 * what is in the way of a layout (core/plan.ts InTheWay), so the dry run fails the images the real run cannot write:
 * an lstat per directory of the output above the layouts (cached), and one more only when a listed layout cannot be
 * read as a directory. Reads only.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Lru } from '../core/lru.js';
import { linksTo, type ExistingLayout, type InTheWay, type LayoutFileFacts, type ManifestFacts, type ReadExisting, type Unlinked } from '../core/plan.js';
import type { LayoutFile } from '../core/types.js';
import { entryKind, identityOf } from '../storage/fast-fs.js';
import { isBelow } from './out-paths.js';

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
  // Each directory of the output above the layouts (namespace and repository directories): null when it and every
  // one above it is a real directory or not there yet (the real run makes it), else what is in the way (lstat: the
  // real run writes through no symlink, layout-store.ts). Shared parents are looked at once.
  const aboveChecked = new Lru<string, InTheWay | null>(DIR_CACHE);
  const inTheWayAbove = (dir: string): InTheWay | null => {
    // The cache first: this runs once per tag, and path.relative (isBelow) costs more than the look-up.
    const known = aboveChecked.get(dir);
    if (known !== undefined) return known;
    const found = isBelow(out, dir) ? (inTheWayAbove(path.dirname(dir)) ?? notADirectory(out, dir, false)) : null;
    aboveChecked.set(dir, found);
    return found;
  };
  const read = (dir: string, manifest: ManifestFacts | undefined): ExistingLayout | InTheWay | undefined => {
    const parent = path.dirname(dir);
    const above = inTheWayAbove(parent);
    if (above !== null) return above;
    // One readdir per repository directory tells which of its tags have layouts: no call per new tag.
    if (!entriesOf(parent).has(path.basename(dir))) return undefined;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      // Listed, but not a directory to read (a plain file, a dangling symlink): the layout cannot go there.
      return notADirectory(out, dir, true) ?? undefined;
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
  return (id, manifest, linked) => {
    const dir = path.join(out, id);
    const existing = read(dir, manifest);
    // Only a layout the plan would keep is worth an lstat per file: one whose tag moved is rebuilt anyway.
    if (existing === undefined || 'inTheWay' in existing || linked === undefined || existing.manifestDigest !== manifest?.digest) return existing;
    const unlinked = findUnlinked(dir, existing.names, linked);
    return unlinked ? { ...existing, unlinked } : existing;
  };
}

/** What is in the way at `p` when it is there but not a real directory (lstat); null when it is one, or not there. */
function notADirectory(out: string, p: string, atLayout: boolean): InTheWay | null {
  let info: fs.Stats;
  try {
    info = fs.lstatSync(p);
  } catch {
    // Not there (made by the real run), or not to be looked at: the write says why, if it fails.
    return null;
  }
  return info.isDirectory() ? null : { inTheWay: p, out, kind: entryKind(info), atLayout };
}

/**
 * The first of `files` whose layout file is not a link to it (linksTo), and how many more are not. A file missing
 * from the layout is left to the plan's check of the names.
 */
function findUnlinked(dir: string, names: string[], files: readonly LayoutFile[]): Unlinked | undefined {
  let first: Unlinked | undefined;
  for (const f of files) {
    if (f.identity === undefined || !names.includes(f.name)) continue;
    if (linksTo(f, factsOf(path.join(dir, f.name)))) continue;
    if (first) first.more++;
    else first = { name: f.name, digest: f.digest, more: 0 };
  }
  return first;
}

/** A layout file's identity (lstat: a symlink's own), and its target when it is a symlink; undefined if it is gone. */
function factsOf(file: string): LayoutFileFacts | undefined {
  try {
    const info = fs.lstatSync(file);
    return info.isSymbolicLink() ? { identity: identityOf(info), symlinkTarget: fs.readlinkSync(file) } : { identity: identityOf(info) };
  } catch {
    return undefined;
  }
}
