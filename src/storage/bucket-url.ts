/**
 * The `s3://` storage argument and the --s3-* options: plain data, kept apart from the bucket client so
 * that a run on a directory never loads the AWS SDK (its modules cost start-up time and resident memory).
 */
import { PreflightError } from '../errors.js';

/** The --s3-* options. */
export interface BucketSettings {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  /** PEM file of the CA that signed the endpoint's certificate (else AWS_CA_BUNDLE, else the system's). */
  caCert?: string;
}

/** `s3://bucket[/root]`, parsed. */
export interface BucketUrl {
  bucket: string;
  /** Key prefix without leading or trailing slash ('' for the bucket's top). */
  root: string;
}

/** True when the storage argument names a bucket rather than a directory. */
export function isBucketUrl(given: string): boolean {
  return /^s3:\/\//i.test(given);
}

/** Parses `s3://bucket[/root]`; throws a UsageError-like PreflightError naming what is wrong. */
export function parseBucketUrl(given: string): BucketUrl {
  const m = /^s3:\/\/([^/]+)(\/.*)?$/i.exec(given);
  const bucket = m?.[1] ?? '';
  // S3's own bucket rule (3–63 of a-z 0-9 . -) loosened to what S3-compatible servers accept (underscores, capitals).
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(bucket)) {
    throw new PreflightError(`${given} is not a bucket URL: expected s3://BUCKET or s3://BUCKET/ROOTDIRECTORY (the storage driver's rootdirectory)`);
  }
  const root = (m?.[2] ?? '').split('/').filter((p) => p !== '').join('/');
  if (root.split('/').some((p) => p === '.' || p === '..')) throw new PreflightError(`${given}: the root directory may not contain . or .. components`);
  return { bucket, root };
}
