/** Library entry: the runs behind the CLI, for embedding registry-rescue in other tooling. */
export { runExport, prepareExport, exportImages, finishExport, type ExportOptions } from './run-export.js';
export { runSync, exitCodeForSync, type SyncOptions, type SyncDeps, type SyncRun } from './run-sync.js';
export { runVerify, type VerifyOptions, type VerifyResult, type VerifyStatus } from './run-verify.js';
export { locateStorage, scanTags, type StorageRoot } from './io/scan-storage.js';
export { parseManifest, type ParsedManifest } from './core/manifest.js';
export { planExportItem, type ExportItem, type LinkMode } from './core/plan.js';
export type { ExportResult, ProgressEvent } from './core/events.js';
export type { SyncResult, SyncSummary } from './core/sync-plan.js';
export type { ResolvedImage, Problem, ProblemCode, TagRef } from './core/types.js';
export { EXIT, ToolError, UsageError, PreflightError, InterruptedError, exitCodeFor } from './errors.js';
