/**
 * End to end with the real skopeo 1.9.3 and docker-registry: hand-made `dir:` layouts pushed one image per
 * process with buildSyncArgs(), checked by manifest digest on the target (storage-and-skopeo.md §5.3, §5.7).
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { collectKeyed } from './helpers/keyed.js';
import { classifySkopeoFailure } from '../src/core/skopeo-failure.js';
import { buildSyncArgs, parseTarget, targetFor, type PushTarget, type SyncArgsOptions } from '../src/core/target.js';
import { runSkopeo } from '../src/registry/skopeo.js';
import { makeTempDir, registryRequest, requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';

const V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';
const RECORD = path.join(import.meta.dirname, 'bin', 'skopeo-record.js');
const PUSH_TIMEOUT_MS = 60_000;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** One-file ustar archive (POSIX.1-1988 header, two zero blocks at the end). */
function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string): void => {
    header.write(value, offset, length, 'ascii');
  };
  field(0, 100, name);
  field(100, 8, '0000644\0');
  field(108, 8, '0000000\0');
  field(116, 8, '0000000\0');
  field(124, 12, `${content.length.toString(8).padStart(11, '0')}\0`);
  field(136, 12, '00000000000\0');
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 8, 'ustar\u000000');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

interface Layout {
  repository: string;
  tag: string;
  dir: string;
  /** sha256 of manifest.json: what the target must serve. */
  digest: string;
  manifest: Buffer;
}

/** Writes a skopeo `dir:` layout (§4.1) for a one-layer docker v2s2 image whose file holds `content`. */
async function writeLayout(root: string, repository: string, tag: string, content: string): Promise<Layout> {
  const dir = path.join(root, `${repository}:${tag}`);
  await mkdir(dir, { recursive: true });
  const tar = tarOneFile('hello.txt', Buffer.from(`${content}\n`));
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/true'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: V2S2,
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: config.length,
        digest: `sha256:${sha256(config)}`,
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          size: layer.length,
          digest: `sha256:${sha256(layer)}`,
        },
      ],
    }),
  );
  await writeFile(path.join(dir, sha256(layer)), layer);
  await writeFile(path.join(dir, sha256(config)), config);
  await writeFile(path.join(dir, 'manifest.json'), manifest);
  await writeFile(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  return { repository, tag, dir, digest: `sha256:${sha256(manifest)}`, manifest };
}

/** GET the manifest of `repository:tag` with an Accept header (without one, 2.8 answers 400, §2.4). */
async function targetManifest(reg: TestRegistry, repository: string, tag: string) {
  const res = await registryRequest(reg, `/v2/${repository}/manifests/${tag}`, { headers: { accept: V2S2 }, auth: true });
  return { status: res.status, digest: res.headers['docker-content-digest'], body: res.body };
}

async function catalog(reg: TestRegistry): Promise<string[]> {
  const res = await registryRequest(reg, '/v2/_catalog', { auth: true });
  return (JSON.parse(res.body.toString()) as { repositories: string[] }).repositories.sort();
}

/** Pushes one layout the way the sync command will: targetFor() → buildSyncArgs() → runSkopeo(). */
async function push(
  bin: string,
  layout: Layout,
  target: PushTarget,
  extra: Partial<SyncArgsOptions>,
  env?: Record<string, string>,
) {
  const t = targetFor(layout.repository, layout.tag, target);
  expect(t.problem).toBeUndefined();
  const base = { layoutDir: layout.dir, target, targetRepository: t.repository, tlsVerify: false };
  const args = buildSyncArgs({ ...base, ...extra });
  return { target: t, args, run: await runSkopeo(bin, args, { timeoutMs: PUSH_TIMEOUT_MS, env }) };
}

const tools = (): void => {
  requireTool('skopeo'); // fail, never skip (style guide §7)
  requireTool('docker-registry');
};

describe('skopeo sync with buildSyncArgs (real skopeo, real registry)', () => {
  it('pushes nested and same-basename repositories to exactly their names, digests intact', async () => {
    tools();
    const reg = await startRegistry();
    const work = await makeTempDir('rr-e2e');
    const exportRoot = path.join(work, 'export');
    const layouts = [
      await writeLayout(exportRoot, 'proj/team/sub/deep/app', '1.0', 'deep'),
      await writeLayout(exportRoot, 'proj/a/app', '1.0', 'a one'),
      await writeLayout(exportRoot, 'proj/b/app', '1.0', 'b one'),
      await writeLayout(exportRoot, 'proj/a/app', '2.0', 'a two'),
      await writeLayout(exportRoot, 'solo', 'latest', 'solo'),
    ];
    expect(new Set(layouts.map((l) => l.digest)).size).toBe(layouts.length);
    const target = parseTarget(reg.host);
    const record = path.join(work, 'argv.jsonl');

    // One process per image, never two into one repository at once (§5.6).
    const results = await collectKeyed(
      layouts,
      { concurrency: 4, keyOf: (l) => targetFor(l.repository, l.tag, target).repository },
      (l) => push(RECORD, l, target, {}, { SKOPEO_RECORD_FILE: record }),
    );
    for (const r of results) {
      expect(r.status).toBe('done');
      if (r.status !== 'done') continue;
      expect(r.value.run, r.value.run.stderr).toMatchObject({ ok: true, exitCode: 0 });
    }
    const recorded = (await readFile(record, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as string[]);
    const built = results.map((r) => (r.status === 'done' ? r.value.args : []));
    expect(recorded.sort()).toEqual([...built].sort());

    // Nothing flattened to "app" or "deep/app", nothing leaked from the export path.
    expect(await catalog(reg)).toEqual(['proj/a/app', 'proj/b/app', 'proj/team/sub/deep/app', 'solo']);
    for (const l of layouts) {
      const got = await targetManifest(reg, l.repository, l.tag);
      expect(got.status).toBe(200);
      expect(got.digest).toBe(l.digest);
      expect(got.body.equals(l.manifest)).toBe(true);
    }
    const tags = await registryRequest(reg, '/v2/proj/a/app/tags/list');
    expect((JSON.parse(tags.body.toString()) as { tags: string[] }).tags.sort()).toEqual(['1.0', '2.0']);

    // Under a prefix, and again (already present: still exit 0).
    const prefixed = parseTarget(`${reg.host}/rescued/old`);
    const deep = layouts[0] as Layout;
    for (let i = 0; i < 2; i++) {
      const { target: t, run } = await push('skopeo', deep, prefixed, { retryTimes: 1 });
      expect(run, run.stderr).toMatchObject({ ok: true });
      expect(t.reference).toBe(`${reg.host}/rescued/old/proj/team/sub/deep/app:1.0`);
    }
    expect((await targetManifest(reg, 'rescued/old/proj/team/sub/deep/app', '1.0')).digest).toBe(deep.digest);
    expect(await catalog(reg)).toContain('rescued/old/proj/team/sub/deep/app');
  });

  it('pushes into a TLS + htpasswd registry with an authfile and a cert dir; classifies what goes wrong', async () => {
    tools();
    const reg = await startRegistry({ tls: true, auth: { username: 'rescue', password: 's3cret pass' } });
    const work = await makeTempDir('rr-e2e-tls');
    const layout = await writeLayout(path.join(work, 'export'), 'proj/team/sub/deep/app', '1.0', 'tls');
    const target = parseTarget(reg.host);

    // The only credential form §5.7 found reliable: an `auth` entry keyed by host:port.
    const authFile = path.join(work, 'auth.json');
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    await writeFile(authFile, JSON.stringify({ auths: { [reg.host]: { auth } } }), { mode: 0o600 });
    await chmod(authFile, 0o600); // whatever the umask
    expect((await stat(authFile)).mode & 0o777).toBe(0o600);
    const noAuth = path.join(work, 'empty-auth.json'); // keeps any ~/.docker/config.json out of the test
    await writeFile(noAuth, '{"auths":{}}', { mode: 0o600 });

    const ok = await push('skopeo', layout, target, { tlsVerify: true, authFile, certDir: reg.certDir });
    expect(ok.run, ok.run.stderr).toMatchObject({ ok: true, exitCode: 0 });
    expect(ok.args).not.toContain(reg.password);
    const got = await targetManifest(reg, 'proj/team/sub/deep/app', '1.0');
    expect(got.digest).toBe(layout.digest);

    const noCa = await push('skopeo', layout, target, { tlsVerify: true, authFile });
    expect(noCa.run.exitCode).toBe(1);
    expect(classifySkopeoFailure(noCa.run.stderr)).toMatchObject({ reason: 'tls-untrusted', transient: false });

    const noCreds = await push('skopeo', layout, target, { tlsVerify: true, authFile: noAuth, certDir: reg.certDir });
    expect(noCreds.run.exitCode).toBe(1);
    const failure = classifySkopeoFailure(noCreds.run.stderr);
    expect(failure).toMatchObject({ reason: 'unauthorized', transient: false });
    expect(failure.message).toMatch(/authentication required/);
  });

  it('classifies real failures: missing blob, unreachable target, invalid name', async () => {
    tools();
    const reg = await startRegistry();
    const work = await makeTempDir('rr-e2e-fail');
    const exportRoot = path.join(work, 'export');
    const target = parseTarget(reg.host);

    const broken = await writeLayout(exportRoot, 'proj/broken', '1.0', 'broken');
    const { layers } = JSON.parse(broken.manifest.toString()) as { layers: { digest: string }[] };
    const layerFile = path.join(broken.dir, (layers[0]?.digest ?? '').slice('sha256:'.length));
    await rm(layerFile);
    const missing = await push('skopeo', broken, target, {});
    expect(missing.run.exitCode).toBe(1);
    const f1 = classifySkopeoFailure(missing.run.stderr);
    expect(f1).toMatchObject({ reason: 'missing-file', transient: false });
    expect(f1.message).toContain(layerFile);

    const good = await writeLayout(exportRoot, 'proj/good', '1.0', 'good');
    const down = await push('skopeo', good, parseTarget('127.0.0.1:1'), {});
    expect(down.run.exitCode).toBe(1);
    expect(classifySkopeoFailure(down.run.stderr)).toMatchObject({ reason: 'unreachable', transient: true });

    // What buildSyncArgs refuses to build: skopeo aborts the run on the name (§5.3).
    const upper = await writeLayout(exportRoot, 'st/App', '1.0', 'upper');
    expect(targetFor('st/App', '1.0', target).problem).toMatch(/component "App"/);
    const raw = await runSkopeo('skopeo', [
      '--insecure-policy', 'sync', '--src', 'dir', '--dest', 'docker', '--all', '--preserve-digests', '--keep-going',
      '--dest-tls-verify=false', upper.dir, `${reg.host}/st`,
    ]);
    expect(raw.exitCode).toBe(1);
    expect(classifySkopeoFailure(raw.stderr)).toMatchObject({ reason: 'invalid-reference', transient: false });
    expect((await catalog(reg)).filter((r) => r.startsWith('st/'))).toEqual([]);
  });
});
