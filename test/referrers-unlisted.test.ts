// A repository whose revision list cannot be read: its untagged referrers (signatures, SBOMs attached by digest)
// cannot be found. The run says so, naming the directory, and is partial (exit 4), instead of leaving them out
// unsaid. Read as `nobody` (root reads everything), so it needs root to run setpriv.
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, copyFixture } from './helpers/cli.js';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

describe('a revision list that cannot be read', () => {
  it.skipIf(!isRoot)('is named among the unreadable directories and makes the run partial', async () => {
    const { dir, storage, v2 } = await copyFixture();
    chmodSync(dir, 0o755); // mkdtemp's 0700 would hide everything from nobody
    const revisions = 'repositories/proj/team/app/_manifests/revisions/sha256';
    chmodSync(path.join(v2, revisions), 0o700);
    const r = await execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'node', BIN, 'list', storage, '--json'], {
      reject: false,
      stdin: 'ignore',
      timeout: 120_000,
    });
    expect(r.exitCode, String(r.stderr)).toBe(4);
    const doc = JSON.parse(String(r.stdout));
    // With the mode and owner that refuse, and what to do.
    const message = `cannot list the manifests of proj/team/app (${revisions}: permission denied (mode 0700, owner uid 0 gid 0; running as uid ${NOBODY}): this user cannot list it; chmod it (a registry's directories are 0755) or run as its owner): its untagged referrers (signatures, SBOMs) are not exported`;
    expect(doc.summary.unreadable).toContain(message);
    // The other repositories' images are listed as usual.
    expect(doc.images.find((i: { repository: string; tag: string }) => i.repository === 'library/alpine-like' && i.tag === '3.19')?.status).toBe('ok');
  });
});
