/**
 * HTTP(S) requests to one registry host over keep-alive agents (connections are reused across
 * the many small catalog/manifest requests), with skopeo-like TLS settings, a per-request
 * timeout, cancellation, and socket/TLS errors mapped to typed run-level errors.
 */
import type { Credentials } from './credentials.js';
import { readdirSync, readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { PreflightError } from '../errors.js';
import {
  RegistryConnectionError,
  RegistryHttpError,
  classifyNetworkError,
  httpsRequiredError,
  type FlagPrefix,
} from './registry-errors.js';

/**
 * Connections kept per host, each carrying one request at a time: sync's up-to-date checks keep this many HEADs in
 * flight (run-sync.ts CHECK_CONCURRENCY), so a target a round trip of R away answers at most this many per R. A
 * 10k-tag sync with every tag on a target 30 ms away took 21 s with 16 and 11.8 s with 32 (with 8 connections under
 * 16 checks, a 10 ms round trip took 16-17 s against 9.5 s with 16). A HEAD costs Harbor little; 32 stays far from
 * what its nginx and core take.
 */
export const MAX_SOCKETS_PER_HOST = 32;
/** Manifests are at most 4 MiB in Distribution; catalog pages and API pages are far smaller. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** How to reach and authenticate to one registry or Harbor API: shared by both clients. */
export interface ConnectionOptions {
  tlsVerify: boolean;
  /** Like skopeo's --cert-dir: `*.crt` files are trusted CAs. */
  certDir?: string;
  credentials?: Credentials;
  signal?: AbortSignal;
  timeoutMs: number;
  /** Entries asked per page of a listing. */
  pageSize?: number;
  /** Which flags messages suggest (default `dest-`). */
  flags?: FlagPrefix;
}

export interface TransportOptions {
  /** `https://host[:port]` or `http://host[:port]`. */
  baseUrl: URL;
  tlsVerify: boolean;
  /** A directory of `*.crt` CA files (plus optional `*.cert`/`*.key` client pair), like skopeo's --cert-dir. */
  certDir?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  flags: FlagPrefix;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  /** Absolute, or relative to the base URL (Link headers and token realms may be either). */
  url: string | URL;
  headers?: Record<string, string>;
  /** Bytes, or a stream made anew for each attempt (a blob upload: never held in memory whole). */
  body?: string | Buffer | { open: () => NodeJS.ReadableStream; length: number };
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  url: URL;
}

export interface HttpTransport {
  readonly baseUrl: URL;
  readonly host: string;
  readonly flags: FlagPrefix;
  request(req: HttpRequest): Promise<HttpResponse>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

/** Creates the transport; reads the cert dir now so a missing one fails before any request. */
export function createTransport(opts: TransportOptions): HttpTransport {
  const tlsOptions = { rejectUnauthorized: opts.tlsVerify, ...readCertDir(opts.certDir) };
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST, ...tlsOptions }),
  };
  return {
    baseUrl: opts.baseUrl,
    host: opts.baseUrl.host,
    flags: opts.flags,
    request: (req) => send(new URL(req.url, opts.baseUrl), req, agents, opts),
    close: () => {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

function send(
  url: URL,
  req: HttpRequest,
  agents: { 'http:': http.Agent; 'https:': https.Agent },
  opts: TransportOptions,
): Promise<HttpResponse> {
  const isHttps = url.protocol === 'https:';
  const requestFn = isHttps ? https.request : http.request;
  const agent = isHttps ? agents['https:'] : agents['http:'];
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => reject(mapError(error, url, req.method, opts));
    const clientRequest = requestFn(
      url,
      { method: req.method, headers: req.headers, agent, signal: opts.signal, timeout: opts.timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            res.destroy(new RegistryHttpError(url.host, req.method, pathOf(url), res.statusCode ?? 0, 'answer too large'));
          } else chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          // Go's TLS server answers a plain-HTTP request with this 400 (crypto/tls, net/http server.go).
          if (status === 400 && body.includes('HTTP request to an HTTPS server')) reject(httpsRequiredError(url.host));
          else resolve({ status, headers: res.headers, body, url });
        });
      },
    );
    clientRequest.on('timeout', () => {
      const detail = `no answer within ${opts.timeoutMs} ms`;
      clientRequest.destroy(new RegistryConnectionError(url.host, 'timeout', 'ETIMEDOUT', detail));
    });
    clientRequest.on('error', fail);
    if (req.body !== undefined && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) {
      const stream = req.body.open();
      stream.on('error', (error: Error) => clientRequest.destroy(error));
      stream.pipe(clientRequest);
    } else clientRequest.end(req.body);
  });
}

function mapError(error: Error, url: URL, method: string, opts: TransportOptions): Error {
  if (opts.signal?.aborted) return opts.signal.reason instanceof Error ? opts.signal.reason : error;
  if (error instanceof PreflightError || error instanceof RegistryHttpError) return error;
  const typed = classifyNetworkError(error as NodeJS.ErrnoException, url.host, opts.flags, opts.certDir);
  if (typed) return typed;
  if (/socket hang up/i.test(error.message)) {
    return new RegistryConnectionError(url.host, 'reset', 'ECONNRESET', 'the server closed the connection', { cause: error });
  }
  return new RegistryHttpError(url.host, method, pathOf(url), 0, error.message, { cause: error });
}

/** Path and query of a URL: what messages may show (no userinfo). */
export function pathOf(url: URL): string {
  return `${url.pathname}${url.search}`;
}

/** CA and client-certificate options from a skopeo-style cert dir (*.crt CAs, *.cert + *.key pair). */
function readCertDir(dir: string | undefined): tls.SecureContextOptions {
  if (dir === undefined) return {};
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    // skopeo ignores a missing cert dir and then fails with x509 errors: say it now.
    throw new PreflightError(`cert dir "${dir}" cannot be read (${(error as NodeJS.ErrnoException).code})`, { cause: error });
  }
  const cas = names.filter((n) => n.endsWith('.crt')).map((n) => readFileSync(path.join(dir, n), 'utf8'));
  const certName = names.find((n) => n.endsWith('.cert'));
  const keyName = certName && `${certName.slice(0, -'.cert'.length)}.key`;
  if (cas.length === 0 && !certName) throw new PreflightError(`cert dir "${dir}" holds no *.crt CA file`);
  const options: tls.SecureContextOptions = {};
  // skopeo adds the dir's CAs to the system pool; Node's `ca` replaces it, so add the system roots back.
  if (cas.length > 0) options.ca = [...tls.rootCertificates, ...cas];
  if (certName && keyName && names.includes(keyName)) {
    options.cert = readFileSync(path.join(dir, certName));
    options.key = readFileSync(path.join(dir, keyName));
  }
  return options;
}

/** The `rel="next"` target of a Link header (RFC 8288; Distribution and Harbor both send it), if any. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!value) return undefined;
  for (const match of value.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]+)*)/g)) {
    if (/;\s*rel="?next"?/i.test(match[2] ?? '')) return match[1];
  }
  return undefined;
}

/** Parses a JSON body, turning a parse failure into a RegistryHttpError about that request. */
export function parseJson(res: HttpResponse, method: string): unknown {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch (error) {
    throw new RegistryHttpError(res.url.host, method, pathOf(res.url), res.status, 'answer is not JSON', { cause: error });
  }
}

/** A short, single-line excerpt of an error body for messages (registries put the reason there). */
export function bodyExcerpt(res: HttpResponse, max = 200): string {
  const text = res.body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
