/** sha256 digests and the blob paths they map to (distribution registry/storage/paths.go). */
import type { Digest } from './types.js';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** True when `text` is exactly `sha256:<64 lowercase hex>`; anything else must never become a path. */
export function isDigest(text: string): text is Digest {
  return DIGEST_RE.test(text);
}

/** The 64-hex part of a digest. */
export function hexOf(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** Path of a blob's data file relative to the v2 root: `blobs/sha256/<2 hex>/<hex>/data`. */
export function blobDataPath(digest: Digest): string {
  const hex = hexOf(digest);
  return `blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
}

/** Path of a manifest's revision link relative to the v2 root. */
export function revisionLinkPath(repository: string, digest: Digest): string {
  return `repositories/${repository}/_manifests/revisions/sha256/${hexOf(digest)}/link`;
}

/** Path of a tag's current link relative to the v2 root. */
export function tagLinkPath(repository: string, tag: string): string {
  return `repositories/${repository}/_manifests/tags/${tag}/current/link`;
}

export type LinkParse = { ok: true; digest: Digest } | { ok: false; code: 'link-empty' | 'link-invalid'; detail: string };

/**
 * Parses a link file's bytes. Distribution writes exactly `sha256:<hex>` with no newline;
 * whitespace is trimmed anyway, and a crash in 2.8's in-place write can leave it empty (distribution#4478).
 */
export function parseLink(content: string): LinkParse {
  const text = content.trim();
  if (text === '') return { ok: false, code: 'link-empty', detail: 'the link file is empty' };
  if (isDigest(text)) return { ok: true, digest: text };
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return { ok: false, code: 'link-invalid', detail: `the link file holds ${shown}, not sha256:<64 hex>` };
}
