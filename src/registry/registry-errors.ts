/**
 * Typed failures of talking to a registry or Harbor. The run-level ones (cannot connect, TLS,
 * credentials, permission) are PreflightErrors (exit 3); an unexpected answer to one request is a
 * RegistryHttpError that callers may turn into per-image data. Messages name the host and the flag
 * that fixes the problem; they never contain a password (usernames are fine).
 */
import { PreflightError } from '../errors.js';

/** Which flags a message should suggest: `dest-` for sync/verify, `` for tags, `src-` for a source. */
export type FlagPrefix = '' | 'src-' | 'dest-';

export type ConnectionFailure = 'refused' | 'not-found' | 'timeout' | 'reset' | 'unreachable' | 'other';

/** The host could not be reached at all. */
export class RegistryConnectionError extends PreflightError {
  readonly host: string;
  readonly reason: ConnectionFailure;
  readonly code: string | undefined;
  constructor(host: string, reason: ConnectionFailure, code: string | undefined, detail: string, options?: ErrorOptions) {
    super(`cannot reach ${host}: ${detail}`, options);
    this.host = host;
    this.reason = reason;
    this.code = code;
  }
}

export type TlsFailure = 'untrusted' | 'name-mismatch' | 'expired' | 'not-tls' | 'https-required' | 'other';

/** The TLS handshake failed, or one side spoke plain HTTP to the other's HTTPS. */
export class RegistryTlsError extends PreflightError {
  readonly host: string;
  readonly reason: TlsFailure;
  readonly code: string | undefined;
  constructor(host: string, reason: TlsFailure, code: string | undefined, message: string, options?: ErrorOptions) {
    super(message, options);
    this.host = host;
    this.reason = reason;
    this.code = code;
  }
}

export type AuthFailure = 'wrong-credentials' | 'credentials-required' | 'forbidden';

/** 401 or 403: wrong password, no credentials, or an account without the needed permission. */
export class RegistryAuthError extends PreflightError {
  readonly host: string;
  readonly reason: AuthFailure;
  readonly status: number;
  readonly username: string | undefined;
  constructor(host: string, reason: AuthFailure, status: number, username: string | undefined, message: string) {
    super(message);
    this.host = host;
    this.reason = reason;
    this.status = status;
    this.username = username;
  }
}

/** An unexpected answer to one request (5xx, bad JSON, digest mismatch): not run-level by itself. */
export class RegistryHttpError extends Error {
  override readonly name = 'RegistryHttpError';
  readonly host: string;
  readonly method: string;
  /** Path and query only, never credentials. */
  readonly path: string;
  readonly status: number;
  constructor(host: string, method: string, path: string, status: number, detail: string, options?: ErrorOptions) {
    super(`${method} ${path} on ${host}: ${status ? `HTTP ${status}` : 'failed'}${detail ? `: ${detail}` : ''}`, options);
    this.host = host;
    this.method = method;
    this.path = path;
    this.status = status;
  }
}

/**
 * Maps a Node socket/TLS error of a request to `host` to a typed error (or returns undefined). `certDir`: the
 * cert dir the request trusted, if one was given (the message must not ask for the flag already passed).
 */
export function classifyNetworkError(error: NodeJS.ErrnoException, host: string, flags: FlagPrefix, certDir?: string): Error | undefined {
  const code = error.code;
  const connection = CONNECTION_CODES[code ?? ''];
  if (connection) return new RegistryConnectionError(host, connection[0], code, connection[1], { cause: error });
  const tls = tlsFailureOf(code, error.message);
  if (!tls) return undefined;
  return new RegistryTlsError(host, tls, code, tlsMessage(host, tls, error.message, flags, certDir), { cause: error });
}

const CONNECTION_CODES: Record<string, [ConnectionFailure, string]> = {
  ECONNREFUSED: ['refused', 'connection refused'],
  ENOTFOUND: ['not-found', 'host name not found'],
  EAI_AGAIN: ['not-found', 'host name lookup failed (temporary DNS failure)'],
  ETIMEDOUT: ['timeout', 'connection timed out'],
  ECONNRESET: ['reset', 'connection reset by the server'],
  EPIPE: ['reset', 'connection closed by the server'],
  EHOSTUNREACH: ['unreachable', 'host unreachable'],
  ENETUNREACH: ['unreachable', 'network unreachable'],
};

const UNTRUSTED_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

function tlsFailureOf(code: string | undefined, message: string): TlsFailure | undefined {
  if (code && UNTRUSTED_CODES.has(code)) return 'untrusted';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'name-mismatch';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'expired';
  // OpenSSL's reading of an HTTP answer as a TLS record.
  if (/wrong version number|packet length too long|http request/i.test(message)) return 'not-tls';
  if (code?.startsWith('ERR_SSL_') || code?.startsWith('ERR_TLS_') || code === 'EPROTO') return 'other';
  return undefined;
}

function tlsMessage(host: string, reason: TlsFailure, detail: string, flags: FlagPrefix, certDir?: string): string {
  const fix = `pass --${flags}cert-dir DIR with its ca.crt, or --${flags}tls-verify=false`;
  switch (reason) {
    case 'untrusted':
      // With --cert-dir given, its CAs (and the system's) were tried: the CA that signed the certificate is missing there.
      if (certDir !== undefined) {
        return `certificate of ${host} is not signed by a CA in ${certDir} nor by a system CA (${detail}); ` +
          `put the CA that signed it in ${certDir} as a *.crt file, or pass --${flags}tls-verify=false`;
      }
      return `certificate of ${host} is not trusted (${detail}); ${fix}`;
    case 'name-mismatch':
      return `certificate of ${host} is not valid for that name (${detail}); ${fix}`;
    case 'expired':
      // A CA in --cert-dir cannot make an expired certificate valid: the fix is on the registry, or this clock.
      return `certificate of ${host} has expired or is not yet valid (${detail}): renew the registry's certificate, or check this machine's clock; ` +
        `--${flags}tls-verify=false skips the check`;
    case 'not-tls':
      return `${host} does not speak TLS (it answered in plain HTTP?): use http://${host}` +
        (flags === '' ? '' : ` or --${flags}tls-verify=false`);
    case 'https-required':
      return `${host} speaks HTTPS, not plain HTTP: use https://${host}`;
    case 'other':
      return `TLS handshake with ${host} failed: ${detail}`;
  }
}

/** The error for a request answered in plain HTTP by a TLS server (Go's "Client sent an HTTP request to an HTTPS server"). */
export function httpsRequiredError(host: string): RegistryTlsError {
  return new RegistryTlsError(host, 'https-required', undefined, tlsMessage(host, 'https-required', '', ''));
}

/** The error for a 401/403 answer, naming the account (never its password) and how to fix it. */
export function authError(p: {
  host: string;
  status: number;
  username: string | undefined;
  source?: string;
  insufficientScope?: boolean;
  action: string;
  flags: FlagPrefix;
  hint?: string;
}): RegistryAuthError {
  const hint = p.hint ? `; ${p.hint}` : '';
  if (p.username !== undefined && (p.status === 403 || p.insufficientScope)) {
    const message = `user "${p.username}" is not allowed to ${p.action} on ${p.host} (HTTP ${p.status})${hint}`;
    return new RegistryAuthError(p.host, 'forbidden', p.status, p.username, message);
  }
  if (p.username !== undefined) {
    const from = p.source ? ` from ${p.source}` : '';
    const message = `wrong credentials for ${p.host}: it rejected user "${p.username}"${from} (HTTP ${p.status})`;
    return new RegistryAuthError(p.host, 'wrong-credentials', p.status, p.username, message);
  }
  const message =
    `${p.host} requires credentials to ${p.action} (HTTP ${p.status}): pass --${p.flags}authfile FILE, ` +
    `or set REGISTRY_AUTH_FILE, or REGISTRY_RESCUE_USERNAME and REGISTRY_RESCUE_PASSWORD${hint}`;
  return new RegistryAuthError(p.host, 'credentials-required', p.status, undefined, message);
}
