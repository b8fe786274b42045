/** Renders list/export results for people (text) and machines (JSON). */
import chalk from 'chalk';
import { localReason, plural, problemMessages } from '../core/results.js';
import { formatShard, type Shard } from '../core/shard.js';
import type { ExportResult } from '../core/events.js';
import { formatBytes, type ExportSummary } from '../core/summary.js';
import type { ResolvedImage } from '../core/types.js';
import { printable } from './printable.js';

/** One JSON object per image: the fields the README documents, plus export details when given. */
export function imageJson(result: ExportResult, out?: string) {
  const { image } = result.item;
  return {
    repository: image.repository,
    tag: image.subject !== undefined ? null : image.tag,
    ...(image.subject !== undefined ? { subject: image.subject } : {}),
    digest: image.digest ?? null,
    mediaType: image.mediaType ?? null,
    kind: image.kind,
    ...(image.platforms ? { platforms: image.platforms } : {}),
    ...(image.artifactType ? { artifactType: image.artifactType } : {}),
    status: image.status,
    problems: image.problems.map((p) => ({ code: p.code, message: p.message, ...(p.digest ? { digest: p.digest } : {}), ...(p.file ? { file: p.file } : {}) })),
    warnings: [...result.warnings],
    size: image.size,
    files: result.item.fileCount,
    ...(out !== undefined
      ? {
          layout: `${out}/${result.id}`,
          action: result.item.action,
          outcome: result.outcome,
          // Why a layout is rebuilt (the tag moved, a file is not its blob any more…): a monitor sees what the text says.
          ...(result.item.action === 'rebuild' && result.item.reason ? { reason: result.item.reason } : {}),
          ...(result.error ? { error: result.error } : {}),
        }
      : {}),
  };
}

/**
 * The walk's selection bookkeeping as the sync and verify documents carry it (`selection`): tags in the storage (or
 * the shard), filtered out, listed but missing, unmatched globs, unreadable directories; `pruned` for sync.
 */
export function selectionJson(s: ExportSummary, opts: { pruned?: boolean } = {}) {
  return {
    tagsInStorage: s.tags, filteredOut: s.filteredOut, missingFromStorage: s.missingFromStorage, unmatchedEntries: s.unmatchedEntries, unreadable: s.unreadable,
    ...(opts.pruned ? { pruned: s.pruned } : {}),
    problems: s.selectionProblems,
  };
}

/** What the `list` table's DETAIL column says of a kind: `linux/amd64,linux/arm64`, an artifact's type, a referrer's subject. */
function kindDetail(image: ResolvedImage): string {
  if (image.kind === 'index') return (image.platforms ?? []).join(',');
  if (image.kind === 'artifact') return image.artifactType ?? '';
  if (image.kind === 'referrer') return `of ${image.subject ?? '?'}${image.artifactType ? ` (${image.artifactType})` : ''}`;
  return '';
}

const STATUS_COLOR = { ok: chalk.green, broken: chalk.red, skipped: chalk.yellow } as const;


/** Column widths of the `list` table: fixed, because lines are written as results come (longer values push the line). */
const REFERENCE_WIDTH = 40;
const KIND_WIDTH = 8;
/** `sha256:` and 64 hex. */
const DIGEST_WIDTH = 71;

/** The `list` table's header line. */
export function listHeader(): string {
  return `${'STATUS'.padEnd(7)} ${'REFERENCE'.padEnd(REFERENCE_WIDTH)}  ${'KIND'.padEnd(KIND_WIDTH)}  ${'SIZE'.padStart(8)}  ${'DIGEST'.padEnd(DIGEST_WIDTH)}  DETAIL\n`;
}

/**
 * One tag of the `list` table, its problems under it. The columns keep their places (lines are written as results
 * come): KIND is the kind's word, and what varies in length (an index's platforms, an artifact's type, a referrer's
 * subject) comes last, where a narrow terminal may cut it.
 */
export function listLine(r: ExportResult, color: boolean): string {
  const { image } = r.item;
  const paint = color ? STATUS_COLOR[image.status] : String;
  const kind = image.kind === 'unknown' ? '-' : image.kind;
  const detail = printable(kindDetail(image));
  const row = `${paint(image.status.padEnd(7))} ${printable(r.id).padEnd(REFERENCE_WIDTH)}  ${kind.padEnd(KIND_WIDTH)}  ${formatBytes(image.size).padStart(8)}  ${(image.digest ?? '-').padEnd(DIGEST_WIDTH)}`;
  const lines = [detail ? `${row}  ${detail}` : row.trimEnd()];
  for (const m of problemMessages(image.problems)) lines.push(`        ${printable(localReason(m, r.id))}`);
  for (const w of r.warnings) lines.push(`        warning: ${printable(localReason(w, r.id))}`);
  return `${lines.join('\n')}\n`;
}

const OUTCOME_WORD: Record<ExportResult['outcome'], string> = {
  ok: 'ok',
  created: 'created',
  rebuilt: 'rebuilt',
  unchanged: 'unchanged',
  broken: 'broken',
  skipped: 'skipped',
  failed: 'FAILED',
  'would-create': 'would create',
  'would-rebuild': 'would rebuild',
};

/** One line of the `export` report (and its problems): every image in a dry run or with --verbose, else only what needs a look. */
export function exportLine(r: ExportResult, out: string, opts: { dryRun: boolean; verbose: boolean }): string {
  if (!opts.dryRun && !opts.verbose && (r.outcome === 'unchanged' || r.outcome === 'created')) return '';
  const { item } = r;
  const where = item.action === 'skip' ? '' : `  ${out}/${r.id}  ${item.fileCount} files  ${formatBytes(item.bytes)}`;
  const lines = [printable(`${OUTCOME_WORD[r.outcome].padEnd(13)} ${r.id}${where}${item.action === 'rebuild' && item.reason ? `  (${localReason(item.reason, r.id)})` : ''}`)];
  for (const m of problemMessages(item.problems)) lines.push(`              ${printable(localReason(m, r.id))}`);
  if (r.error) lines.push(`              ${printable(localReason(r.error, r.id))}`);
  for (const w of r.warnings) lines.push(`              warning: ${printable(localReason(w, r.id))}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Where the counted tags are. With --shard K/N a run walks only its shard's repositories, so its counts are the
 * shard's: `4 tags in storage` would read as the whole storage.
 */
function tagsWhere(shard: Shard | undefined): string {
  return shard ? `in shard ${formatShard(shard)} of the storage` : 'in storage';
}

/**
 * What the tags file and --exclude did: storage tags left out, listed tags the storage lacks (with the nearest name),
 * entries matching nothing. `quiet` (`list -q`): only what needs a look, without the count of tags left out.
 * `stopped`: an interrupt may have ended the walk, so the tags left out are among those read, not the storage's.
 */
export function selectionLines(summary: Pick<ExportSummary, 'filteredOut' | 'selectionProblems' | 'unreadable'>, shard?: Shard, opts: { quiet?: boolean; stopped?: boolean } = {}): string[] {
  const lines: string[] = [];
  if (summary.unreadable.length > 0) lines.push(`INCOMPLETE: ${plural(summary.unreadable.length, 'storage directory', 'storage directories')} could not be read; their tags are not in this run`);
  const where = opts.stopped ? `${shard ? `of shard ${formatShard(shard)} ` : ''}read` : tagsWhere(shard);
  if (summary.filteredOut > 0 && !opts.quiet) lines.push(`${plural(summary.filteredOut, 'tag')} ${where} left out by the tags file or --exclude`);
  for (const p of summary.selectionProblems) lines.push(p.code === 'glob-unmatched' ? `warning: ${p.message}` : p.code === 'listed-missing' ? `MISSING: ${p.message}` : p.message);
  return lines;
}

/**
 * Totals and the tags-file bookkeeping, for people. `stopped`: an interrupt ended the walk, so its counts are what
 * was read, not the storage. `shard`: --shard K/N, so the counts are that shard's.
 */
export function renderSummaryText(summary: ExportSummary, opts: { command: 'list' | 'export'; dryRun: boolean; stopped?: boolean; shard?: Shard }): string {
  const o = summary.counts;
  const lines: string[] = [];
  const referrers = summary.referrers > 0 ? ` (and ${plural(summary.referrers, 'untagged referrer')})` : '';
  const read = opts.stopped ? `${opts.shard ? `of shard ${formatShard(opts.shard)} ` : ''}read before the run stopped` : tagsWhere(opts.shard);
  const head = `${summary.tags} tags${referrers} ${read}, ${summary.selected} selected`;
  if (opts.command === 'list') {
    lines.push(`${head}: ${summary.ok} ok, ${summary.broken} broken, ${summary.skipped} skipped; ${formatBytes(summary.bytes)} in exportable images`);
  } else {
    const done = opts.dryRun
      ? `${o['would-create']} would be created, ${o['would-rebuild']} rebuilt, ${o.unchanged} unchanged`
      : `${o.created} created, ${o.rebuilt} rebuilt, ${o.unchanged} unchanged`;
    lines.push(`${head}: ${done}, ${summary.broken} broken, ${summary.skipped} skipped, ${summary.failed} failed; ${summary.files} files, ${formatBytes(summary.bytes)}${opts.dryRun ? ' (dry run: nothing was written)' : ''}`);
  }
  lines.push(...selectionLines(summary, opts.shard, { stopped: opts.stopped === true }));
  if (summary.pruned > 0) lines.push(`${opts.dryRun ? 'would prune' : 'pruned'} ${plural(summary.pruned, 'layout')} whose tag is gone`);
  return `${lines.join('\n')}\n`;
}
