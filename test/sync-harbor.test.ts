/**
 * `sync` into Harbor projects. NO REAL HARBOR IS USED: test/helpers/harbor-front.ts is a loopback server that
 * follows Harbor's API v2.0 contract (goharbor/harbor api/v2.0/swagger.yaml: systeminfo, projects HEAD/GET/POST,
 * proxy-cache projects with registry_id) through fake-harbor.ts, and reverse-proxies `/v2/` to a real
 * docker-registry behind Harbor's token flow (401 + `WWW-Authenticate: Bearer realm=…/service/token,
 * service="harbor-registry",scope=…`, tokens from `GET /service/token` for Basic credentials, Bearer on `/v2/`),
 * refusing pushes as Harbor does: 401 "unauthorized: authentication required" into a project that does not exist,
 * 403 DENIED "can not push artifact to a proxy project: <p>" into a proxy cache (storage-and-skopeo.md §3.3).
 * skopeo 1.9.3 is real (behind test/bin/skopeo-record.js); it and our client both go through the token flow.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags, type ExpectedTag } from './helpers/cli.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { startHarborFront, type FrontRequest, type HarborFront } from './helpers/harbor-front.js';
import { makeTempDir, registryRequest, requireTool } from './helpers/registry.js';
import { MANIFEST_ONLY_PUSH_COMMAND } from '../src/core/sync-plan.js';
import { byId, expectSameImage, idOf, readRecord, readReport, RECORD_BIN, skopeoPushesFor, syncCalls, writeTagsFile } from './helpers/sync.js';

type Creds = { username: string; password: string };

/** GET /service/token on the front: with `creds` as Basic credentials, anonymous without. */
async function requestToken(front: HarborFront, scopes: string[], creds?: Creds) {
  const q = new URLSearchParams({ service: 'harbor-registry' });
  for (const s of scopes) q.append('scope', s);
  const reg = { url: front.url, tls: false, ...(creds ? { username: creds.username, password: creds.password } : {}) };
  const res = await registryRequest(reg, `/service/token?${q}`, { auth: creds !== undefined });
  return { status: res.status, body: res.status === 200 ? (JSON.parse(res.body.toString()) as Record<string, unknown>) : {} };
}

/** A token value for `scopes`, or a failed expectation. */
async function tokenFor(front: HarborFront, scopes: string[], creds?: Creds): Promise<string> {
  const r = await requestToken(front, scopes, creds);
  expect(r.status).toBe(200);
  return r.body.token as string;
}

/** One request to the front's `/v2/…` carrying `Authorization: Bearer <token>` (or nothing). */
function v2(front: HarborFront, pathname: string, method = 'GET', token?: string) {
  return registryRequest({ url: front.url, tls: false }, pathname, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
}

const isSkopeo = (q: FrontRequest): boolean => /^skopeo\//.test(q.userAgent ?? '');
const isV2 = (q: FrontRequest): boolean => q.url.startsWith('/v2');
const isTokenRequest = (q: FrontRequest): boolean => q.url.startsWith('/service/token');
const BEARER_CHALLENGE = /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/service\/token",service="harbor-registry"/;

/**
 * Asserts that in `requests` (one sync run) both skopeo and our client went through the token flow: they asked
 * /service/token as `user`, every /v2 request carried a Bearer token (never Basic) or was refused 401 with a Bearer
 * challenge, and each did some /v2 requests with a token.
 */
function expectTokenFlow(front: HarborFront, requests: FrontRequest[], user: string): void {
  for (const who of [isSkopeo, (q: FrontRequest) => !isSkopeo(q)]) {
    const mine = requests.filter(who);
    const tokenRequests = mine.filter(isTokenRequest);
    expect(tokenRequests.length, who === isSkopeo ? 'skopeo token requests' : 'our token requests').toBeGreaterThan(0);
    for (const q of tokenRequests) expect(q).toMatchObject({ method: 'GET', auth: 'basic', status: 200 });
    expect(mine.filter((q) => isV2(q) && q.auth === 'bearer' && q.status !== 401).length).toBeGreaterThan(0);
  }
  for (const q of requests.filter(isV2)) {
    expect(q.auth, `${q.method} ${q.url}`).not.toBe('basic');
    if (q.auth !== 'bearer') {
      expect(q.status, `${q.method} ${q.url}`).toBe(401);
      expect(q.challenge, `${q.method} ${q.url}`).toMatch(BEARER_CHALLENGE);
    } else {
      expect(front.tokens[(q.tokenId ?? 0) - 1]?.user, `${q.method} ${q.url}`).toBe(user);
    }
  }
}

describe('sync into Harbor projects (loopback Harbor front, no real Harbor)', () => {
  let front: HarborFront;
  let fx: { dir: string; storage: string; v2: string };
  let work: string;
  let tagsFile: string;
  let selected: ExpectedTag[];
  const inProject = (p: string) => selected.filter((t) => t.repository.startsWith(`${p}/`));

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    // "library" exists, "mirror" is a proxy cache, "proj" does not exist yet.
    front = await startHarborFront({ projects: [{ name: 'library' }, { name: 'mirror', registryId: 1, public: true }] });
    fx = await copyFixture();
    work = await makeTempDir('rr-harbor-work');
    const ok = (await expectedTags()).filter((t) => t.status === 'ok');
    const want = ['library/alpine-like:3.19', 'library/alpine-like:latest', 'mirror/library/alpine-like:3.19', 'proj/team/sub/deep/app:2.0', 'proj/a/app:1.0'];
    selected = ok.filter((t) => want.includes(idOf(t)));
    expect(selected.map(idOf).sort()).toEqual([...want].sort());
    tagsFile = await writeTagsFile(path.join(work, 'tags.txt'), selected);
  });
  afterAll(async () => {
    await front?.stop();
  });

  const env = () => ({ REGISTRY_RESCUE_USERNAME: front.username, REGISTRY_RESCUE_PASSWORD: front.password });
  const run = (name: string, extra: string[] = []) => {
    const record = path.join(work, `${name}.jsonl`);
    const report = path.join(work, `${name}-report.json`);
    const args = ['sync', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN, ...extra];
    return cli(args, { env: { ...env(), SKOPEO_RECORD_FILE: record } }).then(async (r) => ({ ...r, record: await readRecord(record), report: await readReport(report) }));
  };
  /** Which layout dirs skopeo was asked to push (the last-but-one argv word). */
  const pushed = (argvs: string[][]) => syncCalls(argvs).map((a) => path.basename(a.at(-2) as string)).sort();

  it('the front speaks Harbor\'s token flow', async () => {
    const admin = { username: front.username, password: front.password };
    const realm = `realm="${front.url}/service/token",service="harbor-registry"`;
    const ping = await v2(front, '/v2/');
    expect(ping.status).toBe(401);
    expect(ping.headers['www-authenticate']).toBe(`Bearer ${realm}`);
    const read = await v2(front, '/v2/library/x/manifests/1');
    expect(read.headers['www-authenticate']).toBe(`Bearer ${realm},scope="repository:library/x:pull"`);
    const write = await v2(front, '/v2/library/x/blobs/uploads/', 'POST');
    expect(write.headers['www-authenticate']).toBe(`Bearer ${realm},scope="repository:library/x:pull,push"`);
    // Basic credentials are not taken on /v2/: a token is needed.
    const basic = await registryRequest({ url: front.url, tls: false, ...admin }, '/v2/', { auth: true });
    expect(basic.status).toBe(401);
    expect(basic.headers['www-authenticate']).toBe(`Bearer ${realm}`);

    const issued = await requestToken(front, ['repository:library/x:pull,push'], admin);
    expect(issued.status).toBe(200);
    expect(issued.body).toEqual({ token: expect.any(String), access_token: issued.body.token, expires_in: 1800, issued_at: expect.any(String) });
    expect(new Date(issued.body.issued_at as string).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(front.tokens.at(-1)).toMatchObject({ user: 'admin', granted: { 'repository:library/x': ['pull', 'push'] } });
    const token = issued.body.token as string;
    expect((await v2(front, '/v2/', 'GET', token)).status).toBe(200);
    expect((await v2(front, '/v2/library/x/tags/list', 'GET', token)).status).toBe(404); // past the front: unknown to the registry
    // Out of the token's scope, or an unknown token.
    const other = await v2(front, '/v2/library/y/tags/list', 'GET', token);
    expect(other.status).toBe(401);
    expect(other.headers['www-authenticate']).toBe(`Bearer ${realm},scope="repository:library/y:pull",error="insufficient_scope"`);
    const bogus = await v2(front, '/v2/', 'GET', 'not-a-token');
    expect(bogus.headers['www-authenticate']).toBe(`Bearer ${realm},error="invalid_token"`);
    // Pull only: no push.
    const pullOnly = await tokenFor(front, ['repository:library/x:pull'], admin);
    expect((await v2(front, '/v2/library/x/blobs/uploads/', 'POST', pullOnly)).status).toBe(401);

    // Wrong credentials at the token endpoint: 401 (no anonymous fallback there).
    expect((await requestToken(front, ['repository:library/x:pull'], { username: 'admin', password: 'wrong' })).status).toBe(401);
    // Anonymous tokens: pull on public projects only, never push.
    const anonymous = await requestToken(front, ['repository:mirror/x:pull,push', 'repository:library/x:pull,push']);
    expect(anonymous.status).toBe(200);
    expect(front.tokens.at(-1)).toMatchObject({ granted: { 'repository:mirror/x': ['pull'] } });
    expect(front.tokens.at(-1)?.user).toBeUndefined();
    const anon = anonymous.body.token as string;
    expect((await v2(front, '/v2/mirror/x/tags/list', 'GET', anon)).status).toBe(404);
    expect((await v2(front, '/v2/mirror/x/blobs/uploads/', 'POST', anon)).status).toBe(401);
    expect((await v2(front, '/v2/library/x/tags/list', 'GET', anon)).status).toBe(401);
  });

  it('the front refuses pushes the way Harbor does', async () => {
    const admin = { username: front.username, password: front.password };
    const reg = { url: front.url, tls: false, ...admin };
    const missing = await v2(front, '/v2/proj/x/blobs/uploads/', 'POST', await tokenFor(front, ['repository:proj/x:pull,push'], admin));
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body.toString())).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' }] });
    const proxy = await v2(front, '/v2/mirror/x/blobs/uploads/', 'POST', await tokenFor(front, ['repository:mirror/x:pull,push'], admin));
    expect(proxy.status).toBe(403);
    expect(JSON.parse(proxy.body.toString())).toEqual({ errors: [{ code: 'DENIED', message: 'can not push artifact to a proxy project: mirror' }] });
    const info = await registryRequest(reg, '/api/v2.0/systeminfo', { auth: true });
    expect(JSON.parse(info.body.toString())).toMatchObject({ harbor_version: expect.any(String) });
  });

  it('without --create-projects: a missing project fails with a clear message, a proxy cache is refused, the rest is pushed (exit 4)', async () => {
    const mark = front.requests.length;
    const r = await run('first');
    expect(r.exitCode, r.stderr + r.stdout).toBe(4);
    const images = byId(r.report);
    for (const t of inProject('library')) {
      expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', attempts: 1 });
      await expectSameImage(front.registry, fx.v2, t);
    }
    for (const t of inProject('proj')) {
      const image = images.get(idOf(t));
      expect(image, idOf(t)).toMatchObject({ status: 'failed', attempts: 0 });
      expect(image?.reason).toMatch(/^Harbor project proj does not exist .*--create-projects/);
    }
    const mirror = images.get('mirror/library/alpine-like:3.19');
    expect(mirror).toMatchObject({ status: 'failed', attempts: 0 });
    expect(mirror?.reason).toMatch(/^Harbor project mirror is a proxy cache, which refuses pushes/);
    expect(r.stderr).toMatch(/^ {2}failed {3}proj\/a\/app:1\.0: Harbor project proj does not exist/m);

    // skopeo ran for the library image only, once: its second tag was a manifest PUT (our client's, below);
    // nothing was created, nothing written under proj/ or mirror/.
    const manifestOnly = inProject('library').filter((t) => images.get(idOf(t))?.command === MANIFEST_ONLY_PUSH_COMMAND);
    expect(manifestOnly).toHaveLength(1);
    expect(pushed(r.record)).toEqual(inProject('library').filter((t) => !manifestOnly.includes(t)).map((t) => path.basename(idOf(t))));
    expect(front.harbor.state.created).toEqual([]);
    const writes = front.requests.slice(mark).filter((q) => q.method !== 'GET' && q.method !== 'HEAD' && /^\/v2\/(proj|mirror)\//.test(q.url));
    expect(writes).toEqual([]);

    // Both skopeo and our client went through Harbor's token flow; the pushes carried tokens granting push.
    const requests = front.requests.slice(mark);
    expectTokenFlow(front, requests, front.username);
    const pushes = requests.filter((q) => isV2(q) && ['POST', 'PUT', 'PATCH'].includes(q.method));
    expect(pushes.length).toBeGreaterThan(0);
    // All skopeo's, but the manifest-only PUT of the second tag: sent with the pull token of the HEADs first, it
    // met a challenge for push, and went again with a token granting it.
    const manifestPut = `/v2/library/alpine-like/manifests/${manifestOnly[0]?.tag}`;
    expect(pushes.filter((q) => !isSkopeo(q)).map((q) => `${q.method} ${q.url} ${q.status}`)).toEqual([`PUT ${manifestPut} 401`, `PUT ${manifestPut} 201`]);
    for (const q of pushes.filter((p) => p.status !== 401)) {
      expect(q.auth, q.url).toBe('bearer');
      expect(front.tokens[(q.tokenId ?? 0) - 1]?.granted['repository:library/alpine-like'], q.url).toContain('push');
    }
  });

  it('with --create-projects: the project is created (private) before its first push; the proxy cache is still refused', async () => {
    const mark = front.requests.length;
    const r = await run('second', ['--create-projects']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(4);
    expect(front.harbor.state.created).toEqual(['proj']);
    const project = front.harbor.state.projects.find((p) => p.name === 'proj');
    expect(project).toMatchObject({ public: false, registry_id: null });

    const requests = front.requests.slice(mark);
    const posts = requests.filter((q) => q.method === 'POST' && q.url.startsWith('/api/v2.0/projects'));
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0]?.body ?? '')).toEqual({ project_name: 'proj', metadata: { public: 'false' } });
    expect(posts[0]?.status).toBe(201);
    const created = requests.indexOf(posts[0] as (typeof requests)[number]);
    const firstWrite = requests.findIndex((q) => q.method !== 'GET' && q.method !== 'HEAD' && q.url.startsWith('/v2/proj/'));
    expect(firstWrite).toBeGreaterThan(created);

    const images = byId(r.report);
    for (const t of inProject('proj')) {
      expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', attempts: 1, digest: t.digest });
      await expectSameImage(front.registry, fx.v2, t);
    }
    for (const t of inProject('library')) expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'up-to-date' });
    expect(images.get('mirror/library/alpine-like:3.19')).toMatchObject({ status: 'failed', attempts: 0, reason: expect.stringMatching(/proxy cache/) });
    // skopeo for the proj images only: none for the proxy cache, none for the up-to-date ones.
    expect(pushed(r.record)).toEqual(inProject('proj').map((t) => path.basename(idOf(t))).sort());
    expect(requests.filter((q) => /^\/v2\/mirror\//.test(q.url) && q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    const reg = { url: front.registry.url, tls: false };
    expect((await registryRequest(reg, '/v2/mirror/library/alpine-like/tags/list')).status).toBe(404);
    expectTokenFlow(front, requests, front.username);
  });
});

describe('sync into Harbor as an account that may push but not read its projects (loopback Harbor front)', () => {
  let front: HarborFront;
  let fx: { dir: string; storage: string; v2: string };
  let work: string;
  let selected: ExpectedTag[];
  const robot = { username: 'robot$rescue', password: 'Robot-Secret-42' };
  const inProject = (p: string) => selected.filter((t) => t.repository.startsWith(`${p}/`));

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    // "library" is private: the robot gets 403 reading it, yet may push into it. "mirror" is a public proxy cache.
    front = await startHarborFront({ projects: [{ name: 'library' }, { name: 'mirror', registryId: 1, public: true }], limitedUser: robot });
    fx = await copyFixture();
    work = await makeTempDir('rr-harbor-robot');
    const ok = (await expectedTags()).filter((t) => t.status === 'ok');
    const want = ['library/alpine-like:3.19', 'library/alpine-like:latest', 'mirror/library/alpine-like:3.19', 'proj/a/app:1.0'];
    selected = ok.filter((t) => want.includes(idOf(t)));
    expect(selected.map(idOf).sort()).toEqual([...want].sort());
  });
  afterAll(async () => {
    await front?.stop();
  });

  it('a 403 on the project lookup does not refuse the push: the images are pushed and synced; missing and proxy projects are still refused', async () => {
    const record = path.join(work, 'robot.jsonl');
    const report = path.join(work, 'robot-report.json');
    const tagsFile = await writeTagsFile(path.join(work, 'tags.txt'), selected);
    const args = ['sync', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN];
    const r = await cli(args, { env: { REGISTRY_RESCUE_USERNAME: robot.username, REGISTRY_RESCUE_PASSWORD: robot.password, SKOPEO_RECORD_FILE: record } });
    expect(r.exitCode, r.stderr + r.stdout).toBe(4); // proj and mirror still fail

    // The lookup really was forbidden for this account.
    const lookups = front.requests.filter((q) => q.method === 'GET' && q.url.startsWith('/api/v2.0/projects/library'));
    expect(lookups.length).toBeGreaterThan(0);
    for (const q of lookups) expect(q.status).toBe(403);

    const images = byId(await readReport(report));
    for (const t of inProject('library')) {
      expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', attempts: 1, digest: t.digest });
      expect(images.get(idOf(t))?.reason, idOf(t)).toBeUndefined();
      await expectSameImage(front.registry, fx.v2, t);
    }
    expect(images.get('proj/a/app:1.0')).toMatchObject({ status: 'failed', attempts: 0, reason: expect.stringMatching(/^Harbor project proj does not exist .*--create-projects/) });
    expect(images.get('mirror/library/alpine-like:3.19')).toMatchObject({ status: 'failed', attempts: 0, reason: expect.stringMatching(/^Harbor project mirror is a proxy cache/) });
    // skopeo ran for the library image only, once: its second tag was a manifest PUT (with the robot's token, below).
    const pushedDirs = syncCalls(await readRecord(record)).map((a) => path.basename(a.at(-2) as string));
    expect(pushedDirs).toHaveLength(1);
    expect(inProject('library').map((t) => path.basename(idOf(t)))).toContain(pushedDirs[0]);
    // Nothing scary about the unreadable project: no warning, no mention of it among the images needing attention.
    expect(r.stderr).not.toMatch(/403|forbidden|not allowed/i);
    expect(r.stderr).not.toMatch(/^warning: .*library/im);
    expect(r.stderr).not.toMatch(/^ {2}\S+ +library\//m);
    expect(r.stdout + r.stderr).not.toContain(robot.password);
    // The robot went through the token flow; its tokens granted the pushes into library.
    expectTokenFlow(front, front.requests, robot.username);
    // Those that went through (the manifest-only PUT tries the pull token of the HEADs first).
    const pushes = front.requests.filter((q) => isV2(q) && q.method === 'PUT' && q.url.includes('/manifests/') && q.status !== 401);
    expect(pushes.map((q) => q.url).sort()).toEqual(inProject('library').map((t) => `/v2/${t.repository}/manifests/${t.tag}`).sort());
    for (const q of pushes) expect(front.tokens[(q.tokenId ?? 0) - 1]).toMatchObject({ user: robot.username, granted: { 'repository:library/alpine-like': expect.arrayContaining(['push']) } });
  });
});

describe('sync into Harbor while tokens expire quickly (loopback Harbor front)', () => {
  // The token answers say `expires_in: 30`; the front honours each token for 3 s only. Our client keeps a token
  // for 25 s (expires_in minus its 5 s margin), skopeo for at least 60 s (containers/image's minimum), and skopeo
  // waits 4 s before each push (SKOPEO_RECORD_DELAY_MS). So the token our client got for the HEAD before a push is
  // dead by the HEAD that verifies it: the front answers 401 error="invalid_token" with a fresh Bearer challenge,
  // and our client must fetch a new token and retry. Each skopeo process fetches its own tokens and is done long
  // before they die (it has no retry after a 401). With an honest short lifetime our client would drop its tokens
  // itself before the front does, and the front's refusal would never be met. The margins are wide for a loaded
  // machine: a push may take up to 3 s, and up to 21 s may pass between the two HEADs.
  const LIFETIME_MS = 3000;
  let front: HarborFront;
  let fx: { dir: string; storage: string; v2: string };
  let work: string;
  let selected: ExpectedTag[];

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    front = await startHarborFront({ projects: [{ name: 'library' }, { name: 'proj' }], tokenTtlSeconds: 30, tokenLifetimeMs: LIFETIME_MS });
    fx = await copyFixture();
    work = await makeTempDir('rr-harbor-expiry');
    const ok = (await expectedTags()).filter((t) => t.status === 'ok');
    const want = ['library/alpine-like:3.19', 'library/alpine-like:latest', 'proj/team/sub/deep/app:2.0', 'proj/a/app:1.0'];
    selected = ok.filter((t) => want.includes(idOf(t)));
    expect(selected.map(idOf).sort()).toEqual([...want].sort());
  });
  afterAll(async () => {
    await front?.stop();
  });

  it('an expired token gets 401 with a fresh challenge; our client fetches a new one, skopeo one per process; every image is synced', async () => {
    const admin = { username: front.username, password: front.password };
    const token = await tokenFor(front, ['repository:library/x:pull'], admin);
    expect((await v2(front, '/v2/library/x/tags/list', 'GET', token)).status).toBe(404); // valid: past the front
    await new Promise((resolve) => setTimeout(resolve, LIFETIME_MS + 100));
    const late = await v2(front, '/v2/library/x/tags/list', 'GET', token);
    expect(late.status).toBe(401);
    expect(late.headers['www-authenticate']).toBe(`Bearer realm="${front.url}/service/token",service="harbor-registry",scope="repository:library/x:pull",error="invalid_token"`);

    const mark = front.requests.length;
    const record = path.join(work, 'expiry.jsonl');
    const report = path.join(work, 'expiry-report.json');
    const tagsFile = await writeTagsFile(path.join(work, 'tags.txt'), selected);
    const args = ['sync', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN];
    const env = { REGISTRY_RESCUE_USERNAME: admin.username, REGISTRY_RESCUE_PASSWORD: admin.password, SKOPEO_RECORD_FILE: record, SKOPEO_RECORD_DELAY_MS: '4000' };
    const r = await cli(args, { env });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const images = byId(await readReport(report));
    for (const t of selected) {
      expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', attempts: 1, digest: t.digest });
      await expectSameImage(front.registry, fx.v2, t);
    }
    const requests = front.requests.slice(mark);
    expectTokenFlow(front, requests, admin.username);

    // Our client met dead tokens, and each time fetched a new one and repeated the request with it.
    const ours = requests.filter((q) => !isSkopeo(q));
    const dead = ours.filter((q) => isV2(q) && q.auth === 'bearer' && q.status === 401);
    expect(dead.length).toBeGreaterThan(0);
    for (const q of dead) {
      const used = front.tokens[(q.tokenId ?? 0) - 1];
      expect(used?.expiresAt, q.url).toBeLessThanOrEqual(q.at);
      expect(q.challenge, q.url).toMatch(BEARER_CHALLENGE);
      expect(q.challenge, q.url).toContain('error="invalid_token"');
      const retry = ours.slice(ours.indexOf(q) + 1).find((x) => x.method === q.method && x.url === q.url);
      expect(retry, q.url).toMatchObject({ auth: 'bearer' });
      expect(retry?.status, q.url).not.toBe(401);
      const fresh = front.tokens[(retry?.tokenId ?? 0) - 1];
      expect(fresh?.issuedAt, q.url).toBeGreaterThanOrEqual(q.at);
      expect(ours.some((x) => isTokenRequest(x) && x.issued === fresh?.id), q.url).toBe(true);
    }
    // skopeo: every process got its own tokens and never held a dead one.
    const syncs = syncCalls(await readRecord(record));
    expect(syncs).toHaveLength(skopeoPushesFor(selected));
    expect(syncs.length).toBe(selected.length - 1); // library/alpine-like:latest is 3.19's image: a manifest PUT
    const skopeoTokens = new Set(requests.filter((q) => isSkopeo(q) && isTokenRequest(q)).map((q) => q.issued));
    expect(skopeoTokens.size).toBeGreaterThanOrEqual(syncs.length);
    expect(requests.filter((q) => isSkopeo(q) && q.auth === 'bearer' && q.status === 401)).toEqual([]);
  });
});

describe('sync into Harbor while its project API answers 503 for a moment (loopback Harbor front behind a fault proxy)', () => {
  // Harbor's core answers 503 while its database or Redis is briefly away (a restart, a failover). The first
  // lookup of a project meeting that must be retried like a HEAD, and never remembered as a refusal of the
  // project: before, one 503 failed every image of the project for the whole run.
  let front: HarborFront;
  afterAll(async () => {
    await front?.stop();
  });

  it('retries the project lookup, remembers no refusal, and syncs every image of the project', async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    front = await startHarborFront({ projects: [{ name: 'library' }] });
    const fx = await copyFixture();
    const work = await makeTempDir('rr-harbor-503');
    const selected = (await expectedTags()).filter((t) => t.status === 'ok' && t.repository === 'library/alpine-like');
    expect(selected.length).toBe(2);
    const tagsFile = await writeTagsFile(path.join(work, 'tags.txt'), selected);
    let injected = 0;
    const proxy = await startFaultProxy(front.host, (q) => (q.url.startsWith('/api/v2.0/projects/library') && injected < 2 ? (injected++, { status: 503 }) : undefined));
    const report = path.join(work, 'report.json');
    const r = await cli(['sync', fx.storage, '--to', proxy.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--retries', '3'], {
      env: { REGISTRY_RESCUE_USERNAME: front.username, REGISTRY_RESCUE_PASSWORD: front.password },
    });
    expect(injected).toBe(2);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const images = byId(await readReport(report));
    for (const t of selected) {
      expect(images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', digest: t.digest });
      await expectSameImage(front.registry, fx.v2, t);
    }
    // The lookup was asked again after each 503, and then answered.
    const lookups = proxy.log.filter((q) => q.url.startsWith('/api/v2.0/projects/library'));
    expect(lookups.slice(0, 3).map((q) => q.outcome)).toEqual(['503', '503', 'forwarded 200']);
  });
});
