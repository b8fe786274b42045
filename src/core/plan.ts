/**
 * The export plan: for each resolved image, what the run will do with its layout. Pure: the dry run
 * renders exactly these items, the real run executes them.
 */
import { blobDataPath } from './digest.js';
import { plural } from './results.js';
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
  /**
   * With the link check (checksLinks): the first file that is not the storage file it should be a hard link to,
   * and how many more are not. Absent when every file is, or when nothing was checked.
   */
  unlinked?: Unlinked;
}

/**
 * Something in the output that is not a real directory where one must go: at the layout's own path (a file
 * `out/proj/app:1.0`, a dangling symlink), or at a namespace directory above it (a file or a symlink `out/proj`).
 * The real run cannot write the layout there (and never removes what it did not write): the image fails, named, in
 * the dry run as in the real one. Read by output/existing-layout.ts; the write path names the same (layout-store.ts).
 */
export interface InTheWay {
  /** The entry's path. */
  inTheWay: string;
  /** The output directory it is in. */
  out: string;
  /** What it is, for the message: "a plain file", "a symlink", … (storage/fast-fs.ts entryKind). */
  kind: string;
  /** Whether it is where the layout itself goes, not a namespace directory above it. */
  atLayout: boolean;
}

/** What the output holds for one layout: a layout directory, or something in the way of one. */
export type OutputAt = ExistingLayout | InTheWay;

/**
 * Why the layout of `id` cannot be written with `w` in the way: what it is, where, and what to do (the message the
 * image fails with, after `<id>: `). A namespace directory's message does not need `id`: it stands for every layout
 * below it.
 */
export function inTheWayMessage(id: string, w: InTheWay): string {
  if (w.atLayout) {
    return `${w.inTheWay} is ${w.kind}, where the layout of ${id} goes: registry-rescue writes only its own layout directories into the output directory ${w.out} and does not remove what it did not write; remove or rename it, then run again`;
  }
  const why = w.kind === 'a symlink' ? ' (a symlink could lead anywhere, even into the registry storage)' : '';
  const below = w.inTheWay.startsWith(`${w.out}/`) ? w.inTheWay.slice(w.out.length + 1) : w.inTheWay;
  return `${w.inTheWay} is ${w.kind}: layouts are written only into real directories of the output directory ${w.out}${why}, and the layouts below ${below}/ go into that one; remove or rename it, then run again`;
}

/** A layout file that no longer gives skopeo the storage's blob, named by its file and digest. */
export interface Unlinked {
  name: string;
  digest: Digest;
  more: number;
}

/** What a layout file is, for the link check: its lstat's `<dev>:<ino>`, and where it points when a symlink. */
export interface LayoutFileFacts {
  identity: string;
  symlinkTarget?: string;
}

/**
 * Whether the kept layouts' files are checked to still be hard links to the storage's blobs: a blob's data file
 * replaced by a new inode since the export (a corrupt copy repaired with rsync, or `cp` to a temporary name and a
 * rename) leaves the layout on the old inode, its manifest unchanged, and skopeo refuses the old bytes at push
 * time ("Digest did not match"). Only with --verify-blobs, which reads every blob anyway: the check costs an lstat
 * per layout file, which the nightly run over an unchanged tree must not pay. Only for hard links: a symlink names
 * the blob's path and follows a replaced inode by itself, and a copy never shares an inode, so its inode says
 * nothing (a copy's bytes are its own; checking them would mean hashing every layout file).
 */
export function checksLinks(link: LinkMode, verifyBlobs: boolean): boolean {
  return verifyBlobs && link === 'hard';
}

/**
 * Whether a layout file still gives skopeo the storage file `f` it was made from: a hard link to it (same
 * `<dev>:<ino>`), or a symlink to its path (a blob at the hard-link limit is symlinked, layout-store.ts; it follows
 * a replaced inode by itself). `found` undefined: the file could not be looked at. A storage file of unknown
 * identity passes: there is nothing to compare it with.
 */
export function linksTo(f: LayoutFile, found: LayoutFileFacts | undefined): boolean {
  if (f.identity === undefined) return true;
  if (found === undefined) return false;
  if (found.identity === f.identity) return true;
  return found.symlinkTarget !== undefined && 'path' in f.source && found.symlinkTarget === f.source.path;
}

/** The storage's manifest as resolved: its digest, and its file's identity when it is a file on this host. */
export interface ManifestFacts {
  digest: string;
  identity?: string;
}

/**
 * Reads what the output holds for a layout (output/existing-layout.ts): the layout, or what is in the way of one;
 * undefined when there is nothing. `linked`:
 * the image's files, to check that the layout's are still hard links to them (checksLinks); absent, nothing more
 * than the names and the manifest is looked at.
 */
export type ReadExisting = (id: string, manifest?: ManifestFacts, linked?: readonly LayoutFile[]) => OutputAt | undefined;

/**
 * The layout check of one resolved image: the storage's manifest file tells an unchanged layout with one lstat;
 * with `checkLinks` (checksLinks), every file is compared with its storage file as well.
 */
export function existingFor(read: ReadExisting, image: ResolvedImage, checkLinks = false): OutputAt | undefined {
  return read(layoutIdOf(image), image.files.find((f) => f.name === 'manifest.json'), checkLinks ? image.files : undefined);
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
  /**
   * For create or rebuild: why the layout cannot be written: something not a directory is in its way (InTheWay), or
   * the directory at its path holds files registry-rescue never writes. The image fails with this, in the dry run
   * as in the real one, and nothing there is touched.
   */
  blocked?: string;
  problems: Problem[];
}

/** The names registry-rescue writes into a layout (skopeo's dir: format): version, manifest.json, <hex>, <hex>.manifest.json. */
const LAYOUT_NAME = /^(?:version|manifest\.json|[a-f0-9]{64}(?:\.manifest\.json)?)$/;

/** The first few names, quoted (`"a", "b", "c", and 2 more`), for a message. */
export function namesList(names: readonly string[]): string {
  return names.slice(0, 3).map((n) => JSON.stringify(n)).join(', ') + (names.length > 3 ? `, and ${names.length - 3} more` : '');
}

/** The entries of a directory at a layout's path that no layout of ours holds: someone else's files, never replaced. */
export function foreignNames(names: readonly string[]): string[] {
  return names.filter((n) => !LAYOUT_NAME.test(n));
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

/**
 * The item of an image that is not `ok` (broken or skipped): nothing to write; `hasLayout` when a layout is already
 * exported for it, which is left as it was. Also for an image found broken while its layout was written.
 */
export function planNotOk(image: ResolvedImage, hasLayout: boolean): ExportItem {
  const kept = hasLayout ? '; the layout already exported for this tag is left as it was' : '';
  return { id: layoutIdOf(image), image, problems: image.problems, bytes: image.size, action: 'skip', files: [], fileCount: 0, reason: `${image.status}${kept}` };
}

/**
 * With --verify-blobs from a bucket (resolving left the hashes to its caller), whether the layout write checks the
 * image's blobs: it downloads every file of the layout and refuses one whose bytes do not hash to its digest, so a
 * hash beforehand would fetch each blob twice. `writes`: the run writes the layouts it plans (not a dry run, nor
 * `list`). Every other image (broken or skipped, blocked, or its layout kept unchanged) is hashed from the storage
 * as resolving with --verify-blobs always did: the option still checks every blob of the storage the run reads,
 * as it does on disk, where a kept layout's files are the storage's blobs themselves.
 */
export function layoutWriteVerifies(item: ExportItem, writes: boolean): boolean {
  return writes && (item.action === 'create' || item.action === 'rebuild') && item.blocked === undefined;
}

/** Decides what to do with one image given what is already exported (or in the way of its layout). */
export function planExportItem(image: ResolvedImage, found: OutputAt | undefined): ExportItem {
  const id = layoutIdOf(image);
  // Written out, not spread from a shared base: this runs once per tag, and each shape is then one V8 knows.
  const item = (action: ExportAction, files: LayoutFile[], fileCount: number, reason?: string): ExportItem =>
    reason === undefined
      ? { id, image, problems: image.problems, bytes: image.size, action, files, fileCount }
      : { id, image, problems: image.problems, bytes: image.size, action, files, fileCount, reason };
  const existing = found !== undefined && 'names' in found ? found : undefined;
  if (image.status !== 'ok') return planNotOk(image, existing !== undefined);
  const fileCount = image.files.length + 1;
  if (found !== undefined && 'inTheWay' in found) {
    return { ...item('create', image.files, fileCount), blocked: `${id}: ${inTheWayMessage(id, found)}` };
  }
  if (!existing) return item('create', image.files, fileCount);
  if (existing.manifestDigest === image.digest && sameNames(existing.names, image.files)) {
    if (existing.unlinked === undefined) return item('unchanged', [], fileCount);
    return item('rebuild', image.files, fileCount, unlinkedReason(id, existing.unlinked));
  }
  // A rebuild replaces the directory, removing what it held: only ever one holding nothing but layout files. A
  // directory of someone else's (notes, a copy of something) that happens to sit at the layout's path is left alone.
  const foreign = foreignNames(existing.names);
  if (foreign.length > 0) {
    const blocked = `${id}: the directory at this layout's path in the output holds files registry-rescue does not write (${namesList(foreign)}): it is not replaced; move them away or remove the directory, then run again`;
    return { ...item('rebuild', image.files, fileCount, 'the directory holds other files'), blocked };
  }
  // A layout without a readable manifest.json (left half-made, or damaged by hand) says nothing of where the tag was.
  const reason =
    existing.manifestDigest === undefined
      ? 'the layout has no readable manifest.json (half-made or damaged)'
      : existing.manifestDigest === image.digest
        ? 'the layout has other files than expected'
        : `the tag moved from ${existing.manifestDigest} to ${image.digest}`;
  return item('rebuild', image.files, fileCount, reason);
}

/**
 * Why a layout whose manifest and names are right is rebuilt: a file is not a hard link to its blob. Which one
 * and where, since the operator may want to know what replaced it; both causes, since the layout cannot tell them
 * apart (the old inode may still be linked from other layouts, a copy from nowhere else).
 */
function unlinkedReason(id: string, u: Unlinked): string {
  const more = u.more > 0 ? ` (and ${plural(u.more, 'more file')})` : '';
  return `${id}: ${u.name} is not a hard link to the storage's blob ${u.digest} (${blobDataPath(u.digest)})${more}: the blob was replaced in the storage since the export (a repair or restore), or the layout was copied`;
}

/** Whether a layout's file names are exactly the image's files plus `version` (names are unique in both). */
function sameNames(names: string[], files: LayoutFile[]): boolean {
  if (names.length !== files.length + 1) return false;
  for (const n of names) {
    if (n !== DIR_VERSION_FILE && !files.some((f) => f.name === n)) return false;
  }
  return names.includes(DIR_VERSION_FILE);
}
