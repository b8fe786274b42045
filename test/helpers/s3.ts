/**
 * An S3-compatible server for the bucket tests: s3rver (npm, a devDependency) on 127.0.0.1 on a free port,
 * behind a plain Node HTTP(S) server that records every request's method and URL, so a test can prove the
 * tool only read (GET, HEAD, list).
 *
 * Why s3rver with the fixture uploaded key by key, rather than a bucket written by docker-registry's own s3
 * driver: docker-registry 2.8's s3 driver starts against s3rver 3.7.1 only with AWS_CA_BUNDLE unset, and then
 * fails the first blob upload (its PATCH of a multipart upload part) with `501 NotImplemented`. s3rver is the
 * S3-compatible server installable here (npm); MinIO and Ceph are not. The tree is the one docker-registry
 * wrote to disk (fixtures/storage), so the keys are exactly the driver's paths below its rootdirectory.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import account from 's3rver/lib/models/account.js';
import S3Object from 's3rver/lib/models/object.js';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';
import { walk } from 's3rver/lib/utils.js';
import { makeTempDir } from './registry.js';

export interface TestBucketServer {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Every request since the last `clearLog()`: `GET /bucket?list-type=2&…`. */
  requests: Array<{ method: string; url: string }>;
  clearLog(): void;
  /** Uploads every file under `dir` as `<prefix>/<relative path>` (the test's own writes, before clearLog). */
  upload(dir: string, prefix: string): Promise<number>;
  /** Overwrites one object (the test breaking the bucket). */
  put(key: string, body: Buffer): Promise<void>;
  /** Environment for the CLI: these credentials, nothing inherited that could redirect the SDK. */
  env(): Record<string, string | undefined>;
  stop(): Promise<void>;
}

/**
 * s3rver 3.7.1's delimited listing misses "directories" whose first object lies more than one level below
 * the listed prefix (its walk stops descending where the delimiter appears), so `repositories/` would look
 * empty. Replaced by a full walk with S3's rule: keys sorted, each key past the prefix holding the
 * delimiter rolled up into one common prefix.
 */
function fixDelimitedListing(): void {
  type Store = { getBucketPath(b: string): string; getMetadata(b: string, k: string): Promise<unknown> };
  const store = FilesystemStore as unknown as { prototype: Store & { listObjects: unknown }; decodeKeyPath(p: string): string };
  store.prototype.listObjects = async function (this: Store, bucket: string, options: { delimiter?: string; startAfter?: string; prefix?: string; maxKeys?: number }) {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
    const bucketPath = this.getBucketPath(bucket);
    const suffix = '._S3rver_object';
    const all: string[] = [];
    for (const file of walk(bucketPath) as Iterable<string>) {
      if (file.endsWith(suffix)) all.push(store.decodeKeyPath(file.slice(bucketPath.length + 1, -suffix.length)));
    }
    all.sort();
    const keys: string[] = [];
    const commonPrefixes = new Set<string>();
    let isTruncated = false;
    for (const key of all) {
      if (key <= startAfter || !key.startsWith(prefix)) continue;
      const at = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (at !== -1) commonPrefixes.add(key.slice(0, at + delimiter.length));
      else if (keys.length < maxKeys) keys.push(key);
      else {
        isTruncated = true;
        break;
      }
    }
    const metadata = await Promise.all(keys.map((k) => this.getMetadata(bucket, k)));
    const Obj = S3Object as unknown as new (b: string, k: string, c: null, m: unknown) => unknown;
    return { objects: keys.map((k, i) => new Obj(bucket, k, null, metadata[i])), commonPrefixes: [...commonPrefixes].sort(), isTruncated };
  };
}

/** Starts s3rver with one bucket and a random key pair; TLS with `tls` ({ key, cert } PEM). */
export async function startBucketServer(opts: { bucket?: string; tls?: { key: string; cert: string } } = {}): Promise<TestBucketServer> {
  fixDelimitedListing();
  // The SDK's notice that its releases after January 2027 need Node 22 (the tool silences it the same way).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const bucket = opts.bucket ?? 'harbor-registry';
  const dir = await makeTempDir('rr-s3-');
  // A fresh secret per run, so "the secret is nowhere in argv or output" means something.
  const accessKeyId = `RRTEST${randomBytes(6).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  (account as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } }).DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  const s3rver = new S3rver({ directory: path.join(dir, 'data'), silent: process.env.S3RVER_VERBOSE !== '1', configureBuckets: [{ name: bucket, configs: [] }], vhostBuckets: false });
  await s3rver.configureBuckets();
  const handler = s3rver.callback();
  const requests: Array<{ method: string; url: string }> = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push({ method: req.method ?? '?', url: req.url ?? '' });
    handler(req, res);
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : http.createServer(onRequest);
  await new Promise<void>((resolve, reject) => server.listen(0, '127.0.0.1', () => resolve()).once('error', reject));
  const endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    ...(opts.tls ? { requestHandler: { httpsAgent: new https.Agent({ ca: opts.tls.cert }) } } : {}),
  });
  const put = async (key: string, body: Buffer) => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  };
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    requests,
    clearLog: () => void requests.splice(0),
    put,
    async upload(root, prefix) {
      let count = 0;
      async function walk(rel: string): Promise<void> {
        for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
          const child = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(child);
          else if (e.isFile()) {
            await put(prefix ? `${prefix}/${child}` : child, await readFile(path.join(root, child)));
            count++;
          }
        }
      }
      await walk('');
      return count;
    },
    env: () => ({
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      // The machines set AWS_CA_BUNDLE for their own proxy; the tool would trust only that bundle. Unset here,
      // and everything else that could point the SDK elsewhere: each test gives what it needs explicitly.
      AWS_CA_BUNDLE: undefined,
      AWS_PROFILE: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_ENDPOINT_URL: undefined,
      AWS_ENDPOINT_URL_S3: undefined,
      AWS_REGION: undefined,
      AWS_DEFAULT_REGION: undefined,
      AWS_CONFIG_FILE: path.join(dir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    }),
    async stop() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A base layer of most fixture images (library/alpine-like:3.19 has three tags): what bucket tests corrupt. */
export const SHARED_LAYER = 'sha256:268e083b6909ca94213b6716066cacb14e43d41bf9b7f4aff633537ac219ea4e';
/** Its data file below the storage root. */
export const SHARED_LAYER_REL = `docker/registry/v2/blobs/sha256/${SHARED_LAYER.slice(7, 9)}/${SHARED_LAYER.slice(7)}/data`;
/** The fixture's broken/ images, which fail on purpose (a corrupt layer among them), left out. */
export const HEALTHY_ONLY = ['--exclude', 'broken/**'];

/** GETs per blob object (`sha256:<hex>`, manifests included) among `requests` (a server's log since its last clearLog). */
export function blobGets(requests: ReadonlyArray<{ method: string; url: string }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const q of requests) {
    const m = /\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data/.exec(q.url);
    if (q.method === 'GET' && m) counts.set(`sha256:${m[1]}`, (counts.get(`sha256:${m[1]}`) ?? 0) + 1);
  }
  return counts;
}

/**
 * The bytes of `file` with 8 bytes in the middle flipped: the same size, so only hashing them finds the damage
 * (the resolver only HEADs layers).
 */
export async function corruptedCopy(file: string): Promise<Buffer> {
  const bytes = Buffer.from(await readFile(file));
  for (let i = 0; i < 8; i++) bytes[(bytes.length >> 1) + i] = (bytes[(bytes.length >> 1) + i] as number) ^ 0xff;
  return bytes;
}
