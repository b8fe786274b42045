/**
 * A loopback HTTP proxy in front of a real registry that misbehaves on demand: answers chosen requests with
 * 500/502/503/504/429, resets their connection, or delays them. Everything else is forwarded byte for byte
 * (the Host header included, so the registry's upload Locations point back at the proxy). Listens on
 * 127.0.0.1 only; closed when the test finishes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';

/** What the proxy does with one request: answer it itself, cut the connection, or forward it late. */
export type Fault = { status: number } | { reset: true } | { delayMs: number };

export interface ProxiedRequest {
  /** 1-based arrival order. */
  n: number;
  method: string;
  url: string;
  /** The User-Agent header: skopeo's says `skopeo/…`, registry-rescue's own requests send none. */
  userAgent?: string;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`: what `--to` names. */
  host: string;
  /** Every request seen, with what was done to it (`forwarded`, a status, `reset`). */
  log: Array<ProxiedRequest & { outcome: string }>;
  /** Decides each request's fault; undefined forwards it untouched. Replace it at any time. */
  rule: (req: ProxiedRequest) => Fault | undefined;
  close(): Promise<void>;
}

/** The error body Distribution sends with a 5xx/429, so skopeo logs what a real registry would make it log. */
function errorBody(status: number): string {
  const code = status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
  return JSON.stringify({ errors: [{ code, message: `injected HTTP ${status}`, detail: null }] });
}

/** Starts the proxy in front of `upstream` (`host:port`). */
export async function startFaultProxy(upstream: string, rule: FaultProxy['rule'] = () => undefined): Promise<FaultProxy> {
  const [upHost, upPort] = [upstream.split(':')[0] ?? '127.0.0.1', Number(upstream.split(':')[1])];
  let n = 0;
  const proxy: FaultProxy = { host: '', log: [], rule, close: async () => {} };
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, entry: { outcome: string }) => {
    const up = http.request({ host: upHost, port: upPort, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      entry.outcome = `forwarded ${upRes.statusCode}`;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    // The registry is gone (killed): the client sees its connection cut, as it would without the proxy.
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  };
  const server = http.createServer((req, res) => {
    const seen: ProxiedRequest = { n: ++n, method: req.method ?? '', url: req.url ?? '', ...(req.headers['user-agent'] !== undefined ? { userAgent: req.headers['user-agent'] } : {}) };
    const entry = { ...seen, outcome: 'forwarded' };
    proxy.log.push(entry);
    const fault = proxy.rule(seen);
    if (fault && 'status' in fault) {
      entry.outcome = String(fault.status);
      req.resume();
      const body = req.method === 'HEAD' ? undefined : errorBody(fault.status);
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' };
      if (fault.status === 429 || fault.status === 503) headers['retry-after'] = '1';
      res.writeHead(fault.status, headers).end(body);
    } else if (fault && 'reset' in fault) {
      entry.outcome = 'reset';
      req.socket.destroy();
    } else if (fault && 'delayMs' in fault) {
      setTimeout(() => forward(req, res, entry), fault.delayMs);
    } else {
      forward(req, res, entry);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  onTestFinished(() => proxy.close());
  return proxy;
}

/** Requests for a manifest by tag or digest (`/v2/<name>/manifests/<reference>`). */
export const isManifest = (r: ProxiedRequest, method?: string): boolean =>
  r.url.includes('/manifests/') && (method === undefined || r.method === method);
