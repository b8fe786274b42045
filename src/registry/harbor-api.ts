/**
 * The few Harbor API v2.0 calls registry-rescue needs (goharbor/harbor api/v2.0/swagger.yaml):
 * systeminfo, projects (list/HEAD/GET/POST), repositories and artifacts with their tags.
 * Harbor's database decides which tags exist (storage-and-skopeo.md §3.2), so its tag list is
 * the one to trust. The API accepts Basic auth; wrong credentials are NOT refused by Harbor
 * (it falls back to anonymous and shows public projects only), hence `authenticated` below.
 */
import { basicAuthValue, redact, secretsOf, type Credentials } from './credentials.js';
import { bodyExcerpt, createTransport, nextLink, parseJson, pathOf, type ConnectionOptions, type HttpResponse } from './http-transport.js';
import { RegistryAuthError, RegistryHttpError, authError } from './registry-errors.js';

const API = '/api/v2.0';
/** Harbor's `page_size` maximum (swagger `pageSize.maximum`). */
export const HARBOR_MAX_PAGE_SIZE = 100;

const CATALOG_HINT =
  "Harbor's catalog needs a system administrator or a robot account with 'list project', 'list repository' and " +
  "'list artifact' permissions on every project";
const CREATE_HINT = 'creating projects needs a Harbor system administrator (or project creation open to everyone)';

export interface HarborApiOptions extends ConnectionOptions {
  /** `https://host[:port]` (or `http://` for a plain-http Harbor). */
  url: URL;
}

export interface HarborInfo {
  /** Only shown to authenticated callers. */
  version?: string;
  authMode?: string;
  /** False when credentials were sent but Harbor treated the request as anonymous: wrong credentials. */
  authenticated: boolean;
}

export interface HarborProject {
  name: string;
  projectId?: number;
  /** Set for a proxy-cache project (pushes into it are refused). */
  registryId: number | null;
  public: boolean;
  repoCount?: number;
}

export interface HarborRepository {
  /** Full name, `project/repo…`. */
  name: string;
  artifactCount?: number;
}

export interface HarborTag {
  name: string;
  pushTime?: string;
}

export interface HarborArtifact {
  digest: string;
  mediaType?: string;
  pushTime?: string;
  tags: HarborTag[];
  /** With `withAccessory`: the accessories Harbor linked to this artifact (signatures, SBOMs, referrers). */
  accessories?: HarborAccessory[];
}

export interface HarborAccessory {
  digest: string;
  /** `signature.cosign`, `harbor.sbom`, `subject.accessory`, … */
  type?: string;
  subjectDigest?: string;
}

export interface HarborApi {
  readonly host: string;
  /** Harbor's systeminfo, or undefined when the server is not a Harbor. */
  detectHarbor(): Promise<HarborInfo | undefined>;
  /** The logged-in user; undefined for robot accounts and anonymous callers. */
  currentUser(): Promise<{ username: string; sysadmin: boolean } | undefined>;
  listProjects(): AsyncIterable<HarborProject>;
  getProject(name: string): Promise<HarborProject | undefined>;
  projectExists(name: string): Promise<boolean>;
  createProject(name: string, opts?: { public?: boolean }): Promise<'created' | 'exists'>;
  listRepositories(project: string): AsyncIterable<HarborRepository>;
  /** A project's storage quota in bytes (`hard` -1: unlimited); undefined when Harbor has none for it. */
  getQuota(projectId: number): Promise<{ hard: number; used: number } | undefined>;
  /** Artifacts of a repository given by its full name (`project/repo…`), with their tags (and accessories when asked). */
  listArtifacts(project: string, repository: string, opts?: { withAccessory?: boolean }): AsyncIterable<HarborArtifact>;
  /** One artifact by tag or digest; undefined when Harbor does not know it. */
  getArtifact(project: string, repository: string, reference: string, opts?: { withAccessory?: boolean }): Promise<HarborArtifact | undefined>;
  close(): void;
}

/** Creates a Harbor API client; no request is made until a method is called. */
export function createHarborApi(opts: HarborApiOptions): HarborApi {
  const flags = opts.flags ?? 'dest-';
  const { tlsVerify, certDir, timeoutMs, signal } = opts;
  const transport = createTransport({ baseUrl: opts.url, tlsVerify, certDir, timeoutMs, signal, flags });
  const creds = opts.credentials;
  const secrets = secretsOf(creds);
  const pageSize = Math.min(opts.pageSize ?? HARBOR_MAX_PAGE_SIZE, HARBOR_MAX_PAGE_SIZE);

  type Extra = { body?: unknown; hint?: string; headers?: Record<string, string> };
  async function request(method: 'GET' | 'HEAD' | 'POST', url: string, action: string, extra: Extra = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: 'application/json', ...extra.headers };
    if (creds) headers.authorization = `Basic ${basicAuthValue(creds)}`;
    if (extra.body !== undefined) headers['content-type'] = 'application/json';
    const body = extra.body === undefined ? undefined : JSON.stringify(extra.body);
    const res = await transport.request({ method, url, headers, body });
    if (res.status === 401 || res.status === 403) {
      const who = { username: creds?.username, source: creds?.source };
      throw authError({ host: transport.host, status: res.status, ...who, action, flags, hint: extra.hint });
    }
    return res;
  }

  function unexpected(res: HttpResponse, method: string): RegistryHttpError {
    return new RegistryHttpError(transport.host, method, pathOf(res.url), res.status, redact(bodyExcerpt(res), secrets));
  }

  /** Follows Harbor's `Link: <…>; rel="next"`, or X-Total-Count when a proxy strips Link. */
  type Item = Record<string, unknown>;
  async function* pages(path: string, query: Record<string, string>, action: string, notFound: string): AsyncGenerator<Item> {
    const params = new URLSearchParams({ ...query, page: '1', page_size: String(pageSize) });
    let url: string | undefined = `${path}?${params}`;
    const seen = new Set<string>();
    for (let page = 1, fetched = 0; url !== undefined && !seen.has(url); page++) {
      seen.add(url);
      const res = await request('GET', url, action, { hint: CATALOG_HINT });
      if (res.status === 404) throw new RegistryHttpError(transport.host, 'GET', pathOf(res.url), 404, notFound);
      if (res.status !== 200) throw unexpected(res, 'GET');
      const items = parseJson(res, 'GET');
      if (!Array.isArray(items)) throw unexpected(res, 'GET');
      for (const item of items) yield item as Record<string, unknown>;
      fetched += items.length;
      const next = nextLink(res.headers.link);
      const total = Number(res.headers['x-total-count']);
      if (next !== undefined) url = pathOf(new URL(next, res.url));
      else if (!res.headers.link && Number.isFinite(total) && fetched < total && items.length > 0) {
        params.set('page', String(page + 1));
        url = `${path}?${params}`;
      } else url = undefined;
    }
  }

  const api: HarborApi = {
    host: transport.host,
    async detectHarbor() {
      const res = await transport.request({ method: 'GET', url: `${API}/systeminfo`, headers: authHeaders(creds) });
      if (res.status !== 200) return undefined;
      let info: unknown;
      try {
        info = JSON.parse(res.body.toString('utf8'));
      } catch {
        return undefined;
      }
      if (!isRecord(info) || (!('harbor_version' in info) && !('auth_mode' in info))) return undefined;
      const version = typeof info.harbor_version === 'string' ? info.harbor_version : undefined;
      const authMode = typeof info.auth_mode === 'string' ? info.auth_mode : undefined;
      return { version, authMode, authenticated: version !== undefined };
    },
    async currentUser() {
      const res = await transport.request({ method: 'GET', url: `${API}/users/current`, headers: authHeaders(creds) });
      if (res.status !== 200) return undefined;
      const user = parseJson(res, 'GET');
      if (!isRecord(user) || typeof user.username !== 'string') return undefined;
      return { username: user.username, sysadmin: user.sysadmin_flag === true };
    },
    async *listProjects() {
      for await (const item of pages(`${API}/projects`, { with_detail: 'true' }, 'list projects', 'no projects API')) yield toProject(item);
    },
    async getProject(name) {
      // X-Is-Resource-Name: a project named "42" is a name, not the id 42.
      const headers = { 'x-is-resource-name': 'true' };
      let res: HttpResponse;
      try {
        res = await request('GET', `${API}/projects/${encodeURIComponent(name)}`, `read project ${name}`, { headers });
      } catch (error) {
        // Harbor checks permissions before existence: a project that does not exist answers 403 (harbor#17586,
        // #21800). HEAD ?project_name= answers 200/404 for any signed-in user and tells the two apart.
        if (error instanceof RegistryAuthError && error.status === 403 && !(await api.projectExists(name))) return undefined;
        throw error;
      }
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw unexpected(res, 'GET');
      return toProject(parseJson(res, 'GET') as Record<string, unknown>);
    },
    async projectExists(name) {
      const res = await request('HEAD', `${API}/projects?${new URLSearchParams({ project_name: name })}`, `look up project ${name}`);
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      throw unexpected(res, 'HEAD');
    },
    async createProject(name, { public: isPublic = false } = {}) {
      const body = { project_name: name, metadata: { public: String(isPublic) } };
      const res = await request('POST', `${API}/projects`, `create project ${name}`, { body, hint: CREATE_HINT });
      if (res.status === 201) return 'created';
      if (res.status === 409) return 'exists';
      throw unexpected(res, 'POST');
    },
    async *listRepositories(project) {
      const path = `${API}/projects/${encodeURIComponent(project)}/repositories`;
      for await (const item of pages(path, {}, `list repositories of project ${project}`, `project ${project} not found`)) {
        if (typeof item.name === 'string') yield { name: item.name, artifactCount: numberOr(item.artifact_count) };
      }
    },
    async *listArtifacts(project, repository, opts = {}) {
      const path = artifactsPath(project, repository);
      const query = { with_tag: 'true', with_label: 'false', with_scan_overview: 'false', ...(opts.withAccessory ? { with_accessory: 'true' } : {}) };
      for await (const item of pages(path, query, `list artifacts of ${repository}`, `repository ${repository} not found`)) {
        yield toArtifact(item);
      }
    },
    async getQuota(projectId) {
      // swagger listQuotas: reference=project&reference_id=<id> → [{ hard: { storage }, used: { storage } }].
      const query = new URLSearchParams({ reference: 'project', reference_id: String(projectId) });
      const res = await request('GET', `${API}/quotas?${query}`, `read the quota of project ${projectId}`);
      if (res.status !== 200) throw unexpected(res, 'GET');
      const items = parseJson(res, 'GET');
      const first = Array.isArray(items) && isRecord(items[0]) ? items[0] : undefined;
      const hard = first && isRecord(first.hard) ? first.hard.storage : undefined;
      const used = first && isRecord(first.used) ? first.used.storage : undefined;
      return typeof hard === 'number' ? { hard, used: typeof used === 'number' ? used : 0 } : undefined;
    },
    async getArtifact(project, repository, reference, opts = {}) {
      const query = new URLSearchParams({ with_tag: 'true', with_label: 'false', with_scan_overview: 'false', ...(opts.withAccessory ? { with_accessory: 'true' } : {}) });
      const res = await request('GET', `${artifactsPath(project, repository)}/${encodeURIComponent(reference)}?${query}`, `read artifact ${repository}:${reference}`);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw unexpected(res, 'GET');
      return toArtifact(parseJson(res, 'GET') as Record<string, unknown>);
    },
    close: () => transport.close(),
  };
  return api;
}

/** `…/projects/{p}/repositories/{r}/artifacts`, `r` without the project and URL-encoded twice: a/b -> a%252Fb (swagger repositoryName). */
function artifactsPath(project: string, repository: string): string {
  if (!repository.startsWith(`${project}/`)) throw new Error(`repository ${repository} is not in project ${project}`);
  const repo = encodeURIComponent(encodeURIComponent(repository.slice(project.length + 1)));
  return `${API}/projects/${encodeURIComponent(project)}/repositories/${repo}/artifacts`;
}

function authHeaders(creds: Credentials | undefined): Record<string, string> {
  return creds ? { accept: 'application/json', authorization: `Basic ${basicAuthValue(creds)}` } : { accept: 'application/json' };
}

function toProject(item: Record<string, unknown>): HarborProject {
  const metadata = isRecord(item.metadata) ? item.metadata : {};
  return {
    name: String(item.name),
    projectId: numberOr(item.project_id),
    // Harbor sends 0 or omits the field for ordinary projects; only a positive id is a proxy cache.
    registryId: typeof item.registry_id === 'number' && item.registry_id > 0 ? item.registry_id : null,
    public: metadata.public === 'true' || metadata.public === true,
    repoCount: numberOr(item.repo_count),
  };
}

function toArtifact(item: Record<string, unknown>): HarborArtifact {
  const tags = Array.isArray(item.tags) ? item.tags.filter(isRecord) : [];
  return {
    digest: String(item.digest),
    mediaType: typeof item.manifest_media_type === 'string' ? item.manifest_media_type : undefined,
    pushTime: typeof item.push_time === 'string' ? item.push_time : undefined,
    tags: tags.map((t) => ({ name: String(t.name), pushTime: typeof t.push_time === 'string' ? t.push_time : undefined })),
    ...(Array.isArray(item.accessories)
      ? {
          accessories: item.accessories.filter(isRecord).map((a) => ({
            digest: String(a.digest),
            ...(typeof a.type === 'string' ? { type: a.type } : {}),
            ...(typeof a.subject_artifact_digest === 'string' ? { subjectDigest: a.subject_artifact_digest } : {}),
          })),
        }
      : {}),
  };
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
