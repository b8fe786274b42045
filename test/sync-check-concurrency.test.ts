// README, sync: "the target is asked for each tag's digest first (a manifest HEAD, 32 at once on kept-alive
// connections)". Against a target that already holds every tag, sync must keep CHECK_CONCURRENCY HEADs open at once,
// on that many connections and no more over the whole run, and push nothing. The target is a loopback stand-in
// answering `GET /v2/` and each tag's manifest HEAD from the storage's own links (tagHeads, as the bench's
// head-stub.mjs does); it is not a registry.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateStorage } from '../scripts/bench/generate-storage.mjs';
import { tagHeads } from '../scripts/bench/tag-heads.mjs';
import { CHECK_CONCURRENCY } from '../src/run-sync.js';
import { cli } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';
import { requestGate } from './helpers/request-gate.js';

describe('up-to-date checks', () => {
  it(`keep ${CHECK_CONCURRENCY} manifest HEADs in flight on as many kept-alive connections, and push nothing`, async () => {
    const dir = await makeTempDir('rr-check-concurrency-');
    const storage = path.join(dir, 'storage');
    const { v2, tagsFile } = generateStorage({ dir: storage, tags: CHECK_CONCURRENCY * 3, seed: 7 });
    const manifests = tagHeads(v2, tagsFile);
    // Each HEAD is held until CHECK_CONCURRENCY are open at once, or 300 ms passed with fewer (the last ones).
    const gate = requestGate(CHECK_CONCURRENCY, 300);
    let heads = 0;
    const other: string[] = [];
    const headSockets = new Set<unknown>();
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/v2/') {
        res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json', 'content-length': 2 });
        return res.end('{}');
      }
      const found = req.method === 'HEAD' ? manifests.get(req.url ?? '') : undefined;
      if (found === undefined) {
        other.push(`${req.method} ${req.url}`);
        res.writeHead(404, { 'content-length': 0 });
        return res.end();
      }
      heads++;
      headSockets.add(req.socket);
      gate.hold(() => {
        res.writeHead(200, { 'docker-content-digest': found[0], 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'content-length': found[1] });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await cli(['sync', storage, '--to', host, '--dest-tls-verify=false', '--out', path.join(dir, 'out'), '-q', '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const counts = JSON.parse(r.stdout).summary.counts as Record<string, number>;
      expect(counts['up-to-date']).toBe(manifests.size);
      expect(counts.synced ?? 0).toBe(0);
    } finally {
      gate.stop();
      server.close();
      server.closeAllConnections();
    }
    expect(heads).toBe(manifests.size);
    expect(gate.most).toBe(CHECK_CONCURRENCY);
    // One connection for GET /v2/, then one per HEAD in flight, each reused for the next HEADs.
    // 32 at once need 32 connections, and kept alive, no more carried a HEAD in the whole run.
    expect(headSockets.size).toBe(CHECK_CONCURRENCY);
    // Besides the HEADs and the ping: only the look for Harbor's API, which finds none.
    expect(other).toEqual(['GET /api/v2.0/systeminfo']);
  }, 120_000);
});
