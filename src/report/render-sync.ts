/** Renders sync results for people: one line per image as it is decided, and a closing summary. */
import type { SyncResult } from '../core/sync-plan.js';
import { classOf, localReason, plural } from '../core/results.js';
import { formatShard, type Shard } from '../core/shard.js';
import { formatBytes, type ExportSummary } from '../core/summary.js';
import type { SyncTotals } from '../run-sync.js';
import { selectionLines } from './render-export.js';
import { printable } from './printable.js';

/** One line per image worth a person's attention (all of them with verbose or in a dry run). */
export function renderSyncLine(r: SyncResult, opts: { verbose: boolean; stamp?: string }): string | undefined {
  // Broken and skipped images are listed once, in the closing summary; up-to-date ones only when asked. So are
  // those an interrupt kept from starting: hundreds of the same line would bury the few pushes it stopped.
  const unstarted = r.status === 'canceled' && r.code === 'not-started';
  if (!opts.verbose && (r.status === 'up-to-date' || r.status === 'skipped' || r.status === 'broken' || r.status === 'not-attempted' || unstarted)) return undefined;
  const head = `${opts.stamp ? `${opts.stamp} ` : ''}${r.status.padEnd(10)} ${r.source} -> ${r.target}`;
  const tail = [r.attempts > 1 ? `${r.attempts} attempts` : '', r.ms > 0 ? `${(r.ms / 1000).toFixed(1)} s` : ''].filter(Boolean).join(', ');
  const indent = ' '.repeat(opts.stamp ? opts.stamp.length + 12 : 11);
  const lines = [printable(`${head}${tail ? `  (${tail})` : ''}`)];
  if (r.reason) lines.push(`${indent}${printable(localReason(r.reason, r.source))}`);
  if (r.command && r.status === 'would-sync') lines.push(`${indent}${r.command}`);
  return `${lines.join('\n')}\n`;
}

/** Examples kept per group of failures: the closing summary names a few, the report holds them all. */
const EXAMPLES = 3;
/** Distinct groups kept; the rest are counted together (a run with 10k different reasons is a run to read in the report). */
const MAX_GROUPS = 50;

interface Group {
  status: string;
  code: string;
  count: number;
  /** The first few images, each with its own reason. */
  examples: Array<{ source: string; reason: string }>;
}

/**
 * Images that need attention (broken, failed, canceled, not attempted), grouped by status and code as they
 * stream past: `105 × failed (unreachable): …`. Bounded, so a run of 500k failures costs no more memory.
 */
export function createAttention() {
  const groups = new Map<string, Group>();
  let other = 0;
  return {
    add(r: SyncResult) {
      const klass = classOf(r.status);
      if (klass !== 'bad' && klass !== 'undone') return;
      const code = r.code ?? 'unknown';
      const key = `${r.status}\0${code}`;
      let g = groups.get(key);
      if (!g) {
        if (groups.size >= MAX_GROUPS) {
          other++;
          return;
        }
        groups.set(key, (g = { status: r.status, code, count: 0, examples: [] }));
      }
      g.count++;
      if (g.examples.length < EXAMPLES) g.examples.push({ source: r.source, reason: (r.reason ?? '').replaceAll(`${r.source}: `, '') });
    },
    lines(): string[] {
      const all = [...groups.values()].sort((a, b) => b.count - a.count);
      const total = all.reduce((n, g) => n + g.count, 0) + other;
      if (total === 0) return [];
      const lines = [`${plural(total, 'image needs', 'images need')} attention:`];
      for (const g of all) {
        // A few of a kind are listed one by one; many are one line with examples (`105 × failed (unreachable)`).
        if (g.count <= EXAMPLES) {
          for (const e of g.examples) lines.push(printable(`  ${g.status.padEnd(8)} ${e.source}: ${e.reason}`));
          continue;
        }
        const names = g.examples.map((e) => e.source).join(', ');
        lines.push(printable(`  ${g.count} × ${g.status} (${g.code}): ${names}, … ${g.count - g.examples.length} more`), printable(`      e.g. ${g.examples[0]?.reason ?? ''}`));
      }
      if (other > 0) lines.push(`  ${other} more with other reasons (see the report)`);
      return lines;
    },
  };
}

/** The closing summary: counts, bytes, duration, what stopped the run early, then what needs attention. */
export function renderSyncSummary(t: SyncTotals, attention: string[], opts: { dryRun: boolean; target: string; selection: ExportSummary; shard?: Shard }): string {
  const c = t.counts;
  const lines: string[] = [];
  if (opts.dryRun) {
    lines.push(`dry run: ${plural(c['would-sync'], 'image')} would be pushed to ${opts.target}, ${c.skipped} skipped, ${c.broken} broken, ${c.failed} cannot be pushed; nothing was written or sent`);
  } else {
    const undone = [
      c.drift > 0 ? `${c.drift} drift (left alone)` : '',
      c['immutable-conflict'] > 0 ? `${c['immutable-conflict']} immutable-conflict` : '',
      c.canceled > 0 ? `${c.canceled} canceled` : '',
      c['not-attempted'] > 0 ? `${c['not-attempted']} not attempted` : '',
    ].filter(Boolean);
    lines.push(
      `${c.synced} synced, ${c['up-to-date']} up to date, ${c.skipped} skipped, ${c.broken} broken at source, ${c.failed} failed` +
        `${undone.length > 0 ? `, ${undone.join(', ')}` : ''}; ${formatBytes(t.bytesSynced)} synced to ${opts.target} in ${(t.ms / 1000).toFixed(1)} s`,
    );
  }
  if (t.stoppedEarly) lines.push(`stopped early: ${t.stoppedEarly}`);
  const unread = neverReachedLine(t, opts.selection, opts.shard);
  if (unread) lines.push(unread);
  for (const p of t.projects ?? []) {
    const quota = p.quota
      ? p.quota.hard < 0
        ? '; no quota'
        : `; quota ${formatBytes(p.quota.hard)}, ${formatBytes(p.quota.used)} used${p.overQuota ? ` — OVER QUOTA by ${formatBytes(p.quota.used + p.bytes - p.quota.hard)}` : ', fits'}`
      : p.exists === false
        ? '; the project does not exist yet'
        : '';
    lines.push(`  project ${p.project}: ${plural(p.images, 'image')}, ${formatBytes(p.bytes)} (each blob once)${quota}`);
  }
  lines.push(...selectionLines(opts.selection, opts.shard, { stopped: !t.walkComplete }));
  lines.push(...attention);
  return `${lines.join('\n')}\n`;
}

/**
 * After an interrupt that came before the walk ended: what the run never reached, apart from what it read but did
 * not push (canceled, counted above). Selected tags the walk had listed, and the rest of the storage it never read,
 * whose size is not known without reading it.
 */
function neverReachedLine(t: SyncTotals, selection: ExportSummary, shard?: Shard): string | undefined {
  if (t.walkComplete) return undefined;
  const where = shard ? ` of shard ${formatShard(shard)}` : '';
  const listed = t.notReached > 0 ? `${plural(t.notReached, 'selected tag')} the walk had listed, and ` : '';
  return (
    `never reached: ${listed}every tag the walk had not come to (the walk read ${plural(selection.tags, 'tag')}${where} before the run stopped; ` +
    'how many the storage has left is not known; run the same command again to continue)'
  );
}
