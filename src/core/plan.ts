/**
 * The export plan: for each resolved image, what the run will do with its layout. Pure: the dry run
 * renders exactly these items, the real run executes them.
 */
import type { Digest, LayoutFile, Problem, ResolvedImage } from './types.js';

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

/** The storage's manifest as resolved: its digest, and its file's identity when it is a file on this host. */
export interface ManifestFacts {
  digest: string;
  identity?: string;
}

/** Reads what the output holds for a layout (output/existing-layout.ts); undefined when there is none. */
export type ReadExisting = (id: string, manifest?: ManifestFacts) => ExistingLayout | undefined;

/** The layout check of one resolved image: the storage's manifest file tells an unchanged layout with one lstat. */
export function existingFor(read: ReadExisting, image: ResolvedImage): ExistingLayout | undefined {
  return read(layoutIdOf(image), image.files.find((f) => f.name === 'manifest.json'));
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

/** An untagged referrer's own digest: it is exported, pushed and looked up by digest. Undefined for a tag. */
export function referrerDigest(image: ResolvedImage): Digest | undefined {
  return image.subject !== undefined ? image.digest : undefined;
}

/** The layout directory name of a resolved image (layoutId). */
export function layoutIdOf(image: ResolvedImage): string {
  return layoutId(image.repository, image.tag, referrerDigest(image));
}

/** Decides what to do with one image given what is already exported. */
export function planExportItem(image: ResolvedImage, existing: ExistingLayout | undefined): ExportItem {
  const id = layoutIdOf(image);
  // Written out, not spread from a shared base: this runs once per tag, and each shape is then one V8 knows.
  const item = (action: ExportAction, files: LayoutFile[], fileCount: number, reason?: string): ExportItem =>
    reason === undefined
      ? { id, image, problems: image.problems, bytes: image.size, action, files, fileCount }
      : { id, image, problems: image.problems, bytes: image.size, action, files, fileCount, reason };
  if (image.status !== 'ok') {
    const kept = existing ? '; the layout already exported for this tag is left as it was' : '';
    return item('skip', [], 0, `${image.status}${kept}`);
  }
  const fileCount = image.files.length + 1;
  if (!existing) return item('create', image.files, fileCount);
  if (existing.manifestDigest === image.digest && sameNames(existing.names, image.files)) return item('unchanged', [], fileCount);
  // A layout without a readable manifest.json (left half-made, or damaged by hand) says nothing of where the tag was.
  const reason =
    existing.manifestDigest === undefined
      ? 'the layout has no readable manifest.json (half-made or damaged)'
      : existing.manifestDigest === image.digest
        ? 'the layout has other files than expected'
        : `the tag moved from ${existing.manifestDigest} to ${image.digest}`;
  return item('rebuild', image.files, fileCount, reason);
}

/** Whether a layout's file names are exactly the image's files plus `version` (names are unique in both). */
function sameNames(names: string[], files: LayoutFile[]): boolean {
  if (names.length !== files.length + 1) return false;
  for (const n of names) {
    if (n !== DIR_VERSION_FILE && !files.some((f) => f.name === n)) return false;
  }
  return names.includes(DIR_VERSION_FILE);
}
