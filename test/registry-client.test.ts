import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../src/registry/credentials.js';
import { parseChallenges } from '../src/registry/registry-auth.js';
import { MANIFEST_MEDIA_TYPES, createRegistryClient, type RegistryClientOptions } from '../src/registry/registry-client.js';
import { RegistryAuthError, RegistryConnectionError, RegistryTlsError } from '../src/registry/registry-errors.js';
import { createTransport } from '../src/registry/http-transport.js';
import { CHECK_CONCURRENCY } from '../src/run-sync.js';
import { startFakeHarbor, type FakeHarbor } from './helpers/fake-harbor.js';
import { closedPort, startRegistry } from './helpers/registry.js';
import { requestGate } from './helpers/request-gate.js';

const ADMIN = { username: 'admin', password: 'Harbor12345-secret' };
const creds = (username: string, password: string): Credentials => ({ username, password, source: 'test' });

async function collect(items: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of items) out.push(item);
  return out;
}


describe('parseChallenges', () => {
  it('reads Bearer and Basic challenges with quoted and bare values', () => {
    const header = 'Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:a/b:pull,push", Basic realm=registry';
    expect(parseChallenges(header)).toEqual([
      { scheme: 'bearer', params: { realm: 'https://h/service/token', service: 'harbor-registry', scope: 'repository:a/b:pull,push' } },
      { scheme: 'basic', params: { realm: 'registry' } },
    ]);
  });
});

describe('registry client against a Bearer-token registry (fake Harbor /v2)', () => {
  let harbor: FakeHarbor;
  const repos = Array.from({ length: 7 }, (_, i) => ({ name: `app${i}`, artifacts: [{ tags: ['v1', 'v2', 'v3'] }, { tags: ['v4'] }] }));

  beforeAll(async () => {
    harbor = await startFakeHarbor({
      ...ADMIN,
      limitedUser: { username: 'dev', password: 'devpass' },
      projects: [
        { name: 'library', public: true, repositories: repos },
        { name: 'team', repositories: [{ name: 'nested/svc', artifacts: [{ tags: ['latest'] }] }] },
      ],
    });
  });
  afterAll(() => harbor.stop());

  const client = (credentials?: Credentials, extra: Partial<RegistryClientOptions> = {}) =>
    createRegistryClient({ host: harbor.host, insecure: true, tlsVerify: true, credentials, timeoutMs: 5_000, pageSize: 3, ...extra });

  it('gets a token from the realm, caches it, and follows catalog and tag pagination', async () => {
    const c = client(creds(ADMIN.username, ADMIN.password));
    await c.ping();
    const catalog = await collect(c.catalog());
    expect(catalog).toEqual([...repos.map((r) => `library/${r.name}`), 'team/nested/svc'].sort());
    expect(await collect(c.tags('library/app3'))).toEqual(['v1', 'v2', 'v3', 'v4']);
    expect(harbor.requests.filter((r) => r.url.startsWith('/v2/library/app3/tags/list') && r.scheme === 'bearer').length).toBe(2);
    expect(await collect(c.tags('team/nested/svc'))).toEqual(['latest']);
    const catalogPages = harbor.requests.filter((r) => r.url.startsWith('/v2/_catalog'));
    expect(catalogPages.filter((r) => r.scheme === 'bearer').length).toBe(3); // 8 names, 3 per page
    expect(harbor.requests.filter((r) => r.url.startsWith('/service/token')).every((r) => r.user === 'admin')).toBe(true);
    c.close();
  });

  it('heads and gets manifests by tag and digest; 404 is undefined', async () => {
    const c = client(creds(ADMIN.username, ADMIN.password));
    const artifact = harbor.state.projects[1]!.repositories[0]!.artifacts[0]!;
    const head = await c.headManifest('team/nested/svc', 'latest');
    expect(head).toEqual({ digest: artifact.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: artifact.body.length });
    const manifest = await c.getManifest('team/nested/svc', artifact.digest);
    expect(manifest.digest).toBe(artifact.digest);
    expect(manifest.body.equals(artifact.body)).toBe(true);
    expect(await c.headManifest('team/nested/svc', 'nope')).toBeUndefined();
    const accept = harbor.requests.find((r) => r.method === 'HEAD')?.accept?.split(/,\s*/);
    expect(accept?.sort()).toEqual([...MANIFEST_MEDIA_TYPES].sort());
    expect(accept).toContain('application/vnd.docker.distribution.manifest.v1+prettyjws');
    c.close();
  });

  it('fetches a fresh token once when the cached one expired', async () => {
    const c = client(creds(ADMIN.username, ADMIN.password));
    expect(await collect(c.tags('library/app0'))).toEqual(['v1', 'v2', 'v3', 'v4']);
    const before = harbor.state.tokensIssued;
    const seen = harbor.requests.length;
    harbor.state.expireTokens();
    expect(await collect(c.tags('library/app0'))).toEqual(['v1', 'v2', 'v3', 'v4']);
    expect(harbor.state.tokensIssued).toBe(before + 1);
    // the expired token is sent, refused, replaced, and the request repeated once
    expect(harbor.requests.slice(seen).map((r) => `${r.scheme} ${r.url.split('?')[0]}`)).toEqual([
      'bearer /v2/library/app0/tags/list',
      'basic /service/token',
      'bearer /v2/library/app0/tags/list',
      'bearer /v2/library/app0/tags/list', // second page, same token
    ]);
    c.close();
  });

  it('tells a wrong password from missing credentials and from a forbidden catalog', async () => {
    const wrong = await client(creds('admin', 'not-the-password')).ping().catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(RegistryAuthError);
    expect(wrong).toMatchObject({ reason: 'wrong-credentials', exitCode: 3 });
    expect((wrong as Error).message).toMatch(/^wrong credentials for 127\.0\.0\.1:\d+: it rejected user "admin"/);
    expect((wrong as Error).message).not.toContain('not-the-password');

    const anon = client();
    await anon.ping(); // an anonymous token is enough for /v2/, as on Harbor
    const anonymous = await collect(anon.catalog()).catch((e: unknown) => e);
    expect(anonymous).toMatchObject({ reason: 'credentials-required' });
    expect((anonymous as Error).message).toMatch(/requires credentials to list the catalog \(HTTP 401\): pass --dest-authfile FILE/);

    const dev = client(creds('dev', 'devpass'));
    const forbidden = await collect(dev.catalog()).catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ reason: 'forbidden', username: 'dev' });
    expect((forbidden as Error).message).toMatch(/user "dev" is not allowed to list the catalog .*system administrator/);
    expect(await collect(dev.tags('library/app1'))).toEqual(['v1', 'v2', 'v3', 'v4']); // public project
  });
});

describe('registry client: connection and TLS errors', () => {
  it('says "connection refused" for a closed port', async () => {
    const port = await closedPort();
    const c = createRegistryClient({ host: `127.0.0.1:${port}`, tlsVerify: true, timeoutMs: 5_000 });
    const error = await c.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryConnectionError);
    expect((error as Error).message).toBe(`cannot reach 127.0.0.1:${port}: connection refused`);
  });

  it('names the untrusted certificate and the flags, then trusts it with the cert dir (Basic auth)', async () => {
    const reg = await startRegistry({ tls: true, auth: { username: 'user', password: 'pass-word' } });
    const base = { host: reg.host, tlsVerify: true, timeoutMs: 10_000, credentials: creds('user', 'pass-word') };
    const untrusted = await createRegistryClient(base).ping().catch((e: unknown) => e);
    expect(untrusted).toBeInstanceOf(RegistryTlsError);
    expect((untrusted as Error).message).toMatch(
      new RegExp(`^certificate of ${reg.host} is not trusted \\(.*\\); pass --dest-cert-dir DIR with its ca.crt, or --dest-tls-verify=false$`),
    );
    const trusted = createRegistryClient({ ...base, certDir: reg.certDir });
    await trusted.ping();
    expect(await collect(trusted.catalog())).toEqual([]);
    trusted.close();
    const noVerify = createRegistryClient({ ...base, tlsVerify: false, flags: '' });
    await noVerify.ping();
    noVerify.close();
    const plain = await createRegistryClient({ ...base, insecure: true }).ping().catch((e: unknown) => e);
    expect(plain).toMatchObject({ reason: 'https-required' });
    expect((plain as Error).message).toBe(`${reg.host} speaks HTTPS, not plain HTTP: use https://${reg.host}`);
  });

  it('says when an https client meets a plain-http registry', async () => {
    const reg = await startRegistry();
    const error = await createRegistryClient({ host: reg.host, tlsVerify: true, timeoutMs: 10_000 }).ping().catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'not-tls' });
    expect((error as Error).message).toMatch(new RegExp(`^${reg.host} does not speak TLS .*use http://${reg.host}`));
  });
});

describe('transport connections', () => {
  it("keeps as many requests in flight as sync's up-to-date checks, each on its own kept-alive connection, reused", async () => {
    // A loopback server that holds each request until CHECK_CONCURRENCY of them are open at once (or 1 s has
    // passed): a transport keeping fewer connections would queue the rest behind them, and `most` would say so.
    const sockets = new Set<unknown>();
    const gate = requestGate(CHECK_CONCURRENCY, 1000);
    const server = http.createServer((_req, res) =>
      gate.hold(() => {
        res.writeHead(200, { 'content-length': 0 });
        res.end();
      }),
    );
    server.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const transport = createTransport({ baseUrl: new URL(`http://127.0.0.1:${port}`), tlsVerify: false, timeoutMs: 10_000, flags: 'dest-' });
    try {
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all(Array.from({ length: CHECK_CONCURRENCY }, (_, i) => transport.request({ method: 'HEAD', url: `/v2/app/manifests/t${i}` })));
        expect(answers.map((a) => a.status)).toEqual(Array(CHECK_CONCURRENCY).fill(200));
      }
    } finally {
      transport.close();
      gate.stop();
      server.close();
    }
    expect(gate.most).toBe(CHECK_CONCURRENCY);
    // Three rounds, one connection per request in flight: the later rounds reused the first round's connections.
    expect(sockets.size).toBe(CHECK_CONCURRENCY);
  });
});
