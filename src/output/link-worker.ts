/**
 * The layout builder's second thread: builds one layout per message (mkdir in staging, a hard link or symlink
 * per file, the version file, rename into place) with synchronous calls, while the main thread reads and
 * decides the next images. A layout is a dozen metadata operations that a journaled filesystem makes slow
 * (tens of microseconds each): on their own thread they overlap the storage reads instead of adding to
 * them, and a message per layout costs far less than a thread-pool round trip per call.
 *
 * Only paths travel here; nothing is read, and nothing under the storage is opened. Errors come back as
 * data (the errno code and the file), and the main thread words them (layout-store.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';

export interface BuildJob {
  n: number;
  /** The staging directory to create and fill. */
  tmp: string;
  /** Where it is renamed to; its parent exists. */
  final: string;
  mode: 'hard' | 'symlink';
  /** [source path, file name in the layout]. */
  files: Array<[string, string]>;
  /** The run's `version` file, hard-linked into the layout (written when at its link limit). */
  template: string;
  versionContent: string;
}

export type BuildReply =
  | { n: number; ok: true; symlinked: number[] }
  /** `final` exists already (someone made it since it was looked for): the main thread replaces it. */
  | { n: number; ok: false; exists: true; symlinked: number[] }
  | { n: number; ok: false; exists?: false; code: string; message: string; file?: number };

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';

export function build(job: BuildJob): BuildReply {
  const symlinked: number[] = [];
  let file: number | undefined;
  try {
    fs.mkdirSync(job.tmp);
    for (let i = 0; i < job.files.length; i++) {
      file = i;
      const [source, name] = job.files[i]!;
      // Concatenated, not path.join'ed: `tmp` is a directory path we made and `name` a layout file name (a digest's
      // hex, optionally `.manifest.json`, or manifest.json: no `/`, no `..`), so there is nothing to normalise.
      const dest = `${job.tmp}/${name}`;
      if (job.mode === 'symlink') fs.symlinkSync(source, dest);
      else {
        try {
          fs.linkSync(source, dest);
        } catch (error) {
          // ext4's 65000 links per inode: a base layer shared by more layouts is symlinked (skopeo reads it the same).
          if (codeOf(error) !== 'EMLINK') throw error;
          fs.symlinkSync(source, dest);
          symlinked.push(i);
        }
      }
    }
    file = undefined;
    try {
      fs.linkSync(job.template, path.join(job.tmp, 'version'));
    } catch {
      fs.writeFileSync(path.join(job.tmp, 'version'), job.versionContent, { mode: 0o644 });
    }
    try {
      fs.renameSync(job.tmp, job.final);
    } catch (error) {
      const code = codeOf(error);
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return { n: job.n, ok: false, exists: true, symlinked };
      throw error;
    }
    return { n: job.n, ok: true, symlinked };
  } catch (error) {
    fs.rmSync(job.tmp, { recursive: true, force: true });
    return { n: job.n, ok: false, code: codeOf(error), message: (error as Error).message, ...(file !== undefined ? { file } : {}) };
  }
}

parentPort?.on('message', (job: BuildJob) => parentPort!.postMessage(build(job)));
