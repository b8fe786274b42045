#!/usr/bin/env node
// Writes a Docker Distribution v2 storage tree shaped like a real one (docs/storage-and-skopeo.md §2.1), for the
// benchmark and its test: nested repositories of ~20 tags, images of 8 layers (4 from shared base stacks, 4 of
// their own), 5% OCI manifests, 2% OCI indexes of 2 children, 10% of tags moved (an older revision kept in
// index/ and revisions/, as when no garbage collection ran), some unfinished uploads. Deterministic per seed.
//
//   node scripts/bench/generate-storage.mjs --dir /tmp/store --tags 10000 [--seed 1]
//
// <dir> becomes the registry's rootdirectory (<dir>/docker/registry/v2/...), plus <dir>/every.tags listing every
// repository:tag. Speed matters (100k tags = ~1.5M files): sync fs calls, mkdir without `recursive` where the
// parent is known to exist, no stat before writing.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const LAYERS_PER_IMAGE = 8;
const BASE_LAYERS = 4; // of the 8, drawn from a shared base stack
const SHARE_OLDER = 0.1; // tags that moved: an older revision stays in index/ and revisions/
const SHARE_INDEX = 0.02;
const SHARE_OCI = 0.05;
const SHARE_UPLOADS = 0.1; // repositories with an unfinished upload
// A base layer is hard-linked into every layout using it; ext4 allows 65000 links per inode (§6) and the
// bench keeps up to three exports at once, so stacks grow with the tree: at most ~15k tags per stack.
const TAGS_PER_STACK = 15_000;
const MIN_STACKS = 4;
const POOL_BYTES = 1 << 20;

const PROJECTS = ['platform', 'payments', 'search', 'data', 'ml', 'infra', 'web', 'mobile', 'identity', 'billing', 'ops', 'library'];
const TEAMS = ['core', 'edge', 'batch', 'api', 'team-a', 'team-b', 'internal', 'tools', 'qa', 'sre'];
const APPS = ['gateway', 'worker', 'frontend', 'backend', 'scheduler', 'indexer', 'exporter', 'proxy', 'cache', 'auth', 'ingest', 'notifier', 'reporter', 'sidecar', 'migrator', 'cron'];
const SUBS = ['v2', 'legacy', 'ci', 'canary', 'tools', 'base'];

/** Small fast deterministic PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    pick: (list) => list[Math.floor(next() * list.length)],
    hex: (n) => {
      let s = '';
      while (s.length < n) s += Math.floor(next() * 4294967296).toString(16).padStart(8, '0');
      return s.slice(0, n);
    },
  };
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/**
 * Generates the tree under `dir` (created if missing; should be empty). Returns counts for the caller's report.
 * @param {{ dir: string, tags: number, seed?: number }} opts
 */
export function generateStorage({ dir, tags, seed = 1 }) {
  if (!Number.isInteger(tags) || tags < 1) throw new Error(`tags must be a positive integer, got ${tags}`);
  const started = performance.now();
  const rnd = prng(seed);
  const v2 = path.join(dir, 'docker/registry/v2');
  const blobsDir = path.join(v2, 'blobs/sha256');
  mkdirSync(blobsDir, { recursive: true });
  for (let i = 0; i < 256; i++) mkdirSync(path.join(blobsDir, i.toString(16).padStart(2, '0')), { recursive: true });

  // Filler bytes for layer contents: layers are "gzip" in name only, nobody unpacks them.
  const pool = Buffer.alloc(POOL_BYTES);
  for (let off = 0; off < POOL_BYTES; off += 32) createHash('sha256').update(`pool ${seed} ${off}`).digest().copy(pool, off);

  const stats = { tags: 0, repositories: 0, blobs: 0, blobBytes: 0, manifests: 0, indexes: 0, ociManifests: 0, olderRevisions: 0, uploads: 0, files: 0 };

  /** Writes a blob (content-addressed, so a second write of shared content is skipped) and returns its descriptor. */
  const written = new Set();
  function putBlob(buf, mediaType, shared = false) {
    const hex = sha256(buf);
    if (!shared || !written.has(hex)) {
      if (shared) written.add(hex);
      const d = path.join(blobsDir, hex.slice(0, 2), hex);
      mkdirSync(d);
      writeFileSync(path.join(d, 'data'), buf);
      stats.blobs++;
      stats.blobBytes += buf.length;
      stats.files++;
    }
    return { mediaType, size: buf.length, digest: `sha256:${hex}` };
  }

  // Shared base stacks: BASE_LAYERS layers each, 4-32 KiB, stored once, linked into many images.
  const stackCount = Math.max(MIN_STACKS, Math.ceil(tags / TAGS_PER_STACK));
  const stacks = [];
  for (let s = 0; s < stackCount; s++) {
    const layers = [];
    for (let l = 0; l < BASE_LAYERS; l++) {
      const size = rnd.int(4096, 32768);
      const off = rnd.int(0, POOL_BYTES - size);
      const buf = Buffer.concat([Buffer.from(`base stack ${s} layer ${l} seed ${seed}\n`), pool.subarray(off, off + size)]);
      layers.push({ buf, hex: sha256(buf) });
    }
    stacks.push(layers);
  }

  const linkBody = (digest) => digest; // 71 bytes: "sha256:<64 hex>", no newline (§2.1)

  /** Per repository: where it lives and which _layers links exist already. */
  function openRepo(name) {
    const root = path.join(v2, 'repositories', name);
    mkdirSync(path.join(root, '_layers/sha256'), { recursive: true });
    mkdirSync(path.join(root, '_manifests/revisions/sha256'), { recursive: true });
    mkdirSync(path.join(root, '_manifests/tags'), { recursive: true });
    return { name, root, layers: new Set(), revisions: new Set() };
  }
  function linkLayer(repo, digest) {
    const hex = digest.slice(7);
    if (repo.layers.has(hex)) return;
    repo.layers.add(hex);
    const d = path.join(repo.root, '_layers/sha256', hex);
    mkdirSync(d);
    writeFileSync(path.join(d, 'link'), linkBody(digest));
    stats.files++;
  }
  function linkRevision(repo, digest) {
    const hex = digest.slice(7);
    if (repo.revisions.has(hex)) return;
    repo.revisions.add(hex);
    const d = path.join(repo.root, '_manifests/revisions/sha256', hex);
    mkdirSync(d);
    writeFileSync(path.join(d, 'link'), linkBody(digest));
    stats.files++;
  }

  let serial = 0; // makes every unique blob unique
  /** One image manifest with its config and 8 layers, all stored and linked into `repo`. */
  function makeImage(repo, tag, oci, arch = 'amd64') {
    serial++;
    const stack = stacks[Math.floor(rnd.next() * stacks.length)];
    const layerDescs = [];
    for (const base of stack) {
      layerDescs.push(putBlob(base.buf, oci ? OCI_LAYER : DOCKER_LAYER, true));
    }
    for (let l = BASE_LAYERS; l < LAYERS_PER_IMAGE; l++) {
      const size = rnd.int(200, 4000);
      const off = rnd.int(0, POOL_BYTES - size);
      const buf = Buffer.concat([Buffer.from(`layer ${serial}.${l} ${repo.name}:${tag} ${arch}\n`), pool.subarray(off, off + size)]);
      layerDescs.push(putBlob(buf, oci ? OCI_LAYER : DOCKER_LAYER));
    }
    const created = new Date(Date.UTC(2022, 0, 1) + serial * 61_000 + rnd.int(0, 60_000)).toISOString();
    const config = {
      architecture: arch,
      os: 'linux',
      created,
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `BUILD_ID=${serial}`],
        Cmd: [`/app/${path.basename(repo.name)}`],
        WorkingDir: '/app',
        Labels: { 'org.opencontainers.image.source': `https://git.example.com/${repo.name}`, 'org.opencontainers.image.version': tag },
      },
      rootfs: { type: 'layers', diff_ids: layerDescs.map((d) => `sha256:${sha256(`diff ${d.digest}`)}`) },
      history: layerDescs.map((_, i) => ({ created, created_by: i < BASE_LAYERS ? `/bin/sh -c #(nop) ADD file:base${i} in / ` : `RUN make step-${i} # buildkit` })),
    };
    const configDesc = putBlob(Buffer.from(JSON.stringify(config)), oci ? OCI_CONFIG : DOCKER_CONFIG);
    linkLayer(repo, configDesc.digest);
    for (const d of layerDescs) linkLayer(repo, d.digest);
    const manifest = oci
      ? { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: layerDescs }
      : { schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: configDesc, layers: layerDescs };
    // docker push stores pretty JSON (3 spaces), buildkit/skopeo OCI manifests are compact.
    const desc = putBlob(Buffer.from(oci ? JSON.stringify(manifest) : JSON.stringify(manifest, null, 3)), oci ? OCI_MANIFEST : DOCKER_MANIFEST);
    linkRevision(repo, desc.digest);
    stats.manifests++;
    return desc;
  }
  /** An OCI index of two platform manifests: children get revision links, never tags (§2.3). */
  function makeIndex(repo, tag) {
    const children = ['amd64', 'arm64'].map((arch) => ({ ...makeImage(repo, tag, true, arch), platform: { architecture: arch, os: 'linux' } }));
    const desc = putBlob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children })), OCI_INDEX);
    linkRevision(repo, desc.digest);
    stats.indexes++;
    return desc;
  }
  const makeFor = (kind, repo, tag) => (kind === 'index' ? makeIndex(repo, tag) : makeImage(repo, tag, kind === 'oci'));

  function writeTag(repo, tag, current, older) {
    const t = path.join(repo.root, '_manifests/tags', tag);
    mkdirSync(t);
    mkdirSync(path.join(t, 'current'));
    writeFileSync(path.join(t, 'current/link'), linkBody(current));
    mkdirSync(path.join(t, 'index'));
    mkdirSync(path.join(t, 'index/sha256'));
    for (const d of older ? [older, current] : [current]) {
      const e = path.join(t, 'index/sha256', d.slice(7));
      mkdirSync(e);
      writeFileSync(path.join(e, 'link'), linkBody(d));
    }
    stats.files += older ? 3 : 2;
  }

  // Repository names: 1-4 components, unique, a few nested inside another repository's dir (§2.2).
  const names = new Set();
  function repoName() {
    const depth = rnd.next() < 0.1 ? 1 : rnd.next() < 0.45 ? 2 : rnd.next() < 0.75 ? 3 : 4;
    const parts = depth === 1 ? [rnd.pick(APPS)] : [rnd.pick(PROJECTS)];
    if (depth >= 3) parts.push(rnd.pick(TEAMS));
    if (depth >= 4) parts.push(rnd.pick(SUBS));
    if (depth >= 2) parts.push(rnd.pick(APPS));
    let name = parts.join('/');
    for (let n = 2; names.has(name); n++) name = `${parts.join('/')}-${n}`;
    if (names.size > 0 && rnd.next() < 0.05) {
      const host = [...names][Math.floor(rnd.next() * names.size)];
      if (!names.has(`${host}/debug`)) name = `${host}/debug`;
    }
    names.add(name);
    return name;
  }
  function tagName(i) {
    if (i === 0) return 'latest';
    if (i % 5 === 1) return `sha-${rnd.hex(7)}-${i}`;
    if (i % 7 === 2) return `main-${1000 + i}`;
    return `v1.${Math.floor(i / 10)}.${i % 10}`;
  }

  const tagLines = [];
  let remaining = tags;
  while (remaining > 0) {
    const count = Math.min(remaining, rnd.int(10, 30)); // ~20 per repository
    const repo = openRepo(repoName());
    stats.repositories++;
    for (let i = 0; i < count; i++) {
      const tag = tagName(i);
      const r = rnd.next();
      const kind = r < SHARE_INDEX ? 'index' : r < SHARE_INDEX + SHARE_OCI ? 'oci' : 'docker';
      if (kind === 'oci') stats.ociManifests++;
      const older = rnd.next() < SHARE_OLDER ? makeFor(kind, repo, `${tag}-old`).digest : undefined;
      if (older) stats.olderRevisions++;
      const current = makeFor(kind, repo, tag).digest;
      writeTag(repo, tag, current, older);
      tagLines.push(`${repo.name}:${tag}\n`);
      stats.tags++;
    }
    if (stats.repositories === 1 || rnd.next() < SHARE_UPLOADS) { // the first always: small trees have one too
      const u = path.join(repo.root, '_uploads', `${rnd.hex(8)}-${rnd.hex(4)}-4${rnd.hex(3)}-a${rnd.hex(3)}-${rnd.hex(12)}`);
      mkdirSync(u, { recursive: true });
      writeFileSync(path.join(u, 'startedat'), new Date(Date.UTC(2024, 0, 1) + stats.uploads * 3_600_000).toISOString());
      writeFileSync(path.join(u, 'data'), '');
      stats.uploads++;
      stats.files += 2;
    }
    remaining -= count;
  }
  const tagsFile = path.join(dir, 'every.tags');
  writeFileSync(tagsFile, tagLines.join(''));
  return { ...stats, stacks: stackCount, storage: dir, v2, tagsFile, seconds: (performance.now() - started) / 1000 };
}

// Run as a script.
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('generate-storage.mjs')) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const dir = arg('--dir');
  if (!dir) {
    console.error('usage: generate-storage.mjs --dir DIR [--tags N] [--seed S]');
    process.exit(2);
  }
  const r = generateStorage({ dir: path.resolve(dir), tags: Number(arg('--tags', '10000')), seed: Number(arg('--seed', '1')) });
  console.log(JSON.stringify(r, null, 2));
}
