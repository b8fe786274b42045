import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSyncArgs, formatCommand, parseProjectNaming, parseTarget, redactArgs, targetFor, type PushTarget } from '../src/core/target.js';
import { UsageError } from '../src/errors.js';

/**
 * skopeo 1.9.3's destination naming for `sync --src dir` (sync.go:681-703, storage-and-skopeo.md §5.3), as an
 * independent model: `imagePath` is what filepath.Walk yields (the SOURCE itself, or Join(SOURCE, rel), cleaned).
 */
function skopeoSyncName(source: string, rel: string, destination: string, scoped: boolean): string {
  const imagePath = rel === '' ? source : path.posix.join(source, rel);
  let suffix = imagePath.startsWith(source) ? imagePath.slice(source.length) : imagePath;
  if (suffix === '') suffix = path.posix.basename(source);
  if (!scoped) suffix = path.posix.basename(suffix);
  return path.posix.join(destination, suffix);
}

/** The name the real skopeo would push `args` (from buildSyncArgs) to. */
function pushedName(args: string[]): string {
  expect(args).not.toContain('--scoped');
  const [source, destination] = args.slice(-2) as [string, string];
  return skopeoSyncName(source, '', destination, false);
}

const H = '127.0.0.1:5000';

describe('skopeoSyncName models the §5.3 table', () => {
  it.each([
    ['sync1', 'app:1.0', false, `${H}/app:1.0`],
    ['sync1/', 'app:1.0', true, `${H}/app:1.0`],
    ['/srv/export/sync1', 'app:1.0', true, `${H}/app:1.0`],
    ['sync1', 'proj/team/app:1.0', false, `${H}/app:1.0`], // the silent collision
    ['sync1', 'proj/team/app:1.0', true, `${H}/proj/team/app:1.0`],
    ['./sync1/', 'app:1.0', true, `${H}/sync1/app:1.0`], // the leak
    ['/srv/export/./sync1', 'app:1.0', true, `${H}/srv/export/sync1/app:1.0`],
    ['sync1/proj', 'team/app:1.0', true, `${H}/team/app:1.0`],
    ['/x/proj/team/app:1.0', '', false, `${H}/app:1.0`],
    ['/x/proj/team/app:1.0', '', true, `${H}/app:1.0`],
  ])('SOURCE %s, image %s, scoped=%s -> %s', (source, rel, scoped, expected) => {
    expect(skopeoSyncName(source, rel, H, scoped)).toBe(expected);
  });
});

describe('parseTarget', () => {
  it.each<[string, PushTarget]>([
    ['127.0.0.1:5000', { host: '127.0.0.1:5000', prefix: '' }],
    ['registry.example.com', { host: 'registry.example.com', prefix: '' }],
    ['localhost', { host: 'localhost', prefix: '' }],
    ['localhost/rescued', { host: 'localhost', prefix: 'rescued' }],
    ['harbor:8443/proj/team/', { host: 'harbor:8443', prefix: 'proj/team' }],
    ['Registry.Example.com:443/a_b/c-d', { host: 'Registry.Example.com:443', prefix: 'a_b/c-d' }],
  ])('%s', (spec, expected) => {
    expect(parseTarget(spec)).toEqual(expected);
  });

  it.each([
    ['myregistry', /docker\.io\/myregistry/],
    ['harbor/proj', /no dot, no port and is not "localhost"/],
    ['https://reg.example.com/proj', /without "https:\/\/" \(--to reg\.example\.com\/proj\)/],
    ['http://127.0.0.1:5000', /without "http:\/\/"/],
    ['docker://reg.example.com', /without "docker:\/\/"/],
    ['', /missing the registry host/],
    ['/proj', /missing the registry host/],
    ['reg.example.com/Proj', /prefix "Proj"/],
    ['reg.example.com/a//b', /prefix "a\/\/b"/],
    ['reg.example.com/a:b', /prefix "a:b"/],
    ['reg:99999', /port 99999 is out of range/],
    ['reg_x.example.com', /not a valid registry host/],
    ['reg.example.com:5000:1', /not a valid registry host/],
    ['-reg.example.com', /not a valid registry host/],
  ])('refuses %j', (spec, message) => {
    expect(() => parseTarget(spec)).toThrow(UsageError);
    expect(() => parseTarget(spec)).toThrow(message);
  });
});

describe('targetFor', () => {
  const bare: PushTarget = { host: H, prefix: '' };
  const prefixed: PushTarget = { host: 'reg.example.com', prefix: 'rescued/old' };

  it.each([
    ['app', '1.0', bare, 'app', `${H}/app:1.0`],
    ['proj/team/sub/deep/app', 'v1.2.3-rc_1', bare, 'proj/team/sub/deep/app', `${H}/proj/team/sub/deep/app:v1.2.3-rc_1`],
    ['proj/app', 'latest', prefixed, 'rescued/old/proj/app', 'reg.example.com/rescued/old/proj/app:latest'],
    ['a__b/c.d/e---f', 'sha256-abc.sig', bare, 'a__b/c.d/e---f', `${H}/a__b/c.d/e---f:sha256-abc.sig`],
  ])('%s:%s', (repository, tag, target, expectedRepository, expectedReference) => {
    expect(targetFor(repository, tag, target)).toEqual({ repository: expectedRepository, reference: expectedReference });
  });

  it.each([
    ['st/App', '1.0', /component "App"/],
    ['proj/-x', '1.0', /component "-x"/],
    ['proj/a___b', '1.0', /component "a___b"/],
    ['proj//app', '1.0', /component ""/],
    ['proj/app', '.hidden', /tag "\.hidden"/],
    ['proj/app', 'x'.repeat(129), /tag "x{129}"/],
    ['proj/app', 'a/b', /tag "a\/b"/],
    [`p/${'a'.repeat(250)}`, '1', /with its registry host is 267 characters, more than 255/],
  ])('reports %j:%j as a problem, not an exception', (repository, tag, message) => {
    const t = targetFor(repository, tag, bare);
    expect(t.problem).toMatch(message);
    expect(t.problem).toContain(t.reference);
  });
});

describe('buildSyncArgs', () => {
  it('pushes a nested repository from its own layout dir to host/dirname(repo)', () => {
    const target = targetFor('proj/team/sub/deep/app', '1.0', { host: H, prefix: '' });
    const args = buildSyncArgs({
      layoutDir: '/srv/export/proj/team/sub/deep/app:1.0',
      target: { host: H },
      targetRepository: target.repository,
      tlsVerify: false,
    });
    expect(args).toEqual([
      '--insecure-policy',
      'sync', '--src', 'dir', '--dest', 'docker', '--all', '--preserve-digests',
      '--dest-tls-verify=false',
      '/srv/export/proj/team/sub/deep/app:1.0',
      `${H}/proj/team/sub/deep`,
    ]);
    expect(pushedName(args)).toBe(target.reference);
  });

  it('uses the bare host for a one-component repository, and every option in order', () => {
    const args = buildSyncArgs({
      layoutDir: '/e/app:latest',
      target: { host: 'reg.example.com' },
      targetRepository: 'app',
      tlsVerify: true,
      certDir: '/etc/rescue/certs',
      authFile: '/etc/rescue/auth.json',
      policyFile: '/etc/rescue/policy.json',
      retryTimes: 3,
    });
    expect(args).toEqual([
      '--policy', '/etc/rescue/policy.json',
      'sync', '--src', 'dir', '--dest', 'docker', '--all', '--preserve-digests',
      '--retry-times', '3',
      '--dest-authfile', '/etc/rescue/auth.json',
      '--dest-cert-dir', '/etc/rescue/certs',
      '/e/app:latest',
      'reg.example.com',
    ]);
    expect(pushedName(args)).toBe('reg.example.com/app:latest');
  });

  it.each([
    ['app', 'v1', { host: H, prefix: '' }],
    ['proj/a/app', '1.0', { host: H, prefix: '' }],
    ['proj/b/app', '1.0', { host: 'localhost', prefix: 'rescued' }],
    ['proj/team/sub/deep/app', 'sha256-x.sig', { host: 'h.example.com:8443', prefix: 'a/b/c' }],
    ['solo', 'latest', { host: 'h.example.com', prefix: 'p' }],
  ])('pushes %s:%s to exactly targetFor().reference', (repository, tag, target) => {
    const t = targetFor(repository, tag, target);
    expect(t.problem).toBeUndefined();
    const layoutDir = `/tmp/export/${repository}:${tag}`;
    const args = buildSyncArgs({ layoutDir, target, targetRepository: t.repository, tlsVerify: true });
    expect(pushedName(args)).toBe(t.reference);
  });

  it.each([
    [{ layoutDir: 'export/app:1' }, /absolute and clean/],
    [{ layoutDir: '/export/app:1/' }, /absolute and clean/],
    [{ layoutDir: '/export/./app:1' }, /absolute and clean/],
    [{ layoutDir: '/export//app:1' }, /absolute and clean/],
    [{ layoutDir: '/export/other:1' }, /must be named "app:<tag>"/],
    [{ layoutDir: '/export/app' }, /must be named "app:<tag>"/],
    [{ layoutDir: '/export/app:.bad' }, /must be named "app:<tag>"/],
    [{ targetRepository: 'Proj/app' }, /component "Proj"/],
    [{ retryTimes: -1 }, /retryTimes/],
    [{ retryTimes: 1.5 }, /retryTimes/],
  ])('refuses %j', (override, message) => {
    const base = { layoutDir: '/export/app:1', target: { host: H }, targetRepository: 'proj/app', tlsVerify: true };
    expect(() => buildSyncArgs({ ...base, ...override })).toThrow(message);
  });
});

describe('redactArgs / formatCommand', () => {
  it('redacts credential flag values in both forms', () => {
    expect(
      redactArgs(['sync', '--dest-creds', 'u:p', '--src-password=s3cret', '--dest-registry-token', 't', '--all']),
    ).toEqual(['sync', '--dest-creds', '***', '--src-password=***', '--dest-registry-token', '***', '--all']);
    expect(redactArgs(['--dest-authfile', '/a.json', '--creds'])).toEqual(['--dest-authfile', '/a.json', '--creds']);
  });

  it('quotes for a POSIX shell only where needed', () => {
    expect(formatCommand('skopeo', ['--insecure-policy', 'sync', '/e/proj/app:1.0', '127.0.0.1:5000/proj'])).toBe(
      'skopeo --insecure-policy sync /e/proj/app:1.0 127.0.0.1:5000/proj',
    );
    expect(formatCommand('/opt/my tools/skopeo', ["/e/it's here", '', '--dest-creds=a:b', 'a$b'])).toBe(
      `'/opt/my tools/skopeo' '/e/it'\\''s here' '' '--dest-creds=***' 'a$b'`,
    );
  });
});

describe('purity', () => {
  it.each(['target.ts', 'skopeo-failure.ts', 'schedule.ts'])('src/core/%s does no I/O', (file) => {
    const source = readFileSync(path.join(import.meta.dirname, '../src/core', file), 'utf8');
    expect(source).not.toMatch(/from 'node:(fs|child_process)|from 'execa'|from 'chalk'|\bprocess\.|Date\.now/);
  });
});

describe('--map-project and --root-project', () => {
  const naming = (maps: string[], root?: string): PushTarget => ({ ...parseTarget('harbor.example.com'), ...parseProjectNaming(maps, root) });

  it('renames the first path component of nested repositories only, and places root-level ones under the root project', () => {
    const t = naming(['dockerhub=dockerhub-archive', 'quay=quay-archive'], 'library');
    expect(targetFor('dockerhub/library/nginx', '1.25', t)).toEqual({ repository: 'dockerhub-archive/library/nginx', reference: 'harbor.example.com/dockerhub-archive/library/nginx:1.25' });
    expect(targetFor('quay/coreos/etcd', 'v3', t).repository).toBe('quay-archive/coreos/etcd');
    // Only the first component: a repository component that happens to equal a mapped name stays.
    expect(targetFor('team/dockerhub/app', '1', t).repository).toBe('team/dockerhub/app');
    expect(targetFor('alpine', '3.19', t)).toEqual({ repository: 'library/alpine', reference: 'harbor.example.com/library/alpine:3.19' });
    // A mapped name that is also a root-level repository is a root-level repository: --root-project decides.
    expect(targetFor('dockerhub', 'x', t).repository).toBe('library/dockerhub');
    expect(targetFor('alpine', '3.19', naming([])).repository).toBe('alpine');
  });

  it('applies the --to prefix after the mapping, and the skopeo argv pushes under the mapped name', () => {
    const t: PushTarget = { ...parseTarget('harbor.example.com/dr'), ...parseProjectNaming(['dockerhub=archive'], 'library') };
    const name = targetFor('dockerhub/library/nginx', '1.25', t);
    expect(name.repository).toBe('dr/archive/library/nginx');
    const args = buildSyncArgs({ layoutDir: '/srv/out/dockerhub/library/nginx:1.25', target: t, targetRepository: name.repository, tlsVerify: true });
    expect(pushedName(args)).toBe('harbor.example.com/dr/archive/library/nginx:1.25');
    expect(targetFor('alpine', '3', t).repository).toBe('dr/library/alpine');
  });

  it('refuses bad values, naming every one at once', () => {
    const error = (() => {
      try {
        parseProjectNaming(['nomapping', 'a/b=c', 'src=Bad_Name', 'x=y', 'x=z'], '-lead');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(UsageError);
    const lines = error?.message.split('\n') ?? [];
    expect(lines).toEqual([
      '--map-project "nomapping": give SRC=DST, the source project and the target project (dockerhub=dockerhub-archive)',
      '--map-project a/b=c: source project "a/b" holds "/": only the first path component is a project',
      '--map-project src=Bad_Name: target project "Bad_Name" is not a Harbor project name (lowercase letters and digits, separated by single ".", "_" or "-")',
      '--map-project x=z: x is already mapped to y',
      '--root-project "-lead" is not a Harbor project name (lowercase letters and digits, separated by single ".", "_" or "-")',
    ]);
  });
});
