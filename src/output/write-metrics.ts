/** Writes the metrics textfile that node_exporter's textfile collector reads on every scrape. */
import { randomUUID } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` with `text` atomically: a scrape sees the old file or the new, never half of one.
 * The temp file sits in the same directory (rename needs one filesystem) and is named `.<name>.<uuid>.tmp`,
 * which the collector ignores (it reads `*.prom` only). The mode is set with chmod, not just at open:
 * cron's umask (often 077) would leave a file that node_exporter, another user, cannot read.
 * (output/write-atomic.ts's writeFileAtomic leaves the mode to the umask, hence not reused here.)
 */
export async function writeMetricsFile(file: string, text: string, mode = 0o644): Promise<void> {
  const temp = tempNameFor(file);
  inFlight.add(temp);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  } finally {
    inFlight.delete(temp);
  }
}

/** Temp files of writeMetricsFile calls not finished yet: an exiting process removes them (writeMetricsFileSync). */
const inFlight = new Set<string>();

/**
 * writeMetricsFile with synchronous calls, for a process that is exiting now (a second SIGINT/SIGTERM): an
 * 'exit' listener cannot wait for a promise. Same temp file, mode and rename. A writeMetricsFile still under way
 * (the signal came while the run recorded its figures) never finishes: its temp file is removed first, or one
 * would stay in the collector's directory after each such night.
 */
export function writeMetricsFileSync(file: string, text: string, mode = 0o644): void {
  for (const stale of inFlight) rmSync(stale, { force: true });
  inFlight.clear();
  const temp = tempNameFor(file);
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      writeSync(fd, text, null, 'utf8');
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** `.<name>.<uuid>.tmp` beside `file`: same filesystem for the rename, and ignored by the collector. */
function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
}
