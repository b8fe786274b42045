/**
 * The export plan: for each resolved image, what the run will do with its layout. Pure: the dry run
 * renders exactly these items, the real run executes them.
 */
import type { LayoutFile, Problem, ResolvedImage } from './types.js';

/** skopeo's dir: transport version file, exactly (containers/image directory_transport.go). */
export const DIR_VERSION_FILE = 'version';
export const DIR_VERSION_CONTENT = 'Directory Transport Version: 1.1\n';

export type LinkMode = 'hard' | 'symlink' | 'copy';

/** What is already in the output directory for one layout. */
export interface ExistingLayout {
  /** sha256 of its manifest.json, if it has one. */
  manifestDigest?: string;
  /** File names in the layout directory. */
  names: string[];
}

export type ExportAction = 'create' | 'rebuild' | 'unchanged' | 'skip';

export interface ExportItem {
  /** `<repository>:<tag>`: also the layout's path relative to the output directory. */
  id: string;
  action: ExportAction;
  image: ResolvedImage;
  /** Files to place (without `version`, which is written). Empty for skip and unchanged. */
  files: LayoutFile[];
  /** Files in the finished layout, `version` included. */
  fileCount: number;
  bytes: number;
  /** For skip: why; for rebuild: what changed. */
  reason?: string;
  problems: Problem[];
}

/**
 * The layout directory name (relative to the output directory) of a tag, or of an untagged referrer by digest
 * (`repository@sha256:<hex>`: skopeo sync pushes a `dir:` named so by digest, storage-and-skopeo.md §5.3).
 */
export function layoutId(repository: string, tag: string, referrer?: string): string {
  return referrer !== undefined ? `${repository}@${referrer}` : `${repository}:${tag}`;
}

/** Decides what to do with one image given what is already exported. */
export function planExportItem(image: ResolvedImage, existing: ExistingLayout | undefined): ExportItem {
  const id = layoutId(image.repository, image.tag, image.subject !== undefined ? image.digest : undefined);
  const base = { id, image, problems: image.problems, bytes: image.size };
  if (image.status !== 'ok') {
    const kept = existing ? '; the layout already exported for this tag is left as it was' : '';
    return { ...base, action: 'skip', files: [], fileCount: 0, reason: `${image.status}${kept}` };
  }
  const fileCount = image.files.length + 1;
  if (!existing) return { ...base, action: 'create', files: image.files, fileCount };
  const expected = new Set([...image.files.map((f) => f.name), DIR_VERSION_FILE]);
  const sameNames = existing.names.length === expected.size && existing.names.every((n) => expected.has(n));
  if (existing.manifestDigest === image.digest && sameNames) {
    return { ...base, action: 'unchanged', files: [], fileCount };
  }
  const reason =
    existing.manifestDigest === image.digest
      ? 'the layout has other files than expected'
      : `the tag moved from ${existing.manifestDigest ?? 'an unreadable manifest'} to ${image.digest}`;
  return { ...base, action: 'rebuild', files: image.files, fileCount, reason };
}
