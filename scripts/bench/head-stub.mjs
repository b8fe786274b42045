#!/usr/bin/env node
// node head-stub.mjs <storage> <tags file>
//
// A stand-in target that already holds every tag of <storage>: on 127.0.0.1 (a free port, printed on stdout as
// host:port) it answers `GET /v2/` and each `HEAD /v2/<repository>/manifests/<tag>` with the digest the tag's link
// holds, read once at start, from memory; anything else is a 404. It is not a registry: it shows how many tags per
// second registry-rescue's own up-to-date check gets through when the target answers at no cost, where a local
// docker-registry spends ~1.5 ms of the same 2 cores per HEAD. npm run bench -- --sync starts it in its own
// process, as it does delay-proxy.mjs.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [storage, tagsFile] = process.argv.slice(2);
if (!storage || !tagsFile) {
  console.error('usage: head-stub.mjs <storage> <tags file>');
  process.exit(2);
}
const repositories = path.join(storage, 'docker/registry/v2/repositories');
const digests = new Map();
for (const line of readFileSync(tagsFile, 'utf8').trim().split('\n')) {
  const at = line.lastIndexOf(':');
  const [repository, tag] = [line.slice(0, at), line.slice(at + 1)];
  digests.set(`/v2/${repository}/manifests/${tag}`, readFileSync(path.join(repositories, repository, '_manifests/tags', tag, 'current/link'), 'utf8').trim());
}
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method === 'GET' && req.url === '/v2/') {
    res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json', 'content-length': 2 });
    return res.end('{}');
  }
  const digest = req.method === 'HEAD' ? digests.get(req.url) : undefined;
  if (digest === undefined) {
    res.writeHead(404, { 'content-length': 0 });
    return res.end();
  }
  res.writeHead(200, { 'docker-content-digest': digest, 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' });
  res.end();
});
server.listen(0, '127.0.0.1', () => console.log(`127.0.0.1:${server.address().port}`));
