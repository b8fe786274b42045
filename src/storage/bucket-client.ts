/**
 * A read-only S3 client for a registry bucket (S3, MinIO, Ceph RGW, SeaweedFS…): the official AWS SDK,
 * wrapped so that only GET, HEAD and list calls exist here. Nothing in this module can write, delete or
 * start a multipart upload: the bucket is evidence, never touched.
 *
 * Endpoint, region and credentials follow the AWS conventions (the SDK's default chain: AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE and the shared config files, web identity, IMDS;
 * AWS_ENDPOINT_URL(_S3) and `endpoint_url`; AWS_REGION), plus --s3-endpoint, --s3-region, --s3-path-style
 * and --s3-ca-cert (or AWS_CA_BUNDLE). Credentials stay inside the SDK: no message built here includes them.
 */
import type { BucketSettings, BucketUrl } from './bucket-url.js';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { state as sdkWarningState } from '@aws-sdk/core/client';
import pLimit from 'p-limit';
import { PreflightError } from '../errors.js';

/** Requests in flight at once against the bucket (lists, HEADs, GETs of links and manifests). */
export const BUCKET_REQUEST_CONCURRENCY = 32;
/** Region signed with when none is configured anywhere: what MinIO, Ceph RGW and SeaweedFS accept by default. */
const FALLBACK_REGION = 'us-east-1';
const CONNECT_TIMEOUT_MS = 15_000;
/**
 * A socket idle this long fails the request (a stalled list, HEAD or download), however large the object. It is
 * the handler's `socketTimeout`: its `requestTimeout` only logs a warning unless told otherwise, so a bucket that
 * stopped answering would hold the run (and its lock, so every later run exits 75) for ever.
 */
export const IDLE_TIMEOUT_MS = 120_000;

export { isBucketUrl, parseBucketUrl, type BucketSettings, type BucketUrl } from './bucket-url.js';

/** One page of a delimited listing: the "subdirectories" and the objects directly under a prefix. */
export interface ListPage {
  prefixes: string[];
  objects: Array<{ key: string; size: number }>;
}

export interface BucketClient {
  readonly bucket: string;
  /** `s3://bucket/key`, for messages. */
  url(key: string): string;
  /** Lists `prefix` one level deep (Delimiter `/`), page by page. */
  list(prefix: string): AsyncGenerator<ListPage>;
  /** The object's bytes, at most `max` (more: a BucketObjectTooLarge error); undefined when there is no such key. */
  get(key: string, max: number): Promise<Buffer | undefined>;
  /** The object's size and LastModified (ms); undefined when there is no such key. */
  head(key: string): Promise<{ size: number; lastModified?: number } | undefined>;
  /** Streams the object's bytes (a 404 throws BucketError with code NoSuchKey). Not limited by the request pool. */
  stream(key: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  close(): void;
}

/** A failed call: `cannot read s3://b/k: AccessDenied (HTTP 403): …`; never the credentials. */
export class BucketError extends Error {
  override readonly name = 'BucketError';
  readonly code: string;
  /** The message without the object: `AccessDenied (HTTP 403): Access Denied`. */
  readonly detail: string;
  constructor(message: string, code: string, detail: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.detail = detail;
  }
}

/**
 * Creates the client. `env` is the process environment (for AWS_CA_BUNDLE; the SDK reads the rest itself).
 * Nothing is sent until the first call.
 */
export async function createBucketClient(
  url: BucketUrl,
  settings: BucketSettings,
  env: Readonly<Record<string, string | undefined>>,
  opts: { idleTimeoutMs?: number } = {},
): Promise<BucketClient> {
  // The SDK warns on Node 20 that its releases after January 2027 need Node 22. The version is pinned (see
  // package.json), so the warning concerns no release this tool runs; it would only clutter stderr and cron mail.
  sdkWarningState.warningEmitted = true;
  // AWS_CA_BUNDLE matters for TLS only: a stale one (the file since removed) must not stop a run against an http://
  // endpoint (--s3-endpoint, or AWS_ENDPOINT_URL(_S3) which the SDK reads). --s3-ca-cert is read whatever the
  // endpoint: a missing file named on the command line is a mistake to report.
  const endpoint = settings.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  const plainHttp = endpoint !== undefined && /^http:\/\//i.test(endpoint);
  const caFile = settings.caCert ?? (plainHttp ? undefined : env.AWS_CA_BUNDLE || undefined);
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    ca = await readFile(caFile).catch((error: NodeJS.ErrnoException) => {
      const from = settings.caCert !== undefined ? '--s3-ca-cert' : 'AWS_CA_BUNDLE';
      throw new PreflightError(`cannot read the CA certificate file ${caFile} (${from}): ${error.code ?? error.message}`);
    });
  }
  const agentOpts = { keepAlive: true, maxSockets: BUCKET_REQUEST_CONCURRENCY * 2 };
  const httpsAgent = new https.Agent({ ...agentOpts, ...(ca ? { ca } : {}) });
  const httpAgent = new http.Agent(agentOpts);
  const config: S3ClientConfig = {
    requestHandler: { httpAgent, httpsAgent, connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS },
    // Read-only: no checksum is asked of requests we never send; responses of ranged or old objects may lack one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
    ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
    ...(settings.pathStyle ? { forcePathStyle: true } : {}),
  };
  // Region: --s3-region, else the SDK's chain (AWS_REGION, the profile), else us-east-1, which S3-compatible
  // servers accept; a missing region must not stop a MinIO rescue.
  const probe = settings.region === undefined ? new S3Client({}) : undefined;
  const region = settings.region ?? (await Promise.resolve(probe?.config.region()).catch(() => FALLBACK_REGION)) ?? FALLBACK_REGION;
  probe?.destroy();
  const s3 = new S3Client({ ...config, region });
  const limit = pLimit(BUCKET_REQUEST_CONCURRENCY);
  const where = (key: string) => `s3://${url.bucket}/${key}`;
  const fail = (error: unknown, key: string, verb = 'cannot read'): never => {
    throw describeBucketError(error, `${verb} ${where(key)}`);
  };

  return {
    bucket: url.bucket,
    url: where,
    async *list(prefix) {
      let token: string | undefined;
      do {
        const page = await limit(() =>
          s3.send(new ListObjectsV2Command({ Bucket: url.bucket, Prefix: prefix, Delimiter: '/', ...(token ? { ContinuationToken: token } : {}) })).catch((e: unknown) => fail(e, prefix, 'cannot list')),
        );
        yield {
          prefixes: (page.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : [])),
          objects: (page.Contents ?? []).flatMap((o) => (o.Key ? [{ key: o.Key, size: o.Size ?? 0 }] : [])),
        };
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    get: (key, max) =>
      limit(async () => {
        try {
          const r = await s3.send(new GetObjectCommand({ Bucket: url.bucket, Key: key }));
          if (r.ContentLength !== undefined && r.ContentLength > max) {
            await r.Body?.transformToByteArray().catch(() => {});
            throw new BucketError(`${where(key)} is ${r.ContentLength} bytes, more than ${max}`, 'TooLarge', `${r.ContentLength} bytes, more than ${max}`);
          }
          const chunks: Uint8Array[] = [];
          let got = 0;
          for await (const chunk of (r.Body as AsyncIterable<Uint8Array> | undefined) ?? []) {
            got += chunk.length;
            if (got > max) throw new BucketError(`${where(key)} is more than ${max} bytes`, 'TooLarge', `more than ${max} bytes`);
            chunks.push(chunk);
          }
          return Buffer.concat(chunks);
        } catch (error) {
          if (isNotFound(error)) return undefined;
          if (error instanceof BucketError) throw error;
          return fail(error, key);
        }
      }),
    head: (key) =>
      limit(async () => {
        try {
          const r = await s3.send(new HeadObjectCommand({ Bucket: url.bucket, Key: key }));
          return { size: r.ContentLength ?? 0, ...(r.LastModified ? { lastModified: r.LastModified.getTime() } : {}) };
        } catch (error) {
          if (isNotFound(error)) return undefined;
          return fail(error, key);
        }
      }),
    async stream(key, signal) {
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: url.bucket, Key: key }), signal ? { abortSignal: signal } : {});
        return (r.Body as AsyncIterable<Uint8Array> | undefined) ?? (async function* () {})();
      } catch (error) {
        return fail(error, key);
      }
    },
    close() {
      s3.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** `cannot read s3://b/k: AccessDenied (HTTP 403): Access Denied`, from whatever the SDK threw. */
export function describeBucketError(error: unknown, doing: string): BucketError {
  if (error instanceof BucketError) return error;
  const e = error as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const code = e?.code ?? e?.name ?? 'Error';
  const what = status !== undefined ? (code === 'Error' ? `HTTP ${status}` : `${code} (HTTP ${status})`) : code;
  const text = e?.message && e.message !== code ? `: ${plainMessage(e.message)}` : '';
  return new BucketError(`${doing}: ${what}${text}`, isNotFound(error) ? 'NoSuchKey' : code, `${what}${text}`, { cause: error });
}

/**
 * One line an operator can act on, from what the SDK or OpenSSL said: an answer the SDK could not parse (a
 * multi-line note about a hidden `$response` field) is an endpoint that is not S3; OpenSSL's "wrong version
 * number" is a TLS handshake answered in plain HTTP.
 */
function plainMessage(message: string): string {
  if (/Deserialization error|XML parse error/i.test(message)) return NOT_S3;
  if (/wrong version number/i.test(message)) return PLAIN_HTTP;
  return message.split('\n')[0]?.trim() ?? '';
}
export const NOT_S3 = 'the endpoint did not answer as an S3 server does';
export const PLAIN_HTTP = 'the endpoint speaks plain HTTP, not TLS';
