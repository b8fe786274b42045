/**
 * A fake Harbor for tests. THERE IS NO REAL HARBOR HERE: this small node:http server on 127.0.0.1
 * follows Harbor's published API v2.0 contract (goharbor/harbor api/v2.0/swagger.yaml) for the calls
 * registry-rescue makes, plus the Distribution v2 endpoints Harbor serves behind Bearer token auth:
 *
 * - GET /api/v2.0/systeminfo (harbor_version only for authenticated callers), GET /api/v2.0/users/current
 * - GET|HEAD|POST /api/v2.0/projects, GET /api/v2.0/projects/{name}; proxy-cache projects carry registry_id
 * - GET /api/v2.0/projects/{p}/repositories, …/repositories/{r, URL-encoded twice}/artifacts?with_tag=true
 * - page/page_size (default 10, above 100 → 422, clamped to `pageSizeMax`), X-Total-Count and
 *   `Link: <…>; rel="prev" , <…>; rel="next"` as Harbor's src/lib/link.go writes them
 * - Basic auth: WRONG credentials fall back to anonymous (public projects only), as Harbor's
 *   basic_auth.go does; anonymous or limited callers get 401/403 on private projects
 * - /v2/, /v2/_catalog (admin only), /v2/<repo>/tags/list, /v2/<repo>/manifests/<ref>, with
 *   `WWW-Authenticate: Bearer realm=…/service/token,service="harbor-registry"` and tokens that expire
 *
 * Every request is recorded (method, url, user; never a password); `state` is live and mutable.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeArtifactInput {
  tags: Array<string | { name: string; pushTime?: string }>;
  /** Manifest body; a unique OCI manifest is generated when absent. The digest is always its sha256. */
  manifest?: string;
  mediaType?: string;
}
export interface FakeProjectInput {
  name: string;
  public?: boolean;
  /** A positive id makes it a proxy-cache project. */
  registryId?: number | null;
  /** Repository names relative to the project (`app`, `team/app`). */
  repositories?: Array<{ name: string; artifacts: FakeArtifactInput[] }>;
  /** Storage quota in bytes (`hard` -1: unlimited); Harbor gives every project one (default -1). */
  quota?: { hard: number; used: number };
}
export interface FakeHarborOptions {
  projects: FakeProjectInput[];
  username: string;
  password: string;
  /** A non-admin account: sees public projects only, gets 403 on private ones. */
  limitedUser?: { username: string; password: string };
  pageSizeMax?: number;
  tokenTtlSeconds?: number;
}

export interface FakeTag { name: string; push_time: string }
export interface FakeArtifact { digest: string; body: Buffer; mediaType: string; push_time: string; tags: FakeTag[] }
export interface FakeRepository { name: string; artifacts: FakeArtifact[] }
export interface FakeProject { project_id: number; name: string; public: boolean; registry_id: number | null; repositories: FakeRepository[]; quota: { hard: number; used: number } }
export interface RecordedRequest { method: string; url: string; user?: string; scheme: 'none' | 'basic' | 'bearer'; accept?: string }

export interface FakeHarborState {
  projects: FakeProject[];
  /** Names created through POST /api/v2.0/projects, in order. */
  created: string[];
  tokensIssued: number;
  /** Makes every issued token invalid (as if expired). */
  expireTokens(): void;
}

export interface FakeHarbor { url: string; host: string; requests: RecordedRequest[]; state: FakeHarborState; stop(): Promise<void> }

/** `token`: the request carried a valid (maybe anonymous) Bearer token. */
type Caller = { user?: string; admin: boolean; token?: boolean };
const API = '/api/v2.0';
const PUSH_TIME = '2024-05-01T10:00:00.000Z';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Starts the fake Harbor on 127.0.0.1 on a free port. */
export async function startFakeHarbor(opts: FakeHarborOptions): Promise<FakeHarbor> {
  const tokens = new Map<string, { caller: Caller; expiresAt: number }>();
  const state: FakeHarborState = {
    projects: opts.projects.map((p, i) => toProject(p, i + 1)),
    created: [],
    tokensIssued: 0,
    expireTokens: () => tokens.clear(),
  };
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const caller = identify(req.headers.authorization ?? '', opts, tokens);
    const scheme = /^bearer /i.test(req.headers.authorization ?? '') ? 'bearer' : req.headers.authorization ? 'basic' : 'none';
    requests.push({ method: req.method ?? '', url: req.url ?? '', user: caller.user, scheme, accept: req.headers.accept });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        route({ req, res, caller, body: Buffer.concat(chunks).toString('utf8'), state, opts, tokens, host: hostOf(server) });
      } catch (error) {
        send(res, 500, { errors: [{ code: 'INTERNAL', message: String(error) }] });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = hostOf(server);
  return {
    url: `http://${host}`,
    host,
    requests,
    state,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function hostOf(server: http.Server): string {
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function toProject(p: FakeProjectInput, id: number): FakeProject {
  return {
    project_id: id,
    name: p.name,
    public: p.public ?? false,
    registry_id: p.registryId ?? null,
    quota: p.quota ?? { hard: -1, used: 0 },
    repositories: (p.repositories ?? []).map((r) => ({
      name: `${p.name}/${r.name}`,
      artifacts: r.artifacts.map((a, i) => {
        const generated = { schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { fake: `${p.name}/${r.name}#${i}` } };
        const body = Buffer.from(a.manifest ?? JSON.stringify(generated));
        const tags = a.tags.map((t) => (typeof t === 'string' ? { name: t } : t)).map((t) => ({ name: t.name, push_time: t.pushTime ?? PUSH_TIME }));
        const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        return { digest, body, mediaType: a.mediaType ?? OCI_MANIFEST, push_time: PUSH_TIME, tags };
      }),
    })),
  };
}

/** Basic credentials that do not match are treated as anonymous, as Harbor does. */
function identify(header: string, opts: FakeHarborOptions, tokens: Map<string, { caller: Caller; expiresAt: number }>): Caller {
  const [scheme = '', value = ''] = header.split(' ');
  if (scheme.toLowerCase() === 'bearer') {
    const t = tokens.get(value);
    return t && t.expiresAt > Date.now() ? { ...t.caller, token: true } : { admin: false };
  }
  if (scheme.toLowerCase() !== 'basic') return { admin: false };
  return checkBasic(value, opts) ?? { admin: false };
}

function checkBasic(value: string, opts: FakeHarborOptions): Caller | undefined {
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  if (decoded === `${opts.username}:${opts.password}`) return { user: opts.username, admin: true };
  const l = opts.limitedUser;
  if (l && decoded === `${l.username}:${l.password}`) return { user: l.username, admin: false };
  return undefined;
}

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  caller: Caller;
  body: string;
  state: FakeHarborState;
  opts: FakeHarborOptions;
  tokens: Map<string, { caller: Caller; expiresAt: number }>;
  host: string;
}

function route(ctx: Ctx): void {
  const url = new URL(ctx.req.url ?? '/', 'http://fake');
  // Like Go's router, match on the decoded path: a repository encoded only once splits into extra segments.
  const parts = decodeURIComponent(url.pathname).split('/').filter(Boolean);
  const method = ctx.req.method ?? 'GET';
  if (url.pathname === '/service/token') return token(ctx, url);
  if (parts[0] === 'v2') return registryV2(ctx, url, parts.slice(1), method);
  if (`/${parts.slice(0, 2).join('/')}` !== API) return send(ctx.res, 404, errors('NOT_FOUND', 'not found'));
  const [resource, name, sub, repo, leaf] = parts.slice(2);
  const { caller, res } = ctx;
  if (resource === 'systeminfo' && method === 'GET') {
    return send(res, 200, { auth_mode: 'db_auth', ...(caller.user ? { harbor_version: 'v2.11.0-fake' } : {}) });
  }
  if (resource === 'users' && name === 'current') {
    if (!caller.user) return send(res, 401, errors('UNAUTHORIZED', 'unauthorized'));
    return send(res, 200, { username: caller.user, sysadmin_flag: caller.admin });
  }
  if (resource === 'quotas' && method === 'GET') {
    // swagger listQuotas (system admins): reference=project&reference_id=<project id> → [{ ref, hard, used }].
    if (!caller.admin) return send(res, caller.user ? 403 : 401, errors(caller.user ? 'FORBIDDEN' : 'UNAUTHORIZED', 'quota read needs a system administrator'));
    const id = Number(url.searchParams.get('reference_id'));
    const p = ctx.state.projects.filter((x) => url.searchParams.get('reference') === 'project' && x.project_id === id);
    return paginate(ctx, url, p.map((x) => ({ id: x.project_id, ref: { id: x.project_id, name: x.name }, hard: { storage: x.quota.hard }, used: { storage: x.quota.used } })));
  }
  if (resource !== 'projects') return send(res, 404, errors('NOT_FOUND', 'not found'));
  if (name === undefined) return projects(ctx, url, method);
  const byId = ctx.req.headers['x-is-resource-name'] !== 'true';
  const project = ctx.state.projects.find((p) => p.name === name || (byId && String(p.project_id) === name));
  // Like Harbor (harbor#17586, #21800): permission is checked before existence, so a project that does not
  // exist answers 403 to a lookup by name; HEAD /projects?project_name= tells the two apart.
  if (!project) return send(res, 403, errors('FORBIDDEN', 'forbidden'));
  const denied = access(caller, project);
  if (denied) return send(res, denied, errors(denied === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', denied === 401 ? 'unauthorized' : 'forbidden'));
  if (sub === undefined) return send(res, 200, projectJson(project));
  if (sub !== 'repositories') return send(res, 404, errors('NOT_FOUND', 'not found'));
  if (repo === undefined) {
    const items = project.repositories.map((r, i) => ({
      id: i + 1, project_id: project.project_id, name: r.name, artifact_count: r.artifacts.length, pull_count: 0,
    }));
    return paginate(ctx, url, items);
  }
  const repository = project.repositories.find((r) => r.name === `${project.name}/${decodeURIComponent(repo)}`);
  if (!repository || leaf !== 'artifacts' || (parts.length !== 7 && parts.length !== 8)) return send(res, 404, errors('NOT_FOUND', `repository ${repo} not found`));
  const withTag = url.searchParams.get('with_tag') !== 'false';
  const withAccessory = url.searchParams.get('with_accessory') === 'true';
  const json = (a: FakeArtifact, i: number) => ({
    id: i + 1, type: 'IMAGE', digest: a.digest, manifest_media_type: a.mediaType, media_type: a.mediaType,
    project_id: project.project_id, repository_name: repository.name, size: a.body.length, push_time: a.push_time,
    ...(withTag
      ? { tags: a.tags.map((t, j) => ({ id: j + 1, artifact_id: i + 1, name: t.name, push_time: t.push_time, immutable: false })) }
      : {}),
    ...(withAccessory ? { accessories: accessoriesOf(repository, a) } : {}),
  });
  if (parts.length === 8) {
    // GET …/artifacts/{reference}: one artifact by tag or digest (swagger getArtifact).
    const reference = parts[7] as string;
    const i = repository.artifacts.findIndex((a) => a.digest === reference || a.tags.some((t) => t.name === reference));
    const found = repository.artifacts[i];
    return found ? send(res, 200, json(found, i)) : send(res, 404, errors('NOT_FOUND', `artifact ${repository.name}@${reference} not found`));
  }
  return paginate(ctx, url, repository.artifacts.map(json));
}

/**
 * The accessories Harbor links to an artifact (`with_accessory=true`): a manifest of the repository whose `subject`
 * is the artifact (src/server/middleware/subject: type from its artifactType, `subject.accessory` otherwise), and a
 * cosign `sha256-<hex>.sig` tag on it (src/server/middleware/cosign: `signature.cosign`). Linked only when pushed
 * after the subject, as Harbor does; the fake keeps no order, so it links whatever is there.
 */
function accessoriesOf(repository: FakeRepository, subject: FakeArtifact): Array<Record<string, unknown>> {
  const hex = subject.digest.slice('sha256:'.length);
  const out: Array<Record<string, unknown>> = [];
  for (const a of repository.artifacts) {
    let type: string | undefined;
    try {
      const m = JSON.parse(a.body.toString('utf8')) as { subject?: { digest?: string }; artifactType?: string; config?: { mediaType?: string } };
      if (m.subject?.digest === subject.digest) {
        const t = m.artifactType ?? m.config?.mediaType ?? '';
        type = /cosign/.test(t) ? 'signature.cosign' : /notary|notation/.test(t) ? 'signature.notation' : /sbom|spdx|cyclonedx/.test(t) ? 'harbor.sbom' : 'subject.accessory';
      }
    } catch {
      // not JSON: no subject
    }
    if (!type && a.tags.some((t) => t.name === `sha256-${hex}.sig`)) type = 'signature.cosign';
    if (type) out.push({ digest: a.digest, subject_artifact_digest: subject.digest, type, size: a.body.length });
  }
  return out;
}

function projects(ctx: Ctx, url: URL, method: string): void {
  const { res, caller, state } = ctx;
  if (method === 'HEAD') {
    const exists = state.projects.some((p) => p.name === url.searchParams.get('project_name'));
    res.writeHead(exists ? 200 : 404).end();
    return;
  }
  if (method === 'POST') {
    if (!caller.user) return send(res, 401, errors('UNAUTHORIZED', 'unauthorized'));
    if (!caller.admin) return send(res, 403, errors('FORBIDDEN', 'forbidden'));
    let req: { project_name?: unknown; metadata?: { public?: unknown } };
    try { req = JSON.parse(ctx.body) as typeof req; } catch { return send(res, 400, errors('BAD_REQUEST', 'invalid JSON')); }
    const name = req.project_name;
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/.test(name)) return send(res, 400, errors('BAD_REQUEST', 'invalid project_name'));
    if (state.projects.some((p) => p.name === name)) return send(res, 409, errors('CONFLICT', `The project named ${name} already exists`));
    const project = toProject({ name, public: req.metadata?.public === 'true' }, state.projects.length + 1);
    state.projects.push(project);
    state.created.push(project.name);
    res.writeHead(201, { location: `${API}/projects/${project.project_id}` }).end();
    return;
  }
  if (method !== 'GET') return send(res, 405, errors('METHOD_NOT_ALLOWED', 'method not allowed'));
  return paginate(ctx, url, state.projects.filter((p) => p.public || caller.admin).map(projectJson));
}

function access(caller: Caller, project: FakeProject): 0 | 401 | 403 {
  if (project.public || caller.admin) return 0;
  return caller.user ? 403 : 401;
}

function projectJson(p: FakeProject): Record<string, unknown> {
  return {
    project_id: p.project_id, name: p.name, owner_id: 1, owner_name: 'admin', repo_count: p.repositories.length,
    ...(p.registry_id ? { registry_id: p.registry_id } : {}),
    metadata: { public: String(p.public) }, creation_time: PUSH_TIME, update_time: PUSH_TIME, deleted: false,
  };
}

/** Harbor-style page/page_size pagination with X-Total-Count and a prev/next Link header. */
function paginate(ctx: Ctx, url: URL, items: unknown[]): void {
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
  const asked = Number(url.searchParams.get('page_size') ?? 10) || 10;
  if (asked > 100) return send(ctx.res, 422, errors('UNPROCESSABLE_ENTITY', 'page_size in query should be less than or equal to 100'));
  const size = Math.min(asked, ctx.opts.pageSizeMax ?? 100);
  const link = (p: number): string => {
    const q = new URLSearchParams(url.searchParams);
    q.set('page', String(p));
    q.set('page_size', String(size));
    return `<${url.pathname}?${q}>`;
  };
  const links: string[] = [];
  if (page > 1) links.push(`${link(page - 1)}; rel="prev"`);
  if (page * size < items.length) links.push(`${link(page + 1)}; rel="next"`);
  const headers: Record<string, string> = { 'x-total-count': String(items.length) };
  if (links.length > 0) headers.link = links.join(' , ');
  send(ctx.res, 200, items.slice((page - 1) * size, page * size), headers);
}

function token(ctx: Ctx, url: URL): void {
  const header = ctx.req.headers.authorization ?? '';
  const basic = /^basic /i.test(header) ? checkBasic(header.slice(6), ctx.opts) : undefined;
  // Harbor's token service refuses wrong credentials (unlike its API, which falls back to anonymous).
  if (header && !basic) return send(ctx.res, 401, errors('UNAUTHORIZED', 'invalid credentials'));
  const value = randomUUID();
  const ttl = ctx.opts.tokenTtlSeconds ?? 1800;
  ctx.tokens.set(value, { caller: basic ?? { admin: false }, expiresAt: Date.now() + ttl * 1000 });
  ctx.state.tokensIssued++;
  const issuedAt = new Date().toISOString();
  send(ctx.res, 200, { token: value, access_token: value, expires_in: ttl, issued_at: issuedAt, scope: url.searchParams.getAll('scope') });
}

function registryV2(ctx: Ctx, url: URL, parts: string[], method: string): void {
  const { res, caller, state } = ctx;
  // Distribution token auth: every /v2 request needs a valid token, an anonymous one included.
  const bearer = caller.token === true;
  const challenge = (scope?: string, insufficient = false): void => {
    const params = [`realm="http://${ctx.host}/service/token"`, 'service="harbor-registry"'];
    if (scope) params.push(`scope="${scope}"`);
    if (insufficient) params.push('error="insufficient_scope"');
    res.setHeader('www-authenticate', `Bearer ${params.join(',')}`);
    send(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' }] });
  };
  if (parts.length === 0) return bearer ? send(res, 200, {}) : challenge();
  if (parts.join('/') === '_catalog') {
    if (!bearer || !caller.admin) return challenge('registry:catalog:*', bearer);
    const names = state.projects.flatMap((p) => p.repositories.map((r) => r.name)).sort();
    return distributionPage(ctx, url, 'repositories', names, {});
  }
  const kind = parts.at(-2);
  const repoName = parts.slice(0, -2).join('/');
  const project = state.projects.find((p) => repoName.startsWith(`${p.name}/`));
  const repository = project?.repositories.find((r) => r.name === repoName);
  if (!bearer || !project || access(caller, project) !== 0) return challenge(`repository:${repoName}:pull`, bearer);
  if (!repository) return send(res, 404, errors('NAME_UNKNOWN', 'repository name not known to registry'));
  if (kind === 'tags' && parts.at(-1) === 'list') {
    const tags = repository.artifacts.flatMap((a) => a.tags.map((t) => t.name)).sort();
    return distributionPage(ctx, url, 'tags', tags, { name: repoName });
  }
  const ref = parts.at(-1) ?? '';
  const artifact = repository.artifacts.find((a) => a.digest === ref || a.tags.some((t) => t.name === ref));
  if (kind !== 'manifests' || !artifact) return send(res, 404, errors('MANIFEST_UNKNOWN', 'manifest unknown'));
  res.writeHead(200, { 'content-type': artifact.mediaType, 'content-length': artifact.body.length, 'docker-content-digest': artifact.digest });
  res.end(method === 'HEAD' ? undefined : artifact.body);
}

/** Distribution's `n`/`last` pagination with `Link: <…>; rel="next"`. */
function distributionPage(ctx: Ctx, url: URL, field: string, all: string[], extra: Record<string, unknown>): void {
  const n = Number(url.searchParams.get('n') ?? 0) || all.length;
  const last = url.searchParams.get('last');
  const rest = last ? all.filter((x) => x > last) : all;
  const page = rest.slice(0, n);
  const headers: Record<string, string> = {};
  if (rest.length > n) headers.link = `<${url.pathname}?${new URLSearchParams({ last: page.at(-1) ?? '', n: String(n) })}>; rel="next"`;
  send(ctx.res, 200, { ...extra, [field]: page }, headers);
}

function errors(code: string, message: string): { errors: Array<{ code: string; message: string }> } {
  return { errors: [{ code, message }] };
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
