/**
 * Where credentials come from when no --dest-authfile is given: skopeo's default auth files
 * (containers-auth.json(5)) in its order, after REGISTRY_AUTH_FILE and the username/password variables.
 * Every location lives under one temp dir: HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME come from the env given.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PreflightError } from '../src/errors.js';
import { defaultAuthFiles, resolveCredentials } from '../src/io/credentials.js';
import { makeTempDir } from './helpers/registry.js';

const HOST = '127.0.0.1:5000';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const entry = (user: string, password = `${user}-pw`) => ({ auths: { [HOST]: { auth: b64(`${user}:${password}`) } } });

/** A temp dir with home/, runtime/ and config/ (not created inside: each test writes what it needs). */
async function sandbox(): Promise<{ env: Record<string, string>; home: string; runtime: string; config: string; write(rel: string, body: unknown): Promise<string> }> {
  const root = await makeTempDir('creds-search');
  const home = path.join(root, 'home');
  const runtime = path.join(root, 'runtime');
  const config = path.join(root, 'config');
  await Promise.all([home, runtime, config].map((d) => mkdir(d)));
  const write = async (rel: string, body: unknown): Promise<string> => {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, typeof body === 'string' ? body : JSON.stringify(body));
    return file;
  };
  return { env: { HOME: home, XDG_RUNTIME_DIR: runtime }, home, runtime, config, write };
}

const search = (env: Record<string, string | undefined>, extra: { authFile?: string; passwordFromStdin?: string } = {}) =>
  resolveCredentials({ env, host: HOST, searchDefaultFiles: true, ...extra });

describe('defaultAuthFiles (skopeo search order)', () => {
  it('lists runtime dir, config home, docker config, legacy dockercfg', () => {
    expect(defaultAuthFiles({ HOME: '/h', XDG_RUNTIME_DIR: '/run/user/7' }, 7)).toEqual([
      { path: '/run/user/7/containers/auth.json', legacy: false },
      { path: '/h/.config/containers/auth.json', legacy: false },
      { path: '/h/.docker/config.json', legacy: false },
      { path: '/h/.dockercfg', legacy: true },
    ]);
  });

  it('falls back to /run/containers/UID without XDG_RUNTIME_DIR; honours XDG_CONFIG_HOME and DOCKER_CONFIG', () => {
    expect(defaultAuthFiles({ HOME: '/h', XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dc' }, 0).map((f) => f.path)).toEqual([
      '/run/containers/0/auth.json',
      '/cfg/containers/auth.json',
      '/dc/config.json',
      '/h/.dockercfg',
    ]);
    expect(defaultAuthFiles({})).toEqual([]);
  });
});

describe('resolveCredentials: the default files', () => {
  it.each([
    ['$XDG_RUNTIME_DIR/containers/auth.json', 'runtime/containers/auth.json', {}],
    ['$HOME/.config/containers/auth.json', 'home/.config/containers/auth.json', {}],
    ['$XDG_CONFIG_HOME/containers/auth.json', 'config/containers/auth.json', { XDG_CONFIG_HOME: 'config' }],
    ['$HOME/.docker/config.json', 'home/.docker/config.json', {}],
    ['$DOCKER_CONFIG/config.json', 'dc/config.json', { DOCKER_CONFIG: 'dc' }],
  ])('finds credentials in %s and names it', async (_name, rel, vars: Record<string, string>) => {
    const box = await sandbox();
    const file = await box.write(rel, entry('found'));
    const root = path.dirname(box.home);
    const env = { ...box.env, ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, path.join(root, v)])) };
    const creds = await search(env);
    expect(creds).toMatchObject({ username: 'found', password: 'found-pw' });
    expect(creds?.source).toBe(`auth file "${file}" (entry "${HOST}")`);
  });

  it('finds credentials in the legacy $HOME/.dockercfg (URL keys)', async () => {
    const box = await sandbox();
    const file = await box.write('home/.dockercfg', { [`https://${HOST}/v1/`]: { auth: b64('old:pw'), email: 'x@y' } });
    expect(await search(box.env)).toMatchObject({ username: 'old', source: `auth file "${file}" (entry "https://${HOST}/v1/")` });
  });

  it('takes the first file that has an entry for the host, skipping files without one', async () => {
    const box = await sandbox();
    await box.write('runtime/containers/auth.json', { auths: { 'other:1': { auth: b64('o:p') } } });
    await box.write('home/.config/containers/auth.json', { auths: {} });
    const docker = await box.write('home/.docker/config.json', entry('docker'));
    await box.write('home/.dockercfg', { [HOST]: { auth: b64('legacy:pw') } });
    expect(await search(box.env)).toMatchObject({ username: 'docker', source: expect.stringContaining(docker) });
    // An earlier file with an entry wins over every later one.
    const runtime = await box.write('runtime/containers/auth.json', entry('runtime'));
    expect(await search(box.env)).toMatchObject({ username: 'runtime', source: expect.stringContaining(runtime) });
    await box.write('home/.config/containers/auth.json', entry('config'));
    expect(await search(box.env)).toMatchObject({ username: 'runtime' });
  });

  it('REGISTRY_AUTH_FILE, then the variables, beat the default files; a named file replaces them', async () => {
    const box = await sandbox();
    await box.write('runtime/containers/auth.json', entry('default'));
    const named = await box.write('named.json', entry('named'));
    const vars = { REGISTRY_RESCUE_USERNAME: 'envuser', REGISTRY_RESCUE_PASSWORD: 'envpw' };
    expect(await search({ ...box.env, ...vars, REGISTRY_AUTH_FILE: named })).toMatchObject({ username: 'named' });
    expect(await search({ ...box.env, ...vars })).toMatchObject({ username: 'envuser', source: 'REGISTRY_RESCUE_USERNAME/REGISTRY_RESCUE_PASSWORD' });
    expect(await search({ ...box.env, REGISTRY_RESCUE_USERNAME: 'eve' }, { passwordFromStdin: 'typed\n' })).toMatchObject({ username: 'eve', password: 'typed' });
    expect(await search(box.env)).toMatchObject({ username: 'default' });
    // A named file without an entry for the host: the variables, else nothing (the defaults are not read).
    const empty = await box.write('empty.json', { auths: {} });
    expect(await search({ ...box.env, REGISTRY_AUTH_FILE: empty })).toBeUndefined();
    expect(await search({ ...box.env, ...vars }, { authFile: empty })).toMatchObject({ username: 'envuser' });
  });

  it('--dest-password-stdin beats REGISTRY_AUTH_FILE (the password was given for this run)', async () => {
    const box = await sandbox();
    const named = await box.write('named.json', entry('named'));
    const creds = await search({ ...box.env, REGISTRY_AUTH_FILE: named, REGISTRY_RESCUE_USERNAME: 'eve' }, { passwordFromStdin: 'typed' });
    expect(creds).toMatchObject({ username: 'eve', password: 'typed', source: 'REGISTRY_RESCUE_USERNAME and standard input' });
  });

  it('without searchDefaultFiles (the tags command) the default files are not read', async () => {
    const box = await sandbox();
    await box.write('runtime/containers/auth.json', entry('default'));
    expect(await resolveCredentials({ env: box.env, host: HOST })).toBeUndefined();
  });

  it('returns nothing when no file exists and no variable is set', async () => {
    const box = await sandbox();
    expect(await search(box.env)).toBeUndefined();
  });

  it('refuses a malformed default file, naming it, even when a later one has the entry', async () => {
    const box = await sandbox();
    const bad = await box.write('home/.config/containers/auth.json', '{"auths": {');
    await box.write('home/.docker/config.json', entry('docker'));
    const error = (await search(box.env).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(PreflightError);
    expect(error.message).toMatch(new RegExp(`^auth file "${bad}" is not valid JSON`));
  });

  it('refuses an unreadable default file, naming it', async () => {
    const box = await sandbox();
    await box.write('home/.docker/config.json', entry('docker'));
    // Tests may run as root, who reads any mode: a directory where the file should be cannot be read by anyone.
    const file = path.dirname(await box.write('home/.config/containers/auth.json/x', ''));
    const error = (await search(box.env).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(PreflightError);
    expect(error.message).toBe(`auth file "${file}" cannot be read (EISDIR)`);
  });

  it('refuses a credential helper or store for the host, naming the file; ignores helpers for other hosts', async () => {
    const box = await sandbox();
    const helper = await box.write('home/.docker/config.json', { credHelpers: { [HOST]: 'pass' } });
    await expect(search(box.env)).rejects.toThrow(`auth file "${helper}" sends ${HOST} to a credential helper ("credHelpers")`);
    await box.write('home/.docker/config.json', { credsStore: 'desktop', auths: { [HOST]: {} } });
    await expect(search(box.env)).rejects.toThrow(`auth file "${helper}" keeps the credentials for ${HOST} in the credential store "desktop" ("credsStore")`);
    await box.write('home/.docker/config.json', { credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' }, auths: { 'gcr.io': {} } });
    expect(await search(box.env)).toBeUndefined();
  });
});
