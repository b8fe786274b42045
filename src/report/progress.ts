/**
 * Progress on stderr: one live line on a terminal; plain timestamped lines off one (cron mail, journald),
 * at most one every LINE_INTERVAL_MS plus every warning and failure.
 */
import chalk from 'chalk';
import type { ProgressEvent } from '../core/events.js';

const LINE_INTERVAL_MS = 10_000;
const TTY_INTERVAL_MS = 100;

export interface ProgressRenderer {
  event(e: ProgressEvent): void;
  /** Clears the live line (TTY) before the final report. */
  close(): void;
}

/** Picks the TTY or the plain-lines renderer (listr2's rule: live output only on a terminal). */
export function createProgress(out: (text: string) => void, opts: { isTTY: boolean; quiet: boolean; now?: () => number }): ProgressRenderer {
  const now = opts.now ?? (() => Date.now());
  const counts = { done: 0, broken: 0, failed: 0, pushing: 0, synced: 0, upToDate: 0 };
  let pushes = false;
  let last = 0;
  let live = false;
  const line = () =>
    `${counts.done} images checked, ${counts.broken} broken` +
    (pushes ? `, ${counts.pushing} pushing, ${counts.synced} synced, ${counts.upToDate} up to date` : '') +
    `, ${counts.failed} failed`;
  const stamp = () => new Date(now()).toISOString();
  const handlers: { [K in ProgressEvent['kind']]: (e: Extract<ProgressEvent, { kind: K }>) => void } = {
    'run:start': (e) => {
      if (!opts.isTTY && !opts.quiet) out(`${stamp()} ${e.command} ${e.storage}${e.out ? ` -> ${e.out}` : ''}${e.dryRun ? ' (dry run)' : ''}\n`);
    },
    'image:exported': (e) => {
      counts.done++;
      if (e.result.outcome === 'broken') counts.broken++;
      if (e.result.outcome === 'failed') counts.failed++;
      tick();
    },
    'push:attempt': (e) => {
      pushes = true;
      if (e.attempt === 1) counts.pushing++;
      else if (!opts.isTTY && !opts.quiet) out(`${stamp()} retrying ${e.id} -> ${e.target} (attempt ${e.attempt})\n`);
      tick();
    },
    'image:synced': (e) => {
      pushes = true;
      const { status, attempts } = e.result;
      if (attempts > 0) counts.pushing--;
      if (status === 'failed') counts.failed++;
      else if (status === 'synced') counts.synced++;
      else if (status === 'up-to-date') counts.upToDate++;
      tick();
    },
    'prune:removed': () => {},
    warning: (e) => {
      clear();
      out(`${opts.isTTY ? chalk.yellow('warning') : `${stamp()} warning`}: ${e.message}\n`);
    },
    'run:done': (e) => {
      clear();
      if (!opts.isTTY && !opts.quiet) out(`${stamp()} done: ${line()} in ${(e.ms / 1000).toFixed(1)} s\n`);
    },
  };
  function tick() {
    if (opts.quiet) return;
    const t = now();
    if (opts.isTTY && t - last >= TTY_INTERVAL_MS) {
      out(`\r\x1b[2K${chalk.cyan('›')} ${line()}`);
      live = true;
      last = t;
    } else if (!opts.isTTY && t - last >= LINE_INTERVAL_MS) {
      if (last !== 0) out(`${stamp()} ${line()}\n`);
      last = t;
    }
  }
  function clear() {
    if (live) out('\r\x1b[2K');
    live = false;
  }
  return {
    event: (e) => (handlers[e.kind] as (x: ProgressEvent) => void)(e),
    close: clear,
  };
}
