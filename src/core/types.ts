/** Types shared by the pure core, the I/O modules and the renderers. */

/** A validated `sha256:<64 lowercase hex>` digest. */
export type Digest = `sha256:${string}`;

/** One tag found on disk: `repositories/<repository>/_manifests/tags/<tag>/`. */
export interface TagRef {
  repository: string;
  /** The tag; `''` for an untagged referrer. */
  tag: string;
  /** An untagged manifest whose `subject` is an exported manifest of the same repository: exported by digest. */
  referrer?: { digest: Digest; subject: Digest };
}

export type ProblemCode =
  | 'name-invalid'
  | 'tag-invalid'
  | 'link-empty'
  | 'link-invalid'
  | 'link-unreadable'
  /** Warning: a tag link with a CR, newline or blanks around its digest (the registry itself could not read it). */
  | 'link-padded'
  /** Warning: a revision link that does not hold the digest it is filed under (empty, garbage or another digest). */
  | 'revision-link-invalid'
  | 'manifest-deleted'
  | 'manifest-missing'
  | 'manifest-digest-mismatch'
  | 'manifest-size-mismatch'
  | 'manifest-unparseable'
  | 'manifest-unreadable'
  /** Readers disagree on what the manifest is (CVE-2021-41190: no mediaType, both manifests and config/layers). */
  | 'manifest-ambiguous'
  | 'manifest-unsupported'
  | 'schema1'
  | 'child-deleted'
  | 'child-missing'
  | 'child-digest-mismatch'
  | 'child-unparseable'
  | 'child-unreadable'
  /** The index descriptor's mediaType is not what the child is: skopeo would rewrite the index. */
  | 'child-media-type-mismatch'
  | 'blob-missing'
  | 'blob-size-mismatch'
  | 'blob-digest-mismatch'
  | 'blob-unreadable'
  | 'foreign-layer'
  | 'index-descriptor-artifact'
  | 'filtered'
  | 'link-failed'
  | 'layout-failed';

/** A problem with one tag: code for machines, message naming repository, tag, digest and file for people. */
export interface Problem {
  code: ProblemCode;
  message: string;
  /** The digest at fault (manifest, child or blob). */
  digest?: string;
  /** The storage file at fault, relative to the v2 root. */
  file?: string;
}

/** `ok`: exportable. `broken`: storage is damaged. `skipped`: intentionally not exported (deleted, filtered, schema1). */
export type ImageStatus = 'ok' | 'broken' | 'skipped';

export type ImageKind = 'image' | 'index' | 'artifact' | 'referrer' | 'schema1' | 'unknown';

/**
 * Where a layout file's bytes come from, as data the output side acts on without knowing the storage:
 * a file to hard-link, symlink or copy (a storage on disk), or a stream to copy (a bucket), whose bytes
 * must hash to the file's digest and add up to its size, or the layout is not written.
 */
export type BlobSource = { path: string } | { url: string; open(signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> };

/** One file of a skopeo `dir:` layout and the storage blob it comes from. */
export interface LayoutFile {
  /** File name inside the layout: `manifest.json`, `<hex>.manifest.json` or `<hex>`. */
  name: string;
  digest: Digest;
  size: number;
  source: BlobSource;
  /**
   * `<dev>:<ino>` of the source file when the storage reader knows it and checked its sha256: always for the
   * tag's `manifest.json`, for the other files with --verify-blobs only (storage/resolve-image.ts). A layout file
   * with the same identity is a hard link to those very bytes.
   */
  identity?: string;
}

/** Everything known about one tag after reading the storage. */
export interface ResolvedImage {
  repository: string;
  tag: string;
  digest?: Digest;
  mediaType?: string;
  kind: ImageKind;
  /** For indexes: `os/arch[/variant]` of each child, in manifest order. */
  platforms?: string[];
  /** For artifacts: artifactType, else the config media type. */
  artifactType?: string;
  /** For an untagged referrer (kind `referrer`, tag `''`): its own digest is `digest`, this is what it refers to. */
  subject?: Digest;
  /** The manifest's own `subject` (OCI 1.1), tagged or not: Harbor lists such a manifest as an accessory of it. */
  refersTo?: Digest;
  status: ImageStatus;
  /** Why the image is broken or skipped. Empty when `ok`. */
  problems: Problem[];
  /** Worth saying, but the image is still exportable (foreign layers skipped, ...). */
  warnings: Problem[];
  /** Sum of the sizes of every distinct file of the layout (manifests included). */
  size: number;
  /** The layout's files, deduplicated by name; empty unless `ok`. */
  files: LayoutFile[];
  /**
   * With --verify-blobs, when resolving left the hashing to its caller (ResolveOptions.deferHashes, a bucket): the
   * configs and layers still to hash, for the layout write (which hashes what it downloads) or the resolver's own
   * check (resolve-image.ts hashDeferred) to do, core/plan.ts layoutWriteVerifies says which.
   */
  unhashed?: BlobToHash[];
}

/** A blob the resolver would have hashed, with what its problem says of it (`repo:tag: layer 2 sha256:… of child …`). */
export interface BlobToHash {
  digest: Digest;
  /** Its size (checked): a blob that fails its hash is not a file of the layout, nor counted in the image's size. */
  size: number;
  label: string;
  /** Where it is, as problems name it (the `s3://` object). */
  file: string;
}
