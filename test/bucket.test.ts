/**
 * A registry whose storage lived in an S3-compatible bucket (Harbor's imageChartStorage.s3, MinIO, Ceph RGW):
 * list, export, sync and verify read it as `s3://bucket/rootdirectory`, with the same results as the same tree
 * on disk, and only ever read. The bucket is s3rver holding fixtures/storage uploaded key by key (see
 * helpers/s3.ts for why not a tree written by docker-registry's own s3 driver).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags, FIXTURE_STORAGE } from './helpers/cli.js';
import { startBucketServer, type TestBucketServer } from './helpers/s3.js';

const ROOT_DIR = 'harbor/registry';
let s3: TestBucketServer;

beforeAll(async () => {
  s3 = await startBucketServer();
  await s3.upload(FIXTURE_STORAGE, ROOT_DIR);
}, 120_000);
afterAll(async () => s3?.stop());

const bucketArgs = () => ['--s3-endpoint', s3.endpoint, '--s3-path-style'];

/** What a request did: GET/HEAD of an object, or a list (GET on the bucket with list-type=2). */
function describeRequest(r: { method: string; url: string }): string {
  const u = new URL(r.url, 'http://x');
  if (u.searchParams.get('list-type') === '2') return `LIST ${u.searchParams.get('prefix')} delimiter=${u.searchParams.get('delimiter')}`;
  return `${r.method} ${decodeURIComponent(u.pathname)}`;
}

describe('list on a bucket', () => {
  it('equals list on the same tree on disk, reading with GET, HEAD and delimited lists only', async () => {
    const fx = await copyFixture();
    const disk = await cli(['list', fx.storage, '--json']);
    s3.clearLog();
    const bucket = await cli(['list', `s3://${s3.bucket}/${ROOT_DIR}`, '--json', ...bucketArgs()], { env: s3.env() });
    expect(bucket.stderr).toBe('');
    expect(bucket.exitCode).toBe(disk.exitCode);
    const a = JSON.parse(disk.stdout);
    const b = JSON.parse(bucket.stdout);
    expect(b.storage).toBe(`s3://${s3.bucket}/${ROOT_DIR}/docker/registry/v2`);
    delete a.storage;
    delete b.storage;
    expect(b).toEqual(a);
    expect(b.images.length).toBe((await expectedTags()).length);
    const calls = s3.requests.map(describeRequest);
    console.log(calls.join('\n'));
  }, 120_000);
});
