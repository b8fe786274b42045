/**
 * Progress on stderr: one live line on a terminal, fitted to its width; plain timestamped lines off one (cron mail,
 * journald), at most one every LINE_INTERVAL_MS plus every warning, retry and the final line.
 */
import { Chalk } from 'chalk';
import type { ProgressEvent } from '../core/events.js';
import { formatElapsed, formatInterrupted, formatLiveLine, formatPlainLine, type ProgressSnapshot } from './progress-line.js';
import { printable } from './printable.js';

const LINE_INTERVAL_MS = 10_000;
const TTY_INTERVAL_MS = 100;
/** How often the live line is redrawn without events, so the `longest:` time keeps counting during long pushes. */
const TTY_REFRESH_MS = 1_000;
const DEFAULT_COLUMNS = 80;
/** Clears the terminal line the cursor is on. */
const ERASE = '\r\x1b[2K';

export interface ProgressRenderer {
  event(e: ProgressEvent): void;
  /** Clears the live line (TTY) before other output; the next event draws it again. */
  close(): void;
}

export interface ProgressOptions {
  /** stderr is a terminal: one live line; otherwise plain timestamped lines. */
  isTTY: boolean;
  /** Only warnings, errors and an interruption. */
  quiet: boolean;
  /** Off a terminal, also a line when each push starts. */
  verbose?: boolean;
  /** Colour on the terminal (decided by decideColor); never off one. */
  color?: boolean;
  /** The run's abort signal: a `run:done` after it fired ends as interrupted (unless the event says otherwise). */
  signal?: AbortSignal;
  /** The terminal's width (default 80); a function is read at each redraw, so a resized window is followed. */
  columns?: number | (() => number | undefined);
  now?: () => number;
  /** Calls `tick` every `ms` until the returned function is called (default: an unref'd setInterval). */
  every?: (ms: number, tick: () => void) => () => void;
}

const realEvery = (ms: number, tick: () => void) => {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/** Picks the TTY or the plain-lines behaviour (listr2's rule: live output only on a terminal). */
export function createProgress(out: (text: string) => void, opts: ProgressOptions): ProgressRenderer {
  const now = opts.now ?? (() => Date.now());
  const paint = new Chalk({ level: opts.isTTY && opts.color === true ? 1 : 0 });
  const plain = !opts.isTTY;
  const started = now();
  const s: ProgressSnapshot = { mode: 'check', elapsedMs: 0, checked: 0, broken: 0, done: 0, pushing: 0, synced: 0, upToDate: 0, failed: 0, bytesPushed: 0 };
  /** Images whose push has started, with its start time: the `pushing` count and the `longest:` part. */
  const inFlight = new Map<string, number>();
  const interruption = { notStarted: 0, stopped: 0 };
  let exportFailed = 0;
  let syncFailed = 0;
  /** When the live line was drawn or the last heartbeat written: the first heartbeat comes 10 s into the run. */
  let last = plain ? started : -Infinity;
  let live = false;
  let stopTimer: (() => void) | undefined;
  let finished = false;

  const stamp = () => new Date(now()).toISOString();
  const say = (text: string) => out(plain ? `${stamp()} ${text}\n` : `${text}\n`);
  /** The counts now; `elapsedMs` as the run measured it for the final line. */
  const snapshot = (elapsedMs?: number): ProgressSnapshot => {
    const t = now();
    s.elapsedMs = elapsedMs ?? t - started;
    s.pushing = inFlight.size;
    // In sync a layout that failed also ends as a failed sync result: counted once, from the results.
    s.failed = s.mode === 'push' ? syncFailed : exportFailed;
    let oldest: [string, number] | undefined;
    for (const entry of inFlight) if (!oldest || entry[1] < oldest[1]) oldest = entry;
    if (oldest) s.longest = { id: oldest[0], ms: t - oldest[1] };
    else delete s.longest;
    return s;
  };
  const columns = () => {
    const n = typeof opts.columns === 'function' ? opts.columns() : opts.columns;
    // A pty nobody sized (script, some CI runners) reports 0 columns: that means unknown, not zero.
    return n !== undefined && n > 0 ? n : DEFAULT_COLUMNS;
  };
  const draw = () => {
    const line = formatLiveLine(snapshot(), { columns: columns() - 2, paintBad: paint.red });
    out(`${ERASE}${paint.cyan('›')} ${line}`);
    live = true;
  };
  const handlers: { [K in ProgressEvent['kind']]: (e: Extract<ProgressEvent, { kind: K }>) => void } = {
    'run:start': (e) => {
      if (e.command === 'sync') s.mode = 'push';
      if (e.total !== undefined) s.total = e.total;
      // A cron log's first line says where the run goes: export's output directory, sync's target (and its layouts).
      const where = e.target !== undefined ? ` -> ${e.target}${e.out ? `, layouts in ${e.out}` : ''}` : e.out && e.command === 'export' ? ` -> ${e.out}` : '';
      if (plain && !opts.quiet) say(`${e.command} ${e.storage}${where}${e.dryRun ? ' (dry run)' : ''}`);
    },
    'image:exported': (e) => {
      s.checked++;
      if (e.result.outcome === 'broken') s.broken++;
      if (e.result.outcome === 'failed') exportFailed++;
      tick();
    },
    'push:attempt': (e) => {
      s.mode = 'push';
      if (!inFlight.has(e.id)) inFlight.set(e.id, now());
      if (plain && !opts.quiet && e.attempt > 1) say(`retrying ${e.id} -> ${e.target} (attempt ${e.attempt})`);
      else if (plain && !opts.quiet && opts.verbose) say(`pushing ${e.id} -> ${e.target}`);
      tick();
    },
    'image:synced': (e) => {
      s.mode = 'push';
      const { status, id, bytes, code } = e.result;
      // Done means finished: an image an interrupt canceled is counted below, as not started or stopped, not as done.
      if (status !== 'canceled') s.done++;
      if (status === 'failed') syncFailed++;
      else if (status === 'synced') {
        s.synced++;
        s.bytesPushed += bytes;
      } else if (status === 'up-to-date') s.upToDate++;
      // As the summary groups them (render-sync.ts): `not-started` never began; any other canceled image was stopped
      // while in flight, whether checking the target, downloading its layout from a bucket or pushing.
      else if (status === 'canceled') interruption[code === 'not-started' ? 'notStarted' : 'stopped']++;
      inFlight.delete(id);
      tick();
    },
    'prune:removed': () => {},
    'bytes:downloaded': (e) => {
      s.bytesDownloaded = (s.bytesDownloaded ?? 0) + e.bytes;
      tick();
    },
    warning: (e) => {
      clear();
      out(`${plain ? `${stamp()} warning` : paint.yellow('warning')}: ${printable(e.message)}\n`);
    },
    'run:done': (e) => {
      const interrupted = e.interrupted ?? opts.signal?.aborted === true;
      finished = true;
      stopTimer?.();
      clear();
      const final = snapshot(e.ms);
      const how = interrupted ? 'stopped' : e.outputClosed ? 'stopped when the output closed' : 'done';
      if (!opts.quiet) say(`${how} after ${formatElapsed(e.ms)}: ${formatPlainLine(final)}`);
      // Even under --quiet: a run that stopped halfway is as worth knowing as a warning.
      if (interrupted) say(plain ? formatInterrupted(final, interruption) : paint.yellow(formatInterrupted(final, interruption)));
    },
  };

  function tick() {
    if (opts.quiet || finished) return;
    const t = now();
    if (!plain && t - last >= TTY_INTERVAL_MS) {
      draw();
      last = t;
      stopTimer ??= (opts.every ?? realEvery)(TTY_REFRESH_MS, () => {
        if (inFlight.size > 0 && !finished) draw();
      });
    } else if (plain && t - last >= LINE_INTERVAL_MS) {
      say(formatPlainLine(snapshot()));
      last = t;
    }
  }
  function clear() {
    if (live) out(ERASE);
    live = false;
  }
  return {
    event: (e) => (handlers[e.kind] as (x: ProgressEvent) => void)(e),
    close: clear,
  };
}
