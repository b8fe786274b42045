/**
 * A signal that arrives while `sync` is still asking the target about an image (the Harbor project check or the
 * HEAD of the tag, before any skopeo process) makes that image `canceled`, not `failed`. Timing that with real
 * processes is guesswork, so runSync() is called in process against a loopback stand-in target (node:http on
 * 127.0.0.1) that aborts the run's signal the moment the request in question arrives, and never answers it.
 * No skopeo is started: the push never gets that far (`--skopeo` names a fake that fails, which would make the image
 * `failed`; it must exist, as sync checks before its export).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InterruptedError } from '../src/errors.js';
import type { ProgressEvent } from '../src/core/events.js';
import type { SyncResult } from '../src/core/sync-plan.js';
import { runSync, type SyncOptions } from '../src/run-sync.js';
import { copyFixture, expectedTags } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';
import { idOf, writeTagsFile } from './helpers/sync.js';

const ID = 'library/alpine-like:3.19';

interface Stub {
  host: string;
  /** Requests seen, `METHOD path`. */
  seen: string[];
  close(): Promise<void>;
}

/**
 * A registry at `/v2/` (and a Harbor at `/api/v2.0/` when `harbor`) that calls `onHang` and never answers the
 * first request `hang` matches.
 */
async function startStub(opts: { harbor: boolean; hang: (method: string, pathname: string) => boolean; onHang: () => void }): Promise<Stub> {
  const seen: string[] = [];
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'docker-distribution-api-version': 'registry/2.0' });
    res.end(text);
  };
  const server = http.createServer((req, res) => {
    const method = req.method ?? '';
    const pathname = new URL(req.url ?? '/', 'http://stub').pathname;
    seen.push(`${method} ${pathname}`);
    req.resume();
    if (opts.hang(method, pathname)) return opts.onHang();
    if (pathname === '/v2/') return json(res, 200, {});
    if (pathname === '/api/v2.0/systeminfo' && opts.harbor) return json(res, 200, { auth_mode: 'db_auth', harbor_version: 'v2.11.0-stub' });
    if (pathname.startsWith('/api/v2.0/projects/') && opts.harbor) return json(res, 200, { project_id: 1, name: pathname.split('/')[4], metadata: { public: 'false' } });
    return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('an interrupt while sync checks the target', () => {
  let stub: Stub | undefined;
  afterEach(async () => {
    await stub?.close();
    stub = undefined;
  });

  const cases = [
    { what: 'the HEAD of the target tag', harbor: false, hang: (m: string, p: string) => m === 'HEAD' && p.includes('/manifests/') },
    { what: 'the Harbor project check', harbor: true, hang: (m: string, p: string) => m === 'GET' && p.startsWith('/api/v2.0/projects/') },
  ];
  for (const c of cases) {
    it(`during ${c.what}: the image is canceled, not failed`, async () => {
      const t = (await expectedTags()).find((x) => idOf(x) === ID);
      expect(t?.status).toBe('ok');
      const fx = await copyFixture();
      const work = await makeTempDir('rr-push-abort');
      const tagsFile = await writeTagsFile(path.join(work, 'one.txt'), [t as NonNullable<typeof t>]);
      const controller = new AbortController();
      stub = await startStub({ harbor: c.harbor, hang: c.hang, onHang: () => controller.abort(new InterruptedError('SIGTERM')) });
      const events: ProgressEvent[] = [];
      const opts: SyncOptions = {
        storage: fx.storage,
        to: stub.host,
        tagsFile,
        exclude: [],
        dryRun: false,
        prune: false,
        link: 'hard',
        verifyBlobs: false,
        concurrency: 1,
        retries: 0,
        createProjects: false,
        destTlsVerify: false,
        skopeo: path.join(import.meta.dirname, 'bin/skopeo-fatal.js'),
      };
      const results: SyncResult[] = [];
      const run = await runSync(opts, { cwd: work, onExit: () => {}, env: {}, signal: controller.signal, emit: (e) => events.push(e) }, (r) => results.push(r));

      expect(controller.signal.aborted, `the stub never saw ${c.what}: ${stub.seen.join(', ')}`).toBe(true);
      expect(results.map((r) => r.id)).toEqual([ID]);
      const result = results[0];
      expect(result, JSON.stringify(result)).toMatchObject({ id: ID, status: 'canceled', attempts: 0 });
      expect(result?.reason).not.toMatch(/^interrupted by/);
      expect(run.totals.counts).toMatchObject({ canceled: 1, failed: 0 });
      // The hanging request was the last one: nothing was asked or pushed after the interrupt.
      const [method = '', pathname = ''] = (stub.seen.at(-1) ?? '').split(' ');
      expect(c.hang(method, pathname), stub.seen.join(', ')).toBe(true);
      expect(events.filter((e) => e.kind === 'warning')).toEqual([]);
    });
  }
});
