import { existsSync, readFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir, registryRequest, requireTool, skopeo, startRegistry } from './helpers/registry.js';

/** True while a process with this pid exists (signal 0 only checks). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test/helpers/registry', () => {
  it('requireTool throws with the apt-get command for a missing tool', () => {
    expect(() => requireTool('docker-registry')).not.toThrow();
    const savedPath = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => requireTool('htpasswd')).toThrow(/apt-get install -y apache2-utils/);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('starts a plain HTTP registry on 127.0.0.1 and stops it by pid', async () => {
    const reg = await startRegistry();
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(reg.url).toBe(`http://${reg.host}`);
    expect(reg.tls).toBe(false);
    expect(reg.certDir).toBeUndefined();
    expect(reg.storage).toBe(path.join(reg.dir, 'storage'));
    expect(isAlive(reg.pid)).toBe(true);

    const res = await registryRequest(reg, '/v2/');
    expect(res.status).toBe(200);
    const config = readFileSync(path.join(reg.dir, 'config.yml'), 'utf8');
    expect(config).toContain(`addr: "${reg.host}"`);
    expect(config).toMatch(/delete:\n {4}enabled: true/);

    await reg.stop();
    expect(isAlive(reg.pid)).toBe(false);
    await reg.stop(); // idempotent
    expect(existsSync(reg.dir)).toBe(true); // stop() removes nothing
    await expect(registryRequest(reg, '/v2/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('starts a TLS + htpasswd registry: 401 without credentials, 200 with, skopeo pushes with the cert dir', async () => {
    const reg = await startRegistry({ tls: true, auth: { username: 'rescue', password: 's3cret pass' } });
    expect(reg.url).toBe(`https://${reg.host}`);
    expect(reg.tls).toBe(true);
    expect(reg.username).toBe('rescue');
    expect(readFileSync(path.join(reg.certDir!, 'ca.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(readFileSync(reg.caFile!, 'utf8')).toContain('BEGIN CERTIFICATE');

    expect((await registryRequest(reg, '/v2/')).status).toBe(401);
    expect((await registryRequest(reg, '/v2/', { auth: true })).status).toBe(200);
    expect((await registryRequest({ ...reg, password: 'wrong' }, '/v2/', { auth: true })).status).toBe(401);

    // A tiny OCI artifact written by skopeo itself (dir: → docker://), proving certDir and creds work.
    const src = await makeTempDir('helper-src');
    const layout = path.join(src, 'img');
    const pushed = await skopeo([
      'copy', '--all', '--preserve-digests',
      `--dest-cert-dir=${reg.certDir}`, `--dest-creds=${reg.username}:${reg.password}`,
      `dir:${await makeLayout(layout)}`, `docker://${reg.host}/helper/check:1`,
    ]);
    expect(pushed.stderr).toBe('');
    expect(pushed.exitCode).toBe(0);
    expect(existsSync(path.join(reg.storage, 'docker/registry/v2/repositories/helper/check/_manifests/tags/1/current/link'))).toBe(true);

    const denied = await skopeo(['inspect', '--raw', `--cert-dir=${reg.certDir}`, `docker://${reg.host}/helper/check:1`]);
    expect(denied.exitCode).toBe(1);
    expect(denied.stderr).toMatch(/unauthorized|authentication required/);

    await reg.stop();
    expect(isAlive(reg.pid)).toBe(false);
  });

  it('serves an existing storage given by the caller (a copy of fixtures/storage)', async () => {
    const root = await makeTempDir('helper-storage');
    const storage = path.join(root, 'storage');
    await cp(path.resolve(import.meta.dirname, '../fixtures/storage'), storage, { recursive: true });
    const reg = await startRegistry({ storage });
    expect(reg.storage).toBe(storage);

    const catalog = JSON.parse((await registryRequest(reg, '/v2/_catalog?n=1000')).body.toString());
    expect(catalog.repositories).toEqual(expect.arrayContaining(['proj/team/app', 'proj/team/app/debug', 'rejected/app']));
    const tags = JSON.parse((await registryRequest(reg, '/v2/proj/team/app/tags/list')).body.toString());
    expect(tags.tags).toEqual(expect.arrayContaining(['1.0', '1.1', '1.0-sbom']));
    expect((await registryRequest(reg, '/v2/rejected/app/tags/list')).status).toBe(404);
    await reg.stop();
  });
});

/** Writes a one-layer OCI image as a skopeo dir: layout (version 1.1) and returns its path. */
async function makeLayout(dir: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { gzipSync } = await import('node:zlib');
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  await mkdir(dir, { recursive: true });
  const tar = Buffer.from('registry-helper-test-layer\n'.padEnd(1024, '\0'));
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha(layer)}`, size: layer.length }],
    }),
  );
  await writeFile(path.join(dir, sha(layer)), layer);
  await writeFile(path.join(dir, sha(config)), config);
  await writeFile(path.join(dir, 'manifest.json'), manifest);
  await writeFile(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  return dir;
}
