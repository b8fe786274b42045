/**
 * Damages a copy of the real-registry fixture tree the way disks, crashes and hands do. Nothing here is
 * typed from scratch: every manifest is a real one from fixtures/storage, parsed, mutated and stored under
 * the sha256 of its new bytes (as a push would), with revision and tag links written as distribution
 * writes them (71 bytes, no newline). Synchronous calls: a case is a handful of small files.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expectedTags } from './cli.js';

export const sha = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const hex = (digest: string) => digest.slice('sha256:'.length);

/** Paths relative to the v2 root, as problems name them. */
export const rel = {
  blob: (digest: string) => `blobs/sha256/${hex(digest).slice(0, 2)}/${hex(digest)}/data`,
  tagLink: (repo: string, tag: string) => `repositories/${repo}/_manifests/tags/${tag}/current/link`,
  tagDir: (repo: string, tag: string) => `repositories/${repo}/_manifests/tags/${tag}`,
  revision: (repo: string, digest: string) => `repositories/${repo}/_manifests/revisions/sha256/${hex(digest)}/link`,
};

/** The real images the cases start from (fixtures/expected.json). */
export interface Bases {
  /** proj/a/app:1.0, an OCI image manifest. */
  oci: string;
  /** library/alpine-like:3.19, a Docker schema2 manifest (3-space pretty JSON). */
  docker: string;
  /** multi/oci-index:1.0, an OCI index of two children. */
  index: string;
  /** legacy/schema1:1.0. */
  schema1: string;
  /** The OCI empty config `{}` of proj/team/app:1.0-sbom. */
  emptyConfig: string;
}

export async function bases(): Promise<Bases> {
  const tags = await expectedTags();
  const d = (id: string) => tags.find((t) => `${t.repository}:${t.tag}` === id)!.digest!;
  const sbom = tags.find((t) => `${t.repository}:${t.tag}` === 'proj/team/app:1.0-sbom')!;
  return { oci: d('proj/a/app:1.0'), docker: d('library/alpine-like:3.19'), index: d('multi/oci-index:1.0'), schema1: d('legacy/schema1:1.0'), emptyConfig: sbom.digest! };
}

/** Writes into one v2 tree. */
export class Damage {
  readonly v2: string;
  constructor(v2: string) {
    this.v2 = v2;
  }

  abs(relative: string): string {
    return path.join(this.v2, relative);
  }
  read(digest: string): Buffer {
    return readFileSync(this.abs(rel.blob(digest)));
  }
  doc(digest: string): any {
    return JSON.parse(this.read(digest).toString('utf8'));
  }
  /** Writes `bytes` at `digest`'s blob path (a corrupt blob when they do not hash to it). */
  storeAt(digest: string, bytes: Buffer | string): string {
    mkdirSync(path.dirname(this.abs(rel.blob(digest))), { recursive: true });
    writeFileSync(this.abs(rel.blob(digest)), bytes);
    return digest;
  }
  /** Stores a blob under its sha256, as an upload would. */
  store(bytes: Buffer | string): string {
    return this.storeAt(sha(bytes), bytes);
  }
  /** A real manifest mutated by `fn`, stored under its new digest. */
  mutate(base: string, fn: (doc: any) => void): string {
    const doc = this.doc(base);
    fn(doc);
    return this.store(JSON.stringify(doc));
  }
  /** A layer no other image uses: a real layer's bytes plus `salt` (only its size and hash matter to the export). */
  uniqueLayer(base: string, salt: string): { digest: string; size: number } {
    const bytes = Buffer.concat([this.read(base), Buffer.from(salt)]);
    return { digest: this.store(bytes), size: bytes.length };
  }
  writeFile(relative: string, content: Buffer | string): void {
    mkdirSync(path.dirname(this.abs(relative)), { recursive: true });
    writeFileSync(this.abs(relative), content);
  }
  revision(repo: string, digest: string, content: string = digest): void {
    this.writeFile(rel.revision(repo, digest), content);
  }
  tagLink(repo: string, tag: string, content: string): void {
    this.writeFile(rel.tagLink(repo, tag), content);
  }
  /** Revision link and tag link for a stored manifest. */
  tag(repo: string, tag: string, digest: string): string {
    this.revision(repo, digest);
    this.tagLink(repo, tag, digest);
    return digest;
  }
  /** An index stored and tagged, with a revision link for each child (as pushing it would leave). */
  tagIndex(repo: string, tag: string, doc: any): string {
    for (const m of doc.manifests) this.revision(repo, m.digest);
    return this.tag(repo, tag, this.store(JSON.stringify(doc)));
  }
  /** Replaces a file by a FIFO, a socket or a character device (/dev/null's numbers). */
  special(relative: string, kind: 'fifo' | 'socket' | 'device'): void {
    const file = this.abs(relative);
    rmSync(file, { recursive: true, force: true });
    mkdirSync(path.dirname(file), { recursive: true });
    if (kind === 'fifo') execFileSync('mkfifo', [file]);
    else if (kind === 'device') execFileSync('mknod', [file, 'c', '1', '3']);
    // A socket path is limited to 108 bytes: bound by its name from inside its directory.
    else execFileSync('python3', ['-c', 'import os,socket,sys; os.chdir(sys.argv[1]); socket.socket(socket.AF_UNIX).bind(sys.argv[2])', path.dirname(file), path.basename(file)]);
  }
  chmod(relative: string, mode: number): void {
    chmodSync(this.abs(relative), mode);
  }
}
