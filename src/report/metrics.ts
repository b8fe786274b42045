/**
 * The last run as Prometheus metrics, for node_exporter's textfile collector (a `*.prom` file that
 * output/write-metrics.ts replaces atomically). Text exposition format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 *
 * Every value is a gauge of the *last* run (a textfile is a snapshot, not a counter the process keeps),
 * so names say `last_run_`. No sample timestamps: the textfile collector refuses them. HELP texts are
 * constants: node_exporter merges families across files (one per command or shard) and wants them equal.
 */
import { formatShard, type Shard } from '../core/shard.js';

/** What one run reports; counts are per image status (sync's `SyncStatus`, plus `not-attempted`). */
export interface RunMetrics {
  command: string;
  shard?: Shard;
  /** Unix time in ms. */
  startedAt: number;
  /** Unix time in ms. */
  endedAt: number;
  exitCode: number;
  counts: Record<string, number>;
  bytesPushed: number;
  /** From a bucket storage; 0 for a directory. */
  bytesDownloaded: number;
  tagsSelected: number;
  tagsInStorage: number;
}

export const METRIC_PREFIX = 'registry_rescue_';

/** Statuses always present in `registry_rescue_images`, 0 when none, so alerts see 0 rather than no data. */
export const IMAGE_STATUSES = ['synced', 'up-to-date', 'skipped', 'broken', 'failed', 'canceled', 'not-attempted'] as const;

type Labels = Record<string, string>;
interface Family {
  name: string;
  help: string;
  samples: { labels: Labels; value: number }[];
}

/** Renders `m` in the Prometheus text format, one gauge family per metric, labelled by command (and shard). */
export function renderMetrics(m: RunMetrics): string {
  const base: Labels = m.shard ? { command: m.command, shard: formatShard(m.shard) } : { command: m.command };
  const one = (name: string, help: string, value: number): Family => ({ name, help, samples: [{ labels: base, value }] });
  const extra = Object.keys(m.counts).filter((s) => !(IMAGE_STATUSES as readonly string[]).includes(s)).sort();
  const families: Family[] = [
    one('last_run_start_timestamp_seconds', 'Unix time the last run started.', m.startedAt / 1000),
    one('last_run_end_timestamp_seconds', 'Unix time the last run ended.', m.endedAt / 1000),
    one('last_run_success', '1 if the last run exited 0, else 0.', m.exitCode === 0 ? 1 : 0),
    one('last_run_duration_seconds', 'Wall-clock duration of the last run.', (m.endedAt - m.startedAt) / 1000),
    one('last_run_exit_code', 'Exit code of the last run (0 ok, 4 partial, 75 lock held, see README).', m.exitCode),
    {
      name: 'images',
      help: 'Images of the last run by status.',
      samples: [...IMAGE_STATUSES, ...extra].map((status) => ({ labels: { ...base, status }, value: m.counts[status] ?? 0 })),
    },
    one('last_run_bytes_pushed', 'Bytes of the images pushed by the last run.', m.bytesPushed),
    one('last_run_bytes_downloaded', 'Bytes the last run downloaded from a bucket storage into layouts (0 for a directory, whose blobs are linked).', m.bytesDownloaded),
    one('tags_selected', 'Tags the last run selected (tags file, --exclude, shard).', m.tagsSelected),
    one('tags_in_storage', 'Tags the last run found in the source storage.', m.tagsInStorage),
  ];
  return families.map(renderFamily).join('');
}

function renderFamily(f: Family): string {
  const name = METRIC_PREFIX + f.name;
  const lines = [`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} gauge`];
  for (const s of f.samples) lines.push(`${name}${renderLabels(s.labels)} ${formatValue(s.value)}`);
  return lines.join('\n') + '\n';
}

function renderLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Label values escape backslash, double quote and line feed (the format allows no other escapes). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Go's ParseFloat spellings: `NaN`, `+Inf`, `-Inf`; JS number text otherwise (`1e+21` parses too). */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
