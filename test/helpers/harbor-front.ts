/**
 * A loopback "Harbor front" for sync tests. THERE IS NO REAL HARBOR HERE. This node:http server on 127.0.0.1
 * follows Harbor's API v2.0 contract (goharbor/harbor api/v2.0/swagger.yaml) by forwarding `/api/v2.0/…` to
 * fake-harbor.ts (systeminfo; projects HEAD/GET/POST; proxy-cache projects carry `registry_id`), whose live
 * project state it shares, and reverse-proxies `/v2/…` to a real docker-registry (Distribution 2.8, no auth of its
 * own) started behind it, guarding it the way Harbor does.
 *
 * Authentication follows Harbor's token flow (Distribution token auth, distribution/docs/spec/auth/token.md; Harbor
 * src/server/middleware/v2auth and src/core/service/token):
 *
 * - a `/v2/…` request without a valid `Authorization: Bearer <token>` is answered `401` with
 *   `WWW-Authenticate: Bearer realm="http://<front>/service/token",service="harbor-registry"` plus, for a repository,
 *   `scope="repository:<name>:pull"` (GET/HEAD) or `"repository:<name>:pull,push"` (POST/PUT/PATCH) or
 *   `"repository:<name>:delete"` (DELETE), as Harbor's v2auth builds it. Basic credentials on `/v2/` are refused
 *   the same way (real Harbor would take them; here they must never be needed). An unknown or expired token adds
 *   `error="invalid_token"`, a token lacking the access `error="insufficient_scope"` (Distribution's wording);
 * - `GET /service/token?service=harbor-registry&scope=…` issues opaque random tokens (not JWTs) answering
 *   `{"token","access_token","expires_in","issued_at"}`. Basic credentials of the admin or the `limitedUser` get
 *   every action they ask for (pull, push, delete; `registry:catalog:*` for the admin only); no credentials get an
 *   anonymous token with `pull` on public projects only; wrong credentials get 401. Which user and which granted
 *   scopes each token carries is remembered (`tokens`); a token lives `tokenTtlSeconds` (the `expires_in` it
 *   advertises, 1800 like Harbor's default) unless `tokenLifetimeMs` makes the front drop it sooner. A mount
 *   (`POST …/blobs/uploads/?mount=…&from=<repo>`) also needs pull on `<repo>`, as in Distribution.
 *   Simplification: grants do not depend on whether the project exists; the refusals below happen per request.
 *
 * Harbor's refusals on pushes (storage-and-skopeo.md §3.3), after the token check:
 *
 * - a push (POST/PUT/PATCH under `/v2/<project>/…`) into a project that does not exist is answered
 *   `401 {"errors":[{"code":"UNAUTHORIZED","message":"unauthorized: authentication required"}]}`
 *   (Harbor creates no project on push, harbor#6892);
 * - into a proxy-cache project `403 {"errors":[{"code":"DENIED","message":"can not push artifact to a proxy
 *   project: <project>"}]}` (harbor src/server/middleware/repoproxy/proxy.go).
 *
 * Harbor's project policies and its database, when asked (`policies`, `recordArtifacts`):
 *
 * - `readPolicy`: a project with vulnerability prevention or cosign/notation enforcement answers a manifest HEAD
 *   or GET of an artifact it has with `412 {"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"current image
 *   without vulnerability scanning cannot be pulled due to configured policy …"}]}`, and 404 for one it has not
 *   (src/server/registry/route.go puts contenttrust.Notary/Cosign and vulnerable.Middleware on GET and HEAD
 *   `/*\/manifests/:reference`; src/server/middleware/vulnerable/vulnerable.go returns PROJECTPOLICYVIOLATION, or
 *   the artifact's not-found error, before the handler runs). Blobs and the API stay readable.
 * - `immutable`: `repository:tag` names under an immutable-tag rule. A manifest PUT onto such a tag that already
 *   exists is answered `412 {"errors":[{"code":"PRECONDITION","message":"Failed to process request due to
 *   '<repository without project>:<tag>' configured as immutable."}]}`, whatever the digest
 *   (src/server/middleware/immutable/pushmf.go and error.go: only the first push of the tag is let through).
 * - `recordArtifacts` (on by default): a manifest PUT that the registry accepted is recorded in the fake Harbor's
 *   state as Harbor's putManifest handler records it in its database (src/server/registry/manifest.go →
 *   src/controller/artifact/controller.go Ensure): the artifact by digest with its media type and push time, and
 *   the tag (moved off the artifact it was on). So `GET /api/v2.0/…/artifacts?with_tag=true` lists what was pushed.
 *
 * `auth: 'basic'` restores the older simplification: `/v2/` takes HTTP Basic credentials (the admin or the
 * `limitedUser`) and answers `WWW-Authenticate: Basic realm="harbor-front"`. The `limitedUser` stands for a robot
 * account with push rights but no project-read permission: it may push like the admin (with a token or Basic),
 * while fake-harbor.ts answers its `GET /api/v2.0/projects/<private project>` with 403. Plain http only (use
 * `--dest-tls-verify=false`). Every request is recorded in order (method, path, which auth scheme it carried, its
 * User-Agent, the token it used, and the body of API requests), never a password.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeHarbor, type FakeHarbor, type FakeProjectInput } from './fake-harbor.js';
import { startRegistry, type TestRegistry } from './registry.js';

export interface FrontRequest {
  method: string;
  /** Path and query. */
  url: string;
  /** The scheme of the Authorization header the request carried (`basic`, `bearer`, …), `none` without one. */
  auth: string;
  /** For a Bearer request: the `id` of the issued token it carried (undefined when the token was unknown). */
  tokenId?: number;
  /** For a `/service/token` request: the `id` of the token it got. */
  issued?: number;
  /** The User-Agent header: skopeo's says `containers/…`. */
  userAgent?: string;
  /** When the front received it (ms since epoch). */
  at: number;
  /** Request body of `/api/…` calls (JSON text), for asserting what was created. */
  body?: string;
  /** The front's own answer when it refused the request itself (401/403 above), else the upstream status. */
  status?: number;
  /** The WWW-Authenticate header of the front's own refusal. */
  challenge?: string;
}

/** A token the front issued at `/service/token`. */
export interface IssuedToken {
  /** 1, 2, … in issue order. */
  id: number;
  /** Who asked (Basic credentials at the token endpoint); undefined for an anonymous token. */
  user?: string;
  /** The scopes asked for, as sent (`repository:library/app:pull,push`). */
  requested: string[];
  /** What the token grants: `type:name` → actions. */
  granted: Record<string, string[]>;
  issuedAt: number;
  /** When the front stops honouring it (ms since epoch). */
  expiresAt: number;
}

export interface HarborFront {
  host: string;
  url: string;
  username: string;
  password: string;
  /** `bearer` (Harbor's token flow, the default) or `basic`. */
  auth: 'bearer' | 'basic';
  requests: FrontRequest[];
  /** Every token issued, in order (bearer mode). */
  tokens: IssuedToken[];
  /** The fake Harbor whose `state.projects` decides what exists. */
  harbor: FakeHarbor;
  /** The real registry behind `/v2/` (read it directly to check what arrived). */
  registry: TestRegistry;
  stop(): Promise<void>;
}

export interface HarborFrontOptions {
  projects: FakeProjectInput[];
  username?: string;
  password?: string;
  /** A second account that may push but gets 403 when it reads a private project through the API. */
  limitedUser?: { username: string; password: string };
  /** How `/v2/` authenticates: Harbor's Bearer token flow (default) or plain HTTP Basic. */
  auth?: 'bearer' | 'basic';
  /** The `expires_in` of issued tokens (default 1800, Harbor's default token expiration of 30 minutes). */
  tokenTtlSeconds?: number;
  /** How long the front honours a token; defaults to `tokenTtlSeconds`. Shorter: tokens die before clients expect. */
  tokenLifetimeMs?: number;
  /** Per project name: Harbor policies the front enforces on `/v2/` (see the header). */
  policies?: Record<string, { readPolicy?: boolean }>;
  /** `repository:tag` names under an immutable-tag rule. */
  immutable?: string[];
  /** Record pushed manifests in the fake Harbor's artifacts (default true). */
  recordArtifacts?: boolean;
}

const SERVICE = 'harbor-registry';
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const UNAUTHORIZED = { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' }] };

/** One access a /v2 request needs: `type:name` and an action (`*` or any of `anyOf` granted satisfies it). */
interface Access {
  resource: string;
  anyOf: string[];
  /** The scope to name in the challenge. */
  scope: string;
}

/** Starts the fake Harbor, a real registry and the front on free ports of 127.0.0.1. */
export async function startHarborFront(opts: HarborFrontOptions): Promise<HarborFront> {
  const username = opts.username ?? 'admin';
  const password = opts.password ?? 'Harbor12345';
  const mode = opts.auth ?? 'bearer';
  const ttlSeconds = opts.tokenTtlSeconds ?? 1800;
  const lifetimeMs = opts.tokenLifetimeMs ?? ttlSeconds * 1000;
  const harbor = await startFakeHarbor({ projects: opts.projects, username, password, ...(opts.limitedUser ? { limitedUser: opts.limitedUser } : {}) });
  let registry: TestRegistry;
  try {
    registry = await startRegistry();
  } catch (error) {
    await harbor.stop();
    throw error;
  }
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  /** Authorization header → user, for the accounts that exist. */
  const accounts = new Map<string, { user: string; admin: boolean }>([[basic(username, password), { user: username, admin: true }]]);
  if (opts.limitedUser) accounts.set(basic(opts.limitedUser.username, opts.limitedUser.password), { user: opts.limitedUser.username, admin: false });
  const requests: FrontRequest[] = [];
  const tokens: IssuedToken[] = [];
  const byValue = new Map<string, IssuedToken>();

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const parsed = new URL(url, 'http://front');
    const pathname = parsed.pathname;
    const authorization = req.headers.authorization ?? '';
    const scheme = authorization === '' ? 'none' : (authorization.split(' ')[0] ?? '').toLowerCase();
    const entry: FrontRequest = { method: req.method ?? '', url, auth: scheme, at: Date.now() };
    if (req.headers['user-agent'] !== undefined) entry.userAgent = req.headers['user-agent'];
    requests.push(entry);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      entry.status = status;
      if (headers['www-authenticate'] !== undefined) entry.challenge = headers['www-authenticate'];
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
      req.resume();
    };
    if (mode === 'bearer' && pathname === '/service/token') {
      req.resume();
      if (req.method !== 'GET') return answer(405, { errors: [{ code: 'METHOD_NOT_ALLOWED', message: 'method not allowed' }] });
      const account = authorization === '' ? undefined : accounts.get(authorization);
      // Harbor's token service refuses wrong credentials (its API would fall back to anonymous instead).
      if (authorization !== '' && !account) return answer(401, UNAUTHORIZED);
      if (parsed.searchParams.get('service') !== SERVICE) return answer(400, { errors: [{ code: 'BAD_REQUEST', message: 'invalid service' }] });
      const requested = parsed.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      const issuedAt = Date.now();
      const token: IssuedToken = {
        id: tokens.length + 1,
        ...(account ? { user: account.user } : {}),
        requested,
        granted: grant(requested, account),
        issuedAt,
        expiresAt: issuedAt + lifetimeMs,
      };
      const value = randomBytes(24).toString('base64url');
      tokens.push(token);
      byValue.set(value, token);
      entry.issued = token.id;
      const issued = new Date(issuedAt).toISOString();
      return answer(200, { token: value, access_token: value, expires_in: ttlSeconds, issued_at: issued });
    }
    if (pathname.startsWith('/api/') || pathname.startsWith('/service/')) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.length > 0) entry.body = body.toString('utf8');
        forward(req, res, harbor.host, body, entry, true);
      });
      return;
    }
    if (!pathname.startsWith('/v2')) return answer(404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
    if (mode === 'basic') {
      if (!accounts.has(authorization)) return answer(401, UNAUTHORIZED, { 'www-authenticate': 'Basic realm="harbor-front"' });
    } else {
      const needed = accessOf(req.method ?? 'GET', pathname, parsed.searchParams);
      const challenge = (error?: string): string => {
        const params = [`realm="http://${req.headers.host ?? host}/service/token"`, `service="${SERVICE}"`];
        const scope = needed.map((a) => a.scope).join(' ');
        if (scope !== '') params.push(`scope="${scope}"`);
        if (error) params.push(`error="${error}"`);
        return `Bearer ${params.join(',')}`;
      };
      const refuse = (error?: string) => answer(401, UNAUTHORIZED, { 'www-authenticate': challenge(error), 'docker-distribution-api-version': 'registry/2.0' });
      if (scheme !== 'bearer') return refuse();
      const token = byValue.get(authorization.slice('bearer '.length).trim());
      if (token) entry.tokenId = token.id;
      if (!token || token.expiresAt <= Date.now()) return refuse('invalid_token');
      const allowed = (a: Access) => (token.granted[a.resource] ?? []).some((x) => x === '*' || a.anyOf.includes(x));
      if (!needed.every(allowed)) return refuse('insufficient_scope');
    }
    const project = pathname.split('/')[2] ?? '';
    if (WRITE_METHODS.has(req.method ?? '') && project !== '' && project !== '_catalog') {
      const found = harbor.state.projects.find((p) => p.name === project);
      if (!found) {
        const challenge = mode === 'basic' ? 'Basic realm="harbor-front"' : `Bearer realm="http://${req.headers.host ?? host}/service/token",service="${SERVICE}"`;
        return answer(401, UNAUTHORIZED, { 'www-authenticate': challenge });
      }
      if (found.registry_id !== null) {
        return answer(403, { errors: [{ code: 'DENIED', message: `can not push artifact to a proxy project: ${project}` }] });
      }
    }
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(pathname);
    if (manifest && (req.method === 'HEAD' || req.method === 'GET') && opts.policies?.[project]?.readPolicy) {
      // vulnerable.go / contenttrust: the artifact is looked up first (404 when unknown), then the policy refuses.
      void upstream(registry.host, 'HEAD', url, { accept: req.headers.accept ?? '*/*' }).then((up) => {
        if (up.status !== 200) return forward(req, res, registry.host, undefined, entry, false);
        answer(412, { errors: [{ code: 'PROJECTPOLICYVIOLATION', message: `current image without vulnerability scanning cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of "Critical" or higher from running.' To continue with pull, please contact your project administrator for help.` }] });
      }, (error: Error) => answer(502, { errors: [{ code: 'UNKNOWN', message: error.message }] }));
      return;
    }
    if (manifest && req.method === 'PUT') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const [, repository = '', reference = ''] = manifest;
        void (async () => {
          if (opts.immutable?.includes(`${repository}:${reference}`)) {
            const existing = await upstream(registry.host, 'HEAD', `/v2/${repository}/manifests/${reference}`, { accept: ACCEPT_MANIFESTS });
            if (existing.status === 200) {
              const name = repository.slice(repository.indexOf('/') + 1);
              return answer(412, { errors: [{ code: 'PRECONDITION', message: `Failed to process request due to '${name}:${reference}' configured as immutable.` }] });
            }
          }
          forward(req, res, registry.host, body, entry, false, (status, headers) => {
            if (status !== 201 || opts.recordArtifacts === false) return;
            const digest = String(headers['docker-content-digest'] ?? '');
            recordArtifact(harbor, repository, reference, digest, String(req.headers['content-type'] ?? ''), body);
          });
        })().catch((error: Error) => answer(502, { errors: [{ code: 'UNKNOWN', message: error.message }] }));
      });
      return;
    }
    forward(req, res, registry.host, undefined, entry, false);
  });

  /** What a token request may get: everything asked for by a known account, pull on public projects anonymously. */
  function grant(requested: string[], account: { user: string; admin: boolean } | undefined): Record<string, string[]> {
    const granted: Record<string, string[]> = {};
    for (const scope of requested) {
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first <= 0 || last <= first) continue;
      const type = scope.slice(0, first);
      const name = scope.slice(first + 1, last);
      const asked = scope.slice(last + 1).split(',').filter(Boolean);
      let actions: string[] = [];
      if (type === 'repository') {
        if (account) actions = asked.filter((a) => ['pull', 'push', 'delete', '*'].includes(a));
        else if (harbor.state.projects.some((p) => p.public && name.startsWith(`${p.name}/`))) actions = asked.filter((a) => a === 'pull');
      } else if (type === 'registry' && name === 'catalog' && account?.admin) {
        actions = asked.filter((a) => a === '*');
      }
      if (actions.length === 0) continue;
      const resource = `${type}:${name}`;
      granted[resource] = [...new Set([...(granted[resource] ?? []), ...actions])];
    }
    return granted;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    username,
    password,
    auth: mode,
    requests,
    tokens,
    harbor,
    registry,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([harbor.stop(), registry.stop()]);
    },
  };
}

/**
 * The accesses a `/v2/…` request needs, as Harbor's v2auth and Distribution derive them: none for `/v2/` itself
 * (any valid token), `registry:catalog:*` for the catalog, else one on the repository (pull for GET/HEAD, push for
 * POST/PUT/PATCH, delete (or push) for DELETE) and pull on the `from` repository of a blob mount.
 */
function accessOf(method: string, pathname: string, query: URLSearchParams): Access[] {
  if (pathname === '/v2' || pathname === '/v2/') return [];
  if (pathname === '/v2/_catalog') return [{ resource: 'registry:catalog', anyOf: [], scope: 'registry:catalog:*' }];
  const m = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)(\/|$)/.exec(pathname);
  const name = m?.[1] ?? pathname.slice('/v2/'.length).replace(/\/+$/, '');
  const repo = (actions: string[], scope: string): Access => ({ resource: `repository:${name}`, anyOf: actions, scope: `repository:${name}:${scope}` });
  if (method === 'DELETE') return [repo(['delete', 'push'], 'delete')];
  if (!WRITE_METHODS.has(method)) return [repo(['pull'], 'pull')];
  const accesses = [repo(['push'], 'pull,push')];
  const from = query.get('from');
  if (query.has('mount') && from) accesses.push({ resource: `repository:${from}`, anyOf: ['pull'], scope: `repository:${from}:pull` });
  return accesses;
}

/**
 * Sends the request on to `upstream` (host:port) and streams the answer back. The Host header is kept, so
 * Distribution builds upload `Location`s pointing at the front; credentials go to the fake Harbor API only.
 */
function forward(
  req: http.IncomingMessage, res: http.ServerResponse, upstream: string, body: Buffer | undefined, entry: FrontRequest, keepAuth: boolean,
  onAnswer?: (status: number, headers: http.IncomingHttpHeaders) => void,
): void {
  const headers = { ...req.headers };
  if (!keepAuth) delete headers.authorization;
  if (body !== undefined) headers['content-length'] = String(body.length);
  const [hostname, port] = upstream.split(':');
  const proxied = http.request({ hostname, port: Number(port), method: req.method, path: req.url, headers, agent: false }, (up) => {
    entry.status = up.statusCode;
    onAnswer?.(up.statusCode ?? 0, up.headers);
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  proxied.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`harbor-front: upstream ${upstream} failed: ${error.message}`);
  });
  if (body !== undefined) proxied.end(body);
  else req.pipe(proxied);
}

const ACCEPT_MANIFESTS = [
  'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** One request of the front's own to the registry behind it (no auth there). */
function upstream(host: string, method: string, pathname: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const r = http.request({ hostname, port: Number(port), method, path: pathname, headers, agent: false }, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => resolve({ status: up.statusCode ?? 0, headers: up.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end();
  });
}

/**
 * What Harbor's database learns from an accepted manifest PUT (src/controller/artifact/controller.go Ensure): the
 * artifact by digest, and the tag, moved off any other artifact of the repository.
 */
function recordArtifact(harbor: FakeHarbor, repository: string, reference: string, digest: string, mediaType: string, body: Buffer): void {
  const projectName = repository.slice(0, repository.indexOf('/'));
  const project = harbor.state.projects.find((p) => p.name === projectName);
  if (!project || !digest.startsWith('sha256:')) return;
  let repo = project.repositories.find((r) => r.name === repository);
  if (!repo) project.repositories.push((repo = { name: repository, artifacts: [] }));
  const now = new Date().toISOString();
  let artifact = repo.artifacts.find((a) => a.digest === digest);
  if (!artifact) repo.artifacts.push((artifact = { digest, body, mediaType: mediaType.split(';')[0] ?? mediaType, push_time: now, tags: [] }));
  if (reference.startsWith('sha256:')) return;
  for (const a of repo.artifacts) a.tags = a.tags.filter((t) => t.name !== reference);
  artifact.tags.push({ name: reference, push_time: now });
}
