/** Renders list/export results for people (text) and machines (JSON). */
import chalk from 'chalk';
import { writeJsonDocument } from './json-stream.js';
import type { ExportResult } from '../core/events.js';
import { formatBytes, type ExportSummary } from '../core/summary.js';
import type { ResolvedImage } from '../core/types.js';

/** One JSON object per image: the fields the README documents, plus export details when given. */
export function imageJson(result: ExportResult, out?: string) {
  const { image } = result.item;
  return {
    repository: image.repository,
    tag: image.tag,
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
      ? { layout: `${out}/${result.id}`, action: result.item.action, outcome: result.outcome, ...(result.error ? { error: result.error } : {}) }
      : {}),
  };
}

/** The whole run as one JSON document `{ ...extra, images, summary }`, written image by image. */
export function writeJson(write: (text: string) => void, results: ExportResult[], summary: ExportSummary, extra: Record<string, unknown>): void {
  const out = typeof extra.out === 'string' ? extra.out : undefined;
  writeJsonDocument(write, extra, 'images', results.map((r) => imageJson(r, out)), { summary });
}

/** `image`, `index linux/amd64,linux/arm64`, `artifact application/vnd.cncf.helm.config.v1+json`. */
export function describeKind(image: ResolvedImage): string {
  if (image.kind === 'index') return `index ${(image.platforms ?? []).join(',')}`;
  if (image.kind === 'artifact') return `artifact ${image.artifactType ?? ''}`;
  return image.kind;
}

const STATUS_COLOR = { ok: chalk.green, broken: chalk.red, skipped: chalk.yellow } as const;

/** A problem message without the `repository:tag: ` it starts with, for lines already under that reference. */
function local(message: string, id: string): string {
  return message.startsWith(`${id}: `) ? message.slice(id.length + 2) : message;
}

/** The `list` table: one line per tag (the full digest last, where a narrow terminal may cut it), problems under it. */
export function renderListText(results: ExportResult[], color: boolean): string {
  const c = color ? STATUS_COLOR : { ok: String, broken: String, skipped: String };
  const width = Math.min(60, Math.max(10, ...results.map((r) => r.id.length)));
  const kinds = results.map((r) => (r.item.image.kind === 'unknown' ? '-' : describeKind(r.item.image)));
  const kindWidth = Math.min(50, Math.max(4, ...kinds.map((k) => k.length)));
  const lines: string[] = [];
  if (results.length > 0) lines.push(`${'STATUS'.padEnd(7)} ${'REFERENCE'.padEnd(width)}  ${'KIND'.padEnd(kindWidth)}  ${'SIZE'.padStart(8)}  DIGEST`);
  results.forEach((r, i) => {
    const { image } = r.item;
    const status = c[image.status](image.status.padEnd(7));
    lines.push(`${status} ${r.id.padEnd(width)}  ${(kinds[i] ?? '').padEnd(kindWidth)}  ${formatBytes(image.size).padStart(8)}  ${image.digest ?? '-'}`);
    for (const p of image.problems) lines.push(`        ${local(p.message, r.id)}`);
    for (const w of r.warnings) lines.push(`        warning: ${local(w, r.id)}`);
  });
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

const OUTCOME_WORD: Record<ExportResult['outcome'], string> = {
  created: 'created',
  rebuilt: 'rebuilt',
  unchanged: 'unchanged',
  broken: 'broken',
  skipped: 'skipped',
  failed: 'FAILED',
  'would-create': 'would create',
  'would-rebuild': 'would rebuild',
};

/** The `export` report: every image in a dry run or with --verbose; otherwise what needs a look (rebuilt, broken, skipped, failed). */
export function renderExportText(results: ExportResult[], out: string, opts: { dryRun: boolean; verbose: boolean }): string {
  const lines: string[] = [];
  for (const r of results) {
    if (!opts.dryRun && !opts.verbose && (r.outcome === 'unchanged' || r.outcome === 'created')) continue;
    const { item } = r;
    const where = item.action === 'skip' ? '' : `  ${out}/${r.id}  ${item.fileCount} files  ${formatBytes(item.bytes)}`;
    lines.push(`${OUTCOME_WORD[r.outcome].padEnd(13)} ${r.id}${where}${item.action === 'rebuild' && item.reason ? `  (${item.reason})` : ''}`);
    for (const p of item.problems) lines.push(`              ${local(p.message, r.id)}`);
    if (r.error) lines.push(`              ${local(r.error, r.id)}`);
    for (const w of r.warnings) lines.push(`              warning: ${local(w, r.id)}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** What the tags file and --exclude did: storage tags left out, listed tags the storage lacks, entries matching nothing. */
export function selectionLines(summary: Pick<ExportSummary, 'filteredOut' | 'missingFromStorage' | 'unmatchedEntries' | 'unreadable'>): string[] {
  const lines: string[] = [];
  if (summary.unreadable.length > 0) lines.push(`INCOMPLETE: ${summary.unreadable.length} storage directories could not be read; their tags are not in this run`);
  if (summary.filteredOut > 0) lines.push(`${summary.filteredOut} tags in storage were left out by the tags file or --exclude`);
  if (summary.missingFromStorage.length > 0) {
    lines.push(`${summary.missingFromStorage.length} listed tags are not in the storage (lost by the registry?): ${summary.missingFromStorage.join(', ')}`);
  }
  if (summary.unmatchedEntries.length > 0) lines.push(`tags-file entries that matched nothing: ${summary.unmatchedEntries.join(', ')}`);
  return lines;
}

/** Totals and the tags-file bookkeeping, for people. */
export function renderSummaryText(summary: ExportSummary, opts: { command: 'list' | 'export'; dryRun: boolean }): string {
  const o = summary.outcomes;
  const lines: string[] = [];
  const head = `${summary.tags} tags in storage, ${summary.selected} selected`;
  if (opts.command === 'list') {
    lines.push(`${head}: ${summary.ok} ok, ${summary.broken} broken, ${summary.skipped} skipped; ${formatBytes(summary.bytes)} in exportable images`);
  } else {
    const done = opts.dryRun
      ? `${o['would-create']} would be created, ${o['would-rebuild']} rebuilt, ${o.unchanged} unchanged`
      : `${o.created} created, ${o.rebuilt} rebuilt, ${o.unchanged} unchanged`;
    lines.push(`${head}: ${done}, ${summary.broken} broken, ${summary.skipped} skipped, ${summary.failed} failed; ${summary.files} files, ${formatBytes(summary.bytes)}${opts.dryRun ? ' (dry run: nothing was written)' : ''}`);
  }
  lines.push(...selectionLines(summary));
  if (summary.pruned.length > 0) lines.push(`${opts.dryRun ? 'would prune' : 'pruned'} ${summary.pruned.length} layouts whose tag is gone: ${summary.pruned.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
