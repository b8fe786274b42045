/**
 * The storage's second reading thread: resolves the tags it is sent (resolve-image.ts, with its own reader and
 * caches over the same directory) while the main thread resolves others, renders results and plans layouts.
 * Resolving is hundreds of small synchronous file-system calls and parses per tag, all CPU on one thread:
 * two threads read a warm tree nearly twice as fast, and keep twice the requests in flight on a cold one.
 *
 * Only names and paths travel here; results come back as data (the same ResolvedImage the main thread makes).
 * Nothing is opened for writing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Digest, ResolvedImage, TagRef } from '../core/types.js';
import { resolveImage, type ResolveOptions } from './resolve-image.js';
import { createStorageReader, type LinkFact, type Reader } from './storage-reader.js';
import type { ExistingLayout } from '../core/plan.js';
import { existingFor, existingLayoutReader } from '../output/existing-layout.js';

export interface ResolveWorkerData {
  /** Marks the thread as ours: this module does nothing in any other (a test runner's worker, say). */
  role: 'registry-rescue:resolve';
  v2: string;
  who: { uid: number; gids: number[] };
  opts: ResolveOptions;
  /** The output directory whose existing layouts are read along with each image. */
  out?: string;
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

export type ResolveReply = { n: number; ok: true; image: PackedImage; existing?: ExistingLayout } | { n: number; ok: false; message: string };

function pack(image: ResolvedImage): PackedImage {
  return { ...image, files: image.files.map((f) => [f.name, f.digest, f.size, f.identity]) };
}

const data = workerData as ResolveWorkerData | undefined;
if (parentPort && data?.role === 'registry-rescue:resolve') {
  const port = parentPort;
  const who: Reader = { uid: data.who.uid, gids: new Set(data.who.gids) };
  const reader = createStorageReader(data.v2, who);
  const layouts = data.out !== undefined ? existingLayoutReader(data.out) : undefined;
  port.on('message', (job: ResolveJob) => {
    resolveImage(reader, job.ref, data.opts, job.link).then(
      (image) => {
        const existing = layouts && existingFor(layouts, job.ref, image);
        port.postMessage({ n: job.n, ok: true, image: pack(image), ...(existing ? { existing } : {}) } satisfies ResolveReply);
      },
      (error: unknown) => port.postMessage({ n: job.n, ok: false, message: (error as Error).message ?? String(error) } satisfies ResolveReply),
    );
  });
}
