import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PreflightError, UsageError } from '../src/errors.js';
import { findAuthKey, redact, resolveCredentials, secretsOf, writeTempAuthFile } from '../src/registry/credentials.js';
import { makeTempDir } from './helpers/registry.js';

const HOST = '127.0.0.1:5000';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function authFile(content: unknown): Promise<string> {
  const dir = await makeTempDir('creds-test');
  const file = path.join(dir, 'auth.json');
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('findAuthKey (skopeo key matching)', () => {
  const keys = ['127.0.0.1:5000', '127.0.0.1:5000/team', '127.0.0.1:5000/team/app', 'https://other:443/v1/', '127.0.0.1'];
  it.each([
    [HOST, undefined, '127.0.0.1:5000'],
    [HOST, 'team/app', '127.0.0.1:5000/team/app'],
    [HOST, 'team/app/sub', '127.0.0.1:5000/team/app'],
    [HOST, 'team/x', '127.0.0.1:5000/team'],
    [HOST, 'teamx/app', '127.0.0.1:5000'],
    ['other:443', undefined, 'https://other:443/v1/'],
    ['127.0.0.1:6000', undefined, undefined], // a host without the port is not the same registry
  ])('%s %s → %s', (host, repo, expected) => {
    expect(findAuthKey(keys, host, repo)).toBe(expected);
  });
});

describe('resolveCredentials', () => {
  it('reads the explicit auth file first and names its source', async () => {
    const file = await authFile({ auths: { [HOST]: { auth: b64('alice:s3cr:et') } } });
    const env = { REGISTRY_RESCUE_USERNAME: 'bob', REGISTRY_RESCUE_PASSWORD: 'x' };
    const creds = await resolveCredentials({ authFile: file, env, host: HOST });
    expect(creds).toMatchObject({ username: 'alice', password: 's3cr:et' });
    expect(creds?.source).toContain(file);
    expect(creds?.source).not.toContain('s3cr');
  });

  it('uses REGISTRY_AUTH_FILE, then the username/password variables', async () => {
    const file = await authFile({ auths: { 'https://127.0.0.1:5000': { auth: b64('carol:pw') } } });
    expect(await resolveCredentials({ env: { REGISTRY_AUTH_FILE: file }, host: HOST })).toMatchObject({ username: 'carol' });
    const env = { REGISTRY_AUTH_FILE: file, REGISTRY_RESCUE_USERNAME: 'dan', REGISTRY_RESCUE_PASSWORD: 'pw2' };
    expect(await resolveCredentials({ env, host: 'elsewhere:1' })).toMatchObject({ username: 'dan', password: 'pw2' });
    expect(await resolveCredentials({ env: {}, host: HOST })).toBeUndefined();
  });

  it('takes the password from stdin without its trailing newline', async () => {
    const creds = await resolveCredentials({ env: { REGISTRY_RESCUE_USERNAME: 'eve' }, host: HOST, passwordFromStdin: 'pw\n' });
    expect(creds).toMatchObject({ username: 'eve', password: 'pw' });
  });

  it('refuses a password without a username', async () => {
    await expect(resolveCredentials({ env: { REGISTRY_RESCUE_PASSWORD: 'topsecret' }, host: HOST })).rejects.toThrow(UsageError);
  });

  it('refuses a missing auth file (skopeo would ignore it), naming the file', async () => {
    const missing = path.join(await makeTempDir('creds-test'), 'nope.json');
    const error = await resolveCredentials({ authFile: missing, env: {}, host: HOST }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    expect((error as Error).message).toBe(`auth file "${missing}" does not exist`);
  });

  it('refuses an unparseable auth file', async () => {
    const file = await authFile('{"auths": {');
    await expect(resolveCredentials({ authFile: file, env: {}, host: HOST })).rejects.toThrow(/auth file ".*auth\.json" is not valid JSON/);
  });

  it('refuses an entry with username/password but no auth, without printing the password', async () => {
    const file = await authFile({ auths: { [HOST]: { username: 'frank', password: 'hunter2-secret' } } });
    const error = (await resolveCredentials({ authFile: file, env: {}, host: HOST }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(PreflightError);
    expect(error.message).toMatch(/no "auth" field, which skopeo ignores/);
    expect(error.message).not.toContain('hunter2-secret');
  });

  it('refuses a credential helper or store for the host in the explicit file, naming it', async () => {
    const helper = await authFile({ credHelpers: { [HOST]: 'ecr-login' } });
    await expect(resolveCredentials({ authFile: helper, env: {}, host: HOST })).rejects.toThrow(
      new RegExp(`^auth file "${helper}" sends ${HOST} to a credential helper \\("credHelpers"\\).*skopeo login --authfile FILE ${HOST}`),
    );
    const store = await authFile({ credsStore: 'secretservice', auths: { [HOST]: {} } });
    await expect(resolveCredentials({ authFile: store, env: {}, host: HOST })).rejects.toThrow(
      `auth file "${store}" keeps the credentials for ${HOST} in the credential store "secretservice" ("credsStore")`,
    );
  });

  it('never quotes a malformed auth value (it holds the password)', async () => {
    const file = await authFile({ auths: { [HOST]: { auth: b64('no-colon-password-xyz') } } });
    const error = (await resolveCredentials({ authFile: file, env: {}, host: HOST }).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/is not base64 of "user:password"/);
    expect(error.message).not.toContain('no-colon-password-xyz');
    expect(error.message).not.toContain(b64('no-colon-password-xyz'));
  });
});

describe('writeTempAuthFile', () => {
  it('writes a 0600 file in a private 0700 dir, readable by skopeo, and removes it', async () => {
    const auth = await writeTempAuthFile(HOST, { username: 'u', password: 'p@ss' });
    const dir = path.dirname(auth.path);
    expect((await stat(auth.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(auth.path, 'utf8'))).toEqual({ auths: { [HOST]: { auth: b64('u:p@ss') } } });
    await auth.dispose();
    await auth.dispose(); // idempotent
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('removes what a dead run of this host left (SIGKILL), never a live run\'s, another host\'s, or a directory not private', async () => {
    const tmpDir = await makeTempDir('creds-sweep');
    const make = async (name: string, mode = 0o700) => {
      await mkdir(path.join(tmpDir, name), { mode });
      await writeFile(path.join(tmpDir, name, 'auth.json'), '{}', { mode: 0o600 });
    };
    await make('registry-rescue-auth-111@here-AbC123'); // dead, this host: removed
    await make('registry-rescue-auth-222@here-DeF456'); // alive: kept
    await make('registry-rescue-auth-111@elsewhere-GhI789'); // another host sharing /tmp: kept
    await make('registry-rescue-auth-333@here-JkL012', 0o755); // not a private directory: not ours to judge
    await make('registry-rescue-auth-xYz123'); // no pid in the name: kept
    const auth = await writeTempAuthFile(HOST, { username: 'u', password: 'p' }, { tmpDir, host: 'here', isAlive: (pid) => pid === 222 });
    expect(path.basename(auth.dir)).toMatch(new RegExp(`^registry-rescue-auth-${process.pid}@here-[A-Za-z0-9]{6}$`));
    expect((await readdir(tmpDir)).sort()).toEqual([
      'registry-rescue-auth-111@elsewhere-GhI789', 'registry-rescue-auth-222@here-DeF456', 'registry-rescue-auth-333@here-JkL012',
      path.basename(auth.dir), 'registry-rescue-auth-xYz123',
    ].sort());
    await auth.dispose();
  });
});

describe('redact', () => {
  it('removes the password and its base64 forms', () => {
    const creds = { username: 'u', password: 'pa ss' };
    const text = `pw=pa ss basic=${b64('u:pa ss')} url=pa%20ss end`;
    expect(redact(text, secretsOf(creds))).toBe('pw=*** basic=*** url=*** end');
    expect(redact('nothing here', secretsOf(undefined))).toBe('nothing here');
  });
});
