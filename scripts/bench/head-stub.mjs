#!/usr/bin/env node
// node head-stub.mjs <storage> <tags file>
//
// A stand-in target that already holds every tag of <storage>: on 127.0.0.1 (a free port, printed on stdout as
// host:port) it answers `GET /v2/` and each `HEAD /v2/<repository>/manifests/<tag>` with the digest the tag's link
// holds and the manifest's size, read once at start, from memory; anything else is a 404. It is not a registry: it
// shows how many tags per second registry-rescue's own up-to-date check gets through when the target answers at no
// cost, where a local docker-registry spends ~1.5 ms of the same 2 cores per HEAD. npm run bench -- --sync starts it
// in its own process, as it does delay-proxy.mjs.
//
// Every answer has a content-length, as Distribution's do (a HEAD's is the manifest's size): without one, Node's
// server ends each HEAD by closing the connection, and every check paid a new TCP connection.
import http from 'node:http';
import path from 'node:path';
import { tagHeads } from './tag-heads.mjs';

const [storage, tagsFile] = process.argv.slice(2);
if (!storage || !tagsFile) {
  console.error('usage: head-stub.mjs <storage> <tags file>');
  process.exit(2);
}
/** `/v2/<repository>/manifests/<tag>` → [digest, manifest size]. */
const manifests = tagHeads(path.join(storage, 'docker/registry/v2'), tagsFile);
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method === 'GET' && req.url === '/v2/') {
    res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json', 'content-length': 2 });
    return res.end('{}');
  }
  const found = req.method === 'HEAD' ? manifests.get(req.url) : undefined;
  if (found === undefined) {
    res.writeHead(404, { 'content-length': 0 });
    return res.end();
  }
  const [digest, size] = found;
  res.writeHead(200, { 'docker-content-digest': digest, 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'content-length': size });
  res.end();
});
server.listen(0, '127.0.0.1', () => console.log(`127.0.0.1:${server.address().port}`));
