// Types for generate-storage.mjs, so the vitest test (TypeScript, strict) can import it.
export interface GenerateStorageResult {
  tags: number;
  repositories: number;
  blobs: number;
  blobBytes: number;
  manifests: number;
  indexes: number;
  ociManifests: number;
  olderRevisions: number;
  uploads: number;
  files: number;
  stacks: number;
  storage: string;
  v2: string;
  tagsFile: string;
  seconds: number;
}
export function generateStorage(opts: { dir: string; tags: number; seed?: number }): GenerateStorageResult;
