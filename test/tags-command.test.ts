/**
 * `registry-rescue tags` end to end, through the built CLI (`npx tsc -p .` first):
 * - a real docker-registry on 127.0.0.1 with TLS + htpasswd, filled by real skopeo pushes;
 * - a fake Harbor: there is no real Harbor here, test/helpers/fake-harbor.ts follows Harbor's API v2.0 contract.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTempAuthFile } from '../src/registry/credentials.js';
import { startFakeHarbor, type FakeHarbor } from './helpers/fake-harbor.js';
import { closedPort, makeTempDir, skopeo, startRegistry, type TestRegistry } from './helpers/registry.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/registry-rescue.js');
const USER = { username: 'rescuer', password: 'S3cret-pass-word' };
const NO_AUTH_ENV = { REGISTRY_AUTH_FILE: undefined, REGISTRY_RESCUE_USERNAME: undefined, REGISTRY_RESCUE_PASSWORD: undefined };

/** Runs the built CLI; never throws on a non-zero exit. */
async function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = ROOT) {
  const r = await execa('node', [BIN, 'tags', ...args], { reject: false, stdin: 'ignore', stripFinalNewline: false, cwd, env: { ...NO_AUTH_ENV, ...env }, timeout: 60_000 });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** stderr without the `using credentials for HOST from …` line that opens it when credentials were found. */
const afterCredentials = (stderr: string): string => stderr.replace(/^using credentials for \S+ from .+\n/, '');

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A tiny skopeo `dir:` image: one empty gzipped tar layer, an OCI config and manifest. */
async function makeImageDir(dir: string): Promise<string> {
  const tar = Buffer.alloc(1024); // an empty tar archive is two zero blocks
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] }, config: {} }));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha256(layer)}`, size: layer.length }],
  };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, sha256(layer)), layer);
  await writeFile(path.join(dir, sha256(config)), config);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  await writeFile(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  return dir;
}


beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/commands/tags.js'))) throw new Error('build first: npx tsc -p .');
});

describe('tags against a real docker-registry (TLS + htpasswd)', () => {
  // 6 repositories and 12 tags: several pages with --page-size 2
  const IMAGES: Record<string, string[]> = {
    alpha: ['1.0', '1.1', '2.0', 'latest', 'stable'],
    beta: ['v1'],
    gamma: ['v1', 'v2'],
    'team/app': ['v1', 'v2'],
    'team/tools/cli': ['0.1'],
    zeta: ['edge'],
  };
  const EXPECTED = Object.entries(IMAGES).flatMap(([repo, tags]) => tags.map((t) => `${repo}:${t}`)).sort();
  let reg: TestRegistry;
  let authFile: { path: string; dispose(): Promise<void> };
  /** The digest every tag points at: pushed with --preserve-digests, so that of manifest.json as written. */
  let pushedDigest: string;

  beforeAll(async () => {
    reg = await startRegistry({ tls: true, auth: USER });
    authFile = await writeTempAuthFile(reg.host, USER);
    const image = await makeImageDir(path.join(await makeTempDir('tags-image'), 'img'));
    pushedDigest = `sha256:${sha256(await readFile(path.join(image, 'manifest.json')))}`;
    // One repository at a time per push: parallel pushes into one repository can hit an HTTP 500 (§5.6).
    await Promise.all(
      Object.entries(IMAGES).map(async ([repo, tags]) => {
        for (const tag of tags) {
          const r = await skopeo(['copy', '--preserve-digests', '--dest-cert-dir', reg.certDir ?? '', '--dest-authfile', authFile.path, `dir:${image}`, `docker://${reg.host}/${repo}:${tag}`]);
          if (r.exitCode !== 0) throw new Error(`push ${repo}:${tag} failed: ${r.stderr}`);
        }
      }),
    );
  });
  afterAll(async () => {
    await authFile?.dispose();
    await reg?.stop();
  });

  const base = (): string[] => ['--from', reg.url, '--cert-dir', reg.certDir ?? '', '--page-size', '2'];
  /** Manifest HEADs the registry has answered so far, from its access log. */
  const manifestHeads = async (): Promise<number> =>
    (await readFile(path.join(reg.dir, 'registry.log'), 'utf8')).split('\n').filter((l) => /method=HEAD/.test(l) && /uri="?\/v2\/.+\/manifests\//.test(l) && /response completed/.test(l)).length;

  it('lists every repository:tag across catalog and tag pages, sorted, without a request per tag', async () => {
    const heads = await manifestHeads();
    const r = await cli([...base(), '--authfile', authFile.path]);
    expect(r.stderr).toBe(`using credentials for ${reg.host} from auth file "${authFile.path}" (entry "${reg.host}")\nregistry: 6 repositories, 12 tags\n`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${EXPECTED.join('\n')}\n`);
    expect(await manifestHeads()).toBe(heads); // digests are for --format json only
  });

  it('--format json gives each tag the digest of the manifest pushed, one HEAD a tag', async () => {
    const heads = await manifestHeads();
    const r = await cli([...base(), '--authfile', authFile.path, '--format', 'json']);
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.images.map((i: { repository: string; tag: string }) => `${i.repository}:${i.tag}`)).toEqual(EXPECTED);
    expect(doc.images.map((i: { digest?: string }) => i.digest)).toEqual(EXPECTED.map(() => pushedDigest));
    expect(await manifestHeads()).toBe(heads + EXPECTED.length);
  });

  it('writes JSON atomically to --output, with credentials from the environment', async () => {
    const dir = await makeTempDir('tags-out');
    const env = { REGISTRY_RESCUE_USERNAME: USER.username, REGISTRY_RESCUE_PASSWORD: USER.password };
    const r = await cli([...base(), '--format', 'json', '--output', 'list.json', '--project', 'team'], env, dir);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
    expect(await readdir(dir)).toEqual(['list.json']); // no temp file left behind
    const doc = JSON.parse(await readFile(path.join(dir, 'list.json'), 'utf8'));
    expect(doc).toEqual({
      source: reg.url,
      kind: 'registry',
      images: [
        { repository: 'team/app', tag: 'v1', digest: pushedDigest },
        { repository: 'team/app', tag: 'v2', digest: pushedDigest },
        { repository: 'team/tools/cli', tag: '0.1', digest: pushedDigest },
      ],
      summary: { repositories: 2, tags: 3 },
    });
  });

  it('accepts --tls-verify=false instead of a cert dir', async () => {
    const r = await cli(['--from', reg.url, '--tls-verify=false', '--authfile', authFile.path]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(12);
  });

  it('wrong password: exit 3, says so, never prints the password', async () => {
    const r = await cli(base(), { REGISTRY_RESCUE_USERNAME: USER.username, REGISTRY_RESCUE_PASSWORD: 'Wrong-Pa55word' });
    expect(r.exitCode).toBe(3);
    expect(afterCredentials(r.stderr)).toMatch(new RegExp(`^registry-rescue: exit 3, wrong credentials for ${reg.host}: it rejected user "rescuer"`));
    expect(r.stderr + r.stdout).not.toContain('Wrong-Pa55word');
  });

  it('no credentials: exit 3, names the ways to give them', async () => {
    const r = await cli(base());
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`registry-rescue: exit 3, ${reg.host} requires credentials to access the registry (HTTP 401): pass --authfile FILE`);
  });

  it('untrusted certificate: exit 3, names --cert-dir and --tls-verify=false', async () => {
    const r = await cli(['--from', reg.url, '--authfile', authFile.path]);
    expect(r.exitCode).toBe(3);
    expect(afterCredentials(r.stderr)).toMatch(new RegExp(`^registry-rescue: exit 3, certificate of ${reg.host} is not trusted \\(.+\\); pass --cert-dir DIR with its ca.crt, or --tls-verify=false\\n$`));
  });

  it('missing auth file: exit 3 (skopeo would silently ignore it)', async () => {
    const r = await cli([...base(), '--authfile', 'no-such-auth.json']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe(`registry-rescue: exit 3, auth file "${path.join(ROOT, 'no-such-auth.json')}" does not exist\n`);
  });
});

describe('tags: usage and unreachable host', () => {
  it('unreachable host: exit 3 with "connection refused"', async () => {
    const port = await closedPort();
    const r = await cli(['--from', `https://127.0.0.1:${port}`]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe(`registry-rescue: exit 3, cannot reach 127.0.0.1:${port}: connection refused\n`);
  });

  it.each([
    [['--from', 'ftp://127.0.0.1:1'], /--from must be https:\/\/ or http:\/\//],
    [['--from', 'https://127.0.0.1:1/some/path'], /not a path/],
    [['--from', 'https://u:p@127.0.0.1:1'], /must not carry credentials/],
    [['--from', 'https://127.0.0.1:1', '--format', 'xml'], /argument 'xml' is invalid/],
    [['--from', 'https://127.0.0.1:1', '--tls-verify=maybe'], /expected true or false/],
  ])('usage error %j: exit 2', async (args, message) => {
    const r = await cli(args);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe('tags against a fake Harbor (API v2.0 contract, no real Harbor)', () => {
  let harbor: FakeHarbor;
  const env = { REGISTRY_RESCUE_USERNAME: 'admin', REGISTRY_RESCUE_PASSWORD: 'Harbor12345' };

  beforeAll(async () => {
    const many = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ tags: [`${prefix}${i}`] }));
    harbor = await startFakeHarbor({
      username: 'admin',
      password: 'Harbor12345',
      limitedUser: { username: 'dev', password: 'devpass' },
      pageSizeMax: 3,
      projects: [
        { name: 'library', public: true, repositories: [{ name: 'nginx', artifacts: [{ tags: ['1.25', 'latest'] }, { tags: [] }] }] },
        {
          name: 'team',
          repositories: [
            { name: 'nested/svc', artifacts: many(7, 'v') },
            ...['a', 'b', 'c', 'd'].map((name) => ({ name, artifacts: [{ tags: ['x'] }] })),
          ],
        },
        { name: 'dockerhub-cache', public: true, registryId: 1, repositories: [{ name: 'library/alpine', artifacts: [{ tags: ['3.19'] }] }] },
        { name: 'quay-cache', registryId: 2, repositories: [{ name: 'coreos/etcd', artifacts: [{ tags: ['v3'] }] }] },
      ],
    });
  });
  afterAll(() => harbor?.stop());

  it('lists Harbor tags across pages, leaving out and counting proxy-cache projects', async () => {
    const r = await cli(['--from', harbor.url], env);
    expect(r.exitCode).toBe(0);
    const team = [...Array.from({ length: 7 }, (_, i) => `team/nested/svc:v${i}`), 'team/a:x', 'team/b:x', 'team/c:x', 'team/d:x'];
    expect(r.stdout).toBe(`${['library/nginx:1.25', 'library/nginx:latest', ...team].sort().join('\n')}\n`);
    expect(r.stderr).toContain('Harbor v2.11.0-fake: 2 projects, 6 repositories, 13 tags\n');
    expect(r.stderr).toContain('left out 2 proxy-cache project(s) (dockerhub-cache, quay-cache): pass --include-proxy-cache to list them\n');
    expect(r.stderr).toContain('1 untagged artifact(s) not listed\n');
    expect(harbor.requests.some((q) => q.url.includes('/projects/dockerhub-cache/repositories'))).toBe(false);
    expect(harbor.requests.some((q) => q.url.includes('/repositories/nested%252Fsvc/artifacts?') && q.url.includes('page=3'))).toBe(true);
  });

  it('--include-proxy-cache and --format json: digests, projects, push times, summary', async () => {
    const r = await cli(['--from', harbor.url, '--include-proxy-cache', '--format', 'json', '--project', 'dockerhub-cache', '--project', 'library'], env);
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    const digestOf = (project: string, repo = 0) => harbor.state.projects.find((p) => p.name === project)?.repositories[repo]?.artifacts[0]?.digest;
    expect(doc).toEqual({
      source: harbor.url,
      kind: 'harbor',
      harborVersion: 'v2.11.0-fake',
      images: [
        { repository: 'dockerhub-cache/library/alpine', tag: '3.19', digest: digestOf('dockerhub-cache'), project: 'dockerhub-cache', pushTime: '2024-05-01T10:00:00.000Z' },
        { repository: 'library/nginx', tag: '1.25', digest: digestOf('library'), project: 'library', pushTime: '2024-05-01T10:00:00.000Z' },
        { repository: 'library/nginx', tag: 'latest', digest: digestOf('library'), project: 'library', pushTime: '2024-05-01T10:00:00.000Z' },
      ],
      summary: { repositories: 2, tags: 3, projects: 2, proxyCacheSkipped: [], untaggedArtifacts: 1 },
    });
  });

  it('wrong password: exit 3 although Harbor itself answers as for an anonymous caller', async () => {
    const r = await cli(['--from', harbor.url], { REGISTRY_RESCUE_USERNAME: 'admin', REGISTRY_RESCUE_PASSWORD: 'nope-Secret' });
    expect(r.exitCode).toBe(3);
    expect(afterCredentials(r.stderr)).toMatch(/^registry-rescue: exit 3, wrong credentials for Harbor 127\.0\.0\.1:\d+: it did not accept user "admin"/);
    expect(r.stderr).not.toContain('nope-Secret');
  });

  it('a non-admin user is warned, and refused a private project with the permission it needs', async () => {
    const dev = { REGISTRY_RESCUE_USERNAME: 'dev', REGISTRY_RESCUE_PASSWORD: 'devpass' };
    const listed = await cli(['--from', harbor.url], dev);
    expect(listed.exitCode).toBe(0);
    expect(listed.stderr).toContain('warning: user "dev" is not a Harbor system administrator');
    expect(listed.stdout).toBe('library/nginx:1.25\nlibrary/nginx:latest\n');
    const refused = await cli(['--from', harbor.url, '--project', 'team'], dev);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toMatch(/user "dev" is not allowed to read project team .*\(HTTP 403\)/);
  });

  it('unknown project: exit 3', async () => {
    const r = await cli(['--from', harbor.url, '--project', 'nope'], env);
    expect(r.exitCode).toBe(3);
    expect(afterCredentials(r.stderr)).toBe(`registry-rescue: exit 3, project "nope" not found on Harbor ${harbor.host}\n`);
  });
});
