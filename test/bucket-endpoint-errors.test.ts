/**
 * A wrong --s3-endpoint: the operator gets one line that says what is wrong with the endpoint and what to change,
 * not the SDK's internals. Two common mistakes: the endpoint is not an S3 server (the old registry's own port, a
 * web server: the SDK cannot parse its answer), and an https:// endpoint for a server that speaks plain HTTP
 * (MinIO or s3rver with `secure: false`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';

let server: http.Server;
let port: number;
const env = {
  AWS_ACCESS_KEY_ID: 'RRTESTENDPOINT',
  AWS_SECRET_ACCESS_KEY: 'rr-test-endpoint-secret',
  AWS_CA_BUNDLE: undefined,
  AWS_PROFILE: undefined,
  AWS_ENDPOINT_URL: undefined,
  AWS_ENDPOINT_URL_S3: undefined,
  AWS_CONFIG_FILE: '/nonexistent/config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
  AWS_EC2_METADATA_DISABLED: 'true',
};

beforeAll(async () => {
  // What docker-registry answers on a path it does not serve.
  server = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('an --s3-endpoint that is not the bucket', () => {
  it('a server that does not answer as S3 does: one line naming --s3-endpoint, no SDK internals', async () => {
    const r = await cli(['list', 's3://bucket/root', '--s3-endpoint', `http://127.0.0.1:${port}`, '--s3-path-style'], { env });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/check --s3-endpoint/);
    expect(r.stderr).not.toMatch(/hidden field|\$response|Deserialization/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('https:// to a plain-HTTP server: says to use http://', async () => {
    const r = await cli(['list', 's3://bucket/root', '--s3-endpoint', `https://127.0.0.1:${port}`, '--s3-path-style'], { env });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/plain HTTP.*http:\/\//);
    expect(r.stderr).not.toMatch(/ssl3_get_record|openssl/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});

describe('an --s3-endpoint that is not a URL', () => {
  it.each(['127.0.0.1:9400', 'localhost:9000', 'ftp://127.0.0.1:9'])('%s is a usage error (exit 2) naming the option', async (value) => {
    const r = await cli(['list', 's3://bucket/root', '--s3-endpoint', value, '--s3-path-style'], { env });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`--s3-endpoint ${JSON.stringify(value)}: expected an http:// or https:// URL`);
  }, 60_000);
});
