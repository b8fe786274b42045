/**
 * `sync` into Harbor projects. NO REAL HARBOR IS USED: test/helpers/harbor-front.ts is a loopback server that
 * follows Harbor's API v2.0 contract (goharbor/harbor api/v2.0/swagger.yaml: systeminfo, projects HEAD/GET/POST,
 * proxy-cache projects with registry_id) through fake-harbor.ts, and reverse-proxies `/v2/` to a real
 * docker-registry while refusing pushes as Harbor does: 401 "unauthorized: authentication required" into a
 * project that does not exist, 403 DENIED "can not push artifact to a proxy project: <p>" into a proxy cache
 * (storage-and-skopeo.md §3.3). skopeo 1.9.3 is real (behind test/bin/skopeo-record.js).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags, type ExpectedTag } from './helpers/cli.js';
import { startHarborFront, type HarborFront } from './helpers/harbor-front.js';
import { makeTempDir, registryRequest, requireTool } from './helpers/registry.js';
import { byId, expectSameImage, idOf, readRecord, readReport, RECORD_BIN, syncCalls, writeTagsFile } from './helpers/sync.js';

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

  it('the front refuses pushes the way Harbor does', async () => {
    const reg = { url: front.url, tls: false, username: front.username, password: front.password };
    const missing = await registryRequest(reg, '/v2/proj/x/blobs/uploads/', { method: 'POST', auth: true });
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body.toString())).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' }] });
    const proxy = await registryRequest(reg, '/v2/mirror/x/blobs/uploads/', { method: 'POST', auth: true });
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
    expect(r.stdout).toMatch(/^ {2}failed {3}proj\/a\/app:1\.0: Harbor project proj does not exist/m);

    // skopeo ran for the library images only; nothing was created, nothing written under proj/ or mirror/.
    expect(pushed(r.record)).toEqual(inProject('library').map((t) => path.basename(idOf(t))).sort());
    expect(front.harbor.state.created).toEqual([]);
    const writes = front.requests.slice(mark).filter((q) => q.method !== 'GET' && q.method !== 'HEAD' && /^\/v2\/(proj|mirror)\//.test(q.url));
    expect(writes).toEqual([]);
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
    // skopeo ran for the library images only.
    const pushedDirs = syncCalls(await readRecord(record)).map((a) => path.basename(a.at(-2) as string)).sort();
    expect(pushedDirs).toEqual(inProject('library').map((t) => path.basename(idOf(t))).sort());
    // Nothing scary about the unreadable project: no warning, no mention of it among the images needing attention.
    expect(r.stderr).not.toMatch(/403|forbidden|not allowed|library/i);
    expect(r.stdout).not.toMatch(/^ {2}\S+ +library\//m);
    expect(r.stdout + r.stderr).not.toContain(robot.password);
  });
});
