/**
 * A loopback "Harbor front" for sync tests. THERE IS NO REAL HARBOR HERE. This node:http server on 127.0.0.1
 * follows Harbor's API v2.0 contract (goharbor/harbor api/v2.0/swagger.yaml) by forwarding `/api/v2.0/…` to
 * fake-harbor.ts (systeminfo; projects HEAD/GET/POST; proxy-cache projects carry `registry_id`), whose live
 * project state it shares, and reverse-proxies `/v2/…` to a real docker-registry (Distribution 2.8) started
 * behind it, acting as Harbor does on pushes (storage-and-skopeo.md §3.3):
 *
 * - a push (POST/PUT/PATCH under `/v2/<project>/…`) into a project that does not exist is answered
 *   `401 {"errors":[{"code":"UNAUTHORIZED","message":"unauthorized: authentication required"}]}`
 *   (Harbor creates no project on push, harbor#6892);
 * - into a proxy-cache project `403 {"errors":[{"code":"DENIED","message":"can not push artifact to a proxy
 *   project: <project>"}]}` (harbor src/server/middleware/repoproxy/proxy.go).
 *
 * Simplification: `/v2/` takes HTTP Basic credentials (the fake Harbor admin, or the `limitedUser`) where Harbor
 * hands out Bearer tokens; both skopeo and registry-rescue speak both. The `limitedUser` stands for a robot account
 * with push rights but no project-read permission: it may push like the admin, while fake-harbor.ts answers its
 * `GET /api/v2.0/projects/<private project>` with 403. Plain http only (use `--dest-tls-verify=false`).
 * Every request is recorded in order (method, path, and the body of API requests), never a password.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeHarbor, type FakeHarbor, type FakeProjectInput } from './fake-harbor.js';
import { startRegistry, type TestRegistry } from './registry.js';

export interface FrontRequest {
  method: string;
  /** Path and query. */
  url: string;
  /** Request body of `/api/…` calls (JSON text), for asserting what was created. */
  body?: string;
  /** The front's own answer when it refused the request itself (401/403 above), else the upstream status. */
  status?: number;
}

export interface HarborFront {
  host: string;
  url: string;
  username: string;
  password: string;
  requests: FrontRequest[];
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
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const UNAUTHORIZED = { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' }] };

/** Starts the fake Harbor, a real registry and the front on free ports of 127.0.0.1. */
export async function startHarborFront(opts: HarborFrontOptions): Promise<HarborFront> {
  const username = opts.username ?? 'admin';
  const password = opts.password ?? 'Harbor12345';
  const harbor = await startFakeHarbor({ projects: opts.projects, username, password, ...(opts.limitedUser ? { limitedUser: opts.limitedUser } : {}) });
  let registry: TestRegistry;
  try {
    registry = await startRegistry();
  } catch (error) {
    await harbor.stop();
    throw error;
  }
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const accepted = new Set([basic(username, password), ...(opts.limitedUser ? [basic(opts.limitedUser.username, opts.limitedUser.password)] : [])]);
  const requests: FrontRequest[] = [];

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const pathname = new URL(url, 'http://front').pathname;
    const entry: FrontRequest = { method: req.method ?? '', url };
    requests.push(entry);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      entry.status = status;
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
      req.resume();
    };
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
    if (!accepted.has(req.headers.authorization ?? '')) return answer(401, UNAUTHORIZED, { 'www-authenticate': 'Basic realm="harbor-front"' });
    const project = pathname.split('/')[2] ?? '';
    if (WRITE_METHODS.has(req.method ?? '') && project !== '' && project !== '_catalog') {
      const found = harbor.state.projects.find((p) => p.name === project);
      if (!found) return answer(401, UNAUTHORIZED, { 'www-authenticate': 'Basic realm="harbor-front"' });
      if (found.registry_id !== null) {
        return answer(403, { errors: [{ code: 'DENIED', message: `can not push artifact to a proxy project: ${project}` }] });
      }
    }
    forward(req, res, registry.host, undefined, entry, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    username,
    password,
    requests,
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
 * Sends the request on to `upstream` (host:port) and streams the answer back. The Host header is kept, so
 * Distribution builds upload `Location`s pointing at the front; credentials go to the fake Harbor API only.
 */
function forward(req: http.IncomingMessage, res: http.ServerResponse, upstream: string, body: Buffer | undefined, entry: FrontRequest, keepAuth: boolean): void {
  const headers = { ...req.headers };
  if (!keepAuth) delete headers.authorization;
  if (body !== undefined) headers['content-length'] = String(body.length);
  const [hostname, port] = upstream.split(':');
  const proxied = http.request({ hostname, port: Number(port), method: req.method, path: req.url, headers, agent: false }, (up) => {
    entry.status = up.statusCode;
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
