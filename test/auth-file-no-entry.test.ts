/**
 * A named auth file without an entry for the target (a login made to another name or port): the run says so,
 * naming the file and the exact host to log in to, instead of only relaying the target's "requires credentials:
 * pass --dest-authfile FILE" for the file the operator did pass.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';

describe('auth file without an entry for the target', () => {
  it('names the file and the host it lacks (--dest-authfile and REGISTRY_AUTH_FILE)', async () => {
    const { dir, storage } = await copyFixture();
    const authFile = path.join(dir, 'auth.json');
    const secret = Buffer.from('user:s3cret-value').toString('base64');
    await writeFile(authFile, JSON.stringify({ auths: { 'harbor-dr.example.com': { auth: secret } } }), { mode: 0o600 });
    const base = ['sync', storage, '--to', '127.0.0.1:5999', '--dry-run', '--out', path.join(dir, 'out'), '-q'];
    const expected = `warning: auth file "${authFile}" has no entry for 127.0.0.1:5999 (log in to exactly that host[:port]: skopeo login --authfile ${authFile} 127.0.0.1:5999)`;
    const byFlag = await cli([...base, '--dest-authfile', authFile]);
    expect(byFlag.stderr).toContain(expected);
    const byEnv = await cli(base, { env: { REGISTRY_AUTH_FILE: authFile } });
    expect(byEnv.stderr).toContain(expected);
    for (const r of [byFlag, byEnv]) expect(`${r.stdout}${r.stderr}`).not.toContain(secret);
    // An entry for the target: no warning.
    await writeFile(authFile, JSON.stringify({ auths: { '127.0.0.1:5999': { auth: secret } } }), { mode: 0o600 });
    const found = await cli([...base, '--dest-authfile', authFile]);
    expect(found.stderr).not.toContain('has no entry');
  }, 120_000);
});
