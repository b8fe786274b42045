// Resolving on two threads (dist/storage/resolver.js, built by `npm test`: the worker runs compiled JavaScript):
// every tag of the real-registry fixture, broken ones included, resolves to exactly what one thread makes, with
// part of them really resolved on the worker; and a worker that throws or exits hands its tags back to the main
// thread, so the results stay the same. No tag goes to a worker before it says it is ready.
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { existingLayoutReader } from '../dist/output/existing-layout.js';
import { localResolver, twoThreadResolver, type Resolution, type Resolver } from '../dist/storage/resolver.js';
import { scanTags } from '../dist/storage/scan-storage.js';
import { createStorageReader } from '../dist/storage/storage-reader.js';
import type { ExistingLayout } from '../src/core/plan.js';
import type { ResolvedImage, TagRef } from '../src/core/types.js';
import { cli, copyFixture, FIXTURE_STORAGE } from './helpers/cli.js';

const V2 = path.join(FIXTURE_STORAGE, 'docker/registry/v2');

async function allTags(): Promise<TagRef[]> {
  const tags: TagRef[] = [];
  for await (const ref of scanTags(V2)) tags.push(ref);
  return tags;
}

/** Resolves every tag with `window` in flight at once (by default the resolver's, as the export's window does). */
async function resolveAll(resolver: Resolver, tags: TagRef[], window = resolver.parallel): Promise<ResolvedImage[]> {
  try {
    const out: ResolvedImage[] = [];
    for (let i = 0; i < tags.length; i += window) out.push(...(await Promise.all(tags.slice(i, i + window).map(async (t) => (await resolver.resolve(t)).image))));
    return out;
  } finally {
    await resolver.close();
  }
}

/** Like resolveAll, keeping what each thread read of the output directory. */
/** The layout the output holds for a resolved tag (not something in the way of one). */
const layoutOf = (r: Resolution): ExistingLayout | undefined => (r.existing !== undefined && 'names' in r.existing ? r.existing : undefined);

async function resolveWithLayouts(resolver: Resolver, tags: TagRef[]): Promise<Resolution[]> {
  try {
    const out: Resolution[] = [];
    for (let i = 0; i < tags.length; i += resolver.parallel) out.push(...(await Promise.all(tags.slice(i, i + resolver.parallel).map((t) => resolver.resolve(t)))));
    return out;
  } finally {
    await resolver.close();
  }
}

/** A stand-in worker module running `body`, with parentPort and WORKER_READY in scope. */
async function standInWorker(body: string): Promise<URL> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-resolver-'));
  const file = path.join(dir, 'worker.mjs');
  const resolver = pathToFileURL(path.resolve('dist/storage/resolver.js')).href;
  const imports = body.includes('WORKER_READY') ? `import { WORKER_READY } from ${JSON.stringify(resolver)};\n` : '';
  await writeFile(file, `import { parentPort } from 'node:worker_threads';\n${imports}${body}\n`);
  return pathToFileURL(file);
}

describe('two-thread resolver', () => {
  it('resolves every fixture tag, broken ones included, exactly as one thread does, part of them on the worker', async () => {
    const tags = await allTags();
    expect(tags.length).toBeGreaterThan(20);
    const one = await resolveAll(localResolver(createStorageReader(V2), { verifyBlobs: false }, 8), tags);
    const two = twoThreadResolver(createStorageReader(V2), { verifyBlobs: false }, 8);
    await two.warm();
    const both = await resolveAll(two, tags);
    expect(both).toEqual(one);
    expect(one.some((r) => r.status !== 'ok'), 'the fixture holds broken tags').toBe(true);
    expect(two.handled.worker, 'tags resolved on the worker').toBeGreaterThan(0);
    expect(two.handled.here + two.handled.worker).toBe(tags.length);
  });

  it('with --verify-blobs too (hashing on the worker)', async () => {
    const tags = await allTags();
    const one = await resolveAll(localResolver(createStorageReader(V2), { verifyBlobs: true }, 8), tags);
    const two = twoThreadResolver(createStorageReader(V2), { verifyBlobs: true }, 8);
    await two.warm();
    expect(await resolveAll(two, tags)).toEqual(one);
    expect(two.handled.worker).toBeGreaterThan(0);
  });

  it('reads each existing layout on the thread that resolved its tag, exactly as one thread does', async () => {
    const f = await copyFixture();
    const out = path.join(f.dir, 'out');
    const exported = await cli(['export', f.storage, '--out', out, '-q']);
    expect(exported.exitCode, exported.stderr).toBe(4); // the fixture's broken tags
    // One layout changed by hand: a file gone (the plan then rebuilds it), seen the same from both threads.
    const tags = await allTags();
    const v2 = path.join(f.storage, 'docker/registry/v2');
    const damaged = (await resolveAll(localResolver(createStorageReader(v2), { verifyBlobs: false }, 8), tags)).find((i) => i.status === 'ok' && i.files.length > 2);
    expect(damaged).toBeDefined();
    const layout = path.join(out, `${damaged!.repository}:${damaged!.tag}`);
    await rm(path.join(layout, damaged!.files.find((x) => x.name !== 'manifest.json')!.name));

    const one = await resolveWithLayouts(localResolver(createStorageReader(v2), { verifyBlobs: false }, 8, { out, read: existingLayoutReader(out) }), tags);
    const two = twoThreadResolver(createStorageReader(v2), { verifyBlobs: false }, 8, { layouts: { out, read: existingLayoutReader(out) } });
    await two.warm();
    const both = await resolveWithLayouts(two, tags);
    expect(both).toEqual(one);
    expect(two.handled.worker).toBeGreaterThan(0);
    // Layouts were found (hard links to the storage's manifests, so no hashing), and the damaged one lacks its file.
    const found = one.filter((r) => r.existing !== undefined);
    expect(found.length).toBeGreaterThan(tags.length / 2);
    expect(found.every((r) => r.image.status !== 'ok' || layoutOf(r)?.manifestDigest === r.image.digest)).toBe(true);
    const d = one.find((r) => r.image.repository === damaged!.repository && r.image.tag === damaged!.tag);
    expect((d && layoutOf(d))?.names.length).toBe(damaged!.files.length); // one file gone, `version` there
    // Not exported at all: no layout read.
    expect(one.filter((r) => r.image.status === 'broken').every((r) => r.existing === undefined)).toBe(true);
  });

  it('with the link check (--verify-blobs, hard links), both threads name the layout files that are not links to the storage', async () => {
    const f = await copyFixture();
    const linked = path.join(f.dir, 'linked');
    const exported = await cli(['export', f.storage, '--out', linked, '-q']);
    expect(exported.exitCode, exported.stderr).toBe(4); // the fixture's broken tags
    // The same layouts as copies (same names and bytes, other inodes): every file fails the check.
    const copied = path.join(f.dir, 'copied');
    await cp(linked, copied, { recursive: true });
    const tags = await allTags();
    const v2 = path.join(f.storage, 'docker/registry/v2');
    const verify = { verifyBlobs: true };
    const check = async (out: string) => {
      const layouts = { out, read: existingLayoutReader(out), checkLinks: true };
      const one = await resolveWithLayouts(localResolver(createStorageReader(v2), verify, 8, layouts), tags);
      const two = twoThreadResolver(createStorageReader(v2), verify, 8, { layouts });
      await two.warm();
      expect(await resolveWithLayouts(two, tags)).toEqual(one);
      expect(two.handled.worker).toBeGreaterThan(0);
      return one.filter((r) => r.image.status === 'ok' && r.existing !== undefined);
    };
    const kept = await check(linked);
    expect(kept.length).toBeGreaterThan(tags.length / 2);
    expect(kept.filter((r) => layoutOf(r)?.unlinked !== undefined)).toEqual([]);
    const copies = await check(copied);
    expect(copies.length).toBe(kept.length);
    for (const r of copies) {
      // Files in name order: the first is named, the others counted.
      const first = r.image.files[0]!;
      expect(layoutOf(r)?.unlinked, `${r.image.repository}:${r.image.tag}`).toEqual({ name: first.name, digest: first.digest, more: r.image.files.length - 1 });
    }
    // Without the check nothing is compared, even with --verify-blobs.
    const plain = await resolveWithLayouts(localResolver(createStorageReader(v2), verify, 8, { out: copied, read: existingLayoutReader(copied) }), tags);
    expect(plain.filter((r) => layoutOf(r)?.unlinked !== undefined)).toEqual([]);
  });

  // Both say they are ready first, so tags are sent to them.
  for (const [what, body] of [
    ['throws', "parentPort.on('message', () => { throw new Error('resolver worker failed'); });\nparentPort.postMessage(WORKER_READY);"],
    ['exits', "parentPort.on('message', () => process.exit(3));\nparentPort.postMessage(WORKER_READY);"],
  ] as const) {
    it(`a worker that ${what} hands its tags back to the main thread: same results`, async () => {
      const tags = await allTags();
      const one = await resolveAll(localResolver(createStorageReader(V2), { verifyBlobs: false }, 8), tags);
      const two = twoThreadResolver(createStorageReader(V2), { verifyBlobs: false }, 8, { workerFile: await standInWorker(body) });
      await two.warm();
      expect(await resolveAll(two, tags)).toEqual(one);
      expect(two.handled.worker).toBe(0);
      expect(two.handled.here).toBe(tags.length);
    });
  }

  // A tag sent to a worker still loading its modules would hold back every later result (callers keep their
  // order), and the main thread would idle: until the worker says it is ready, this thread resolves them all.
  it('sends no tag to a worker before it says it is ready', async () => {
    const tags = await allTags();
    const one = await resolveAll(localResolver(createStorageReader(V2), { verifyBlobs: false }, 8), tags);
    // The real worker, after a start-up far longer than resolving the fixture here takes.
    const real = pathToFileURL(path.resolve('dist/resolve-worker.js')).href;
    const slow = await standInWorker(`await new Promise((r) => setTimeout(r, 10_000));\nawait import(${JSON.stringify(real)});`);
    const two = twoThreadResolver(createStorageReader(V2), { verifyBlobs: false }, 8, { workerFile: slow });
    const started = performance.now();
    expect(await resolveAll(two, tags)).toEqual(one);
    expect(two.handled.worker).toBe(0);
    expect(two.handled.here).toBe(tags.length);
    expect(performance.now() - started, 'no result waited for the worker').toBeLessThan(10_000);
  });

  // sync and verify run every request to the target on the main thread: there it resolves only what the worker
  // cannot keep up with. With a window below the worker's backlog mark (2 × parallel), that is nothing; the
  // default equal share, given the same window, resolves part of the tags here.
  it("in 'overflow' mode, the main thread resolves nothing while the worker keeps up", async () => {
    const tags = await allTags();
    const one = await resolveAll(localResolver(createStorageReader(V2), { verifyBlobs: false }, 8), tags);
    const overflow = twoThreadResolver(createStorageReader(V2), { verifyBlobs: false }, 8, { mainThread: 'overflow' });
    await overflow.warm();
    expect(await resolveAll(overflow, tags, 8)).toEqual(one);
    expect(overflow.handled).toEqual({ here: 0, worker: tags.length });

    const share = twoThreadResolver(createStorageReader(V2), { verifyBlobs: false }, 8, { mainThread: 'share' });
    await share.warm();
    expect(await resolveAll(share, tags, 8)).toEqual(one);
    expect(share.handled.here, 'the equal share resolves here too').toBeGreaterThan(0);
    // A backlog past the mark (32 at once, 16 queued on the worker): this thread takes the rest.
    const flooded = twoThreadResolver(createStorageReader(V2), { verifyBlobs: false }, 8, { mainThread: 'overflow' });
    await flooded.warm();
    expect(await resolveAll(flooded, tags)).toEqual(one);
    expect(flooded.handled.here).toBeGreaterThan(0);
  });
});
