/** Totals of a list or export run, added up image by image as results stream past. Pure. */
import type { ExportResult } from './events.js';
import { emptyCounts, type Counts } from './results.js';

export interface ExportSummary {
  /** Tags found in the storage (in this shard). */
  tags: number;
  /** Untagged referrers found (their subject is exported), selected or not; not counted in `tags`. */
  referrers: number;
  selected: number;
  /** Tags the tags file or --exclude left out. */
  filteredOut: number;
  /** Per status: the image's own status for list (ok/broken/skipped), the export outcome for export. */
  counts: Counts;
  ok: number;
  broken: number;
  skipped: number;
  failed: number;
  /** Bytes referenced by exportable layouts (no data is copied in hard/symlink mode). */
  bytes: number;
  /** Bytes downloaded from a bucket storage into layouts (0 for a directory: its blobs are linked). */
  bytesDownloaded: number;
  files: number;
  /** Layouts removed (or, in a dry run, to be removed) by --prune. */
  pruned: number;
  /** Tags-file entries naming an exact repository:tag that is not in the storage. */
  missingFromStorage: string[];
  /** Tags-file glob entries that matched nothing. */
  unmatchedEntries: string[];
  /** What the tags file and --exclude did wrong, with messages naming file and line (and the nearest storage name). */
  selectionProblems: Array<{ code: 'listed-missing' | 'glob-unmatched' | 'nothing-selected'; message: string }>;
  /** Directories of the storage that could not be read: tags below them are missing from this run. */
  unreadable: string[];
}

/** A summary that grows one result at a time, so no run keeps its results. */
export function createExportTally(): { add(r: ExportResult): void; summary: ExportSummary } {
  const summary: ExportSummary = {
    tags: 0, referrers: 0, selected: 0, filteredOut: 0, counts: emptyCounts(), ok: 0, broken: 0, skipped: 0, failed: 0,
    bytes: 0, bytesDownloaded: 0, files: 0, pruned: 0, missingFromStorage: [], unmatchedEntries: [], selectionProblems: [], unreadable: [],
  };
  return {
    summary,
    add(r) {
      summary.selected++;
      summary.counts[r.outcome]++;
      const { status } = r.item.image;
      if (status === 'ok') {
        summary.ok++;
        summary.bytes += r.item.bytes;
        summary.files += r.item.fileCount;
      } else if (status === 'broken') summary.broken++;
      else summary.skipped++;
      if (r.outcome === 'failed') summary.failed++;
    },
  };
}

/**
 * Selected tags (and untagged referrers) the walk listed but the run never read, because it stopped first: neither
 * in the results nor filtered out. 0 for a walk that ended. The tags after them, which the walk never listed, are
 * not counted: how many there are is not known without reading the rest of the storage.
 */
export function notReachedOf(summary: Pick<ExportSummary, 'tags' | 'referrers' | 'filteredOut' | 'selected'>): number {
  return Math.max(0, summary.tags + summary.referrers - summary.filteredOut - summary.selected);
}

/** `1.2 MB`, decimal units as registries and Harbor show them. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
