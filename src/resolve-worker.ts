/**
 * The storage's second reading thread: resolves the tags it is sent (storage/resolve-image.ts, with its own reader and
 * caches over the same directory) while the main thread resolves others, renders results and plans layouts.
 * Resolving is hundreds of small synchronous file-system calls and parses per tag, all CPU on one thread:
 * two threads read a warm tree nearly twice as fast, and keep twice the requests in flight on a cold one.
 *
 * Only names and paths travel here; results come back as data (the same ResolvedImage the main thread makes), with
 * what the output directory holds for each layout. It composes the storage and output wings, so it lives here, not
 * in either. Nothing is opened for writing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { existingFor } from './core/plan.js';
import { existingLayoutReader } from './output/existing-layout.js';
import { resolveImage } from './storage/resolve-image.js';
import { pack, WORKER_READY, type ResolveJob, type ResolveReply, type ResolveWorkerData } from './storage/resolver.js';
import { createStorageReader, type Reader } from './storage/storage-reader.js';

const data = workerData as ResolveWorkerData | undefined;
if (parentPort && data?.role === 'registry-rescue:resolve') {
  const port = parentPort;
  const who: Reader = { uid: data.who.uid, gids: new Set(data.who.gids) };
  const reader = createStorageReader(data.v2, who);
  const layouts = data.out !== undefined ? existingLayoutReader(data.out) : undefined;
  port.on('message', (job: ResolveJob) => {
    resolveImage(reader, job.ref, data.opts, job.link).then(
      (image) => {
        const existing = layouts && existingFor(layouts, image, data.checkLinks === true);
        port.postMessage({ n: job.n, ok: true, image: pack(image), ...(existing ? { existing } : {}) } satisfies ResolveReply);
      },
      (error: unknown) => port.postMessage({ n: job.n, ok: false, message: (error as Error).message ?? String(error) } satisfies ResolveReply),
    );
  });
  port.postMessage(WORKER_READY);
}
