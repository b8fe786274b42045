/**
 * Pushes an index from its `dir:` layout through the Distribution API ourselves, for the indexes skopeo 1.9.3 cannot
 * push unchanged (descriptors carrying `artifactType` or `data`: the referrers "tag schema" index written by oras,
 * cosign and notation; storage-and-skopeo.md §5.4). Children first, each by digest (its blobs before it, uploaded
 * only when the repository lacks them), then the index bytes exactly as stored, under the tag. Nothing is parsed
 * into a new document: every manifest goes out byte for byte, so every digest stays. Also sync's manifest-only push
 * of a further tag of an image already pushed into the repository (pushManifestOnly).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { hexOf } from '../core/digest.js';
import { parseManifest } from '../core/manifest.js';
import type { Digest } from '../core/types.js';
import type { RegistryClient } from './registry-client.js';

/** Nested indexes deeper than this are refused (resolve-image.ts refuses them at export already). */
const MAX_DEPTH = 4;

export interface DirectPush {
  /** Blobs uploaded (the target lacked them) and their bytes. */
  blobsUploaded: number;
  bytesUploaded: number;
  /** Manifests PUT, children and the index itself. */
  manifests: number;
}

/** Pushes the layout at `layoutDir` (manifest.json, `<hex>.manifest.json` children, `<hex>` blobs) to `repository:reference`. */
export async function pushIndexFromLayout(client: RegistryClient, repository: string, reference: string, layoutDir: string): Promise<DirectPush> {
  const done: DirectPush = { blobsUploaded: 0, bytesUploaded: 0, manifests: 0 };
  const pushedManifests = new Set<string>();
  const checkedBlobs = new Set<string>();

  async function pushBlob(digest: Digest, size: number): Promise<void> {
    if (checkedBlobs.has(digest)) return;
    checkedBlobs.add(digest);
    if (await client.hasBlob(repository, digest)) return;
    const file = path.join(layoutDir, hexOf(digest));
    await client.uploadBlob(repository, digest, size, () => createReadStream(file));
    done.blobsUploaded++;
    done.bytesUploaded += size;
  }

  async function pushManifest(bytes: Buffer, ref: string, what: string, depth: number): Promise<void> {
    const m = manifestOf(bytes, `${what} in ${layoutDir}`);
    if (m.type === 'index') {
      if (depth > MAX_DEPTH) throw new Error(`${what} in ${layoutDir} nests indexes deeper than ${MAX_DEPTH}`);
      for (const d of m.manifests) {
        if (pushedManifests.has(d.digest)) continue;
        pushedManifests.add(d.digest);
        const child = await readFile(path.join(layoutDir, `${hexOf(d.digest)}.manifest.json`));
        await pushManifest(child, d.digest, `child ${d.digest}`, depth + 1);
      }
    } else {
      // Foreign layers (urls) are not in the storage, nor in the layout: the target fetches them itself.
      for (const d of [m.config, ...m.layers]) if (!d.urls) await pushBlob(d.digest, d.size);
    }
    await client.putManifest(repository, ref, m.mediaType, bytes);
    done.manifests++;
  }

  await pushManifest(await readFile(path.join(layoutDir, 'manifest.json')), reference, 'manifest.json', 1);
  return done;
}

/**
 * PUTs a manifest's stored bytes under `reference`, and nothing else: for a repository that already holds every
 * blob and child it refers to (sync: another tag of the same image, pushed there earlier in the run). The
 * registry refuses it (400 MANIFEST_BLOB_UNKNOWN) should anything be missing after all.
 */
export async function pushManifestOnly(client: RegistryClient, repository: string, reference: string, bytes: Buffer): Promise<void> {
  const m = manifestOf(bytes, `the manifest of ${repository}:${reference}`);
  await client.putManifest(repository, reference, m.mediaType, bytes);
}

/** The parsed manifest, for its media type and what it refers to; schema1 is never pushed (the export skips it). */
function manifestOf(bytes: Buffer, what: string) {
  const parsed = parseManifest(bytes);
  if (!parsed.ok) throw new Error(`${what} cannot be parsed: ${parsed.reason}`);
  if (parsed.manifest.type === 'schema1') throw new Error(`${what} is Docker schema1`);
  return parsed.manifest;
}
