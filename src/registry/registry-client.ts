/**
 * A small Docker Registry HTTP API v2 client (https://distribution.github.io/distribution/spec/api/)
 * for sync, verify and tags: ping, manifest HEAD/GET, catalog and tag lists with pagination.
 * Authentication lives in registry-auth.ts, connections and error mapping in http-transport.ts.
 */
import { createHash } from 'node:crypto';
import { PreflightError, TargetUnavailableError } from '../errors.js';
import { redact, secretsOf } from './credentials.js';
import { bodyExcerpt, createTransport, nextLink, parseJson, pathOf, type ConnectionOptions, type HttpRequest, type HttpResponse } from './http-transport.js';
import { RegistryAuth, parseChallenges } from './registry-auth.js';
import { RegistryHttpError, authError } from './registry-errors.js';
import { MANIFEST_MEDIA_TYPES } from '../core/manifest.js';
import { DEFAULT_PAGE_SIZE } from './defaults.js';

/** Every manifest type we may meet; a registry answers 404 for a type not accepted (docker v1 included). */
export { MANIFEST_MEDIA_TYPES };

const CATALOG_HINT =
  'the catalog needs an account allowed to list it (on Harbor: a system administrator, ' +
  "or a robot account with 'list repository' permission on every project)";

export interface RegistryClientOptions extends ConnectionOptions {
  /** `host[:port]`. */
  host: string;
  /** Plain http instead of https. */
  insecure?: boolean;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest {
  body: Buffer;
  digest: string;
  mediaType: string;
}

export interface RegistryClient {
  readonly host: string;
  /** GET /v2/: throws a typed PreflightError when the registry cannot be used at all. */
  ping(): Promise<void>;
  /** HEAD a manifest by tag or digest; undefined when it does not exist. */
  headManifest(repository: string, reference: string): Promise<ManifestHead | undefined>;
  /** GET a manifest; its digest is computed from the body (and checked when `reference` is a digest). */
  getManifest(repository: string, reference: string): Promise<Manifest>;
  /** Whether the repository has the blob (HEAD /v2/<repo>/blobs/<digest>). */
  hasBlob(repository: string, digest: string): Promise<boolean>;
  /** Uploads a blob in one request (POST, then PUT ?digest=), from a stream opened per attempt. */
  uploadBlob(repository: string, digest: string, size: number, open: () => NodeJS.ReadableStream): Promise<void>;
  /** PUTs manifest bytes exactly as given under a tag or digest; resolves to the digest the registry answers. */
  putManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string>;
  /** Every repository of /v2/_catalog, following pagination. */
  catalog(): AsyncIterable<string>;
  /** Every tag of a repository, following pagination; nothing when the repository is unknown. */
  tags(repository: string): AsyncIterable<string>;
  /** Closes idle connections. */
  close(): void;
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT';

/** Creates a client for one registry host; no request is made until a method is called. */
export function createRegistryClient(opts: RegistryClientOptions): RegistryClient {
  const flags = opts.flags ?? 'dest-';
  const baseUrl = new URL(`${opts.insecure ? 'http' : 'https'}://${opts.host}`);
  const { tlsVerify, certDir, timeoutMs, signal } = opts;
  const transport = createTransport({ baseUrl, tlsVerify, certDir, timeoutMs, signal, flags });
  const auth = new RegistryAuth(transport, opts.credentials);
  const secrets = secretsOf(opts.credentials);
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;

  /** One request with authentication: one retry after a 401 that taught us something. */
  async function call(method: Method, url: string, scope: string, action: string, accept?: string, extra: { headers?: Record<string, string>; body?: HttpRequest['body'] } = {}): Promise<HttpResponse> {
    const send = async (): Promise<[HttpResponse, string | undefined]> => {
      const authorization = auth.headerFor(scope);
      const headers: Record<string, string> = { ...extra.headers };
      if (authorization) headers.authorization = authorization;
      if (accept) headers.accept = accept;
      return [await transport.request({ method, url, headers, ...(extra.body !== undefined ? { body: extra.body } : {}) }), authorization];
    };
    const [first, sent] = await send();
    let res = first;
    if (res.status === 401 && (await auth.handleUnauthorized(res, scope, sent))) [res] = await send();
    if (res.status === 401 || res.status === 403) {
      const insufficientScope = parseChallenges(res.headers['www-authenticate']).some((c) => c.params.error === 'insufficient_scope');
      const hint = scope.startsWith('registry:catalog') ? CATALOG_HINT : undefined;
      const who = { username: opts.credentials?.username, source: opts.credentials?.source };
      throw authError({ host: transport.host, status: res.status, ...who, insufficientScope, action, flags, hint });
    }
    return res;
  }

  function unexpected(res: HttpResponse, method: Method): RegistryHttpError {
    return new RegistryHttpError(transport.host, method, pathOf(res.url), res.status, redact(bodyExcerpt(res), secrets));
  }

  async function getManifest(repository: string, reference: string): Promise<Manifest> {
    const res = await call('GET', manifestPath(repository, reference), pullScope(repository), `read ${repository}`, ACCEPT);
    if (res.status !== 200) throw unexpected(res, 'GET');
    const digest = `sha256:${createHash('sha256').update(res.body).digest('hex')}`;
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new RegistryHttpError(transport.host, 'GET', pathOf(res.url), res.status, `manifest body hashes to ${digest}`);
    }
    return { body: res.body, digest, mediaType: contentType(res) };
  }

  async function* paginate(firstUrl: string, scope: string, action: string, field: 'repositories' | 'tags'): AsyncGenerator<string> {
    const seen = new Set<string>();
    for (let url: string | undefined = firstUrl; url !== undefined && !seen.has(url); ) {
      seen.add(url); // a registry repeating its Link would loop forever
      const res = await call('GET', url, scope, action);
      if (res.status === 404 && field === 'tags') return; // unknown repository: no tags
      if (res.status !== 200) throw unexpected(res, 'GET');
      const list = (parseJson(res, 'GET') as Record<string, unknown>)[field];
      if (list !== null && list !== undefined && !Array.isArray(list)) throw unexpected(res, 'GET');
      for (const item of (list ?? []) as unknown[]) if (typeof item === 'string') yield item;
      const next = nextLink(res.headers.link);
      url = next === undefined ? undefined : pathOf(new URL(next, res.url));
    }
  }

  return {
    host: transport.host,
    async ping() {
      const res = await call('GET', '/v2/', '', 'access the registry');
      if (res.status >= 500 || res.status === 429) {
        // A registry starting, overloaded or failing: not "not a registry", which sends people looking at the wrong host.
        const detail = redact(bodyExcerpt(res), secrets);
        const answer = `${transport.host} answered GET /v2/ with HTTP ${res.status}`;
        throw new TargetUnavailableError(answer, `${answer}${detail ? ` (${detail})` : ''}: the registry is not serving now (starting, overloaded or failing); nothing was pushed, run again later`);
      }
      if (res.status !== 200) {
        throw new PreflightError(`${transport.host} is not a Docker registry: GET /v2/ answered HTTP ${res.status}`);
      }
    },
    async headManifest(repository, reference) {
      const res = await call('HEAD', manifestPath(repository, reference), pullScope(repository), `read ${repository}`, ACCEPT);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw unexpected(res, 'HEAD');
      const digest = headerString(res, 'docker-content-digest');
      if (!digest) {
        // Not every registry sends the header on HEAD: hash the body instead.
        const manifest = await getManifest(repository, reference);
        return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.body.length };
      }
      return { digest, mediaType: contentType(res), size: Number(res.headers['content-length'] ?? -1) };
    },
    getManifest,
    async hasBlob(repository, digest) {
      const res = await call('HEAD', `/v2/${encodeRepository(repository)}/blobs/${digest}`, pullScope(repository), `read ${repository}`);
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      throw unexpected(res, 'HEAD');
    },
    async uploadBlob(repository, digest, size, open) {
      const scope = pushScope(repository);
      const start = await call('POST', `/v2/${encodeRepository(repository)}/blobs/uploads/`, scope, `push to ${repository}`);
      if (start.status !== 202 || typeof start.headers.location !== 'string') throw unexpected(start, 'POST');
      const location = new URL(start.headers.location, start.url);
      location.searchParams.set('digest', digest);
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
      const put = await call('PUT', pathOf(location), scope, `push to ${repository}`, undefined, { headers, body: { open, length: size } });
      if (put.status !== 201) throw unexpected(put, 'PUT');
    },
    async putManifest(repository, reference, mediaType, body) {
      const headers = { 'content-type': mediaType, 'content-length': String(body.length) };
      const res = await call('PUT', manifestPath(repository, reference), pushScope(repository), `push to ${repository}`, undefined, { headers, body });
      if (res.status !== 201) throw unexpected(res, 'PUT');
      return headerString(res, 'docker-content-digest') ?? `sha256:${createHash('sha256').update(body).digest('hex')}`;
    },
    catalog: () => paginate(`/v2/_catalog?n=${pageSize}`, 'registry:catalog:*', 'list the catalog', 'repositories'),
    tags: (repository) =>
      paginate(`/v2/${encodeRepository(repository)}/tags/list?n=${pageSize}`, pullScope(repository), `list tags of ${repository}`, 'tags'),
    close: () => transport.close(),
  };
}

const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** Repository names are path components joined by `/`; each component is encoded on its own. */
function encodeRepository(repository: string): string {
  return repository.split('/').map(encodeURIComponent).join('/');
}

function manifestPath(repository: string, reference: string): string {
  return `/v2/${encodeRepository(repository)}/manifests/${encodeURIComponent(reference).replace('%3A', ':')}`;
}

function headerString(res: HttpResponse, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentType(res: HttpResponse): string {
  return (headerString(res, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
}
