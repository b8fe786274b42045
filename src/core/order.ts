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

/** One tag of a repository as the push order sees it. */
export interface PushOrderEntry {
  tag: string;
  /** When the old registry last pushed it (ms); unknown sorts last among its kind. */
  pushedAt: number | undefined;
  /** A cosign-style accessory tag (`sha256-<hex>.sig`, `.att`, `.sbom`). */
  accessory: boolean;
}

/**
 * The order sync pushes one repository's tags in (indexes into `entries`): images before accessory tags (Harbor
 * links an accessory only when its subject is already there), each oldest push first (push-time retention on the
 * target then keeps what it kept before), ties and unknown times by tag name. Stable and pure.
 */
export function orderForPush(entries: readonly PushOrderEntry[]): number[] {
  const time = (e: PushOrderEntry) => e.pushedAt ?? Number.POSITIVE_INFINITY;
  return entries
    .map((_, i) => i)
    .sort((a, b) => {
      const x = entries[a] as PushOrderEntry;
      const y = entries[b] as PushOrderEntry;
      return Number(x.accessory) - Number(y.accessory) || (time(x) === time(y) ? 0 : time(x) < time(y) ? -1 : 1) || compareStrings(x.tag, y.tag);
    });
}
