// What a target holding every tag of a generated tree answers to each manifest HEAD: `/v2/<repository>/manifests/<tag>`
// → [digest, manifest size], read from the tree's own tag links and manifest blobs for every `repository:tag` line
// of its tags file. Used by head-stub.mjs (the bench's stand-in target) and by the test that holds sync's checks.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export function tagHeads(v2, tagsFile) {
  const heads = new Map();
  for (const line of readFileSync(tagsFile, 'utf8').trim().split('\n')) {
    const at = line.lastIndexOf(':');
    const [repository, tag] = [line.slice(0, at), line.slice(at + 1)];
    const digest = readFileSync(path.join(v2, 'repositories', repository, '_manifests/tags', tag, 'current/link'), 'utf8').trim();
    const hex = digest.slice('sha256:'.length);
    heads.set(`/v2/${repository}/manifests/${tag}`, [digest, statSync(path.join(v2, 'blobs/sha256', hex.slice(0, 2), hex, 'data')).size]);
  }
  return heads;
}
