/**
 * The order every output is written in: tree order, the order of the storage walk. Repositories compare
 * path component by path component (a repository before the ones nested in it), then tags. Each component
 * compares by UTF-16 code unit, as Array.prototype.sort does, so the walk sorts directory listings with
 * the same comparison. Pure.
 */
import type { TagRef } from './types.js';

/** Plain code-unit comparison (no locale): stable across machines. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Tree order of repository names: component by component, a parent before its children. */
export function compareRepositories(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = compareStrings(x[i] as string, y[i] as string);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** Tree order of tags: by repository, then by tag. */
export function compareTagRefs(a: TagRef, b: TagRef): number {
  return compareRepositories(a.repository, b.repository) || compareStrings(a.tag, b.tag);
}
