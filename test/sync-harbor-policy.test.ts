/**
 * `sync` and `verify` into Harbor projects with policies, mapped names and an order to keep. NO REAL HARBOR IS USED:
 * test/helpers/harbor-front.ts follows Harbor's API v2.0 and token flow in front of a real docker-registry, and
 * reproduces, each from the Harbor source file named there:
 *
 * - a project with vulnerability prevention / signature enforcement answering manifest HEAD and GET with 412
 *   PROJECTPOLICYVIOLATION (src/server/registry/route.go, src/server/middleware/vulnerable/vulnerable.go);
 * - an immutable-tag rule answering a manifest PUT onto an existing tag with 412 PRECONDITION "… configured as
 *   immutable." (src/server/middleware/immutable/pushmf.go, error.go);
 * - the artifact API listing what was pushed, with tags, paged, the repository name URL-encoded twice
 *   (api/v2.0/swagger.yaml; recorded as src/controller/artifact/controller.go Ensure records a pushed manifest).
 *
 * skopeo 1.9.3 is real (behind test/bin/skopeo-record.js, which logs every argv in start order).
 */
import { cp, readFile, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobPath, cli, copyFixture, expectedTags, pushOnDisk, type ExpectedTag } from './helpers/cli.js';
import { startHarborFront, type HarborFront } from './helpers/harbor-front.js';
import { makeTempDir, requireTool, skopeo } from './helpers/registry.js';
import { byId, expectSameImage, getManifest, idOf, readRecord, readReport, RECORD_BIN, syncCalls, writeTagsFile } from './helpers/sync.js';

describe('sync into Harbor projects with policies (loopback Harbor front, no real Harbor)', () => {
  let front: HarborFront;
  let fx: { dir: string; storage: string; v2: string };
  let work: string;
  let ok: ExpectedTag[];
  const find = (id: string) => ok.find((t) => idOf(t) === id) as ExpectedTag;

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    front = await startHarborFront({
      projects: [{ name: 'secure' }, { name: 'locked' }, { name: 'library' }, { name: 'mirror', registryId: 1, public: true }],
      policies: { secure: { readPolicy: true } },
      immutable: ['locked/b/app:1.0'],
    });
    fx = await copyFixture();
    work = await makeTempDir('rr-harbor-policy');
    ok = (await expectedTags()).filter((t) => t.status === 'ok');
  });
  afterAll(async () => {
    await front?.stop();
  });

  const env = () => ({ REGISTRY_RESCUE_USERNAME: front.username, REGISTRY_RESCUE_PASSWORD: front.password });
  let runs = 0;
  const run = async (tags: ExpectedTag[], extra: string[]) => {
    const name = `run${++runs}`;
    const record = path.join(work, `${name}.jsonl`);
    const report = path.join(work, `${name}-report.json`);
    const tagsFile = await writeTagsFile(path.join(work, `${name}.tags`), tags);
    const args = ['sync', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN, ...extra];
    const r = await cli(args, { env: { ...env(), SKOPEO_RECORD_FILE: record } });
    return { ...r, calls: syncCalls(await readRecord(record)), images: byId(await readReport(report)) };
  };

  it('a 412 on manifest HEAD (vulnerability prevention): digests come from the artifact API, once per repository, and nothing is pushed again', async () => {
    const tags = [find('proj/a/app:1.0'), find('proj/b/app:1.0')];
    const first = await run(tags, ['--map-project', 'proj=secure']);
    expect(first.exitCode, first.stderr + first.stdout).toBe(0);
    for (const t of tags) {
      const target = `secure${t.repository.slice('proj'.length)}`;
      expect(first.images.get(idOf(t)), idOf(t)).toMatchObject({ status: 'synced', target: `${front.host}/${target}:${t.tag}` });
      // The registry behind the front has it byte for byte; through the front a HEAD is refused by the policy.
      await expectSameImage(front.registry, fx.v2, t, target);
    }
    const refused = front.requests.filter((q) => q.method === 'HEAD' && q.url.startsWith('/v2/secure/') && q.status === 412);
    expect(refused.length).toBeGreaterThan(0);

    const mark = front.requests.length;
    const again = await run(tags, ['--map-project', 'proj=secure']);
    expect(again.exitCode, again.stderr + again.stdout).toBe(0);
    for (const t of tags) expect(again.images.get(idOf(t))?.status, idOf(t)).toBe('up-to-date');
    expect(again.calls).toEqual([]);
    const requests = front.requests.slice(mark);
    const listings = requests.filter((q) => /\/artifacts\?/.test(q.url)).map((q) => q.url.split('?')[0]);
    // One listing per repository, the nested name encoded twice (a/app → a%252Fapp), as Harbor's swagger wants.
    expect(listings.sort()).toEqual(['/api/v2.0/projects/secure/repositories/a%252Fapp/artifacts', '/api/v2.0/projects/secure/repositories/b%252Fapp/artifacts']);
    expect(requests.filter((q) => q.method === 'PUT')).toEqual([]);

    // verify reads the same way: ok for both.
    const v = await cli(['verify', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--map-project', 'proj=secure', '--tags-file', path.join(work, 'run2.tags'), '--json'], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
    const doc = JSON.parse(v.stdout) as { images: Array<{ id: string; status: string; target: string }> };
    expect(doc.images.map((i) => [i.id, i.status])).toEqual(tags.map((t) => [idOf(t), 'ok']));
  });

  it('verify in a project with a read policy: a missing tag says what its HEAD answered, with no request more per tag', async () => {
    // Harbor's policy middlewares refuse reading an artifact it has (412); one it lacks is a plain 404, so the reason
    // comes from the HEAD verify makes anyway, and no artifact listing is needed.
    const pushed = find('proj/team/app:1.0');
    const first = await run([pushed], ['--map-project', 'proj=secure']);
    expect(first.exitCode, first.stderr + first.stdout).toBe(0);
    const absent = find('proj/team/app:1.1');
    const noRepository = find('proj/team/sub/deep/app:2.0');
    const tagsFile = await writeTagsFile(path.join(work, 'verify-policy.tags'), [absent, noRepository]);
    const mark = front.requests.length;
    const v = await cli(['verify', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--map-project', 'proj=secure', '--tags-file', tagsFile, '--json'], { env: env() });
    expect(v.exitCode, v.stderr).toBe(4);
    const images = new Map((JSON.parse(v.stdout) as { images: Array<{ id: string; status: string; reason?: string }> }).images.map((i) => [i.id, i]));
    expect(images.get(idOf(absent))).toEqual(expect.objectContaining({
      status: 'missing', reason: 'the target has no tag 1.1 in secure/team/app: HEAD /v2/secure/team/app/manifests/1.1 answered 404',
    }));
    expect(images.get(idOf(noRepository))).toEqual(expect.objectContaining({
      status: 'missing', reason: 'the target has no tag 2.0 in secure/team/sub/deep/app: HEAD /v2/secure/team/sub/deep/app/manifests/2.0 answered 404',
    }));
    // (Each first request of a repository scope meets the token challenge, 401, and is sent again with a token.)
    const asked = front.requests.slice(mark).filter((q) => q.status !== 401 && (q.url.startsWith('/v2/secure/') || q.url.startsWith('/api/v2.0/projects/secure/repositories/')));
    expect(asked.map((q) => `${q.method} ${q.url} ${q.status}`).sort()).toEqual([
      'HEAD /v2/secure/team/app/manifests/1.1 404', 'HEAD /v2/secure/team/sub/deep/app/manifests/2.0 404',
    ]);
  });

  it('drift is reported and left alone; --overwrite onto an immutable tag is immutable-conflict, tried once', async () => {
    // locked/b/app:1.0 gets proj/a/app:1.0's image before the rule matters (pushed behind Harbor's back).
    const a = find('proj/a/app:1.0');
    const b = find('proj/b/app:1.0');
    const seeded = await run([a], ['--map-project', 'proj=locked']);
    expect(seeded.exitCode, seeded.stderr + seeded.stdout).toBe(0);
    const reg = front.registry;
    const copy = await skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/locked/a/app:1.0`, `docker://${reg.host}/locked/b/app:1.0`]);
    expect(copy.exitCode, copy.stderr).toBe(0);

    const drift = await run([b], ['--map-project', 'proj=locked']);
    expect(drift.exitCode, drift.stderr + drift.stdout).toBe(4);
    expect(drift.images.get(idOf(b))).toMatchObject({ status: 'drift', code: 'drift', digest: b.digest, targetDigest: a.digest, attempts: 0 });
    expect(drift.calls).toEqual([]);
    expect(drift.stdout).toContain(`drift      ${idOf(b)} -> ${front.host}/locked/b/app:1.0`);
    expect(drift.stderr).toMatch(/1 drift \(left alone\)/);

    const overwrite = await run([b], ['--map-project', 'proj=locked', '--overwrite']);
    expect(overwrite.exitCode, overwrite.stderr + overwrite.stdout).toBe(4);
    const image = overwrite.images.get(idOf(b));
    expect(image).toMatchObject({ status: 'immutable-conflict', code: 'immutable-conflict', attempts: 1 });
    expect(image?.reason).toMatch(/is immutable and holds another image; not retried .*configured as immutable/);
    expect(overwrite.calls).toHaveLength(1);
    expect((await getManifest(reg, 'locked/b/app', '1.0')).header).toBe(a.digest);
  });

  it('tags --map-file writes SRC=DST for the proxy-cache projects; sync --map-projects-file keeps their images in a created regular project', async () => {
    const mapFile = path.join(work, 'rescue.map');
    const tags = await cli(['tags', '--from', front.url, '--include-proxy-cache', '--map-file', mapFile, '--output', path.join(work, 'harbor.tags')], { env: env() });
    expect(tags.exitCode, tags.stderr).toBe(0);
    expect(await readFile(mapFile, 'utf8')).toBe('# proxy-cache projects of the source Harbor, kept in regular projects on the target (registry-rescue tags --map-file)\nmirror=mirror-archive\n');
    expect(tags.stderr).toContain(`wrote ${mapFile}: 1 proxy-cache project(s) mapped to regular ones`);

    // Into the proxy cache itself, the push is refused; mapped, it lands in mirror-archive, created for it.
    const t = find('mirror/library/alpine-like:3.19');
    const refused = await run([t], []);
    expect(refused.images.get(idOf(t))?.reason).toMatch(/^Harbor project mirror is a proxy cache, which refuses pushes/);
    const r = await run([t], ['--map-projects-file', mapFile, '--create-projects']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.images.get(idOf(t))).toMatchObject({ status: 'synced', target: `${front.host}/mirror-archive/library/alpine-like:3.19` });
    expect(front.harbor.state.created).toContain('mirror-archive');
    await expectSameImage(front.registry, fx.v2, t, 'mirror-archive/library/alpine-like');
  });

  it('--root-project places a root-level repository under a created project', async () => {
    // A root-level repository, as a vanilla registry holds one: the registry's own files, copied in the test's tree.
    await cp(path.join(fx.v2, 'repositories/library/alpine-like'), path.join(fx.v2, 'repositories/alpine-like'), { recursive: true });
    const t = { ...find('library/alpine-like:3.19'), repository: 'alpine-like' };
    const r = await run([t], ['--root-project', 'rescued-root', '--create-projects']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.images.get('alpine-like:3.19')).toMatchObject({ status: 'synced', target: `${front.host}/rescued-root/alpine-like:3.19` });
    expect(front.harbor.state.created).toContain('rescued-root');
    await expectSameImage(front.registry, fx.v2, t, 'rescued-root/alpine-like');
  });

  it('pushes a repository oldest tag first (the tag link mtime), accessory tags after the images', async () => {
    const repo = 'proj/team/app';
    const tags = ok.filter((t) => t.repository === repo);
    const sig = tags.find((t) => t.tag.endsWith('.sig')) as ExpectedTag;
    // Push times the old registry recorded: the signature first, then 1.1, 1.0-sbom, 1.0.
    const times: Record<string, number> = { [sig.tag]: 1_000, '1.1': 2_000, '1.0-sbom': 3_000, '1.0': 4_000 };
    expect(tags.map((t) => t.tag).sort()).toEqual(Object.keys(times).sort());
    for (const t of tags) {
      const link = path.join(fx.v2, 'repositories', repo, '_manifests/tags', t.tag, 'current/link');
      const when = 1_700_000_000 + (times[t.tag] as number);
      await utimes(link, when, when);
    }
    const r = await run(tags, ['--map-project', 'proj=library', '--concurrency', '4']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const order = r.calls.map((argv) => path.basename(argv.at(-2) as string));
    expect(order).toEqual(['app:1.1', 'app:1.0-sbom', 'app:1.0', `app:${sig.tag}`]);
    // Harbor recorded them in that order too (its push times are what retention sorts by).
    const artifacts = front.harbor.state.projects.find((p) => p.name === 'library')?.repositories.find((x) => x.name === 'library/team/app')?.artifacts ?? [];
    const pushedAt = (tag: string) => artifacts.flatMap((a) => a.tags).find((x) => x.name === tag)?.push_time ?? '';
    expect(pushedAt('1.1') <= pushedAt('1.0-sbom') && pushedAt('1.0-sbom') <= pushedAt('1.0') && pushedAt('1.0') <= pushedAt(sig.tag)).toBe(true);
  });

  it('verify on Harbor checks that each accessory is attached to its subject (with_accessory=true)', async () => {
    // After the previous test: proj/team/app's tags, its cosign signature tag included, are in library/team/app.
    const tags = ok.filter((t) => t.repository === 'proj/team/app');
    const sig = tags.find((t) => t.tag.endsWith('.sig')) as ExpectedTag;
    const subject = `sha256:${sig.tag.slice('sha256-'.length, -'.sig'.length)}`;
    const tagsFile = await writeTagsFile(path.join(work, 'accessories.tags'), tags);
    const verify = async () => {
      const v = await cli(['verify', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--map-project', 'proj=library', '--tags-file', tagsFile, '--json'], { env: env() });
      return { ...v, images: new Map((JSON.parse(v.stdout) as { images: Array<{ id: string; status: string; reason?: string }> }).images.map((i) => [i.id, i])) };
    };
    const mark = front.requests.length;
    const attached = await verify();
    expect(attached.exitCode, attached.stderr).toBe(0);
    for (const t of tags) expect(attached.images.get(idOf(t))?.status, idOf(t)).toBe('ok');
    expect(front.requests.slice(mark).map((q) => q.url)).toContain(`/api/v2.0/projects/library/repositories/team%252Fapp/artifacts/${encodeURIComponent(subject)}?with_tag=true&with_label=false&with_scan_overview=false&with_accessory=true`);

    // Harbor loses the links (as when an accessory was pushed before its subject): the tags are there, the accessories
    // are not. Both kinds: the cosign signature tag, and the tagged SBOM whose manifest names its image as `subject`.
    const sbom = tags.find((t) => t.tag === '1.0-sbom') as ExpectedTag;
    const sbomSubject = (JSON.parse((await readFile(blobPath(fx.v2, sbom.digest as string))).toString()) as { subject: { digest: string } }).subject.digest;
    const repo = front.harbor.state.projects.find((p) => p.name === 'library')?.repositories.find((x) => x.name === 'library/team/app');
    expect(repo).toBeDefined();
    if (repo) repo.artifacts = repo.artifacts.filter((a) => a.digest !== sig.digest && a.digest !== sbom.digest);
    const detached = await verify();
    expect(detached.exitCode).toBe(4);
    expect(detached.images.get(idOf(sig))).toMatchObject({ status: 'missing', reason: expect.stringContaining(`Harbor does not list it as an accessory of ${subject} (with_accessory=true)`) });
    expect(detached.images.get(idOf(sbom))).toMatchObject({ status: 'missing', reason: expect.stringContaining(`Harbor does not list it as an accessory of ${sbomSubject} (with_accessory=true)`) });
    for (const t of tags.filter((x) => x !== sig && x !== sbom)) expect(detached.images.get(idOf(t))?.status, idOf(t)).toBe('ok');
  });

  it('an untagged referrer goes to Harbor by digest after its subject, and verify finds it attached (with_accessory=true)', async () => {
    // An attestation of proj/team/app:1.1 stored untagged (its revision link only), built from the fixture's
    // 1.0-sbom blobs; written with the registry's own layout (cli.ts pushOnDisk), then its tag directory removed.
    const sbom = find('proj/team/app:1.0-sbom');
    const subject = find('proj/team/app:1.1');
    const sbomDoc = JSON.parse((await readFile(blobPath(fx.v2, sbom.digest as string))).toString()) as { config: unknown; layers: unknown[] };
    const subjectSize = (await readFile(blobPath(fx.v2, subject.digest as string))).length;
    const doc = {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example.attestation',
      config: sbomDoc.config, layers: sbomDoc.layers, subject: { mediaType: subject.mediaType, digest: subject.digest, size: subjectSize },
    };
    const digest = await pushOnDisk(fx.v2, 'proj/team/app', 'to-be-untagged', JSON.stringify(doc));
    await rm(path.join(fx.v2, 'repositories/proj/team/app/_manifests/tags/to-be-untagged'), { recursive: true });
    const id = `proj/team/app@${digest}`;
    const tagsFile = await writeTagsFile(path.join(work, 'referrer.tags'), [subject]);

    const r = await run([subject], ['--map-project', 'proj=library']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.images.get(id)).toMatchObject({ status: 'synced', target: `${front.host}/library/team/app@${digest}`, digest });
    const got = await getManifest(front.registry, 'library/team/app', digest);
    expect(got.body.equals(Buffer.from(JSON.stringify(doc)))).toBe(true);

    const v = await cli(['verify', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--map-project', 'proj=library', '--tags-file', tagsFile, '--json'], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
    const images = (JSON.parse(v.stdout) as { images: Array<{ id: string; status: string; target: string }> }).images;
    expect(images.map((i) => [i.id, i.status])).toEqual([[idOf(subject), 'ok'], [id, 'ok']]);
    await rm(path.join(fx.v2, 'repositories/proj/team/app/_manifests/revisions/sha256', digest.slice(7)), { recursive: true });
  });

  it('--dry-run prints the bytes per target project, each blob once; --check-quota compares them with Harbor\'s quota', async () => {
    const tags = ['library/alpine-like:3.19', 'library/alpine-like:latest', 'mirror/library/alpine-like:3.19', 'proj/team/app:1.0', 'proj/team/app:1.1'].map(find);
    // Independently: the distinct files (manifest, config, layers) of each project's images, read from the storage.
    const filesOf = async (digest: string) => {
      const bytes = await readFile(blobPath(fx.v2, digest));
      const m = JSON.parse(bytes.toString()) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };
      return [[digest, bytes.length], [m.config.digest, m.config.size], ...m.layers.map((l) => [l.digest, l.size])] as Array<[string, number]>;
    };
    const bytesOf = async (list: ExpectedTag[]) => {
      const distinct = new Map<string, number>();
      for (const t of list) for (const [d, n] of await filesOf(t.digest as string)) distinct.set(d, n);
      return [...distinct.values()].reduce((a, b) => a + b, 0);
    };
    const library = await bytesOf(tags.slice(0, 3));
    // The cosign signature tag of proj/team/app:1.0 follows its image into the selection (README "Tags files").
    const sigTag = ok.find((t) => t.repository === 'proj/team/app' && t.tag.endsWith('.sig')) as ExpectedTag;
    const team = await bytesOf([...tags.slice(3), sigTag]);
    expect(library).toBeLessThan((await bytesOf(tags.slice(0, 1))) * 3); // the same image three times counts once

    const tagsFile = await writeTagsFile(path.join(work, 'quota.tags'), tags);
    const dry = (extra: string[]) => cli(['sync', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--map-project', 'mirror=library', '--map-project', 'proj=newproj', '--tags-file', tagsFile, '--dry-run', '--json', ...extra], { env: env() });
    const mark = front.requests.length;
    const offline = await dry([]);
    expect(offline.exitCode, offline.stderr).toBe(0);
    expect(front.requests.length).toBe(mark); // a dry run contacts nothing
    expect((JSON.parse(offline.stdout) as { summary: { projects: unknown } }).summary.projects).toEqual([
      { project: 'library', images: 3, bytes: library },
      { project: 'newproj', images: 3, bytes: team },
    ]);

    const lib = front.harbor.state.projects.find((p) => p.name === 'library');
    if (lib) lib.quota = { hard: library + 1000, used: 1100 };
    const checked = await dry(['--check-quota']);
    expect(checked.exitCode, checked.stderr).toBe(0);
    expect((JSON.parse(checked.stdout) as { summary: { projects: unknown } }).summary.projects).toEqual([
      { project: 'library', images: 3, bytes: library, exists: true, quota: { hard: library + 1000, used: 1100 }, overQuota: true },
      { project: 'newproj', images: 3, bytes: team, exists: false },
    ]);
    expect(front.requests.slice(mark).filter((q) => !['GET', 'HEAD'].includes(q.method))).toEqual([]);
    const text = await cli(['sync', fx.storage, '--to', front.host, '--dest-tls-verify=false', '--map-project', 'mirror=library', '--tags-file', tagsFile, '--dry-run', '--check-quota'], { env: env() });
    expect(text.stderr).toMatch(/^ {2}project library: 3 images, .* \(each blob once\); quota .* used — OVER QUOTA by 100 B$/m);
    if (lib) lib.quota = { hard: -1, used: 0 };
  });

  it('an artifactType index goes through the Distribution API with Harbor tokens, byte for byte; an immutable tag refuses it as immutable-conflict', async () => {
    const child = find('proj/a/app:1.0');
    const size = (await readFile(blobPath(fx.v2, child.digest as string))).length;
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: child.mediaType, digest: child.digest, size, artifactType: 'application/vnd.example.sbom' }] };
    const digest = await pushOnDisk(fx.v2, 'proj/a/app', 'referrers', JSON.stringify(index));
    const t = { ...child, tag: 'referrers', digest, mediaType: index.mediaType };
    const mark = front.requests.length;
    const r = await run([t], ['--map-project', 'proj=library']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.images.get('proj/a/app:referrers')).toMatchObject({ status: 'synced', attempts: 1, digest });
    expect(r.calls).toEqual([]);
    const got = await getManifest(front.registry, 'library/a/app', 'referrers');
    expect(got.header).toBe(digest);
    expect(got.body.equals(await readFile(blobPath(fx.v2, digest)))).toBe(true);
    // Our own PUTs went through Harbor's token flow with a token granting push (never Basic on /v2/).
    const puts = front.requests.slice(mark).filter((q) => q.method === 'PUT' && q.url.startsWith('/v2/library/a/app/manifests/'));
    expect(puts.map((q) => q.url)).toEqual([`/v2/library/a/app/manifests/${child.digest}`, '/v2/library/a/app/manifests/referrers']);
    for (const q of puts) {
      expect(q.auth).toBe('bearer');
      expect(front.tokens[(q.tokenId ?? 0) - 1]?.granted['repository:library/a/app']).toContain('push');
    }

    // locked/b/app:1.0 is under the immutable rule and already exists (the drift test above): the same index, now the
    // source's proj/b/app:1.0 (its child linked into that repository as a registry would), pushed with --overwrite,
    // is refused by the manifest PUT's 412 and reported as such, tried once.
    const onLocked = { ...t, repository: 'proj/b/app', tag: '1.0' };
    await pushOnDisk(fx.v2, 'proj/b/app', '1.0', JSON.stringify(index));
    await cp(path.join(fx.v2, 'repositories/proj/a/app/_manifests/revisions/sha256', (child.digest as string).slice(7)), path.join(fx.v2, 'repositories/proj/b/app/_manifests/revisions/sha256', (child.digest as string).slice(7)), { recursive: true });
    const refused = await run([onLocked], ['--map-project', 'proj=locked', '--overwrite']);
    expect(refused.exitCode, refused.stderr + refused.stdout).toBe(4);
    expect(refused.images.get('proj/b/app:1.0')).toMatchObject({ status: 'immutable-conflict', attempts: 1 });
    expect(refused.images.get('proj/b/app:1.0')?.reason).toMatch(/configured as immutable/);
  });
});
