/** Totals of a list or export run, computed from per-image results. Pure. */
import type { ExportOutcome, ExportResult } from './events.js';

export interface ExportSummary {
  tags: number;
  selected: number;
  /** Tags the tags file or --exclude left out. */
  filteredOut: number;
  outcomes: Record<ExportOutcome, number>;
  ok: number;
  broken: number;
  skipped: number;
  failed: number;
  /** Bytes referenced by exportable layouts (no data is copied in hard/symlink mode). */
  bytes: number;
  files: number;
  pruned: string[];
  /** Tags-file entries naming an exact repository:tag that is not in the storage. */
  missingFromStorage: string[];
  /** Tags-file glob entries that matched nothing. */
  unmatchedEntries: string[];
  /** Directories of the storage that could not be read: tags below them are missing from this run. */
  unreadable: string[];
}

/** Adds up results into a summary. */
export function summarizeExport(results: ExportResult[], counts: { tags: number; filteredOut: number; unreadable?: string[] }): ExportSummary {
  const outcomes: Record<ExportOutcome, number> = {
    created: 0, rebuilt: 0, unchanged: 0, broken: 0, skipped: 0, failed: 0, 'would-create': 0, 'would-rebuild': 0,
  };
  let bytes = 0;
  let files = 0;
  for (const r of results) {
    outcomes[r.outcome]++;
    if (r.item.image.status === 'ok') {
      bytes += r.item.bytes;
      files += r.item.fileCount;
    }
  }
  return {
    tags: counts.tags,
    selected: results.length,
    filteredOut: counts.filteredOut,
    outcomes,
    ok: results.filter((r) => r.item.image.status === 'ok').length,
    broken: outcomes.broken,
    skipped: outcomes.skipped,
    failed: outcomes.failed,
    bytes,
    files,
    pruned: [],
    missingFromStorage: [],
    unmatchedEntries: [],
    unreadable: [...(counts.unreadable ?? [])],
  };
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
