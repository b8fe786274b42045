/**
 * Helpers for the sync/verify end-to-end tests: reading what a target registry holds, the source manifests
 * of the fixture, tags files, the skopeo-record.js logs, and a port on 127.0.0.1 where nothing listens.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { blobPath, ROOT, type ExpectedTag } from './cli.js';
import { registryRequest, type TestRegistry } from './registry.js';

/** Every manifest media type: a Distribution GET without the right Accept answers 400/404 (storage-and-skopeo.md §2.4). */
export const ACCEPT_ALL = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export const RECORD_BIN = path.join(ROOT, 'test/bin/skopeo-record.js');
export const FLAKY_BIN = path.join(ROOT, 'test/bin/skopeo-flaky.js');
export const OLD_BIN = path.join(ROOT, 'test/bin/skopeo-old.js');
/** Answers `--version` like 1.9.3 and "succeeds" at every sync without pushing anything. */
export const NOOP_BIN = path.join(ROOT, 'test/bin/skopeo-noop.js');

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export type Reg = Pick<TestRegistry, 'url' | 'tls' | 'caFile' | 'username' | 'password'>;

/** `repository:tag`, the id used in reports. */
export const idOf = (t: Pick<ExpectedTag, 'repository' | 'tag'>): string => `${t.repository}:${t.tag}`;

export interface TargetManifest {
  status: number;
  body: Buffer;
  /** Docker-Content-Digest header. */
  header: string | undefined;
}

/** GET /v2/<repository>/manifests/<reference> with Accept for every manifest type (credentials when the registry has some). */
export async function getManifest(reg: Reg, repository: string, reference: string): Promise<TargetManifest> {
  const res = await registryRequest(reg, `/v2/${repository}/manifests/${reference}`, { headers: { accept: ACCEPT_ALL }, auth: true });
  const header = res.headers['docker-content-digest'];
  return { status: res.status, body: res.body, header: Array.isArray(header) ? header[0] : header };
}

/** Every repository of /v2/_catalog (fixture-sized: one page). */
export async function catalog(reg: Reg): Promise<string[]> {
  const res = await registryRequest(reg, '/v2/_catalog?n=1000', { auth: true });
  expect(res.status, res.body.toString()).toBe(200);
  return ((JSON.parse(res.body.toString()) as { repositories: string[] | null }).repositories ?? []).sort();
}

/** Tags of one repository; [] when the registry does not know it. */
export async function tagsOf(reg: Reg, repository: string): Promise<string[]> {
  const res = await registryRequest(reg, `/v2/${repository}/tags/list`, { auth: true });
  if (res.status === 404) return [];
  expect(res.status, res.body.toString()).toBe(200);
  return ((JSON.parse(res.body.toString()) as { tags: string[] | null }).tags ?? []).sort();
}

/** The source manifest bytes of a digest, from the fixture storage copy. */
export function sourceManifest(v2: string, digest: string): Promise<Buffer> {
  return readFile(blobPath(v2, digest));
}

/**
 * Asserts that `targetRepository:tag` on the target is byte-identical to the source manifest, with the same digest,
 * and for an index that every child (and every child's config and layers) is there too.
 */
export async function expectSameImage(reg: Reg, v2: string, t: ExpectedTag, targetRepository = t.repository): Promise<void> {
  const id = idOf(t);
  const digest = t.digest as string;
  const source = await sourceManifest(v2, digest);
  const got = await getManifest(reg, targetRepository, t.tag);
  expect(got.status, `${id}: ${got.body.toString()}`).toBe(200);
  expect(got.header, id).toBe(digest);
  expect(sha256(got.body), id).toBe(digest);
  expect(got.body.equals(source), `${id}: manifest bytes differ`).toBe(true);
  const parsed = JSON.parse(source.toString()) as { manifests?: Array<{ digest: string }> };
  for (const child of parsed.manifests ?? []) {
    const c = await getManifest(reg, targetRepository, child.digest);
    expect(c.status, `${id} child ${child.digest}`).toBe(200);
    expect(c.body.equals(await sourceManifest(v2, child.digest)), `${id} child ${child.digest} bytes`).toBe(true);
    const m = JSON.parse(c.body.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const blob of [m.config, ...m.layers]) {
      const b = await registryRequest(reg, `/v2/${targetRepository}/blobs/${blob.digest}`, { method: 'HEAD', auth: true });
      expect(b.status, `${id} child ${child.digest} blob ${blob.digest}`).toBe(200);
    }
  }
}

/** Writes a tags file (one `repository:tag` a line) and returns its path. */
export async function writeTagsFile(file: string, tags: ExpectedTag[]): Promise<string> {
  await writeFile(file, `# ok tags only\n${tags.map(idOf).join('\n')}\n`);
  return file;
}

/** The argv lines skopeo-record.js wrote; [] when it never ran. */
export async function readRecord(file: string): Promise<string[][]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : Promise.reject(e)));
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
}

export interface RecordDetails {
  argv: string[];
  pid: number;
  /** When the wrapper started and when the real skopeo ended (ms since epoch; end is NaN if it never ended). */
  start: number;
  end: number;
  code: number | null;
  authFiles: Array<{ flag: string; path: string; exists: boolean; mode: string | null }>;
  env: Record<string, boolean>;
}

/** The SKOPEO_RECORD_DETAILS_FILE of skopeo-record.js, one entry per process (start and end lines joined). */
export async function readDetails(file: string): Promise<RecordDetails[]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : Promise.reject(e)));
  type Line = { event: 'start' | 'end'; at: number; pid: number; code?: number | null } & Partial<RecordDetails>;
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  const ends = new Map(lines.filter((l) => l.event === 'end').map((l) => [l.pid, l]));
  return lines
    .filter((l) => l.event === 'start')
    .map((l) => ({
      argv: l.argv ?? [], pid: l.pid, start: l.at, end: ends.get(l.pid)?.at ?? Number.NaN, code: ends.get(l.pid)?.code ?? null,
      authFiles: l.authFiles ?? [], env: l.env ?? {},
    }));
}

/** Per group: the most processes of `calls` running at one instant among those `group` puts together. */
export function maxOverlap(calls: RecordDetails[], group: (c: RecordDetails) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of calls) {
    const g = group(c);
    const running = calls.filter((o) => group(o) === g && o.start <= c.start && c.start < o.end).length;
    out.set(g, Math.max(out.get(g) ?? 0, running));
  }
  return out;
}

/** The target repository a `skopeo sync` argv pushes to: DESTINATION minus the host, plus the layout's name (§5.3). */
export function targetRepositoryOf(argv: string[]): string {
  const destination = argv.at(-1) as string;
  const layout = path.basename(argv.at(-2) as string);
  return [...destination.split('/').slice(1), layout.slice(0, layout.indexOf(':'))].join('/');
}

/**
 * How many `skopeo sync` processes a run that pushes `tags` starts: one per image per target repository, since
 * the further tags of an image already pushed into a repository are a manifest PUT only.
 */
export const skopeoPushesFor = (tags: Array<Pick<ExpectedTag, 'repository' | 'digest'>>): number => new Set(tags.map((t) => `${t.repository}@${t.digest}`)).size;

/** Only the `skopeo sync` calls of a record (the preflight runs `skopeo --version`). */
export const syncCalls = (argvs: string[][]): string[][] => argvs.filter((a) => a.includes('sync'));


/** One image of a `sync --report` document. */
export interface ReportImage {
  id: string;
  source: string;
  target: string;
  digest: string | null;
  status: string;
  /** For machines: why, when not synced (a skopeo failure class, `server-error`, `unreachable`, `drift`, …). */
  code?: string;
  reason?: string;
  attempts: number;
  ms: number;
  bytes: number;
  command?: string;
}

export interface SyncReport {
  version: number;
  command: string;
  target: string;
  dryRun: boolean;
  summary: Record<string, number>;
  images: ReportImage[];
}

/** Reads a `--report` file. */
export async function readReport(file: string): Promise<SyncReport> {
  return JSON.parse(await readFile(file, 'utf8')) as SyncReport;
}

/** The report entries by id. */
export function byId(report: SyncReport): Map<string, ReportImage> {
  return new Map(report.images.map((i) => [i.id, i]));
}

export { closedPort } from './registry.js';
