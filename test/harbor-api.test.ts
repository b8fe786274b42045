/**
 * Harbor API client tests. There is no real Harbor here: test/helpers/fake-harbor.ts follows
 * Harbor's API v2.0 contract (api/v2.0/swagger.yaml) on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../src/registry/credentials.js';
import { createHarborApi, type HarborApi } from '../src/registry/harbor-api.js';
import { RegistryAuthError } from '../src/registry/registry-errors.js';
import { startFakeHarbor, type FakeHarbor } from './helpers/fake-harbor.js';

const ADMIN = { username: 'admin', password: 'Harbor12345-secret' };
const creds = (username: string, password: string): Credentials => ({ username, password, source: 'test' });

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('Harbor API client (fake Harbor following API v2.0)', () => {
  let harbor: FakeHarbor;
  const api = (credentials?: Credentials, pageSize?: number): HarborApi =>
    createHarborApi({ url: new URL(harbor.url), tlsVerify: true, credentials, timeoutMs: 5_000, pageSize });

  beforeAll(async () => {
    harbor = await startFakeHarbor({
      ...ADMIN,
      limitedUser: { username: 'dev', password: 'devpass' },
      pageSizeMax: 4, // the server answers smaller pages than asked: only Link tells there is more
      projects: [
        ...Array.from({ length: 9 }, (_, i) => ({ name: `p${i}`, public: i === 0 })),
        { name: 'cache', registryId: 3, public: true },
        {
          name: 'team',
          repositories: [
            { name: 'nested/svc', artifacts: Array.from({ length: 6 }, (_, i) => ({ tags: [`v${i}`, ...(i === 0 ? ['latest'] : [])] })).concat([{ tags: [] }]) },
            { name: 'web', artifacts: [{ tags: [{ name: 'stable', pushTime: '2023-01-02T03:04:05.000Z' }] }] },
          ],
        },
      ],
    });
  });
  afterAll(() => harbor.stop());

  it('detects Harbor and whether it accepted the credentials', async () => {
    expect(await api(creds(ADMIN.username, ADMIN.password)).detectHarbor()).toEqual({ version: 'v2.11.0-fake', authMode: 'db_auth', authenticated: true });
    // Harbor falls back to anonymous for wrong Basic credentials, so only the missing version tells.
    expect(await api(creds('admin', 'wrong')).detectHarbor()).toEqual({ version: undefined, authMode: 'db_auth', authenticated: false });
    expect(await api(creds('dev', 'devpass')).currentUser()).toEqual({ username: 'dev', sysadmin: false });
    expect(await api().currentUser()).toBeUndefined();
  });

  it('lists every project across pages via Link, with proxy-cache registry_id', async () => {
    const projects = await collect(api(creds(ADMIN.username, ADMIN.password), 100).listProjects());
    expect(projects.map((p) => p.name)).toEqual([...Array.from({ length: 9 }, (_, i) => `p${i}`), 'cache', 'team']);
    expect(projects.find((p) => p.name === 'cache')).toMatchObject({ registryId: 3, public: true });
    expect(projects.find((p) => p.name === 'team')).toMatchObject({ registryId: null, public: false });
    const pages = harbor.requests.filter((r) => r.url.startsWith('/api/v2.0/projects?'));
    expect(pages.length).toBeGreaterThanOrEqual(3); // 11 projects, 4 per page
    expect(pages[0]?.url).toContain('page_size=100');
  });

  it('lists repositories and artifacts with tags; nested names are URL-encoded twice', async () => {
    const client = api(creds(ADMIN.username, ADMIN.password), 2);
    const repos = await collect(client.listRepositories('team'));
    expect(repos.map((r) => r.name)).toEqual(['team/nested/svc', 'team/web']);
    const artifacts = await collect(client.listArtifacts('team', 'team/nested/svc'));
    expect(artifacts).toHaveLength(7);
    expect(artifacts.flatMap((a) => a.tags.map((t) => t.name)).sort()).toEqual(['latest', 'v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    expect(artifacts[0]?.digest).toBe(harbor.state.projects[10]?.repositories[0]?.artifacts[0]?.digest);
    expect(harbor.requests.some((r) => r.url.startsWith('/api/v2.0/projects/team/repositories/nested%252Fsvc/artifacts?') && r.url.includes('with_tag=true'))).toBe(true);
    const web = await collect(client.listArtifacts('team', 'team/web'));
    expect(web[0]?.tags).toEqual([{ name: 'stable', pushTime: '2023-01-02T03:04:05.000Z' }]);
  });

  it('checks, reads and creates projects', async () => {
    const admin = api(creds(ADMIN.username, ADMIN.password));
    expect(await admin.projectExists('team')).toBe(true);
    expect(await admin.projectExists('newproj')).toBe(false);
    expect(await admin.getProject('cache')).toMatchObject({ name: 'cache', registryId: 3 });
    expect(await admin.getProject('nope')).toBeUndefined();
    expect(await admin.createProject('newproj')).toBe('created');
    expect(await admin.createProject('newproj')).toBe('exists');
    expect(harbor.state.created).toEqual(['newproj']);
    expect(harbor.state.projects.find((p) => p.name === 'newproj')).toMatchObject({ public: false, registry_id: null });
    expect(await admin.projectExists('newproj')).toBe(true);
  });

  it('explains 401 and 403 without the password', async () => {
    const forbidden = await collect(api(creds('dev', 'devpass-xyz')).listRepositories('team')).catch((e: unknown) => e);
    // dev's password is wrong here, so Harbor sees an anonymous caller: 401, reported as wrong credentials
    expect(forbidden).toBeInstanceOf(RegistryAuthError);
    expect(forbidden).toMatchObject({ reason: 'wrong-credentials', status: 401 });
    expect((forbidden as Error).message).not.toContain('devpass-xyz');

    const dev = await collect(api(creds('dev', 'devpass')).listRepositories('team')).catch((e: unknown) => e);
    expect(dev).toMatchObject({ reason: 'forbidden', status: 403, exitCode: 3 });
    expect((dev as Error).message).toMatch(/^user "dev" is not allowed to list repositories of project team on 127\.0\.0\.1:\d+ \(HTTP 403\); Harbor's catalog needs a system administrator or a robot account/);

    const create = await api(creds('dev', 'devpass')).createProject('x').catch((e: unknown) => e);
    expect((create as Error).message).toMatch(/not allowed to create project x .*system administrator/);
  });
});
