/**
 * Read-only access to a Distribution v2 tree with per-run caches: blobs are global and shared by many
 * tags, so each manifest is read and hashed once and each blob is stat'ed (or hashed) once per run.
 * Nothing here opens a file for writing.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstatSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { identityOf, NotRegularFileError, open, readRegularFileSync, SAFE_OPEN, type FileFacts } from './fast-fs.js';
import { Lru } from '../core/lru.js';
import { listRevisions, tagOnceHeld } from './tag-facts.js';
import { blobDataPath, hexOf, parseLink, type LinkParse } from '../core/digest.js';
import type { BlobSource, Digest } from '../core/types.js';

/**
 * Cache sizes. Manifests are read once per tag and rarely shared (an index child, an older revision), so
 * few of their bytes are kept; blob facts are small and base layers are shared by many tags. Bounded, so
 * a 500k-tag volume costs the same memory as a 10k one.
 */
const MANIFEST_CACHE = 64;
const BLOB_CACHE = 4096;
/**
 * Tag links remembered (a 71-byte digest each): a repository's links are read when its tags are resolved and
 * again when its untagged referrers are sought, right after. Repositories of up to this many tags read each
 * link once; a bigger one reads the rest twice, and memory stays bounded (~1 MB).
 */
const TAG_LINK_CACHE = 8192;
/** Directories of repositories (and their _manifests, tags, revisions) known to be real, not symlinks: tree order makes a small cache enough. */
const DIR_CACHE = 4096;
const NOT_REGULAR = 'not a regular file (a symlink or special file, which a registry never writes)';
const SYMLINKED_DIR = 'reached through a symlinked directory, which a registry never writes';
/** A link file is 71 bytes; more than this is garbage, reported from its first bytes. */
const MAX_LINK_BYTES = 256;
/** The largest manifest we read into memory; registries refuse bigger ones (4 MiB in distribution). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** `identity`: the data file's `<dev>:<ino>` (on disk only), from the lstat that gave its size: no call of its own. */
export type BlobFact = { ok: true; size: number; path: string; identity?: string } | { ok: false; error: 'missing' | 'unreadable'; detail: string; path: string };
export type ManifestFact =
  | { ok: true; bytes: Buffer; path: string; identity?: string }
  | { ok: false; error: 'missing' | 'unreadable' | 'digest-mismatch' | 'too-large'; detail: string; path: string };
/**
 * A tag link read. `pushedAt`: the link file's mtime (ms), when the old registry last pushed the tag (it
 * rewrites `current/link` on every push), from the same fstat that checked the file.
 */
export type LinkFact =
  | (LinkParse & { pushedAt?: number })
  /** `tagGone`: the tag's own directory is not there either (the tag was deleted), not just its `current/link` lost. */
  | { ok: false; code: 'link-unreadable'; detail: string; tagGone?: true };
/**
 * A manifest's revision link: `present` (with `invalid` when it does not hold that digest: empty, garbage,
 * another digest), `absent` (deleted through the API or by hand), or `unreadable` (never taken for deleted).
 */
export type RevisionFact = { state: 'present'; invalid?: string } | { state: 'absent' } | { state: 'unreadable'; detail: string };

/** Who reads the tree: blobs this user cannot read are reported before anything is linked to them. */
export interface Reader {
  uid: number;
  /** Effective gid and supplementary groups. */
  gids: ReadonlySet<number>;
}

export interface StorageReader {
  /** Absolute path of `docker/registry/v2`, or `s3://bucket/…/docker/registry/v2`. */
  readonly v2: string;
  readTagLink(repository: string, tag: string): Promise<LinkFact>;
  /** Reads a manifest's revision link (`_manifests/revisions/sha256/<hex>/link`). */
  readRevision(repository: string, digest: Digest): Promise<RevisionFact>;
  /** True unless the revision link is gone (an unreadable one is never taken for deleted). */
  hasRevision(repository: string, digest: Digest): Promise<boolean>;
  /** Reads a manifest blob and checks sha256(bytes) == digest. */
  readManifest(digest: Digest): Promise<ManifestFact>;
  statBlob(digest: Digest): Promise<BlobFact>;
  /** Streams a blob through sha256 (for --verify-blobs); resolves to the computed digest. */
  hashBlob(digest: Digest): Promise<string>;
  /** Where a blob's bytes are: its data file on disk, or an object to stream. */
  blobSource(digest: Digest): BlobSource;
  /**
   * When the old registry last pushed the tag (ms): its `current/link` is rewritten on every push, so its
   * mtime (an object's LastModified in a bucket). Undefined when it cannot be read (the tag is broken anyway).
   */
  tagPushTime(repository: string, tag: string): Promise<number | undefined>;
  /** True when the tag once pointed at `digest`: Distribution keeps `tags/<tag>/index/sha256/<hex>/link` for each. */
  tagOnceHeld(repository: string, tag: string, digest: string): Promise<boolean>;
  /**
   * The manifests the repository holds, tagged or not (its revision links' digests), sorted; none when it has no
   * revision directory. Rejects, naming the directory, when that cannot be listed: its untagged referrers would be
   * left out unsaid.
   */
  listRevisions(repository: string): Promise<Digest[]>;
}

/** The running process as a reader of files (root reads everything, as far as modes go). */
export function currentReader(): Reader {
  const uid = process.geteuid?.() ?? 0;
  const gids = new Set([process.getegid?.() ?? 0, ...(process.getgroups?.() ?? [])]);
  return { uid, gids };
}

/**
 * Whether `who` may read a file with this lstat, from its mode bits: no extra syscall per blob (the lstat is
 * made anyway). Root passes (a root-squashing NFS mount still fails later, in the link or in skopeo); ACLs
 * are not read, so a file an ACL opens to us is refused, which a registry volume does not have.
 */
export function modeAllowsRead(info: { mode: number; uid: number; gid: number }, who: Reader): boolean {
  if (who.uid === 0) return true;
  if (info.uid === who.uid) return (info.mode & 0o400) !== 0;
  if (who.gids.has(info.gid)) return (info.mode & 0o040) !== 0;
  return (info.mode & 0o004) !== 0;
}

/** Whether `who` may search (enter) a directory with this lstat, as modeAllowsRead for the x bits. */
function modeAllowsSearch(info: { mode: number; uid: number; gid: number }, who: Reader): boolean {
  if (who.uid === 0) return true;
  if (info.uid === who.uid) return (info.mode & 0o100) !== 0;
  if (who.gids.has(info.gid)) return (info.mode & 0o010) !== 0;
  return (info.mode & 0o001) !== 0;
}

/** ` (mode 0700, owner uid 0 gid 0; running as uid 65534)`: what an administrator compares to fix a permission. */
function modeAndOwner(info: { mode: number; uid: number; gid: number }, who: Reader): string {
  return `mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${info.uid} gid ${info.gid}; running as uid ${who.uid}`;
}

/**
 * Why reading `rel` (a path below `v2`; with `listing`, a directory to list) was refused with EACCES, naming what to
 * chmod: the first directory from `v2` down that `who` may not enter (or, listing, read), else the file itself when
 * its mode refuses `who`. An open below a directory of mode 000 fails on the file, whose path says nothing of the
 * directory at fault. Only on the error path: an lstat per directory. Undefined when the modes allow the read (an
 * ACL, a root-squashing mount): the caller says "permission denied" and names the file.
 */
export function deniedBy(v2: string, rel: string, who: Reader, listing = false): string | undefined {
  const names = rel.split('/');
  let current = v2;
  for (let i = 0; i <= names.length; i++) {
    let info: Stats;
    try {
      info = lstatSync(current);
    } catch {
      return undefined;
    }
    const at = i === 0 ? v2 : names.slice(0, i).join('/');
    if (i < names.length) {
      if (!modeAllowsSearch(info, who)) return `permission denied by the directory ${at} (${modeAndOwner(info, who)}): this user cannot enter it; ${CHMOD_HINT}`;
      current = `${current}/${names[i]}`;
    } else if (!modeAllowsRead(info, who)) {
      // Its own path is in the caller's message.
      return listing ? `permission denied (${modeAndOwner(info, who)}): this user cannot list it; ${CHMOD_HINT}` : `permission denied (${modeAndOwner(info, who)})`;
    }
  }
  return undefined;
}

const CHMOD_HINT = "chmod it (a registry's directories are 0755) or run as its owner";

/** A repository name or tag that could not have come from a walk (`..`, empty or `/` components) never becomes a path. */
function unsafeName(repository: string, tag?: string): boolean {
  const bad = (c: string) => c === '' || c === '.' || c === '..' || c.includes('\0');
  return repository.split('/').some(bad) || (tag !== undefined && (bad(tag) || tag.includes('/')));
}

/** Creates a reader over `v2` (the `docker/registry/v2` directory). */
export function createStorageReader(v2: string, who: Reader = currentReader()): StorageReader {
  const manifests = new Lru<Digest, Promise<ManifestFact>>(MANIFEST_CACHE);
  const blobs = new Lru<Digest, Promise<BlobFact>>(BLOB_CACHE);
  const hashes = new Lru<Digest, Promise<string>>(BLOB_CACHE);
  const tagLinks = new Lru<string, Promise<LinkFact>>(TAG_LINK_CACHE);
  // Concatenated, not path.join'ed: `rel` is always built here from names a walk could have read (unsafeName
  // refuses the rest), so there is nothing to normalise, and a join per file call was a tenth of the read path.
  const base = v2.endsWith('/') ? v2 : `${v2}/`;
  const abs = (rel: string) => base + rel;
  // A blob store moved to another disk and symlinked back (v2/blobs -> /mnt/blobs) is an operator's choice.
  // Below it, distribution writes only real directories and regular files: a symlink planted at any level
  // (blobs/sha256, blobs/sha256/<xx>, …/<hex>, …/data) could make us push any file on the host. Checked once per
  // directory, with no realpath per blob: the 256 prefix directories with lstat (cached), each blob directory
  // from its prefix directory's listing, and the data file itself is opened O_NOFOLLOW or lstat'ed.
  /** Throws unless `rel` is a real directory; `named` puts the path in the message. */
  const realDir = (rel: string, named: boolean) => {
    const info = lstatSync(abs(rel));
    if (!info.isDirectory()) {
      const why = info.isSymbolicLink() ? SYMLINKED_DIR : 'not a directory';
      throw new NotRegularFileError(named ? `${why}: ${rel}` : why);
    }
  };
  // Each directory's verdict: true, or the error to throw (the same for every file below it).
  const verdictOf = (check: () => void): true | Error => {
    try {
      check();
      return true;
    } catch (error) {
      return error as Error;
    }
  };
  // Each prefix directory (`blobs/sha256/<xx>`) is listed once, with its entries' types (d_type): a blob directory
  // that is a symlink or not a directory is named there, so no blob costs an lstat of its own directory. Only the
  // odd entries are kept (none in a registry's tree): memory stays flat however many blobs the prefix holds. A
  // prefix that cannot be listed falls back to an lstat per blob directory, which names the failure itself. A blob
  // directory made after its prefix was listed (a registry still running) is not in the listing and is taken as
  // the directory a registry writes; reading a tree that is still being written is never exact anyway.
  const prefixes = new Map<string, PrefixVerdict>();
  const prefixVerdict = (prefix: string): PrefixVerdict => {
    let known = prefixes.get(prefix);
    if (known === undefined) {
      const checked = verdictOf(() => {
        realDir('blobs/sha256', false);
        realDir(prefix, false);
      });
      known = checked === true ? listPrefix(abs(prefix)) : checked;
      prefixes.set(prefix, known);
    }
    return known;
  };
  /** Throws unless every directory down to the blob's own is real. */
  const checkBlobDirs = (digest: Digest): void => {
    const hex = hexOf(digest);
    const prefix = `blobs/sha256/${hex.slice(0, 2)}`;
    const known = prefixVerdict(prefix);
    if (known instanceof Error) throw known;
    if (known === 'unlisted') return realDir(`${prefix}/${hex}`, false);
    const odd = known.get(hex);
    if (odd !== undefined) throw odd;
  };

  // Under repositories/, distribution writes only real directories too. A symlinked repository, `_manifests`,
  // tag, `current` or revision directory could lead anywhere on the host: every directory between
  // `repositories/` and a link file is lstat'ed before the file is opened (O_NOFOLLOW covers only the file
  // itself), so nothing outside the storage is opened, let alone quoted. The repository's own directories
  // are cached (tree order: a few thousand cover the walk); the tag's two and the revision's one cost an
  // lstat each.
  const repoDirs = new Lru<string, true | Error>(DIR_CACHE);
  // Named in the message: which directory of the path is wrong is what the operator has to look at.
  /** `repositories/<repository>/<fixed…>`, each directory checked once (cached as a whole and one by one). */
  const fixedDirs = (repository: string, fixed: string): true | Error =>
    repoDirs.getOrSet(`repositories/${repository}/${fixed}`, () =>
      verdictOf(() => {
        let rel = 'repositories';
        for (const c of [...repository.split('/'), ...fixed.split('/')]) {
          rel = `${rel}/${c}`;
          const known = repoDirs.getOrSet(rel, () => verdictOf(() => realDir(rel, true)));
          if (known !== true) throw known;
        }
      }),
    );
  /** Checks `repositories/<repository>/<fixed>` (cached) and then `<own…>` below it (not cached); returns the path. */
  const checkRepoDirs = (repository: string, fixed: string, own: string[]): string => {
    const known = fixedDirs(repository, fixed);
    if (known !== true) throw known;
    let rel = `repositories/${repository}/${fixed}`;
    for (const c of own) realDir((rel = `${rel}/${c}`), true);
    return rel;
  };
  /** describeFsError, but a permission denied names the directory (or file) whose mode refuses us (deniedBy). */
  const describeAt = (error: unknown, rel: string, listing = false): string =>
    ((error as NodeJS.ErrnoException)?.code === 'EACCES' ? deniedBy(v2, rel, who, listing) : undefined) ?? describeFsError(error);
  const readRevision = async (repository: string, digest: Digest): Promise<RevisionFact> => {
    if (unsafeName(repository)) return { state: 'unreadable', detail: 'not a repository name a registry writes' };
    try {
      const dir = checkRepoDirs(repository, '_manifests/revisions/sha256', [hexOf(digest)]);
      const link = parseLink(readRegularFileSync(abs(`${dir}/link`), MAX_LINK_BYTES, { truncate: true }).toString('utf8'));
      if (!link.ok) return { state: 'present', invalid: link.detail };
      if (link.digest !== digest) return { state: 'present', invalid: `the link file holds ${link.digest}, not the digest it is filed under` };
      if (link.padded) return { state: 'present', invalid: `the link file holds the digest with ${link.padded}` };
      return { state: 'present' };
    } catch (error) {
      return isNotFound(error) ? { state: 'absent' } : { state: 'unreadable', detail: describeAt(error, `repositories/${repository}/_manifests/revisions/sha256/${hexOf(digest)}/link`) };
    }
  };

  const readTagLink = (repository: string, tag: string) =>
    // `\n` cannot occur in a repository name or a tag read from a directory: the key is unambiguous.
    tagLinks.getOrSet(`${repository}\n${tag}`, async (): Promise<LinkFact> => {
      if (unsafeName(repository, tag)) return { ok: false, code: 'link-unreadable', detail: 'not a repository name or tag a registry writes' };
      try {
        const dir = checkRepoDirs(repository, '_manifests/tags', [tag, 'current']);
        const read: FileFacts = {};
        const link = parseLink(readRegularFileSync(abs(`${dir}/link`), MAX_LINK_BYTES, { truncate: true, facts: read }).toString('utf8'));
        return read.mtimeMs !== undefined ? { ...link, pushedAt: read.mtimeMs } : link;
      } catch (error) {
        const detail = describeAt(error, `repositories/${repository}/_manifests/tags/${tag}/current/link`);
        // A tag directory whose current/link (or current/) is lost is a damaged tag, not a deleted one.
        if (isNotFound(error) && tagDirGone(repository, tag)) return { ok: false, code: 'link-unreadable', detail, tagGone: true };
        return { ok: false, code: 'link-unreadable', detail };
      }
    });
  /** True when `repositories/<repository>/_manifests/tags/<tag>` does not exist (lstat: a symlink there is not "gone"). */
  const tagDirGone = (repository: string, tag: string): boolean => {
    try {
      lstatSync(abs(`repositories/${repository}/_manifests/tags/${tag}`));
      return false;
    } catch (error) {
      return isNotFound(error);
    }
  };

  return {
    v2,
    blobSource: (digest) => ({ path: abs(blobDataPath(digest)) }),
    readTagLink,
    readRevision,
    // The push order reads each tag's link before it is resolved: the cached read serves both.
    tagPushTime: async (repository, tag) => {
      const link = await readTagLink(repository, tag);
      return 'pushedAt' in link ? link.pushedAt : undefined;
    },
    tagOnceHeld: (repository, tag, digest) => tagOnceHeld(v2, repository, tag, digest),
    listRevisions: (repository) =>
      listRevisions(v2, repository).catch((error: unknown) => {
        if (isNotFound(error)) return [];
        const dir = `repositories/${repository}/_manifests/revisions/sha256`;
        throw new Error(`${dir}: ${describeAt(error, dir, true)}`);
      }),
    hasRevision: async (repository, digest) => (await readRevision(repository, digest)).state !== 'absent',
    readManifest: (digest) =>
      manifests.getOrSet(digest, async () => {
        const file = abs(blobDataPath(digest));
        try {
          checkBlobDirs(digest);
          const read: FileFacts = {};
          const bytes = readRegularFileSync(file, MAX_MANIFEST_BYTES, { truncate: false, facts: read });
          const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
          if (actual !== digest) return { ok: false, error: 'digest-mismatch', detail: `its content hashes to ${actual}`, path: file };
          return { ok: true, bytes, path: file, identity: read.identity! };
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EFBIG') return { ok: false, error: 'too-large', detail: (error as Error).message, path: file };
          return { ok: false, error: isNotFound(error) ? 'missing' : 'unreadable', detail: describeAt(error, blobDataPath(digest)), path: file };
        }
      }),
    statBlob: (digest) =>
      blobs.getOrSet(digest, async () => {
        const file = abs(blobDataPath(digest));
        try {
          checkBlobDirs(digest);
          // lstat: distribution writes regular files only; a symlink here could make us push any file on the host.
          const info = lstatSync(file);
          if (!info.isFile()) return { ok: false, error: 'unreadable', detail: NOT_REGULAR, path: file };
          if (!modeAllowsRead(info, who)) {
            return { ok: false, error: 'unreadable', detail: `permission denied (${modeAndOwner(info, who)})`, path: file };
          }
          return { ok: true, size: info.size, path: file, identity: identityOf(info) };
        } catch (error) {
          return { ok: false, error: isNotFound(error) ? 'missing' : 'unreadable', detail: describeAt(error, blobDataPath(digest)), path: file };
        }
      }),
    hashBlob: (digest) =>
      hashes.getOrSet(digest, async () => {
        const hash = createHash('sha256');
        const fd = await open(abs(blobDataPath(digest)), SAFE_OPEN);
        for await (const chunk of createReadStream('', { fd })) hash.update(chunk as Buffer);
        return `sha256:${hash.digest('hex')}`;
      }),
  };
}

/**
 * A prefix directory's verdict: an error for every blob below it, its entries that are not real directories (each
 * with the error a blob below it gets), or `unlisted` when it could not be listed.
 */
type PrefixVerdict = Error | Map<string, Error> | 'unlisted';

/** The entries of a prefix directory that are not real directories (d_type; Node lstat's an entry whose type is unknown). */
function listPrefix(dir: string): PrefixVerdict {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 'unlisted';
  }
  const odd = new Map<string, Error>();
  for (const e of entries) {
    if (!e.isDirectory()) odd.set(e.name, new NotRegularFileError(e.isSymbolicLink() ? SYMLINKED_DIR : 'not a directory'));
  }
  return odd;
}

export function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** `ENOENT: no such file or directory` without the path (messages name the path themselves). */
export function describeFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EACCES') return 'permission denied';
  if (e?.code === 'EISDIR') return 'is a directory';
  // O_NOFOLLOW on a symlink gives ELOOP; opening a socket gives ENXIO.
  if (e?.code === 'ELOOP' || e?.code === 'ENXIO') return NOT_REGULAR;
  if (e?.code === 'ENOTREG') return e.message === 'not a regular file' ? NOT_REGULAR : e.message;
  return e?.code ? `${e.code}: ${e.message.split(',')[0]?.replace(`${e.code}: `, '')}` : String(error);
}
