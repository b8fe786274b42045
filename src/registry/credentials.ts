/**
 * Registry credentials, read the way skopeo reads them, but strict where skopeo is silent:
 * a missing or unparseable auth file, an entry skopeo would ignore (`username`/`password`
 * without `auth`) and a credential-helper entry are refused with a message naming the file.
 * Key matching and the default search follow containers/image pkg/docker/config/config.go
 * (`findCredentialsInFile`, `getAuthFilePaths`, `getPathToAuthWithOS`) and containers-auth.json(5).
 */
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PreflightError, UsageError } from '../errors.js';

/** A username and password for one registry, with where they came from (for messages, never the password). */
export interface Credentials {
  readonly username: string;
  readonly password: string;
  /** e.g. `auth file "/etc/auth.json" (entry "127.0.0.1:5000")`. */
  readonly source: string;
}

export interface ResolveCredentialsOptions {
  /** `--authfile` / `--dest-authfile`, already resolved against the working directory. */
  authFile?: string;
  env: Readonly<Record<string, string | undefined>>;
  /** `host[:port]` exactly as in image references. */
  host: string;
  /** Narrows auth-file lookup to `host/repository…` keys first, as skopeo does per image. */
  repository?: string;
  /** Password read from standard input (`--dest-password-stdin`); goes with REGISTRY_RESCUE_USERNAME. */
  passwordFromStdin?: string;
  /** Also search skopeo's default auth files (defaultAuthFiles) when nothing explicit gave credentials. */
  searchDefaultFiles?: boolean;
  /** The user id for `/run/containers/UID/auth.json`, skopeo's primary file when XDG_RUNTIME_DIR is unset. */
  uid?: number;
}

/** One place skopeo looks for an auth file; `legacy` is the old ~/.dockercfg format (entries at the top level). */
export interface AuthFileLocation {
  path: string;
  legacy: boolean;
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

export const ENV_AUTH_FILE = 'REGISTRY_AUTH_FILE';
export const ENV_USERNAME = 'REGISTRY_RESCUE_USERNAME';
export const ENV_PASSWORD = 'REGISTRY_RESCUE_PASSWORD';

/**
 * Finds credentials for `host`. Explicit things beat defaults:
 * 1. `--dest-authfile`, or the password given for `--dest-password-stdin` (the two exclude each other);
 * 2. REGISTRY_AUTH_FILE;
 * 3. REGISTRY_RESCUE_USERNAME/REGISTRY_RESCUE_PASSWORD (also when the file of 1 or 2 has no entry for the host);
 * 4. only when no auth file was named (1, 2) and `searchDefaultFiles`: skopeo's default files (defaultAuthFiles),
 *    the first one holding an entry for the host wins, as in containers/image `getCredentialsWithHomeDir`.
 * A named file replaces the default ones, as `--authfile` does in current containers/image
 * (`userSpecifiedPath`), so a DR run never picks up a stale ~/.docker/config.json behind the user's back.
 */
export async function resolveCredentials(opts: ResolveCredentialsOptions): Promise<Credentials | undefined> {
  // Typed at a prompt or piped in for this run: the most explicit answer there is.
  if (opts.passwordFromStdin !== undefined) return credentialsFromEnv(opts);
  const authFile = opts.authFile ?? nonEmpty(opts.env[ENV_AUTH_FILE]);
  if (authFile !== undefined) {
    const fromFile = await credentialsFromAuthFile(authFile, opts.host, opts.repository);
    if (fromFile) return fromFile;
  }
  const fromEnv = credentialsFromEnv(opts);
  if (fromEnv || authFile !== undefined || !opts.searchDefaultFiles) return fromEnv;
  for (const location of defaultAuthFiles(opts.env, opts.uid)) {
    const found = await credentialsFromAuthFile(location.path, opts.host, opts.repository, { legacy: location.legacy, optional: true });
    if (found) return found;
  }
  return undefined;
}

/**
 * skopeo's default auth files in its search order (containers-auth.json(5), containers/image `getAuthFilePaths`):
 * `$XDG_RUNTIME_DIR/containers/auth.json` (unset: `/run/containers/UID/auth.json`),
 * `${XDG_CONFIG_HOME:-$HOME/.config}/containers/auth.json`, `${DOCKER_CONFIG:-$HOME/.docker}/config.json`,
 * `$HOME/.dockercfg`. From `env` only, never os.homedir(), so tests can point HOME anywhere.
 */
export function defaultAuthFiles(env: Readonly<Record<string, string | undefined>>, uid?: number): AuthFileLocation[] {
  const home = nonEmpty(env.HOME);
  const files: AuthFileLocation[] = [];
  const add = (file: string | undefined, legacy = false) => {
    if (file !== undefined) files.push({ path: file, legacy });
  };
  const runtimeDir = nonEmpty(env.XDG_RUNTIME_DIR);
  add(runtimeDir !== undefined ? path.join(runtimeDir, 'containers/auth.json') : uid !== undefined ? `/run/containers/${uid}/auth.json` : undefined);
  const configHome = nonEmpty(env.XDG_CONFIG_HOME) ?? (home !== undefined ? path.join(home, '.config') : undefined);
  add(configHome !== undefined ? path.join(configHome, 'containers/auth.json') : undefined);
  const dockerConfig = nonEmpty(env.DOCKER_CONFIG);
  add(dockerConfig !== undefined ? path.join(dockerConfig, 'config.json') : home !== undefined ? path.join(home, '.docker/config.json') : undefined);
  add(home !== undefined ? path.join(home, '.dockercfg') : undefined, true);
  return files;
}

/** This process's user id, for defaultAuthFiles; undefined where the platform has none. */
export function currentUid(): number | undefined {
  try {
    const { uid } = os.userInfo();
    return uid >= 0 ? uid : undefined;
  } catch {
    return undefined; // no passwd entry (a container running as an arbitrary uid)
  }
}

function credentialsFromEnv(opts: ResolveCredentialsOptions): Credentials | undefined {
  const username = nonEmpty(opts.env[ENV_USERNAME]);
  // A terminal or `echo` adds a newline that is not part of the password (docker login strips it too).
  const stdinPassword = opts.passwordFromStdin?.replace(/\r?\n$/, '');
  const password = stdinPassword ?? opts.env[ENV_PASSWORD];
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined) throw new UsageError(`a password was given but ${ENV_USERNAME} is not set`);
  if (password === undefined || password === '') {
    throw new UsageError(`${ENV_USERNAME} is set but no password: set ${ENV_PASSWORD} or pass it on standard input`);
  }
  const source = stdinPassword !== undefined ? `${ENV_USERNAME} and standard input` : `${ENV_USERNAME}/${ENV_PASSWORD}`;
  return { username, password, source };
}

/**
 * Reads one auth file (containers-auth.json or docker config.json) and returns the entry skopeo would use.
 * `optional`: a missing file is no error (a default location); `legacy`: the format, when known from the path.
 */
export async function credentialsFromAuthFile(
  file: string,
  host: string,
  repository?: string,
  opts: { legacy?: boolean; optional?: boolean } = {},
): Promise<Credentials | undefined> {
  const auths = await readAuths(file, opts);
  if (!auths) return undefined;
  if (auths.helpers.includes(host)) {
    throw new PreflightError(
      `auth file "${file}" sends ${host} to a credential helper ("credHelpers"), which registry-rescue does not run; ` +
        `write a plain auth file with skopeo login --authfile FILE ${host} and pass --dest-authfile FILE`,
    );
  }
  const key = findAuthKey(Object.keys(auths.entries), host, repository, auths.legacy);
  if (key === undefined) return undefined;
  const creds = decodeEntry(file, key, auths.entries[key] as AuthEntry);
  if (!creds && auths.store !== undefined) {
    // docker login with a "credsStore" leaves `{}` under "auths" as a marker: the secret is in the store.
    throw new PreflightError(
      `auth file "${file}" keeps the credentials for ${host} in the credential store "${auths.store}" ("credsStore"), ` +
        `which registry-rescue does not run; write a plain auth file with skopeo login --authfile FILE ${host} and pass --dest-authfile FILE`,
    );
  }
  return creds;
}

interface AuthFile {
  entries: Record<string, unknown>;
  legacy: boolean;
  helpers: string[];
  store: string | undefined;
}

async function readAuths(file: string, opts: { legacy?: boolean; optional?: boolean }): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    // A default location that does not exist is skipped, as skopeo does; anything else found there is the user's.
    if (missing && opts.optional) return undefined;
    const why = missing ? 'does not exist' : `cannot be read (${code ?? (error as Error).message})`;
    // skopeo silently ignores a missing auth file and then fails with "unauthorized": say it now.
    throw new PreflightError(`auth file "${file}" ${why}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PreflightError(`auth file "${file}" is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!isObject(parsed)) throw new PreflightError(`auth file "${file}" must hold a JSON object`);
  const legacy = opts.legacy ?? (parsed.auths === undefined && parsed.credHelpers === undefined && parsed.credsStore === undefined);
  // The old ~/.dockercfg format: the entries are the top-level object.
  if (legacy) return { entries: parsed, legacy: true, helpers: [], store: undefined };
  if (parsed.auths !== undefined && !isObject(parsed.auths)) {
    throw new PreflightError(`auth file "${file}": "auths" must be an object`);
  }
  const helpers = isObject(parsed.credHelpers) ? Object.keys(parsed.credHelpers) : [];
  const store = typeof parsed.credsStore === 'string' && parsed.credsStore !== '' ? parsed.credsStore : undefined;
  return { entries: (parsed.auths as Record<string, unknown> | undefined) ?? {}, legacy: false, helpers, store };
}

/**
 * The key skopeo would pick: `host/repo/…` down to `host` exactly (the longest prefix wins),
 * then keys written as URLs (`https://host/v1/`), compared by their host part.
 */
export function findAuthKey(keys: readonly string[], host: string, repository?: string, legacy = false): string | undefined {
  if (!legacy) {
    let candidate = repository ? `${host}/${repository}` : host;
    for (;;) {
      if (keys.includes(candidate)) return candidate;
      const slash = candidate.lastIndexOf('/');
      if (slash < 0) break;
      candidate = candidate.slice(0, slash);
    }
  } else if (keys.includes(host)) {
    return host;
  }
  return keys.find((key) => normalizeAuthKey(key, legacy) === host);
}

function normalizeAuthKey(key: string, legacy: boolean): string {
  const stripped = key.replace(/^https?:\/\//, '');
  return legacy || stripped !== key ? (stripped.split('/')[0] ?? '') : stripped;
}

function decodeEntry(file: string, key: string, entry: AuthEntry): Credentials | undefined {
  const where = `auth file "${file}" (entry "${key}")`;
  if (!isObject(entry)) throw new PreflightError(`${where} must be an object`);
  if (entry.auth === undefined || entry.auth === '') {
    if (entry.username !== undefined || entry.password !== undefined) {
      // skopeo ignores these fields and would fail later with "unauthorized".
      throw new PreflightError(
        `${where} has "username"/"password" but no "auth" field, which skopeo ignores; ` +
          `write "auth": base64 of "user:password" instead`,
      );
    }
    if (entry.identitytoken !== undefined) {
      throw new PreflightError(`${where} holds an identity token; registry-rescue needs a username and password ("auth")`);
    }
    return undefined; // `{}`: docker's marker for a credential helper, skopeo moves on too
  }
  if (typeof entry.auth !== 'string') throw new PreflightError(`${where}: "auth" must be a string`);
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // Never quote the decoded text: it would print the password.
  if (colon <= 0) throw new PreflightError(`${where}: "auth" is not base64 of "user:password"`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\0+$/, ''), source: where };
}

/** The value of an `Authorization: Basic …` header (also the `auth` field of an auth file). */
export function basicAuthValue(creds: Pick<Credentials, 'username' | 'password'>): string {
  return Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64');
}

/** Temporary auth directories are named `registry-rescue-auth-<pid>@<host>-XXXXXX` (mkdtemp adds the suffix). */
const AUTH_DIR_PREFIX = 'registry-rescue-auth-';
const AUTH_DIR_NAME = /^registry-rescue-auth-(\d+)@(.+)-[A-Za-z0-9]{6}$/;

export interface TempAuthOptions {
  /** Default: os.tmpdir() (TMPDIR). */
  tmpDir?: string;
  /** Default: os.hostname(); another host's directories (a shared /tmp) are never swept. */
  host?: string;
  isAlive?: (pid: number) => boolean;
}

/**
 * A private auth file for skopeo's `--authfile`; dispose() removes it and its directory. A run ended by
 * SIGKILL (or the OOM killer) cannot remove its own: the next run removes those its host's dead processes
 * left, so a password never outlives the run that needed it by more than one run.
 */
export async function writeTempAuthFile(
  host: string,
  creds: Pick<Credentials, 'username' | 'password'>,
  opts: TempAuthOptions = {},
): Promise<{ path: string; dir: string; dispose(): Promise<void> }> {
  const tmp = opts.tmpDir ?? os.tmpdir();
  const me = opts.host ?? os.hostname();
  await sweepAuthDirs(tmp, me, opts.isAlive ?? isProcessAlive);
  // mkdtemp creates the directory with mode 0700, so no other user can even list it.
  const dir = await mkdtemp(path.join(tmp, `${AUTH_DIR_PREFIX}${process.pid}@${me}-`));
  const file = path.join(dir, 'auth.json');
  try {
    const body = JSON.stringify({ auths: { [host]: { auth: basicAuthValue(creds) } } });
    await writeFile(file, `${body}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let disposed: Promise<void> | undefined;
  return { path: file, dir, dispose: () => (disposed ??= rm(dir, { recursive: true, force: true })) };
}

/** Removes the auth directories of this host's dead processes: ours (same uid), private (0700), real directories. */
async function sweepAuthDirs(tmp: string, me: string, isAlive: (pid: number) => boolean): Promise<void> {
  const uid = process.getuid?.();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    const m = AUTH_DIR_NAME.exec(name);
    if (!m || m[2] !== me || isAlive(Number(m[1]))) continue;
    const dir = path.join(tmp, name);
    const info = await lstat(dir).catch(() => undefined);
    if (!info?.isDirectory() || (info.mode & 0o777) !== 0o700 || (uid !== undefined && info.uid !== uid)) continue;
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The strings that must never appear in output: the password and the base64 forms that carry it. */
export function secretsOf(creds: Pick<Credentials, 'username' | 'password'> | undefined): string[] {
  if (!creds || creds.password === '') return [];
  return [creds.password, basicAuthValue(creds), encodeURIComponent(creds.password)];
}

/** Replaces every occurrence of each secret in `text` with `***` (longest secrets first). */
export function redact(text: string, secrets: readonly string[]): string {
  const sorted = secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  let out = text;
  for (const secret of sorted) out = out.split(secret).join('***');
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
