/** Library entry: the runs behind the CLI, for embedding registry-rescue in other tooling. */
export { openExport, runExport, type ExportOptions, type ExportRun } from './run-export.js';
export { openSync, runSync, type SyncOptions, type SyncDeps, type SyncRun, type SyncTotals } from './run-sync.js';
export { openVerify, type VerifyOptions, type VerifyResult, type VerifyStatus, type VerifyRun } from './run-verify.js';
export { locateStorage, scanRepositories, scanTags, type StorageRoot } from './storage/scan-storage.js';
export { parseManifest, type ParsedManifest } from './core/manifest.js';
export { planExportItem, type ExportItem, type LinkMode } from './core/plan.js';
export { STATUSES, exitCodeForRun, type Status, type Counts } from './core/results.js';
export type { ExportResult, ProgressEvent } from './core/events.js';
export type { SyncResult } from './core/sync-plan.js';
export type { ResolvedImage, Problem, ProblemCode, TagRef } from './core/types.js';
export { EXIT, ToolError, UsageError, PreflightError, InterruptedError, exitCodeFor } from './errors.js';
