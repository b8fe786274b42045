/** Typed progress events from the runs; renderers in src/report/ handle every kind exhaustively. */
import type { ExportItem } from './plan.js';
import type { Status } from './results.js';
import type { SyncResult } from './sync-plan.js';

/** The outcome of one image in list (its status) or export (what happened to its layout). */
export type ExportOutcome = Extract<Status, 'ok' | 'created' | 'rebuilt' | 'unchanged' | 'broken' | 'skipped' | 'failed' | 'would-create' | 'would-rebuild'>;

/** What happened to one image in list/export: data, rendered later. */
export interface ExportResult {
  id: string;
  item: ExportItem;
  outcome: ExportOutcome;
  /** Link or write failure, when outcome is `failed`. */
  error?: string;
  warnings: string[];
  ms: number;
  /** With ExportOptions.keepBlobs (the sync dry run): every file's digest and size, manifests included. */
  blobs?: Array<[digest: string, size: number]>;
}

export type ProgressEvent =
  /** `total`: how many images the run will handle, only when known before the (streamed) walk ends. */
  /** `target`: where a sync pushes (its --to), named on the log's first line with the output directory, if given. */
  | { kind: 'run:start'; command: string; storage: string; out?: string; target?: string; dryRun: boolean; total?: number }
  | { kind: 'image:exported'; result: ExportResult }
  /** A skopeo process starts for an image (attempt 2+ are retries of a transient failure). */
  | { kind: 'push:attempt'; id: string; target: string; attempt: number }
  | { kind: 'image:synced'; result: SyncResult }
  | { kind: 'prune:removed'; id: string; dryRun: boolean }
  /** Bytes of blobs downloaded into layouts (a bucket storage), reported as they arrive. */
  | { kind: 'bytes:downloaded'; bytes: number }
  | { kind: 'warning'; message: string }
  /**
   * `interrupted`: the run stopped on SIGINT/SIGTERM; what it did not do is in the results (canceled).
   * `outputClosed`: the reader closed standard output (`list … | head`), so the run stopped reading there.
   */
  | { kind: 'run:done'; ms: number; interrupted?: boolean; outputClosed?: boolean };

export type Emit = (event: ProgressEvent) => void;
