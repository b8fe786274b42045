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

export type LinkParse =
  | { ok: true; digest: Digest; /** Set when the file holds more than the digest (CRLF, blanks): the registry itself cannot read it. */ padded?: string }
  | { ok: false; code: 'link-empty' | 'link-invalid'; detail: string };

/**
 * Parses a link file's bytes. Distribution writes exactly `sha256:<hex>` with no newline, and reads it back
 * with digest.Parse, which refuses anything around it. A link with a CR, a newline or blanks around a valid
 * digest (a hand edit) is still read here, since what it names is unambiguous, but flagged as `padded`
 * so the caller can say the registry itself could not resolve it. A crash in 2.8's in-place write can
 * leave it empty (distribution#4478).
 */
export function parseLink(content: string): LinkParse {
  const text = content.trim();
  if (text === '') return { ok: false, code: 'link-empty', detail: 'the link file is empty' };
  if (isDigest(text)) return text === content ? { ok: true, digest: text } : { ok: true, digest: text, padded: describePadding(content, text) };
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return { ok: false, code: 'link-invalid', detail: `the link file holds ${shown}, not sha256:<64 hex>` };
}

/** `a trailing "\r\n"`, `a leading " " and a trailing "\n"`: what surrounds the digest, escaped. */
function describePadding(content: string, digest: string): string {
  const at = content.indexOf(digest);
  const parts: string[] = [];
  if (at > 0) parts.push(`a leading ${JSON.stringify(content.slice(0, at))}`);
  const tail = content.slice(at + digest.length);
  if (tail !== '') parts.push(`a trailing ${JSON.stringify(tail)}`);
  return parts.join(' and ');
}
