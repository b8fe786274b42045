// Names and bytes from a damaged or hostile storage reach the text output: a tag directory named with an ESC
// sequence, a link to a gzip'd layer (V8's JSON.parse message quotes its first bytes: NULs and control bytes),
// an artifactType with C1 controls and a bidi override. Text output must carry none of them raw: ESC sequences
// drive the operator's terminal, and a NUL makes `registry-rescue list | grep broken` print "binary file matches"
// instead of the lines. JSON output stays exact (JSON.stringify escapes controls).
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { printable } from '../src/report/printable.js';
import { cli, copyFixture, pushOnDisk } from './helpers/cli.js';

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('text output from hostile storage', () => {
  it('printable escapes controls, C1 and bidi overrides, and keeps the rest', () => {
    expect(printable('a\u001b[31mb\u0000c\u009b\u202ed\nü')).toBe('a\\u001b[31mb\\u0000c\\u009b\\u202ed\\u000aü');
    expect(printable('proj/team/app:1.0 sha256:ab')).toBe('proj/team/app:1.0 sha256:ab');
  });

  it('list and export print no raw control bytes, whatever the names and manifests hold', async () => {
    const { dir, storage, v2 } = await copyFixture();
    const tags = path.join(v2, 'repositories/proj/a/app/_manifests/tags');
    await cp(path.join(tags, '1.0'), path.join(tags, 'e\u001b]0;PWNED\u0007x'), { recursive: true });
    // A tag link naming a gzip'd layer (a link restored from the wrong file): not JSON, binary.
    const layer = 'sha256:e1aa7c249537cde999ae213465aa719c51ee37948cead09b63f1d3a7e6579dcb';
    const rev = path.join(v2, 'repositories/proj/b/app/_manifests/revisions/sha256', layer.slice(7));
    await mkdir(rev, { recursive: true });
    await writeFile(path.join(rev, 'link'), layer);
    await writeFile(path.join(v2, 'repositories/proj/b/app/_manifests/tags/1.0/current/link'), layer);
    await pushOnDisk(
      v2,
      'bad/artifact',
      '1.0',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/x\u009b2J\u202eevil',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 },
        layers: [],
      }),
    );
    const empty = path.join(v2, 'blobs/sha256/44/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    await mkdir(empty, { recursive: true });
    await writeFile(path.join(empty, 'data'), '{}');

    const list = await cli(['list', storage]);
    expect(list.exitCode, list.stderr).toBe(4);
    expect(list.stdout).toMatch(/proj\/a\/app:e\\u001b\]0;PWNED\\u0007x/);
    expect(list.stdout).toMatch(/proj\/b\/app:1\.0[^\n]*\n[^\n]*cannot be parsed: not JSON/);
    expect(list.stdout).toMatch(/ artifact .* sha256:[0-9a-f]{64} +application\/x\\u009b2J\\u202eevil$/m);
    for (const line of list.stdout.split('\n')) expect(line, JSON.stringify(line)).not.toMatch(RAW_CONTROL);

    const exp = await cli(['export', storage, '--out', path.join(dir, 'out')]);
    expect(exp.exitCode, exp.stderr).toBe(4);
    for (const line of `${exp.stdout}${exp.stderr}`.split('\n')) expect(line, JSON.stringify(line)).not.toMatch(RAW_CONTROL);

    // JSON keeps the exact names.
    const json = JSON.parse((await cli(['list', storage, '--json'])).stdout);
    expect(json.images.some((i: any) => i.tag === 'e\u001b]0;PWNED\u0007x')).toBe(true);
  });
});
