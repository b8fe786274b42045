/**
 * A bucket endpoint that accepts a request and then says nothing (a stalled S3 gateway, a half-dead load
 * balancer) must fail the request after the idle timeout, not hold the run for ever: a nightly run that never
 * ends keeps its lock, and every later run exits 75.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketClient, parseBucketUrl } from '../src/storage/bucket-client.js';

let server: http.Server;
let endpoint: string;
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'RRTESTIDLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'rr-test-idle-secret';
  server = http.createServer((req, res) => {
    // `stall-body`: headers and the first bytes, then nothing; anything else: not even headers.
    if (req.url?.includes('stall-body')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' });
      res.write(Buffer.alloc(10));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  process.env.AWS_ACCESS_KEY_ID = saved.id;
  process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
  if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
});

describe('a bucket endpoint that stops answering', () => {
  it('fails a HEAD, a list and a download after the idle timeout', async () => {
    const client = await createBucketClient(parseBucketUrl('s3://bucket/root'), { endpoint, pathStyle: true, region: 'us-east-1' }, {}, { idleTimeoutMs: 300 });
    try {
      await expect(client.head('root/no-answer')).rejects.toThrow(/timed out/);
      await expect((async () => {
        for await (const page of client.list('root/')) void page;
      })()).rejects.toThrow(/timed out/);
      const body = await client.stream('root/stall-body');
      await expect((async () => {
        for await (const chunk of body) void chunk;
      })()).rejects.toThrow(/timed out/);
    } finally {
      client.close();
    }
  }, 20_000);
});
