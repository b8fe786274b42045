/**
 * Where credentials come from when no --dest-authfile is given: skopeo's default auth files
 * (containers-auth.json(5)) in its order, after REGISTRY_AUTH_FILE and the username/password variables.
 * Every location lives under one temp dir: HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME come from the env given.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { PreflightError } from '../src/errors.js';
import { defaultAuthFiles, resolveCredentials } from '../src/registry/credentials.js';
import { BIN, ROOT, cli, copyFixture, expectedTags } from './helpers/cli.js';
import { closedPort, makeTempDir, requireTool, startRegistry } from './helpers/registry.js';
import { writeTagsFile } from './helpers/sync.js';

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

/** The CLI's environment: only what a test names, so the machine's own auth files and variables never count. */
function isolatedEnv(vars: Record<string, string>): Record<string, string | undefined> {
  const cleared = ['REGISTRY_AUTH_FILE', 'REGISTRY_RESCUE_USERNAME', 'REGISTRY_RESCUE_PASSWORD', 'XDG_CONFIG_HOME', 'DOCKER_CONFIG'];
  return { ...Object.fromEntries(cleared.map((k) => [k, undefined])), ...vars };
}

describe('the CLI and the default auth files', () => {
  it('sync names the file it took the credentials from, once, and never prints the password', async () => {
    const box = await sandbox();
    const host = `127.0.0.1:${await closedPort()}`;
    const secret = 'pw-from-docker-config-7Q';
    const file = await box.write('home/.docker/config.json', { auths: { [host]: { auth: b64(`dockeruser:${secret}`) } } });
    const r = await cli(['sync', 'fixtures/storage', '--to', host], { env: isolatedEnv(box.env) });
    // Past the credentials, the next stage (connecting) fails: nothing listens there.
    expect(r.exitCode, r.stderr).toBe(3);
    const info = `using credentials for ${host} from auth file "${file}" (entry "${host}")\n`;
    expect(r.stderr.split(info)).toHaveLength(2);
    expect(r.stderr).toMatch(new RegExp(`^registry-rescue: exit 3, cannot reach ${host.replace(/\./g, '\\.')}: connection refused`, 'm'));
    for (const leak of [secret, b64(`dockeruser:${secret}`)]) expect(r.stdout + r.stderr).not.toContain(leak);
  });

  it('tags names the file it took the credentials from too, once, and never prints the password', async () => {
    const box = await sandbox();
    const host = `127.0.0.1:${await closedPort()}`;
    const secret = 'pw-for-tags-3Kx';
    const file = await box.write('etc/tags-auth.json', { auths: { [host]: { auth: b64(`dockeruser:${secret}`) } } });
    const r = await cli(['tags', '--from', `http://${host}`], { env: isolatedEnv({ ...box.env, REGISTRY_AUTH_FILE: file }) });
    expect(r.exitCode, r.stderr).toBe(3);
    const info = `using credentials for ${host} from auth file "${file}" (entry "${host}")\n`;
    expect(r.stderr.split(info)).toHaveLength(2);
    for (const leak of [secret, b64(`dockeruser:${secret}`)]) expect(r.stdout + r.stderr).not.toContain(leak);
    const none = await cli(['tags', '--from', `http://${host}`], { env: isolatedEnv((await sandbox()).env) });
    expect(none.exitCode, none.stderr).toBe(3);
    expect(none.stderr).not.toContain('using credentials');
  });

  it('sync prints nothing about credentials when there are none', async () => {
    const box = await sandbox();
    const host = `127.0.0.1:${await closedPort()}`;
    const r = await cli(['sync', 'fixtures/storage', '--to', host], { env: isolatedEnv(box.env) });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).not.toContain('using credentials');
  });
});

describe("skopeo's credential flags are refused", () => {
  const VALUE = 'user:Sup3r-s3cret-value';
  it.each([
    ['sync', ['--dest-creds', VALUE]],
    ['sync', [`--dest-creds=${VALUE}`]],
    ['sync', ['--dest-username', 'alice', '--dest-password', VALUE]],
    ['verify', ['--dest-password', VALUE]],
    ['verify', ['--creds', VALUE]],
    ['sync', ['--dest-creds']],
  ])('%s %s: exit 2, says what to use instead, never echoes the value', async (command, flags) => {
    const r = await cli([command, 'fixtures/storage', '--to', '127.0.0.1:1', ...flags], { env: isolatedEnv({}) });
    expect(r.exitCode, r.stderr).toBe(2);
    const flag = (flags[0] as string).split('=')[0];
    expect(r.stderr).toMatch(new RegExp(`^registry-rescue: exit 2, ${flag} is not supported: credentials never go on the command line`));
    expect(r.stderr).toContain('skopeo login --authfile FILE HOST, then --dest-authfile FILE');
    expect(r.stderr).toContain('--dest-password-stdin');
    expect(r.stdout + r.stderr).not.toContain('s3cret');
  });
});

/** Single-quotes `arg` for the shell `script -c` runs. */
const shellQuote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`;

/**
 * Runs the CLI in a pseudo-terminal (util-linux `script`), waits for the password prompt, then types `keys`
 * one chunk at a time. Returns everything the terminal showed, echo included (so an echoed password shows).
 */
async function runInPty(args: string[], env: Record<string, string | undefined>, keys: string[]): Promise<{ exitCode: number; screen: string }> {
  const command = ['node', BIN, ...args].map(shellQuote).join(' ');
  const child = execa('script', ['-qfec', command, '/dev/null'], {
    cwd: ROOT,
    env: { ...env, SHELL: '/bin/sh', FORCE_COLOR: '0' },
    reject: false,
    stdin: 'pipe',
    timeout: 120_000,
  });
  let screen = '';
  let typed = false;
  child.stdout.on('data', (data: Buffer) => {
    screen += data.toString('utf8');
    if (typed || !screen.includes('Password for')) return;
    typed = true;
    // Typed after the prompt, when echo is already off; one key press at a time like a person.
    void (async () => {
      for (const key of keys) {
        child.stdin.write(key);
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
  });
  const r = await child;
  return { exitCode: r.exitCode ?? -1, screen: screen + String(r.stdout ?? '') };
}

describe('--dest-password-stdin at a terminal', () => {
  requireTool('docker-registry');
  const USER = 'prompted';
  const PASSWORD = 'Typed-pw-9k';

  it('asks without echo, handles backspace, and the password works', async () => {
    const reg = await startRegistry({ tls: true, auth: { username: USER, password: PASSWORD } });
    const fx = await copyFixture();
    const tags = await writeTagsFile(path.join(fx.dir, 'tags.txt'), (await expectedTags()).filter((t) => t.status === 'ok').slice(0, 2));
    const box = await sandbox();
    // A typo fixed with backspace: only the edited password is accepted by htpasswd.
    const keys = [...'Typed-pw-', 'X', '\x7f', ...'9k', '\r'];
    const { exitCode, screen } = await runInPty(
      ['verify', fx.storage, '--to', reg.host, '--dest-cert-dir', reg.certDir as string, '--tags-file', tags, '--dest-password-stdin'],
      isolatedEnv({ ...box.env, REGISTRY_RESCUE_USERNAME: USER }),
      keys,
    );
    expect(screen).toContain(`Password for ${USER}@${reg.host}: `);
    expect(screen).toContain(`using credentials for ${reg.host} from REGISTRY_RESCUE_USERNAME and standard input`);
    // Accepted: verify got as far as comparing tags (nothing was pushed, so they are missing: exit 4).
    expect(screen).toMatch(/2 tags checked against .*: 0 ok, 2 missing/);
    expect(exitCode, screen).toBe(4);
    for (const leak of [PASSWORD, 'Typed-pw-', 'X9k']) expect(screen).not.toContain(leak);
  });

  it('Ctrl-C at the prompt ends the run with exit 130', async () => {
    const box = await sandbox();
    const host = `127.0.0.1:${await closedPort()}`;
    const { exitCode, screen } = await runInPty(
      ['sync', 'fixtures/storage', '--to', host, '--dest-password-stdin'],
      isolatedEnv({ ...box.env, REGISTRY_RESCUE_USERNAME: USER }),
      [...'abc', '\x03'],
    );
    expect(exitCode, screen).toBe(130);
    // Stopped before any image: the last line says so in the shape every run's last line has.
    expect(screen.trimEnd().split(/\r?\n/).at(-1)).toBe('registry-rescue: exit 130, interrupted by SIGINT; run the same command again to continue');
    expect(screen).not.toContain('abc');
    expect(screen).not.toContain('cannot reach');
  });

  it('asks nothing when REGISTRY_RESCUE_USERNAME is missing (exit 2)', async () => {
    const box = await sandbox();
    const { exitCode, screen } = await runInPty(['sync', 'fixtures/storage', '--to', '127.0.0.1:1', '--dest-password-stdin'], isolatedEnv(box.env), []);
    expect(exitCode, screen).toBe(2);
    expect(screen).not.toContain('Password for');
    expect(screen).toContain('registry-rescue: exit 2, --dest-password-stdin needs REGISTRY_RESCUE_USERNAME: set it to the user name for 127.0.0.1:1');
  });
});
