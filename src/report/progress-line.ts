/**
 * The words of the progress renderer (pure): what a run has done so far as one line, fitted to a terminal's width
 * for the live line, in full for cron's plain lines, and the final line.
 */
import { plural } from '../core/results.js';
import { formatBytes } from '../core/summary.js';

/** What the renderer knows at one moment; built from events, so nothing here is guessed. */
export interface ProgressSnapshot {
  /** `push` once the run pushes (sync); `check` for list, export and verify. */
  mode: 'check' | 'push';
  elapsedMs: number;
  /** How many images the run will handle, only when an event said so (the storage walk is streamed). */
  total?: number;
  /** Images read from the storage (list/export/verify). */
  checked: number;
  broken: number;
  /** Images with a final sync result (push mode). */
  done: number;
  pushing: number;
  synced: number;
  upToDate: number;
  failed: number;
  bytesPushed: number;
  /** Bytes downloaded from a bucket into layouts (absent or 0 for a storage on disk: nothing is copied). */
  bytesDownloaded?: number;
  /** The image pushing the longest, when any is in flight. */
  longest?: { id: string; ms: number };
}

/** A part of the line; parts with a lower `keep` are dropped first when the terminal is narrow. */
interface Part {
  text: string;
  keep: number;
  /** Painted after fitting, so colour codes never count toward the width. */
  paint?: 'bad';
}

const SEPARATOR = ', ';
/** The shortest an image name is cut to before the `longest:` part is dropped altogether. */
const MIN_NAME = 12;
/** Rates over less than this are noise (one image in 3 ms is not 333 images/s). */
const MIN_RATE_MS = 1_000;

// ANSI CSI sequences (colours, erase line): zero width on the terminal.
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Characters the terminal shows: ANSI codes not counted (image names are ASCII, so one column each). */
export function visibleWidth(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

/** `0.4s`, `45s`, `2m10s`, `1h05m`: compact, for the live line. */
export function formatElapsed(ms: number): string {
  if (ms < 9_950) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `850 kB/s`, `3.4 MB/s`: bytes per second over `ms`; undefined before a rate means anything. */
export function formatByteRate(bytes: number, ms: number): string | undefined {
  if (ms < MIN_RATE_MS) return undefined;
  return `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

/** `0.5 images/s`, `210 images/s`. */
export function formatImageRate(images: number, ms: number): string | undefined {
  if (ms < MIN_RATE_MS) return undefined;
  const rate = (images * 1000) / ms;
  return `${rate < 10 ? rate.toFixed(1) : Math.round(rate)} images/s`;
}

/** `2m10s` left at the pace so far; only with a known total. */
function eta(s: ProgressSnapshot, done: number): string | undefined {
  if (s.total === undefined || done === 0 || done >= s.total) return undefined;
  return `ETA ${formatElapsed((s.elapsedMs * (s.total - done)) / done)}`;
}

function parts(s: ProgressSnapshot): Part[] {
  const done = s.mode === 'push' ? s.done : s.checked;
  const of = s.total !== undefined ? ` of ${s.total}` : '';
  const failed: Part = { text: `${s.failed} failed`, keep: 8, ...(s.failed > 0 ? { paint: 'bad' as const } : {}) };
  if (s.mode === 'check') {
    const rate = formatImageRate(s.checked, s.elapsedMs);
    return [
      { text: `${plural(done, 'image')}${of} checked`, keep: 10 },
      { text: `${s.broken} broken`, keep: 9, ...(s.broken > 0 ? { paint: 'bad' as const } : {}) },
      ...(s.failed > 0 ? [failed] : []),
      ...(eta(s, done) ? [{ text: eta(s, done) as string, keep: 5 }] : []),
      ...(rate ? [{ text: rate, keep: 3 }] : []),
      ...downloaded(s),
    ];
  }
  const rate = formatByteRate(s.bytesPushed, s.elapsedMs);
  return [
    { text: `${plural(done, 'image')}${of} done`, keep: 10 },
    { text: `${s.pushing} pushing`, keep: 7 },
    { text: `${s.synced} synced`, keep: 6 },
    { text: `${s.upToDate} up to date`, keep: 4 },
    failed,
    ...(eta(s, done) ? [{ text: eta(s, done) as string, keep: 5 }] : []),
    ...downloaded(s),
    { text: `${formatBytes(s.bytesPushed)} pushed${rate ? ` at ${rate}` : ''}`, keep: 2 },
    ...(s.longest ? [{ text: `longest: ${s.longest.id} ${formatElapsed(s.longest.ms)}`, keep: 1 }] : []),
  ];
}

/** `1.2 GB downloaded at 40 MB/s`, only when something was downloaded (a bucket storage). */
function downloaded(s: ProgressSnapshot): Part[] {
  if (!s.bytesDownloaded) return [];
  const rate = formatByteRate(s.bytesDownloaded, s.elapsedMs);
  return [{ text: `${formatBytes(s.bytesDownloaded)} downloaded${rate ? ` at ${rate}` : ''}`, keep: 2 }];
}

const join = (ps: Part[], paint: (p: Part) => string = (p) => p.text) => ps.map(paint).join(SEPARATOR);

/** Cuts the middle out of a name: `library/very…/app:1.0` keeps both the project and the tag readable. */
function cutMiddle(text: string, width: number): string {
  if (text.length <= width) return text;
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

/**
 * The live line: never more than `columns - 1` visible characters, so the terminal never wraps it (a wrapped line
 * cannot be erased by `\r\x1b[2K` and leaves stale copies). The image name in `longest:` is shortened first, then
 * the least important parts are dropped; what is left is cut at the end.
 */
export function formatLiveLine(s: ProgressSnapshot, o: { columns: number; paintBad?: (text: string) => string }): string {
  const max = Math.max(0, o.columns - 1);
  let ps = parts(s);
  const longest = ps.find((p) => p.text.startsWith('longest: '));
  if (longest && s.longest && visibleWidth(join(ps)) > max) {
    const tail = ` ${formatElapsed(s.longest.ms)}`;
    const room = max - visibleWidth(join(ps.filter((p) => p !== longest))) - SEPARATOR.length - 'longest: '.length - tail.length;
    if (room >= MIN_NAME) longest.text = `longest: ${cutMiddle(s.longest.id, room)}${tail}`;
  }
  while (visibleWidth(join(ps)) > max && ps.length > 1) {
    const least = ps.reduce((a, b) => (b.keep < a.keep ? b : a));
    ps = ps.filter((p) => p !== least);
  }
  let line = join(ps);
  if (visibleWidth(line) > max) return max === 0 ? '' : `${line.slice(0, max - 1)}…`;
  if (o.paintBad) line = join(ps, (p) => (p.paint === 'bad' ? (o.paintBad as (t: string) => string)(p.text) : p.text));
  return line;
}

/** Every part, for cron's plain heartbeat lines (no width limit there). */
export function formatPlainLine(s: ProgressSnapshot): string {
  return join(parts(s));
}

/** Images not started and pushes stopped by an interrupt. */
export interface Interruption {
  notStarted: number;
  stopped: number;
}

/** `interrupted: 81 images not started, 4 in flight stopped; run the same command again to continue`. */
export function formatInterrupted(s: ProgressSnapshot, i: Interruption): string {
  const what = [
    ...(i.notStarted > 0 ? [`${plural(i.notStarted, 'image')} not started`] : []),
    ...(i.stopped > 0 ? [`${i.stopped} in flight stopped`] : []),
  ];
  const done = s.mode === 'push' ? s.done : s.checked;
  const head = what.length > 0 ? `interrupted: ${what.join(', ')}` : `interrupted after ${plural(done, 'image')}`;
  return `${head}; run the same command again to continue`;
}
