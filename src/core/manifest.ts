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
      /** OCI 1.1 `subject`: the manifest this one refers to (a signature's, an SBOM's image). */
      subject?: Digest;
    }
  | { type: 'index'; mediaType: string; manifests: Descriptor[]; subject?: Digest }
  | { type: 'schema1'; mediaType: string };

/**
 * Why a manifest cannot be used: `unparseable` (not JSON, wrong shape or types a Go reader refuses),
 * `ambiguous` (readers disagree on what it is: CVE-2021-41190), `unsupported` (a media type or schema
 * version neither the registry nor skopeo handles).
 */
export type ParseFailure = 'unparseable' | 'ambiguous' | 'unsupported';
export type ParseResult = { ok: true; manifest: ParsedManifest } | { ok: false; code: ParseFailure; reason: string };

const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList];
const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];
/** Fields that tell manifest kinds apart; a kind may hold only its own (containers/image ValidateUnambiguousManifestFormat). */
const KIND_FIELDS = ['config', 'layers', 'manifests', 'fsLayers', 'history'] as const;
const TOP_KEYS = ['schemaVersion', 'mediaType', 'artifactType', 'subject', 'annotations', ...KIND_FIELDS];
const DESCRIPTOR_KEYS = ['mediaType', 'digest', 'size', 'urls', 'annotations', 'data', 'artifactType', 'platform'];
/**
 * Go's encoding/json matches keys without regard to case (and folds the Kelvin sign and long s): the
 * registry and skopeo read `"Config"` or `"ſize"` as `config` and `size`. A key that only folds to a known
 * one is read differently by them and by us.
 */
const fold = (key: string): string => key.toLowerCase().replace(/\u017f/g, 's');
const FOLDED = new Map([...TOP_KEYS, ...DESCRIPTOR_KEYS].map((k) => [fold(k), k]));
const CANONICAL = new Set([...TOP_KEYS, ...DESCRIPTOR_KEYS]);
/** A number with a fraction or an exponent after "size" or "schemaVersion": JSON.parse reads 1.0 as 1, Go refuses it for an integer field. */
const NON_INTEGER = /"(size|schemaVersion)"\s*:\s*(-?\d+(?:\.\d*)?[eE][+-]?\d+|-?\d+\.\d*)/;

const fail = (code: ParseFailure, reason: string): ParseResult => ({ ok: false, code, reason });

/** Go's encoding/json refuses a document nested deeper than this (scanner.go maxNestingDepth), unknown fields too. */
const GO_MAX_JSON_DEPTH = 10_000;

/** The deepest nesting of objects and arrays in JSON text (brackets inside strings do not count). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
/** Go reads JSON null as absent. */
const present = (x: unknown): boolean => x !== undefined && x !== null;

/**
 * Parses manifest bytes; a failure is a reason to report, never an exception. `ok` means the registry
 * and skopeo 1.9.3 (`--all --preserve-digests`) read it the way we do: same kind, same descriptors.
 */
export function parseManifest(bytes: Uint8Array): ParseResult {
  const text = Buffer.from(bytes).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    return fail('unparseable', `not JSON (${(error as Error).message})`);
  }
  if (!isObject(doc)) return fail('unparseable', 'not a JSON object');
  // Deeper than the bound takes more brackets than that: the usual manifest of a few kB is not scanned.
  const depth = text.length > GO_MAX_JSON_DEPTH ? nestingDepth(text) : 0;
  if (depth > GO_MAX_JSON_DEPTH) return fail('unparseable', `JSON nested ${depth} levels deep, more than the ${GO_MAX_JSON_DEPTH} Go readers such as skopeo and the registry accept ("exceeded max depth")`);
  const odd = foldedKey(doc, '');
  if (odd) return fail('ambiguous', odd);
  const nonInteger = NON_INTEGER.exec(text);
  if (nonInteger) return fail('unparseable', `"${nonInteger[1]}" is ${nonInteger[2]}, not an integer (Go readers such as skopeo and the registry refuse it)`);
  if (present(doc.mediaType) && typeof doc.mediaType !== 'string') return fail('unparseable', `"mediaType" is ${describe(doc.mediaType)}, not a string`);
  const declared = typeof doc.mediaType === 'string' && doc.mediaType !== '' ? doc.mediaType : undefined;
  if (doc.schemaVersion === 1 || declared === MEDIA.dockerSchema1 || declared === MEDIA.dockerSchema1Signed) {
    return { ok: true, manifest: { type: 'schema1', mediaType: declared ?? MEDIA.dockerSchema1Signed } };
  }
  if (doc.schemaVersion !== 2) return fail('unsupported', `unsupported schemaVersion ${describe(doc.schemaVersion)}`);
  const annotations = annotationsProblem(doc.annotations, '"annotations"');
  if (annotations) return fail('unparseable', annotations);
  const has = (k: string) => present(doc[k]);
  const fields = KIND_FIELDS.filter(has);
  if (declared !== undefined) {
    const index = INDEX_TYPES.includes(declared);
    if (!index && !MANIFEST_TYPES.includes(declared)) return fail('unsupported', `unknown media type ${JSON.stringify(declared)}`);
    const foreign = fields.filter((f) => (index ? f !== 'manifests' : f !== 'config' && f !== 'layers'));
    if (foreign.length > 0) {
      return fail('ambiguous', `${index ? 'an index' : 'an image manifest'} (${declared}) that also holds ${foreign.map((f) => `"${f}"`).join(', ')}: skopeo refuses it as ambiguous`);
    }
    return index ? parseIndex(doc, declared) : parseImageManifest(doc, declared);
  }
  // No mediaType: the registry (manifeststore.go) and skopeo (GuessMIMEType) each guess; only where they agree is it usable.
  if (has('manifests') && (has('config') || has('layers'))) {
    return fail('ambiguous', 'no "mediaType", and both "manifests" and "config"/"layers": an index to the registry, an image manifest to others (CVE-2021-41190); skopeo refuses it');
  }
  if (has('fsLayers') || has('history')) return fail('ambiguous', 'no "mediaType", schemaVersion 2 and schema1 fields ("fsLayers"/"history")');
  if (has('manifests')) {
    if (Array.isArray(doc.manifests) && doc.manifests.length === 0) {
      return fail('ambiguous', 'no "mediaType" and an empty "manifests": an index to the registry, an image manifest to skopeo');
    }
    return parseIndex(doc, MEDIA.ociIndex);
  }
  if (has('config')) {
    if (isObject(doc.config) && doc.config.mediaType === MEDIA.dockerConfig) {
      return fail('ambiguous', `no "mediaType" and a Docker image config: the registry stored it as OCI, skopeo would push it as Docker schema2, which needs the "mediaType" field`);
    }
    return parseImageManifest(doc, MEDIA.ociManifest);
  }
  return fail('unparseable', 'neither "manifests" nor "config" is present');
}

function parseIndex(doc: Record<string, unknown>, mediaType: string): ParseResult {
  if (!Array.isArray(doc.manifests)) return fail('unparseable', `"manifests" is ${describe(doc.manifests)}, not an array`);
  const manifests: Descriptor[] = [];
  for (const [i, raw] of doc.manifests.entries()) {
    const d = parseDescriptor(raw, `manifests[${i}]`);
    if ('reason' in d) return d;
    manifests.push(d);
  }
  const subject = subjectIn(doc);
  return { ok: true, manifest: { type: 'index', mediaType, manifests, ...(subject ? { subject } : {}) } };
}

function parseImageManifest(doc: Record<string, unknown>, declared: string): ParseResult {
  if (!present(doc.config)) return fail('unparseable', 'an image manifest without "config"');
  const config = parseDescriptor(doc.config, 'config');
  if ('reason' in config) return config;
  const layers: Descriptor[] = [];
  const rawLayers = doc.layers ?? [];
  if (!Array.isArray(rawLayers)) return fail('unparseable', `"layers" is ${describe(rawLayers)}, not an array`);
  for (const [i, raw] of rawLayers.entries()) {
    const d = parseDescriptor(raw, `layers[${i}]`);
    if ('reason' in d) return d;
    layers.push(d);
  }
  if (present(doc.artifactType) && typeof doc.artifactType !== 'string') return fail('unparseable', `"artifactType" is ${describe(doc.artifactType)}, not a string`);
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : undefined;
  const subject = subjectIn(doc);
  return {
    ok: true,
    manifest: {
      type: 'manifest', mediaType: declared, implicitMediaType: doc.mediaType === undefined || doc.mediaType === null || doc.mediaType === '', config, layers,
      ...(artifactType ? { artifactType } : {}),
      ...(subject ? { subject } : {}),
    },
  };
}

/** The digest of a manifest document's `subject` (OCI 1.1), or undefined (none, or not a descriptor with a sha256 digest). */
export function subjectIn(doc: Record<string, unknown>): Digest | undefined {
  const subject = doc.subject;
  if (!isObject(subject)) return undefined;
  const digest = subject.digest;
  return typeof digest === 'string' && isDigest(digest) ? digest : undefined;
}

/** A descriptor, or the failure of the whole manifest. */
function parseDescriptor(raw: unknown, where: string): Descriptor | Extract<ParseResult, { ok: false }> {
  const bad = (reason: string) => ({ ok: false as const, code: 'unparseable' as const, reason });
  if (!isObject(raw)) return bad(`${where} is ${describe(raw)}, not an object`);
  const odd = foldedKey(raw, `${where}: `);
  if (odd) return { ok: false, code: 'ambiguous', reason: odd };
  const { mediaType, digest, size } = raw;
  if (typeof digest !== 'string' || !isDigest(digest)) return bad(`${where} has digest ${describe(digest)}, not sha256:<64 hex>`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return bad(`${where} has an invalid size ${describe(size)} (a whole number of bytes, 0 or more)`);
  if (present(mediaType) && typeof mediaType !== 'string') return bad(`${where} has mediaType ${describe(mediaType)}, not a string`);
  const d: Descriptor = { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size };
  if (present(raw.urls)) {
    if (!Array.isArray(raw.urls) || !raw.urls.every((u) => typeof u === 'string')) return bad(`${where} has "urls" ${describe(raw.urls)}, not a list of strings`);
    if (raw.urls.length > 0) d.urls = raw.urls;
  }
  const annotations = annotationsProblem(raw.annotations, `${where} "annotations"`);
  if (annotations) return bad(annotations);
  if (present(raw.artifactType)) {
    if (typeof raw.artifactType !== 'string') return bad(`${where} has artifactType ${describe(raw.artifactType)}, not a string`);
    d.artifactType = raw.artifactType;
  }
  if (present(raw.data)) d.hasData = true;
  if (present(raw.platform)) {
    if (!isObject(raw.platform)) return bad(`${where} has platform ${describe(raw.platform)}, not an object`);
    d.platform = formatPlatform(raw.platform);
  }
  return d;
}

/** The first key that differs from a known one only by case (Go reads it as that one, we would not). */
function foldedKey(obj: Record<string, unknown>, where: string): string | undefined {
  for (const key of Object.keys(obj)) {
    // Nearly every key is a known one as written: no folding for those.
    if (CANONICAL.has(key)) continue;
    const known = FOLDED.get(fold(key));
    if (known !== undefined && known !== key) {
      return `${where}key ${JSON.stringify(key)} is read as "${known}" by Go readers (the registry, skopeo), which ignore case, and not by others`;
    }
  }
  return undefined;
}

/** Annotations are a string-to-string map for Go readers; anything else makes them refuse the manifest. */
function annotationsProblem(x: unknown, where: string): string | undefined {
  if (!present(x)) return undefined;
  if (!isObject(x)) return `${where} is ${describe(x)}, not an object`;
  const bad = Object.entries(x).find(([, v]) => typeof v !== 'string');
  return bad ? `${where} holds ${JSON.stringify(bad[0])}: ${describe(bad[1])}, not a string` : undefined;
}

/** A short description of a JSON value for messages, never its whole content. */
function describe(x: unknown): string {
  if (x === undefined) return 'missing';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'object') return 'an object';
  const text = JSON.stringify(x);
  return text.length > 40 ? `${typeof x} ${text.slice(0, 40)}…` : text;
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
