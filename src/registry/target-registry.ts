/**
 * The push target: a registry client that has answered `/v2/`, and (for Harbor) its projects.
 * Plain http is used only when TLS verification is off and the target does not speak TLS, as skopeo does.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { PreflightError, TargetUnavailableError } from '../errors.js';
import { retryWithBackoff } from '../core/schedule.js';
import { ENV_AUTH_FILE, currentUid, resolveCredentials, type Credentials } from './credentials.js';
import { createHarborApi, type HarborApi } from './harbor-api.js';
import { createRegistryClient, type RegistryClient } from './registry-client.js';
import { RegistryAuthError, RegistryTlsError } from './registry-errors.js';

/** HEAD and GET requests against the target; a stuck request must not stall a DR run forever. */
export const TARGET_TIMEOUT_MS = 60_000;

export interface TargetConnection {
  client: RegistryClient;
  /** True when the target speaks plain http. */
  insecure: boolean;
  /** Lazily created Harbor API client (same scheme, credentials and TLS settings). */
  harbor(): HarborApi;
  /** The signal every request of this connection obeys (an abort ends them with its reason). */
  readonly signal: AbortSignal;
  close(): void;
}

export interface ConnectOptions {
  host: string;
  tlsVerify: boolean;
  certDir?: string;
  credentials?: Credentials;
  signal: AbortSignal;
  /**
   * A first answer of 5xx or 429 (a registry starting, overloaded, failing over) is asked again this many times,
   * with the runs' exponential backoff from `retryBaseMs`; `onRetry` says so. Default: not retried.
   */
  retries?: number;
  retryBaseMs?: number;
  onRetry?: (message: string) => void;
}

/** How to reach the target, as the user gave it (paths relative to the working directory). */
export interface TargetAccessOptions {
  destAuthFile?: string;
  destCertDir?: string;
  destTlsVerify: boolean;
  /** Password read from standard input (--dest-password-stdin). */
  passwordFromStdin?: string;
  /** Told once which credentials were found (their `source`: a file or variable names, never the secret). */
  onCredentials?: (host: string, credentials: Credentials) => void;
  /** Told when an auth file was named (--dest-authfile, REGISTRY_AUTH_FILE) but holds no entry for the target. */
  onNoEntry?: (host: string, file: string) => void;
}

/**
 * Credentials and cert dir for `host` from local facts only (auth files, environment): no network.
 * Without `--dest-authfile` and REGISTRY_AUTH_FILE, skopeo's default auth files are searched too (resolveCredentials).
 */
export async function resolveTargetAccess(
  host: string,
  opts: TargetAccessOptions,
  deps: { cwd: string; env: Readonly<Record<string, string | undefined>> },
): Promise<{ credentials: Credentials | undefined; certDir: string | undefined }> {
  const authFile = opts.destAuthFile !== undefined ? path.resolve(deps.cwd, opts.destAuthFile) : undefined;
  const credentials = await resolveCredentials({
    authFile,
    env: deps.env,
    host,
    ...(opts.passwordFromStdin !== undefined ? { passwordFromStdin: opts.passwordFromStdin } : {}),
    searchDefaultFiles: true,
    uid: currentUid(),
  });
  if (credentials) opts.onCredentials?.(host, credentials);
  // The file was read and has no entry for this host (a login to another name or port): say so before the target's
  // "requires credentials" answer, which would otherwise tell the operator to pass the very file they passed.
  const named = opts.passwordFromStdin === undefined ? (authFile ?? (deps.env[ENV_AUTH_FILE]?.trim() || undefined)) : undefined;
  if (!credentials && named !== undefined) opts.onNoEntry?.(host, named);
  const certDir = opts.destCertDir !== undefined ? path.resolve(deps.cwd, opts.destCertDir) : undefined;
  return { credentials, certDir };
}

/** Checks the cert dir, pings the target, and falls back to plain http only when TLS verification is off. */
export async function connectTarget(opts: ConnectOptions): Promise<TargetConnection> {
  if (opts.certDir !== undefined) {
    // skopeo silently ignores a missing --dest-cert-dir and then fails with x509 errors (storage-and-skopeo.md §5.7).
    const info = await stat(opts.certDir).catch(() => undefined);
    if (!info?.isDirectory()) throw new PreflightError(`--dest-cert-dir ${opts.certDir} does not exist or is not a directory`);
  }
  const make = (insecure: boolean) =>
    createRegistryClient({ host: opts.host, insecure, tlsVerify: opts.tlsVerify, certDir: opts.certDir, credentials: opts.credentials, signal: opts.signal, timeoutMs: TARGET_TIMEOUT_MS });
  let insecure = false;
  let client = make(false);
  const ping = async (c: RegistryClient) => {
    const { value } = await retryWithBackoff(
      async (attempt) => {
        const r = await c.ping().then(() => undefined, (error: unknown) => error);
        if (r instanceof TargetUnavailableError && attempt <= (opts.retries ?? 0) && !opts.signal.aborted) opts.onRetry?.(`${r.answer}; asking again (retry ${attempt} of ${opts.retries})`);
        return r;
      },
      { retries: opts.retries ?? 0, baseMs: opts.retryBaseMs ?? 2_000, signal: opts.signal, random: Math.random, isTransient: (r) => r instanceof TargetUnavailableError },
    );
    if (value !== undefined) throw value;
  };
  try {
    await ping(client);
  } catch (error) {
    if (error instanceof RegistryTlsError && error.reason === 'not-tls' && opts.tlsVerify) {
      // `--to` takes no scheme (target.ts), so the generic "use http://…" advice would not work here.
      throw new RegistryTlsError(
        opts.host, 'not-tls', error.code,
        `${opts.host} speaks plain HTTP, not HTTPS, and TLS verification is on; to push over plain http ` +
          'pass --dest-tls-verify=false (skopeo then falls back to http, as registry-rescue does)',
        { cause: error },
      );
    }
    if (!(error instanceof RegistryTlsError && error.reason === 'not-tls' && !opts.tlsVerify)) throw error;
    client.close();
    insecure = true;
    client = make(true);
    await ping(client);
  }
  let harbor: HarborApi | undefined;
  return {
    client,
    insecure,
    signal: opts.signal,
    harbor: () =>
      (harbor ??= createHarborApi({
        url: new URL(`${insecure ? 'http' : 'https'}://${opts.host}`),
        tlsVerify: opts.tlsVerify,
        certDir: opts.certDir,
        credentials: opts.credentials,
        signal: opts.signal,
        timeoutMs: TARGET_TIMEOUT_MS,
      })),
    close: () => {
      client.close();
      harbor?.close();
    },
  };
}

export interface ProjectState {
  /** Undefined when the account may not read the project (401/403): whether it exists is unknown. */
  exists: boolean | undefined;
  /** Why pushes into this project cannot work (proxy cache, creation refused). */
  refusal?: string;
}

/**
 * Per Harbor project, once: create it when asked (Harbor creates no project on push, harbor#6892) and
 * find proxy-cache projects, which refuse pushes. An account that may push but not read the project
 * (a robot account without project-read permission: 401/403 on the lookup) is not refused: the state is
 * unknown and the push goes ahead, skopeo says whether Harbor really refuses it.
 * An abort of the connection's signal is rethrown, never turned into a refusal.
 */
/**
 * Harbor's answer about each project, asked once per project and remembered. A transient failure (`transient`
 * says which: 5xx, 429, a dropped connection) is thrown and not remembered, so the caller's retry, or the
 * project's next image, asks again: one 503 must not fail every image of the project for the whole run.
 */
export function createProjectGuard(conn: TargetConnection, opts: { create: boolean; transient?: (error: unknown) => boolean }): (project: string) => Promise<ProjectState> {
  const memo = new Map<string, Promise<ProjectState>>();
  const check = async (project: string): Promise<ProjectState> => {
    const api = conn.harbor();
    let found: Awaited<ReturnType<HarborApi['getProject']>>;
    try {
      found = await api.getProject(project);
    } catch (error) {
      if (error instanceof RegistryAuthError) return { exists: undefined };
      throw error;
    }
    if (!found && opts.create) {
      await api.createProject(project, { public: false });
      found = await api.getProject(project);
      if (!found) return { exists: false, refusal: `Harbor project ${project} could not be created` };
    }
    if (!found) {
      // Harbor would answer the push with a bare "unauthorized" (§3.3): say what is really wrong, start no skopeo.
      return {
        exists: false,
        refusal: `Harbor project ${project} does not exist and Harbor creates no project on push (it answers "unauthorized"): create it, or pass --create-projects`,
      };
    }
    if (found.registryId !== null) {
      return { exists: true, refusal: `Harbor project ${project} is a proxy cache, which refuses pushes; exclude it or push under another --to prefix` };
    }
    return { exists: true };
  };
  return (project) => {
    let p = memo.get(project);
    if (!p) {
      p = check(project).catch((error: Error) => {
        if (conn.signal.aborted) throw error;
        if (opts.transient?.(error)) {
          memo.delete(project);
          throw error;
        }
        return { exists: false, refusal: `Harbor project ${project}: ${error.message}` };
      });
      memo.set(project, p);
    }
    return p;
  };
}
