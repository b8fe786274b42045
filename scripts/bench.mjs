#!/usr/bin/env node
// npm run bench [-- --tags N]: speed and memory of list/export on a large storage tree.
// The tree is the bundled fixture's blobs plus N tags spread over many nested repositories, each
// pointing at one of the fixture's good manifests (images, indexes, artifacts), laid out exactly
// as distribution writes tags and revision links. Figures are printed, never asserted: machines
// are shared and noisy, so the ratios against a plain `find` walk of the same tree, measured in
// the same run, are the numbers to compare across machines.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TAGS = arg('--tags', 10_000);
const REPOS = Math.max(1, Math.round(TAGS / 20));

const work = mkdtempSync(path.join(os.tmpdir(), 'rr-bench-'));
if (!process.env.BENCH_KEEP) process.on('exit', () => rmSync(work, { recursive: true, force: true }));
else console.log('keeping', work);
const v2 = path.join(work, 'storage/docker/registry/v2');
cpSync(path.join(root, 'fixtures/storage/docker/registry/v2/blobs'), path.join(v2, 'blobs'), { recursive: true });

const expected = JSON.parse(readFileSync(path.join(root, 'fixtures/expected.json'), 'utf8')).tags.filter((t) => t.status === 'ok');
const digests = [...new Set(expected.map((t) => t.digest))];
const children = new Map();
for (const d of digests) {
  const m = JSON.parse(readFileSync(path.join(v2, 'blobs/sha256', d.slice(7, 9), d.slice(7), 'data'), 'utf8'));
  children.set(d, (m.manifests ?? []).map((c) => c.digest));
}

const t0 = performance.now();
for (let r = 0; r < REPOS; r++) {
  const repo = path.join(v2, 'repositories', `team${r % 10}`, `group${r % 7}`, `app${r}`);
  for (const d of digests) {
    for (const rev of [d, ...children.get(d)]) {
      const dir = path.join(repo, '_manifests/revisions/sha256', rev.slice(7));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'link'), rev);
    }
  }
}
const tagLines = [];
for (let i = 0; i < TAGS; i++) {
  const d = digests[i % digests.length];
  const repository = `team${(i % REPOS) % 10}/group${(i % REPOS) % 7}/app${i % REPOS}`;
  tagLines.push(`${repository}:v${i}\n`);
  const tagDir = path.join(v2, 'repositories', repository, '_manifests/tags', `v${i}`);
  mkdirSync(path.join(tagDir, 'current'), { recursive: true });
  mkdirSync(path.join(tagDir, 'index/sha256', d.slice(7)), { recursive: true });
  writeFileSync(path.join(tagDir, 'current/link'), d);
  writeFileSync(path.join(tagDir, 'index/sha256', d.slice(7), 'link'), d);
}
// A tags file naming every tag on its own line, as `tags` writes it from Harbor: the selection's worst case.
const tagsFile = path.join(work, 'every.tags');
writeFileSync(tagsFile, tagLines.join(''));
console.log(`storage: ${TAGS} tags in ${REPOS} repositories, ${digests.length} distinct manifests (built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

function run(label, cmd, args) {
  const start = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = performance.now() - start;
  if (r.status !== 0 && r.status !== 4) throw new Error(`${label} failed (${r.status}): ${r.stderr}`);
  const rss = /BENCH_MAX_RSS_KB=(\d+)/.exec(r.stderr ?? '')?.[1];
  return { label, ms, rssMb: rss ? Number(rss) / 1024 : undefined };
}
const rr = (label, ...args) => run(label, 'node', ['--import', path.join(root, 'scripts/bench-rss.mjs'), path.join(root, 'bin/registry-rescue.js'), ...args]);

execFileSync('sync');
const results = [
  run('find (I/O floor)', 'find', [path.join(v2, 'repositories'), '-name', 'link']),
  rr('list --json', 'list', path.join(work, 'storage'), '--json', '-q'),
  rr('list with a tags file of every tag', 'list', path.join(work, 'storage'), '--tags-file', tagsFile, '--json', '-q'),
  rr('export --dry-run', 'export', path.join(work, 'storage'), '--out', path.join(work, 'out'), '--dry-run', '--json'),
  rr('export (hard links)', 'export', path.join(work, 'storage'), '--out', path.join(work, 'out'), '-q'),
  rr('export again (unchanged)', 'export', path.join(work, 'storage'), '--out', path.join(work, 'out'), '-q'),
];
const floor = results[0].ms;
const width = Math.max(...results.map((r) => r.label.length));
console.log(`\n${'step'.padEnd(width)} ${'seconds'.padStart(8)} ${'tags/s'.padStart(9)} ${'x find'.padStart(7)} ${'peak RSS'.padStart(9)}`);
for (const r of results) {
  console.log(
    `${r.label.padEnd(width)} ${(r.ms / 1000).toFixed(2).padStart(8)} ${Math.round(TAGS / (r.ms / 1000)).toString().padStart(9)} ${(r.ms / floor).toFixed(1).padStart(7)} ${r.rssMb ? `${r.rssMb.toFixed(0)} MB`.padStart(9) : ''.padStart(9)}`,
  );
}
console.log(`\ntarget: about 10,000 tags exported in ~2 s on 2 cores (later compared with a minimal C implementation).`);
