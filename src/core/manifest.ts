/**
 * Parsing of the manifest kinds a Distribution 2.8 registry stores: Docker schema2, OCI image manifests
 * (including artifacts with any config media type), Docker manifest lists, OCI indexes and schema1.
 * Media type detection follows distribution's manifeststore.go: `mediaType`, else `manifests` → index,
 * `config` → manifest. We parse JSON and never grep for hex: annotations hold digests too.
 */
import { isDigest } from './digest.js';
import type { Digest } from './types.js';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

/** Every manifest media type, for `Accept` headers. */
export const MANIFEST_MEDIA_TYPES = [
  MEDIA.ociIndex,
  MEDIA.dockerList,
  MEDIA.ociManifest,
  MEDIA.dockerManifest,
  MEDIA.dockerSchema1Signed,
  MEDIA.dockerSchema1,
] as const;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  artifactType?: string;
  hasData?: boolean;
  platform?: string;
}

export type ParsedManifest =
  | {
      type: 'manifest';
      mediaType: string;
      /** True when the JSON carries no top-level mediaType (Helm charts pushed by older clients). */
      implicitMediaType: boolean;
      config: Descriptor;
      layers: Descriptor[];
      artifactType?: string;
    }
  | { type: 'index'; mediaType: string; manifests: Descriptor[] }
  | { type: 'schema1'; mediaType: string };

export type ParseResult = { ok: true; manifest: ParsedManifest } | { ok: false; reason: string };

/** Parses manifest bytes; a failure is a reason to report, never an exception. */
export function parseManifest(bytes: Uint8Array): ParseResult {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    return { ok: false, reason: `not JSON (${(error as Error).message})` };
  }
  if (!isObject(doc)) return { ok: false, reason: 'not a JSON object' };
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (doc.schemaVersion === 1 || declared === MEDIA.dockerSchema1 || declared === MEDIA.dockerSchema1Signed) {
    return { ok: true, manifest: { type: 'schema1', mediaType: declared ?? MEDIA.dockerSchema1Signed } };
  }
  if (doc.schemaVersion !== 2) return { ok: false, reason: `unsupported schemaVersion ${JSON.stringify(doc.schemaVersion)}` };
  if (Array.isArray(doc.manifests)) return parseIndex(doc, declared);
  if (doc.config !== undefined) return parseImageManifest(doc, declared);
  return { ok: false, reason: 'neither "manifests" nor "config" is present' };
}

function parseIndex(doc: Record<string, unknown>, declared: string | undefined): ParseResult {
  const mediaType = declared ?? MEDIA.ociIndex;
  if (mediaType !== MEDIA.ociIndex && mediaType !== MEDIA.dockerList) {
    return { ok: false, reason: `an index with media type ${mediaType}` };
  }
  const manifests: Descriptor[] = [];
  for (const [i, raw] of (doc.manifests as unknown[]).entries()) {
    const d = parseDescriptor(raw, `manifests[${i}]`);
    if (typeof d === 'string') return { ok: false, reason: d };
    manifests.push(d);
  }
  return { ok: true, manifest: { type: 'index', mediaType, manifests } };
}

function parseImageManifest(doc: Record<string, unknown>, declared: string | undefined): ParseResult {
  const mediaType = declared ?? MEDIA.ociManifest;
  if (mediaType !== MEDIA.ociManifest && mediaType !== MEDIA.dockerManifest) {
    return { ok: false, reason: `a manifest with media type ${mediaType}` };
  }
  const config = parseDescriptor(doc.config, 'config');
  if (typeof config === 'string') return { ok: false, reason: config };
  const layers: Descriptor[] = [];
  const rawLayers = doc.layers ?? [];
  if (!Array.isArray(rawLayers)) return { ok: false, reason: '"layers" is not an array' };
  for (const [i, raw] of rawLayers.entries()) {
    const d = parseDescriptor(raw, `layers[${i}]`);
    if (typeof d === 'string') return { ok: false, reason: d };
    layers.push(d);
  }
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : undefined;
  return {
    ok: true,
    manifest: { type: 'manifest', mediaType, implicitMediaType: declared === undefined, config, layers, ...(artifactType ? { artifactType } : {}) },
  };
}

function parseDescriptor(raw: unknown, where: string): Descriptor | string {
  if (!isObject(raw)) return `${where} is not an object`;
  const { mediaType, digest, size } = raw;
  if (typeof digest !== 'string' || !isDigest(digest)) return `${where} has digest ${JSON.stringify(digest)}, not sha256:<64 hex>`;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return `${where} has an invalid size ${JSON.stringify(size)}`;
  const d: Descriptor = { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size };
  if (Array.isArray(raw.urls) && raw.urls.length > 0) d.urls = raw.urls.filter((u): u is string => typeof u === 'string');
  if (typeof raw.artifactType === 'string') d.artifactType = raw.artifactType;
  if (raw.data !== undefined) d.hasData = true;
  if (isObject(raw.platform)) d.platform = formatPlatform(raw.platform);
  return d;
}

/** `os/architecture[/variant]`, as people write platforms. */
function formatPlatform(p: Record<string, unknown>): string {
  const parts = [p.os, p.architecture, p.variant].filter((x): x is string => typeof x === 'string' && x !== '');
  return parts.length > 0 ? parts.join('/') : 'unknown';
}

/** An image's config media types; anything else makes a manifest an artifact (Helm, SBOMs...). */
export function isImageConfig(mediaType: string): boolean {
  return mediaType === MEDIA.dockerConfig || mediaType === MEDIA.ociConfig;
}

/** Filesystem layer media types (tar, compressed or not, foreign or not). */
export function isImageLayer(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.oci.image.layer.') || mediaType.startsWith('application/vnd.docker.image.rootfs.');
}

/**
 * The artifact type of a manifest, or undefined for a container image: `artifactType`, else a non-image
 * config media type (Helm), else the first non-filesystem layer type (cosign signatures keep an image config).
 */
export function artifactTypeOf(m: { config: Descriptor; layers: Descriptor[]; artifactType?: string }): string | undefined {
  if (m.artifactType !== undefined) return m.artifactType;
  if (!isImageConfig(m.config.mediaType)) return m.config.mediaType;
  return m.layers.find((l) => !isImageLayer(l.mediaType))?.mediaType;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
