/**
 * The output directory: reads what is already exported and writes layouts atomically. A layout is
 * assembled in a staging directory beside (never inside) the output tree, then renamed into place,
 * so skopeo never sees a half-built layout. Every file but `version` is a link to (or copy of) a
 * storage blob: nothing here ever opens a storage file for writing.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants, existsSync, lstatSync, mkdirSync, rmdirSync, type Stats } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { copyFile, lstat, mkdtemp, open as openFile, rm, rmdir as rmdirAsync, stat, symlink, writeFile, type FileHandle } from 'node:fs/promises';
import { entryKind, link, mkdir, readdir, rename } from '../storage/fast-fs.js';
import os from 'node:os';
import path from 'node:path';
import { DIR_VERSION_CONTENT, DIR_VERSION_FILE, inTheWayMessage, type LinkMode, type ReadExisting } from '../core/plan.js';
import { Lru } from '../core/lru.js';
import { isAlive } from './run-lock.js';
import { isBelow } from './out-paths.js';
import type { LayoutFile } from '../core/types.js';
import type { BuildJob, BuildReply } from './link-worker.js';
import { existingLayoutReader } from './existing-layout.js';
import { BlobCheckError, createSharedDownloads, type Download, type SharedDownloads } from './shared-downloads.js';

/** Output directories remembered as made or listed (per run). */
const DIR_CACHE = 256;

export interface LayoutStore {
  out: string;
  staging: string;
  /**
   * What is exported for `id` (synchronous: a readdir and an lstat). With `manifest` (the storage's manifest file as
   * resolved), a layout manifest that is a hard link to that very file is known to hold its digest without being read.
   * With `linked` (--verify-blobs, hard links), every file is lstat'ed and compared with its storage file.
   */
  readExisting: ReadExisting;
  /** Streams the ids of the layouts in the output directory (directories `<repository>:<tag>` holding manifest.json). */
  listExported(): AsyncIterable<string>;
  /**
   * Builds the layout and renames it into place (over the old one when `replace`); resolves to warnings (e.g.
   * link-limit fallbacks). Files whose source is a stream are copied whatever `mode` says, with their sha256
   * and size checked on the way (BlobCheckError when they differ; nothing is renamed into place then). They are
   * placed one after the other in the order given: those before the file a BlobCheckError names were checked, those
   * after it were not read.
   */
  write(id: string, files: LayoutFile[], mode: LinkMode, replace: boolean, io?: CopyIo): Promise<string[]>;
  /**
   * Removes this run's directory from the staging directory, then the staging directory itself when that left it
   * empty (rmdir only: another run's directory in it keeps it). Not for a dry run, which made nothing there.
   */
  close(): Promise<void>;
  /** Removes what interrupted runs left in staging (it holds hard links that keep deleted blobs alive). */
  sweep(olderThanMs: number, now: number): Promise<string[]>;
  remove(id: string): Promise<void>;
  /**
   * After --prune: removes the namespace directories (`team/` of `team/app:1`) of the given layout ids that are
   * empty now, deepest first, up to but never `out` itself. rmdir only (a directory still holding anything stays),
   * and only through real directories of the output (never a symlink).
   */
  removeEmptyNamespaces(ids: Iterable<string>): void;
}

/** Staging lives beside the output directory: same filesystem (rename works), outside what skopeo walks. */
export function stagingDirFor(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.registry-rescue-staging`);
}

/** For streamed copies: stop on abort, and count the bytes as they arrive (progress). */
export interface CopyIo {
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
}

export { BlobCheckError };

/** A per-file failure with a message naming the file and what to do. */
export class LinkError extends Error {
  override readonly name = 'LinkError';
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** Who this run is, for its staging directory's name. */
export interface RunIdentity {
  pid: number;
  host: string;
  isAlive(pid: number): boolean;
}

const THIS_RUN: RunIdentity = { pid: process.pid, host: os.hostname(), isAlive };

/**
 * Opens the output directory (it must already exist). Each run stages in its own directory,
 * `<staging>/run-<pid>-<random>@<host>`: even runs forced to overlap on one output directory (a lock
 * removed by hand) never remove each other's half-built layouts.
 */
export function openLayoutStore(out: string, me: RunIdentity = THIS_RUN): LayoutStore {
  const run = { name: `run-${me.pid}-${randomUUID().slice(0, 8)}@${me.host}`, host: me.host, isAlive: (pid: number) => me.isAlive(pid) };
  const shared = stagingDirFor(out);
  const staging = path.join(shared, run.name);
  let counter = 0;
  let made_: Promise<unknown> | undefined;
  const stagingReady = () => (made_ ??= mkdir(staging, { recursive: true }));
  const dirOf = (id: string) => path.join(out, id);
  // Directories known to exist: repositories hold many tags, so each parent is created once per run. The
  // walk is in tree order, so a repository's tags come together: a small cache serves them all, and a
  // 500k-tag run does not remember every directory it made.
  const made = new Lru<string, Promise<unknown>>(DIR_CACHE);
  // Below `out`, each directory is made or checked one component at a time, never through a symlink: mkdir -p
  // would follow one planted in the output (out/proj -> …/docker/registry/v2/repositories/proj) and write
  // layouts into the registry storage.
  const ensureDir = (dir: string) => made.getOrSet(dir, async () => (isBelow(out, dir) ? realDirsBelow(out, dir) : mkdir(dir, { recursive: true })));
  let template: Promise<string> | undefined;
  // Blobs downloaded from a bucket in this run: each is downloaded once, later layouts hard-link that copy.
  const downloads: SharedDownloads = createSharedDownloads();
  // Hard links and symlinks of a new layout are made on a second thread (link-worker.ts); copies, downloads and
  // replacements stay here.
  let builder_: Builder | undefined;
  // One `version` file per run, hard-linked into each layout: it is ours, not a registry blob.
  const versionTemplate = () =>
    (template ??= ensureDir(staging).then(async () => {
      const dir = await mkdtemp(path.join(staging, 'version.'));
      await writeFile(path.join(dir, DIR_VERSION_FILE), DIR_VERSION_CONTENT, { mode: 0o644 });
      return path.join(dir, DIR_VERSION_FILE);
    }));
  return {
    out,
    staging,
    readExisting: existingLayoutReader(out),
    async *listExported() {
      // A layout is a directory named <repository>:<tag> holding manifest.json (skopeo's own rule, sync.go).
      // Streamed, and without fast-glob's duplicate set: an output of 500k layouts is never held in memory.
      // Loaded here: only --prune lists the output, and fast-glob takes ~40 ms to load.
      const { default: fg } = await import('fast-glob');
      const stream = fg.stream('**/*:*/manifest.json', { cwd: out, dot: false, followSymbolicLinks: false, onlyFiles: false, unique: false });
      for await (const f of stream) yield path.dirname(String(f));
    },
    async write(id, files, mode, replace, io = {}) {
      const builder = mode !== 'copy' && !replace ? (builder_ ??= createBuilder()) : undefined;
      const linked = files.every((f) => 'path' in f.source);
      if (builder && linked && mode !== 'copy') {
        const template = await versionTemplate();
        await stagingReady();
        const tmp = path.join(staging, `l${++counter}`);
        const final = dirOf(id);
        await ensureDir(path.dirname(final));
        const reply = await builder.build({ tmp, final, mode, template, versionContent: DIR_VERSION_CONTENT, files: files.map((f) => [(f.source as { path: string }).path, f.name]) });
        const warnings = ('symlinked' in reply ? reply.symlinked : []).map((i) => emlinkWarning(files[i] as LayoutFile));
        if (reply.ok) return warnings;
        if (reply.exists) {
          // Someone created it since we looked: replace it like a rebuild.
          try {
            await replaceWith(tmp, final, staging);
            return warnings;
          } catch (error) {
            await rm(tmp, { recursive: true, force: true });
            throw error;
          }
        }
        const f = reply.file !== undefined ? files[reply.file] : undefined;
        if (f) throw new LinkError(describeLinkError(reply.code, f, mode), reply.code);
        throw blockerIn(out, final, id) ?? Object.assign(new Error(reply.message), { code: reply.code });
      }
      const template = await versionTemplate();
      // A short name: the id can be near 255 bytes, staging must not fail where the final name fits.
      // This run's staging directory is ours alone: a counter names each layout, no random name to retry.
      await stagingReady();
      const tmp = path.join(staging, `l${++counter}`);
      await mkdir(tmp);
      const warnings: string[] = [];
      const final = dirOf(id);
      // What this layout downloaded: other layouts may link it from here, until this one fails.
      const downloaded: Download[] = [];
      try {
        for (const f of files) {
          const dest = path.join(tmp, f.name);
          const { source } = f;
          if ('path' in source) {
            const warning = await placeFile(f, source, dest, mode);
            if (warning) warnings.push(warning);
          } else {
            const d = await downloads.place(f, dest, path.join(final, f.name), () => copyStreamed(f, source, dest, io));
            if (d) downloaded.push(d);
          }
        }
        await placeVersion(template, path.join(tmp, DIR_VERSION_FILE));
        await ensureDir(path.dirname(final));
        if (!replace) {
          try {
            await rename(tmp, final);
            return warnings;
          } catch (error) {
            // Someone created it since we looked: replace it like a rebuild.
            if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (error as NodeJS.ErrnoException).code !== 'EEXIST') throw blockerIn(out, final, id) ?? error;
          }
        }
        await replaceWith(tmp, final, staging);
        return warnings;
      } catch (error) {
        await rm(tmp, { recursive: true, force: true });
        downloads.forget(downloaded);
        throw error;
      }
    },
    async sweep(olderThanMs, now) {
      const removed: string[] = [];
      for (const name of await readdir(shared).catch(() => [] as string[])) {
        if (name === run.name) continue;
        const entry = path.join(shared, name);
        // A run of this host whose process is gone left it (SIGKILL, OOM, reboot); other hosts' by age. The
        // staging directory itself was checked to be a real one (run-export.ts checkOutput); lstat: an entry's
        // age is its own, never a symlink target's.
        const owner = /^run-(\d+)-[0-9a-f]+@(.+)$/.exec(name);
        const dead = owner !== null && owner[2] === run.host && !run.isAlive(Number(owner[1]));
        const info = await lstat(entry).catch(() => undefined);
        if (info && (dead || now - info.mtimeMs > olderThanMs)) {
          await rm(entry, { recursive: true, force: true });
          removed.push(name);
        }
      }
      return removed;
    },
    async close() {
      await builder_?.close();
      builder_ = undefined;
      await rm(staging, { recursive: true, force: true });
      // An empty hidden directory beside --out after every run would be unexplained. Shared by the runs on this output
      // directory (two forced to overlap, or the next cron run in its preflight): rmdir, never rm -r, and ENOTEMPTY
      // (another run's directory is in it) or ENOENT (removed already) means it is not ours to remove now.
      await rmdirAsync(shared).catch(() => {});
    },
    async remove(id) {
      await mkdir(staging, { recursive: true });
      const old = await moveAside(dirOf(id), staging);
      if (old) await rm(old, { recursive: true, force: true });
    },
    removeEmptyNamespaces(ids) {
      const namespaces = new Set<string>();
      for (const id of ids) namespaces.add(path.dirname(dirOf(id)));
      const deepestFirst = [...namespaces].sort((a, b) => b.split(path.sep).length - a.split(path.sep).length);
      for (let dir of deepestFirst) {
        while (isBelow(out, dir) && firstNonDirBelow(out, dir) === undefined) {
          try {
            rmdirSync(dir);
          } catch {
            // ENOTEMPTY: it still holds layouts or something else; ENOENT: removed already. Either way, not ours to go on.
            break;
          }
          dir = path.dirname(dir);
        }
      }
    },
  };
}

/**
 * The first entry from below `root` down to `dir` that is not a real directory (lstat, so a symlink is one): its
 * path, whether it is `dir` itself, and its lstat (none when it is missing). Undefined when every one is a real
 * directory: only then may an rmdir go through them (through a symlinked component it would remove an empty
 * directory wherever that symlink leads).
 */
function firstNonDirBelow(root: string, dir: string): { path: string; last: boolean; info?: Stats } | undefined {
  let current = root;
  const names = path.relative(root, dir).split(path.sep);
  for (const [i, name] of names.entries()) {
    current = path.join(current, name);
    const last = i === names.length - 1;
    let info: Stats;
    try {
      info = lstatSync(current);
    } catch {
      return { path: current, last };
    }
    if (!info.isDirectory()) return { path: current, last, info };
  }
  return undefined;
}

function emlinkWarning(f: LayoutFile): string {
  return `${f.name}: ${'path' in f.source ? f.source.path : f.source.url} has reached the filesystem's hard-link limit (EMLINK, 65000 on ext4); symlinked instead`;
}

interface Builder {
  build(job: Omit<BuildJob, 'n'>): Promise<BuildReply>;
  close(): Promise<void>;
}

const WORKER_FILE = new URL('./link-worker.js', import.meta.url);

/**
 * The second thread that builds layouts (link-worker.ts), or, where it cannot run (the module loaded from
 * TypeScript sources, a worker that died), an in-thread builder doing the same calls.
 */
function createBuilder(): Builder {
  const inThread = async (): Promise<Builder> => {
    const { build } = await import('./link-worker.js');
    return { build: async (job) => build({ ...job, n: 0 }), close: async () => {} };
  };
  if (!existsSync(fileURLToPath(WORKER_FILE))) {
    const local = inThread();
    return { build: async (job) => (await local).build(job), close: async () => {} };
  }
  // It holds one small message at a time: a small heap keeps the run's peak memory where it was.
  const worker = new Worker(WORKER_FILE, { resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 } });
  const pending = new Map<number, { resolve(r: BuildReply): void; reject(e: Error): void }>();
  let n = 0;
  let failed: Error | undefined;
  const fail = (error: Error) => {
    failed ??= error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (reply: BuildReply) => {
    const p = pending.get(reply.n);
    pending.delete(reply.n);
    if (pending.size === 0) worker.unref();
    p?.resolve(reply);
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the layout builder thread exited (code ${code})`)));
  // Referenced only while a layout is being built: an idle builder never keeps the process alive (a run that
  // stops early, on a preflight error, need not close the store), a busy one is waited for. After the
  // listeners: attaching them refs the worker again.
  worker.unref();
  return {
    build(job) {
      if (failed) return Promise.reject(failed);
      const id = ++n;
      return new Promise((resolve, reject) => {
        if (pending.size === 0) worker.ref();
        pending.set(id, { resolve, reject });
        worker.postMessage({ ...job, n: id } satisfies BuildJob);
      });
    },
    async close() {
      failed ??= new Error('the layout store is closed');
      await worker.terminate();
    },
  };
}

/**
 * Makes `dir` and the directories between `root` and it, refusing any that is a symlink or not a directory
 * (lstat, no mkdir -p): the layouts are written only into real directories of the output.
 */
function realDirsBelow(root: string, dir: string): void {
  let current = root;
  for (const name of path.relative(root, dir).split(path.sep)) {
    current = path.join(current, name);
    let info: Stats;
    try {
      info = lstatSync(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      try {
        mkdirSync(current);
      } catch (made) {
        if ((made as NodeJS.ErrnoException).code !== 'EEXIST') throw made;
      }
      info = lstatSync(current);
    }
    if (!info.isDirectory()) throw notANamespaceDir(root, current, info);
  }
}

/** The error for an entry of the output that is not a real directory where a namespace directory goes. */
function notANamespaceDir(root: string, current: string, info: Stats): LinkError {
  return new LinkError(inTheWayMessage('', { inTheWay: current, out: root, kind: entryKind(info), atLayout: false }), 'ENOTDIR');
}

/**
 * Why a layout could not be renamed into place, when something not ours is in the way: a namespace directory
 * of the output that is not a real directory, or an entry that is not a directory where the layout `id` goes
 * (a regular file `out/app:1.0`). Only looked at after a rename failed (rename's ENOTDIR or EISDIR would
 * name our staging path, not what to fix; the plan names the same beforehand, core/plan.ts InTheWay). Never removed: registry-rescue does not delete what it did not write.
 */
function blockerIn(root: string, final: string, id: string): LinkError | undefined {
  const hit = firstNonDirBelow(root, final);
  if (hit?.info === undefined) return undefined;
  if (!hit.last) return notANamespaceDir(root, hit.path, hit.info);
  return new LinkError(inTheWayMessage(id, { inTheWay: hit.path, out: root, kind: entryKind(hit.info), atLayout: true }), 'ENOTDIR');
}

/** Puts the built layout `tmp` in place of the one at `final`: the old one is moved aside first, then removed. */
async function replaceWith(tmp: string, final: string, staging: string): Promise<void> {
  const old = await moveAside(final, staging);
  await rename(tmp, final);
  if (old) await rm(old, { recursive: true, force: true });
}

/** Renames an existing layout into staging (one atomic step) so it can be replaced or deleted. */
async function moveAside(dir: string, staging: string): Promise<string | undefined> {
  const exists = await stat(dir).catch(() => undefined);
  if (!exists) return undefined;
  const aside = await mkdtemp(path.join(staging, 'old.'));
  const target = path.join(aside, 'layout');
  await rename(dir, target);
  return aside;
}

/** Links the run's version file into a layout, or writes one when the template is at its link limit. */
async function placeVersion(template: string, dest: string): Promise<void> {
  try {
    await link(template, dest);
  } catch {
    await writeFile(dest, DIR_VERSION_CONTENT, { mode: 0o644 });
  }
}

async function placeFile(f: LayoutFile, source: { path: string }, dest: string, mode: LinkMode): Promise<string | undefined> {
  try {
    if (mode === 'symlink') await symlink(source.path, dest);
    else if (mode === 'copy') await copyFile(source.path, dest, constants.COPYFILE_FICLONE);
    else await link(source.path, dest);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    if (code === 'EMLINK' && mode === 'hard') {
      // ext4 allows 65000 links per inode: a base layer shared by more layouts than that cannot be
      // hard-linked again. A symlink still lets skopeo read it, with no data copied.
      await symlink(source.path, dest);
      return emlinkWarning(f);
    }
    throw new LinkError(describeLinkError(code, f, mode), code);
  }
}

/** Progress is reported in steps of at least this many bytes (and at each file's end). */
const BYTES_STEP = 1 << 20;

/**
 * Copies a streamed blob into a new file (never over an existing one), hashing on the way: a blob that does
 * not hash to its digest, or has another size than its descriptor, is refused (BlobCheckError), since skopeo
 * does not check what the target already claims to have (storage-and-skopeo.md §5.5).
 */
async function copyStreamed(f: LayoutFile, source: { url: string; open(signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> }, dest: string, io: CopyIo): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  let unreported = 0;
  const report = () => {
    if (unreported > 0) io.onBytes?.(unreported);
    unreported = 0;
  };
  let file: FileHandle | undefined;
  try {
    file = await openFile(dest, 'wx', 0o644);
    for await (const chunk of await source.open(io.signal)) {
      size += chunk.length;
      if (size > f.size) throw new BlobCheckError(`${f.digest} (${source.url}) is larger than the ${f.size} bytes its descriptor says`, 'blob-size-mismatch', f.digest);
      hash.update(chunk);
      await file.write(chunk);
      unreported += chunk.length;
      if (unreported >= BYTES_STEP) report();
    }
  } catch (error) {
    if (error instanceof BlobCheckError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name ?? 'EUNKNOWN';
    const detail = code === 'ENOSPC' ? 'no space left on the output filesystem' : (error as Error).message;
    throw new LinkError(`cannot download ${f.digest} (${source.url}): ${detail}`, code);
  } finally {
    report();
    await file?.close();
  }
  if (size !== f.size) throw new BlobCheckError(`${f.digest} (${source.url}) is ${size} bytes, its descriptor says ${f.size}`, 'blob-size-mismatch', f.digest);
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== f.digest) throw new BlobCheckError(`${f.digest} (${source.url}) is corrupt: its content hashes to ${actual}`, 'blob-digest-mismatch', f.digest, actual);
}

function describeLinkError(code: string, f: LayoutFile, mode: LinkMode): string {
  const verb = mode === 'hard' ? 'hard-link' : mode === 'symlink' ? 'symlink' : 'copy';
  const base = `cannot ${verb} ${f.digest} (${'path' in f.source ? f.source.path : f.source.url})`;
  switch (code) {
    case 'EPERM':
      return `${base}: operation not permitted. With fs.protected_hardlinks=1 only the blob's owner (Harbor: uid 10000) or root may hard-link it; run as that user, or use --link symlink or --link copy`;
    case 'EXDEV':
      // The preflight checked one blob; this one (or its directory) is a mount of its own.
      return `${base}: the blob and the output directory are on different filesystems or mounts; use --link symlink or --link copy`;
    case 'ENOENT':
      return `${base}: the blob disappeared during the export (garbage collection running?)`;
    case 'ENOSPC':
      return `${base}: no space left on the output filesystem`;
    case 'EACCES':
      return `${base}: permission denied`;
    default:
      return `${base}: ${code}`;
  }
}
