/**
 * Distribution v2 authentication: `WWW-Authenticate: Basic` (htpasswd) and `Bearer` token auth
 * (Harbor, and Distribution's `auth.token`): https://distribution.github.io/distribution/spec/auth/token/
 * Tokens are cached per scope and fetched again when a request with a cached one gets 401
 * (Harbor's tokens expire after 30 minutes by default).
 */
import type { Credentials } from './credentials.js';
import { basicAuthValue } from './credentials.js';
import type { HttpResponse, HttpTransport } from './http-transport.js';
import { parseJson, pathOf } from './http-transport.js';
import { RegistryHttpError, authError } from './registry-errors.js';

/** Used when a token answer carries no `expires_in` (the spec's default). */
const DEFAULT_TOKEN_TTL_S = 60;
/** Tokens are dropped this long before they expire, so a request never races the expiry. */
const TOKEN_EXPIRY_MARGIN_MS = 5_000;

export interface Challenge {
  /** Lower-case: `basic`, `bearer`. */
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header (RFC 7235): one or more `Scheme k=v, k="v"` challenges. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const challenges: Challenge[] = [];
  const token = /\s*([!#$%&'*+.^_`|~\w-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*,?/gy;
  let current: Challenge | undefined;
  for (let m = token.exec(text); m && m[0] !== ''; m = token.exec(text)) {
    const [, name = '', raw] = m;
    if (raw === undefined) {
      current = { scheme: name.toLowerCase(), params: {} };
      challenges.push(current);
    } else if (current) {
      current.params[name.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    }
  }
  return challenges;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** Per-client authentication state: which scheme the registry wants and the tokens got so far. */
export class RegistryAuth {
  readonly #transport: HttpTransport;
  readonly #credentials: Credentials | undefined;
  #scheme: 'none' | 'basic' | 'bearer' = 'none';
  #bearer: Challenge | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();

  constructor(transport: HttpTransport, credentials: Credentials | undefined) {
    this.#transport = transport;
    this.#credentials = credentials;
  }

  /** The Authorization header to send for `scope` now, if any is known (no network). */
  headerFor(scope: string): string | undefined {
    if (this.#scheme === 'basic' && this.#credentials) return `Basic ${basicAuthValue(this.#credentials)}`;
    if (this.#scheme !== 'bearer') return undefined;
    const cached = this.#tokens.get(scope);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.value}`;
    return undefined;
  }

  /**
   * Learns from a 401: returns true when a retry may succeed (credentials not tried yet, or a
   * fresh token was fetched). `sent` is the Authorization header the failed request carried.
   */
  async handleUnauthorized(res: HttpResponse, scope: string, sent: string | undefined): Promise<boolean> {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      this.#scheme = 'bearer';
      this.#bearer = bearer;
      this.#tokens.delete(scope); // expired or revoked: the one refresh
      await this.#token(scope, bearer.params.scope ?? scope);
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.#credentials) {
      this.#scheme = 'basic';
      return sent === undefined || !sent.startsWith('Basic ');
    }
    return false;
  }

  /** Fetches (once per scope at a time) a token from the challenge's realm. */
  #token(cacheKey: string, scope: string): Promise<CachedToken> {
    const running = this.#inflight.get(cacheKey);
    if (running) return running;
    const promise = this.#fetchToken(scope).then(
      (token) => {
        this.#tokens.set(cacheKey, token);
        return token;
      },
    );
    const cleanup = (): void => void this.#inflight.delete(cacheKey);
    promise.then(cleanup, cleanup);
    this.#inflight.set(cacheKey, promise);
    return promise;
  }

  async #fetchToken(scope: string): Promise<CachedToken> {
    const params = this.#bearer?.params ?? {};
    if (!params.realm) throw new RegistryHttpError(this.#transport.host, 'GET', '/v2/', 401, 'Bearer challenge without a realm');
    const url = new URL(params.realm, this.#transport.baseUrl);
    if (params.service) url.searchParams.set('service', params.service);
    for (const s of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.#credentials) headers.authorization = `Basic ${basicAuthValue(this.#credentials)}`;
    const res = await this.#transport.request({ method: 'GET', url, headers });
    if (res.status === 401 || res.status === 403) {
      throw authError({
        host: this.#transport.host,
        status: res.status,
        username: this.#credentials?.username,
        source: this.#credentials?.source,
        action: 'get a token',
        flags: this.#transport.flags,
      });
    }
    if (res.status !== 200) throw new RegistryHttpError(url.host, 'GET', pathOf(url), res.status, 'token service failed');
    const body = parseJson(res, 'GET') as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const value = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof value !== 'string' || value === '') {
      throw new RegistryHttpError(url.host, 'GET', pathOf(url), res.status, 'token service sent no token');
    }
    const ttlMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_TTL_S) * 1000;
    return { value, expiresAt: Date.now() + ttlMs - Math.min(TOKEN_EXPIRY_MARGIN_MS, ttlMs / 2) };
  }
}
