// The `list` table is written line by line as results come, so its columns have fixed places: an index's platforms,
// an artifact's type and a referrer's subject vary in length and come last, after the digest, where they push nothing.
import { describe, expect, it } from 'vitest';
import { cli, FIXTURE_STORAGE } from './helpers/cli.js';

describe('list table', () => {
  it('keeps SIZE and DIGEST in their columns for every kind; the kind detail is the last column', async () => {
    const r = await cli(['list', FIXTURE_STORAGE]);
    expect(r.exitCode, r.stderr).toBe(4); // the fixture's broken tags
    const [header, ...rest] = r.stdout.split('\n');
    const digestAt = (header as string).indexOf('DIGEST');
    const sizeEnd = (header as string).indexOf('SIZE') + 'SIZE'.length;
    // Rows, not the problem lines under them; references longer than the column push the line (none is cut).
    const rows = rest.filter((l) => /^(ok|broken|skipped) /.test(l) && l.split(/\s+/)[1]!.length <= 40);
    expect(rows.length).toBeGreaterThan(20);
    const kinds = new Set<string>();
    for (const row of rows) {
      expect(row.slice(digestAt), row).toMatch(/^(sha256:[0-9a-f]{64}|-)( {2}\S.*)?$/);
      expect(row.slice(0, sizeEnd), row).toMatch(/ (\d+(\.\d+)? k?B)$/);
      kinds.add(row.split(/\s+/)[2]!);
    }
    for (const kind of ['image', 'index', 'artifact']) expect(kinds).toContain(kind);
    expect(rows.find((l) => l.includes('multi/oci-index:1.0'))).toMatch(/ index +\S+ kB  sha256:[0-9a-f]{64}  linux\/amd64,linux\/arm64$/);
    expect(rows.find((l) => l.includes('charts/mychart:0.1.0'))).toMatch(/ artifact +\S+ B  sha256:[0-9a-f]{64}  application\/vnd\.cncf\.helm\.config\.v1\+json$/);
  });
});
