/** Renders sync and verify results for people and machines. */
import type { SyncResult, SyncSummary } from '../core/sync-plan.js';
import { formatBytes, type ExportSummary } from '../core/summary.js';
import { writeJsonDocument } from './json-stream.js';
import { selectionLines } from './render-export.js';

export const REPORT_VERSION = 1;

/** One line per image worth a person's attention (all of them with verbose or in a dry run). */
export function renderSyncLine(r: SyncResult, opts: { verbose: boolean }): string | undefined {
  // Broken and skipped images are listed once, in the closing summary; up-to-date ones only when asked.
  if (!opts.verbose && (r.status === 'up-to-date' || r.status === 'skipped' || r.status === 'broken')) return undefined;
  const head = `${r.status.padEnd(10)} ${r.source} -> ${r.target}`;
  const tail = [r.attempts > 1 ? `${r.attempts} attempts` : '', r.ms > 0 ? `${(r.ms / 1000).toFixed(1)} s` : ''].filter(Boolean).join(', ');
  const lines = [`${head}${tail ? `  (${tail})` : ''}`];
  if (r.reason) lines.push(`           ${r.reason}`);
  if (r.command && r.status === 'would-sync') lines.push(`           ${r.command}`);
  return `${lines.join('\n')}\n`;
}

/** The closing summary: counts, bytes, duration, then every failure with its reason. */
export function renderSyncSummary(results: SyncResult[], s: SyncSummary, opts: { dryRun: boolean; target: string; selection: ExportSummary }): string {
  const lines: string[] = [];
  if (opts.dryRun) {
    lines.push(`dry run: ${s.wouldSync} images would be pushed to ${opts.target}, ${s.skipped} skipped, ${s.broken} broken, ${s.failed} cannot be pushed; nothing was written or sent`);
  } else {
    lines.push(
      `${s.synced} synced, ${s.upToDate} up to date, ${s.skipped} skipped, ${s.broken} broken at source, ${s.failed} failed` +
        `${s.canceled > 0 ? `, ${s.canceled} canceled` : ''}; ${formatBytes(s.bytesSynced)} synced to ${opts.target} in ${(s.ms / 1000).toFixed(1)} s`,
    );
  }
  lines.push(...selectionLines(opts.selection));
  const bad = results.filter((r) => r.status === 'failed' || r.status === 'broken' || r.status === 'canceled');
  if (bad.length > 0) {
    lines.push(`${bad.length} images need attention:`);
    for (const r of bad) lines.push(`  ${r.status.padEnd(8)} ${r.source}: ${(r.reason ?? '').replaceAll(`${r.source}: `, '')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The --report document, written piece by piece: per image source, target, digest, status, reason, attempts, duration. */
export function writeSyncReport(
  write: (text: string) => void,
  doc: {
    command: string; storage: string; target: string; out: string; dryRun: boolean; startedAt: string; finishedAt: string;
    results: SyncResult[]; summary: SyncSummary; selection: Pick<ExportSummary, 'tags' | 'filteredOut' | 'missingFromStorage' | 'unmatchedEntries' | 'unreadable'>;
  },
): void {
  const { results, selection, summary, ...rest } = doc;
  const head = {
    version: REPORT_VERSION,
    ...rest,
    selection: { tagsInStorage: selection.tags, filteredOut: selection.filteredOut, missingFromStorage: selection.missingFromStorage, unmatchedEntries: selection.unmatchedEntries, unreadable: selection.unreadable },
  };
  writeJsonDocument(write, head, 'images', results, { summary });
}
