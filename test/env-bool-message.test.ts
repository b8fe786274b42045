/** A bad boolean from the environment names its variable (an EnvironmentFile or crontab holds a dozen settings). */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';

describe('a bad boolean value', () => {
  it('from REGISTRY_RESCUE_DEST_TLS_VERIFY: exit 2 naming the variable and the option', async () => {
    const { dir, storage } = await copyFixture();
    const r = await cli(['sync', storage, '--to', '127.0.0.1:5999', '--dry-run', '--out', path.join(dir, 'out')], { env: { REGISTRY_RESCUE_DEST_TLS_VERIFY: 'no' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--dest-tls-verify/);
    expect(r.stderr).toMatch(/REGISTRY_RESCUE_DEST_TLS_VERIFY/);
    expect(r.stderr).toMatch(/expected true or false, not "no"/);
  });
  it('on the command line: exit 2 naming the option', async () => {
    const { dir, storage } = await copyFixture();
    const r = await cli(['sync', storage, '--to', '127.0.0.1:5999', '--dry-run', '--out', path.join(dir, 'out'), '--dest-tls-verify=maybe']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--dest-tls-verify/);
    expect(r.stderr).toMatch(/expected true or false, not "maybe"/);
  });
});
