/**
 * OCI 1.1 referrers (image-spec manifest.md `subject`): a manifest that refers to another one (a signature, an SBOM,
 * an attestation) through its `subject` descriptor. Pure.
 */
import { subjectIn } from './manifest.js';
import type { Digest } from './types.js';

/** The digest of a manifest's `subject`, or undefined (not JSON, no subject, or a malformed one). */
export function subjectOf(bytes: Uint8Array): Digest | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? subjectIn(doc as Record<string, unknown>) : undefined;
}

/**
 * The untagged referrers to export, given a repository's untagged manifests with their subjects and the digests
 * exported from it: those whose subject is exported, or is itself such a referrer (a signature of an SBOM), found
 * to a fixed point. In the order of `untagged` (sorted by the caller), subjects before their referrers.
 */
export function referrersToExport(untagged: ReadonlyArray<{ digest: Digest; subject: Digest | undefined }>, exported: ReadonlySet<string>): Array<{ digest: Digest; subject: Digest }> {
  const known = new Set(exported);
  const out: Array<{ digest: Digest; subject: Digest }> = [];
  const pending = untagged.filter((u): u is { digest: Digest; subject: Digest } => u.subject !== undefined && u.subject !== u.digest);
  for (let grew = true; grew; ) {
    grew = false;
    for (const u of pending) {
      if (known.has(u.digest) || !known.has(u.subject)) continue;
      known.add(u.digest);
      out.push(u);
      grew = true;
    }
  }
  return out;
}
