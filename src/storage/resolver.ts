/**
 * Resolves tags on two threads: the main one and a worker (src/resolve-worker.ts) with its own reader over the same
 * directory. Each tag goes to whichever thread has fewer queued, so both stay busy whatever the main thread's
 * other work (rendering, planning, writing) costs. Results are the same data either way; callers keep their
 * order (mapOrdered). On a warm 10k-tag tree (npm run bench, 2 cores) `list` took about two thirds of the time
 * it took on one thread, for about 10 MB more peak memory.
 *
 * Where the worker cannot run (the module loaded from TypeScript sources, a worker that failed), everything is
 * resolved here. A bucket is read here only: its reads wait on the network, not on a CPU.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { existingFor, type OutputAt, type ReadExisting } from '../core/plan.js';
import type { BlobSource, Digest, ResolvedImage, TagRef } from '../core/types.js';
import { resolveImage, type ResolveOptions } from './resolve-image.js';
import { currentReader, type LinkFact, type StorageReader } from './storage-reader.js';

/** What the main thread and the worker say to each other. */
export interface ResolveWorkerData {
  /** Marks the thread as ours: this module does nothing in any other (a test runner's worker, say). */
  role: 'registry-rescue:resolve';
  v2: string;
  who: { uid: number; gids: number[] };
  opts: ResolveOptions;
  /** The output directory whose existing layouts are read along with each image. */
  out?: string;
  /** Check that those layouts' files are still hard links to the storage's (LayoutsToRead.checkLinks). */
  checkLinks?: true;
}

export interface ResolveJob {
  n: number;
  ref: TagRef;
  /** The tag's link, read on the main thread (undefined for a referrer, found by digest). */
  link: LinkFact | undefined;
}

/**
 * An image as it travels back: its files as `[name, digest, size, identity]` rows without their sources (the
 * main thread knows where a digest's blob is): fewer objects and strings to clone.
 */
export type PackedImage = Omit<ResolvedImage, 'files'> & { files: Array<[string, Digest, number, string | undefined]> };

export type ResolveReply = { n: number; ok: true; image: PackedImage; existing?: OutputAt } | { n: number; ok: false; message: string };

/** The worker's first message: its modules are loaded and it takes tags from now on. */
export const WORKER_READY = 'registry-rescue:resolve-ready';

/** An image made ready to travel back to the main thread. */
export function pack(image: ResolvedImage): PackedImage {
  return { ...image, files: image.files.map((f) => [f.name, f.digest, f.size, f.identity]) };
}

/** The worker's module: outside this directory, since it also reads the output's layouts (src/resolve-worker.ts). */
const WORKER_FILE = new URL('../resolve-worker.js', import.meta.url);

/** A resolved tag, and what the output directory already holds for its layout (when the resolver reads one). */
export interface Resolution {
  image: ResolvedImage;
  existing?: OutputAt;
}

/**
 * The output directory whose layouts are read along with each image, on the thread that resolved it: `out` for
 * the worker (it opens its own reader), `read` for this thread.
 */
export interface LayoutsToRead {
  out: string;
  read: ReadExisting;
  /** Also compare each layout file with the storage file it should be a hard link to (core/plan.ts checksLinks). */
  checkLinks?: boolean;
}

export interface Resolver {
  resolve(ref: TagRef): Promise<Resolution>;
  /** Tags that may usefully be in flight at once (the caller's window). */
  readonly parallel: number;
  /** How many tags each thread resolved so far. */
  readonly handled: { here: number; worker: number };
  /** Starts the second thread, if any, and settles when it takes tags (or has failed): tests wait for it. */
  warm(): Promise<void>;
  close(): Promise<void>;
}

/** Resolves on this thread only. */
export function localResolver(reader: StorageReader, opts: ResolveOptions, parallel: number, layouts?: LayoutsToRead): Resolver {
  const handled = { here: 0, worker: 0 };
  return {
    resolve: async (ref) => {
      handled.here++;
      const image = await resolveImage(reader, ref, opts);
      if (!layouts) return { image };
      const existing = existingFor(layouts.read, image, layouts.checkLinks === true);
      return existing ? { image, existing } : { image };
    },
    parallel,
    handled,
    warm: async () => {},
    close: async () => {},
  };
}

/**
 * How the main thread shares the resolving with the worker. 'share': each tag to whichever thread has fewer queued
 * (list, export: the main thread has little else to do). 'overflow': the main thread takes a tag only when the
 * worker has a backlog (sync and verify: the main thread also runs every request to the target). With an equal
 * share, a 10k-tag sync with everything on the target kept the main thread busy 10.8 s of 13 s while the worker
 * idled three quarters of the time.
 */
export type MainThreadShare = 'share' | 'overflow';

/**
 * Resolves on this thread and on a worker reading `v2` (a directory), falling back to this thread alone.
 * `workerFile`: the worker's module (tests give one that fails).
 */
export function twoThreadResolver(reader: StorageReader, opts: ResolveOptions, parallel: number, more: { layouts?: LayoutsToRead; workerFile?: URL; mainThread?: MainThreadShare } = {}): Resolver {
  const { layouts, workerFile = WORKER_FILE } = more;
  // The worker's queue length above which this thread takes a tag too (see MainThreadShare).
  const backlog = more.mainThread === 'overflow' ? parallel * 2 : 0;
  const local = localResolver(reader, opts, parallel, layouts);
  if (!existsSync(fileURLToPath(workerFile))) return local;
  const { handled } = local;
  const who = currentReader();
  let worker: Worker | undefined;
  const pending = new Map<number, { ref: TagRef; resolve(r: Resolution | Promise<Resolution>): void }>();
  let n = 0;
  let localQueued = 0;
  let localTail: Promise<void> = Promise.resolve();
  let failed = false;
  // A worker takes tags once it says its modules are loaded (about 150 ms of start-up CPU on the other core). A
  // tag sent earlier would wait there, and with it every later result, since callers keep their order: the main
  // thread would idle. Until then, this thread resolves every tag.
  let ready = false;
  let readied: () => void = () => {};
  const whenReady = new Promise<void>((resolve) => (readied = resolve));
  // A worker that fails (or is closed) hands its tags back to this thread: the run goes on, a little slower.
  const fail = () => {
    readied();
    if (failed) return;
    failed = true;
    for (const p of pending.values()) p.resolve(local.resolve(p.ref));
    pending.clear();
    void worker?.terminate();
  };
  const start = () => {
    const w = new Worker(workerFile, {
      workerData: { role: 'registry-rescue:resolve', v2: reader.v2, who: { uid: who.uid, gids: [...who.gids] }, opts, ...(layouts ? { out: layouts.out } : {}), ...(layouts?.checkLinks ? { checkLinks: true } : {}) } satisfies ResolveWorkerData,
      // Small messages and per-run caches: a small heap keeps the run's peak memory down.
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 },
    });
    w.on('message', (reply: ResolveReply | typeof WORKER_READY) => {
      if (reply === WORKER_READY) {
        ready = true;
        return readied();
      }
      const p = pending.get(reply.n);
      if (!p) return;
      pending.delete(reply.n);
      if (pending.size === 0) w.unref();
      if (reply.ok) handled.worker++;
      // An exception inside resolving (never expected: it returns problems as data) is retried here, where it
      // surfaces as the run's own error.
      if (!reply.ok) return p.resolve(local.resolve(p.ref));
      const image = unpack(reply.image, (digest) => reader.blobSource(digest));
      p.resolve(reply.existing ? { image, existing: reply.existing } : { image });
    });
    w.on('error', fail);
    w.on('exit', fail);
    // Referenced only while it resolves: an idle worker never keeps the process alive.
    w.unref();
    return w;
  };
  return {
    parallel: parallel * 4,
    handled,
    async warm() {
      if (failed) return;
      worker ??= start();
      await whenReady;
    },
    resolve(ref) {
      if (failed) return local.resolve(ref);
      worker ??= start();
      // To whichever thread has fewer tags queued: the faster one drains its share sooner and gets more. In
      // 'overflow' mode, only once the worker has a backlog.
      if (!ready || (pending.size > backlog && pending.size > localQueued)) {
        localQueued++;
        // One local tag at a time, each after a turn of the event loop: the worker's replies (macrotasks) are
        // handled between two local tags, so it is fed again at once. Tags resolved here side by side would
        // interleave their promise callbacks and hold the replies back until all of them were done.
        const done = localTail.then(() => new Promise<void>((next) => setImmediate(next))).then(() => local.resolve(ref));
        localTail = done.then(
          () => void localQueued--,
          () => void localQueued--,
        );
        return done;
      }
      const id = ++n;
      const w = worker;
      return new Promise((resolve) => {
        if (pending.size === 0) w.ref();
        pending.set(id, { ref, resolve });
        // The tag's link is read here, through this thread's cache, and sent along: referrer discovery and the
        // push order read every link of a repository on this thread anyway, so no link is read twice.
        const link = ref.referrer ? Promise.resolve(undefined) : reader.readTagLink(ref.repository, ref.tag);
        void link.then((fact) => {
          if (pending.has(id)) w.postMessage({ n: id, ref, link: fact } satisfies ResolveJob);
        });
      });
    },
    async close() {
      const w = worker;
      fail();
      await w?.terminate();
    },
  };
}

/** An image from the worker, its files' sources restored. */
function unpack(image: PackedImage, sourceOf: (digest: Digest) => BlobSource): ResolvedImage {
  return { ...image, files: image.files.map(([name, digest, size, identity]) => ({ name, digest, size, source: sourceOf(digest), ...(identity !== undefined ? { identity } : {}) })) };
}
