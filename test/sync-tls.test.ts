/**
 * `sync` into a TLS + htpasswd docker-registry (Harbor-like: `/v2/` answers 401 without credentials; recipe of
 * storage-and-skopeo.md §7), with the real CLI and the real skopeo 1.9.3 behind test/bin/skopeo-record.js:
 * the three ways to give credentials, and proof that the password travels only through a private (0600),
 * short-lived auth file. Then every preflight failure, each with its own message and exit code 3.
 */
import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, copyFixture, expectedTags, type CliResult, type ExpectedTag } from './helpers/cli.js';
import { makeTempDir, requireTool, startRegistry, type TestRegistry } from './helpers/registry.js';
import {
  closedPort,
  expectSameImage,
  getManifest,
  idOf,
  OLD_BIN,
  readDetails,
  readRecord,
  RECORD_BIN,
  skopeoPushesFor,
  syncCalls,
  writeTagsFile,
} from './helpers/sync.js';

const USER = 'rescuer';
// Characters that break naive quoting or URL handling, so a leak in any encoding shows.
const PASSWORD = 'pw-Zq7#x K!9"q$HOME:&%';
const SECRETS = [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), encodeURIComponent(PASSWORD)];

describe('sync into a TLS + htpasswd registry', () => {
  let reg: TestRegistry;
  let plain: TestRegistry;
  let fx: { dir: string; storage: string; v2: string };
  let ok: ExpectedTag[];
  let work: string;
  let tagsFile: string;

  beforeAll(async () => {
    requireTool('skopeo');
    requireTool('docker-registry');
    [reg, plain] = await Promise.all([startRegistry({ tls: true, auth: { username: USER, password: PASSWORD } }), startRegistry()]);
    fx = await copyFixture();
    work = await makeTempDir('rr-tls-work');
    ok = (await expectedTags()).filter((t) => t.status === 'ok');
    // Every ok tag: all kinds, over TLS with bcrypt checks on every request (~150 ms an image, §5.9).
    tagsFile = await writeTagsFile(path.join(work, 'ok-tags.txt'), ok);
  });
  afterAll(async () => {
    await Promise.all([reg?.stop(), plain?.stop()]);
  });

  /** Runs sync under `prefix` through skopeo-record.js and checks everything a leak or a stale auth file would show. */
  async function syncWith(prefix: string, extra: string[], env: Record<string, string>, opts: { input?: string; full?: boolean } = {}): Promise<void> {
    const { input } = opts;
    const record = path.join(work, `${prefix}.jsonl`);
    const details = path.join(work, `${prefix}.details.jsonl`);
    const report = path.join(work, `${prefix}-report.json`);
    const r = await cli(
      ['sync', fx.storage, '--to', `${reg.host}/${prefix}`, '--dest-cert-dir', reg.certDir as string, '--tags-file', tagsFile, '--report', report, '--skopeo', RECORD_BIN, '-v', ...extra],
      { env: { ...env, SKOPEO_RECORD_FILE: record, SKOPEO_RECORD_DETAILS_FILE: details }, ...(input !== undefined ? { input } : {}) },
    );
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^${ok.length} synced, 0 up to date, 0 skipped, 0 broken at source, 0 failed; `, 'm'));
    if (opts.full) {
      for (const t of ok) await expectSameImage(reg, fx.v2, t, `${prefix}/${t.repository}`);
    } else {
      // Byte-for-byte checks over TLS + bcrypt are slow; one method does them, the others compare digests.
      for (const t of ok) expect((await getManifest(reg, `${prefix}/${t.repository}`, t.tag)).header, idOf(t)).toBe(t.digest);
    }

    const argvs = await readRecord(record);
    expect(syncCalls(argvs)).toHaveLength(skopeoPushesFor(ok));
    const calls = await readDetails(details);
    const reportText = await readFile(report, 'utf8');
    for (const secret of SECRETS) {
      for (const argv of argvs) expect(argv.join('\0')).not.toContain(secret);
      expect(r.stdout).not.toContain(secret);
      expect(r.stderr).not.toContain(secret);
      expect(reportText).not.toContain(secret);
    }
    // Every push got one auth file: private while skopeo ran, gone after the run; no password in skopeo's env.
    const authPaths = new Set<string>();
    for (const call of calls.filter((c) => c.argv.includes('sync'))) {
      expect(call.authFiles, call.argv.join(' ')).toHaveLength(1);
      const [auth] = call.authFiles;
      expect(auth).toMatchObject({ flag: '--dest-authfile', exists: true, mode: '600' });
      authPaths.add(auth?.path as string);
      expect(call.env.REGISTRY_RESCUE_PASSWORD).toBe(false);
    }
    expect(authPaths.size).toBe(1);
    for (const p of authPaths) {
      expect(p.startsWith(path.dirname(fx.storage))).toBe(false); // not the user's file or anything of ours
      await expect(stat(p)).rejects.toThrow(/ENOENT/);
      await expect(stat(path.dirname(p))).rejects.toThrow(/ENOENT/);
    }
  }

  it('credentials from REGISTRY_RESCUE_USERNAME/REGISTRY_RESCUE_PASSWORD', async () => {
    await syncWith('env', [], { REGISTRY_RESCUE_USERNAME: USER, REGISTRY_RESCUE_PASSWORD: PASSWORD }, { full: true });
  });

  it('credentials from --dest-authfile (the user file is left alone)', async () => {
    const file = path.join(work, 'auth.json');
    await writeFile(file, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }), { mode: 0o644 });
    await syncWith('authfile', ['--dest-authfile', file], {});
    expect((await stat(file)).mode & 0o777).toBe(0o644);
  });

  it('credentials from --dest-password-stdin', async () => {
    await syncWith('stdin', ['--dest-password-stdin'], { REGISTRY_RESCUE_USERNAME: USER }, { input: `${PASSWORD}\n` });
  });

  describe('preflight failures: exit 3, one clear message, nothing pushed and no export dir', () => {
    const creds = { REGISTRY_RESCUE_USERNAME: USER, REGISTRY_RESCUE_PASSWORD: PASSWORD };

    async function expectPreflight(args: string[], env: Record<string, string>, message: RegExp, opts: { exportsFirst?: boolean } = {}): Promise<CliResult> {
      const dir = await makeTempDir('rr-preflight');
      const out = path.join(dir, 'out');
      const record = path.join(dir, 'argv.jsonl');
      const r = await cli(['sync', fx.storage, '--out', out, '--tags-file', tagsFile, ...args], { env: { ...env, SKOPEO_RECORD_FILE: record } });
      expect(r.exitCode, r.stderr + r.stdout).toBe(3);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('registry-rescue: '));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      for (const secret of SECRETS) expect(r.stderr + r.stdout).not.toContain(secret);
      expect(syncCalls(await readRecord(record))).toEqual([]);
      // Target problems are found before anything is exported; skopeo problems before the first push.
      if (!opts.exportsFirst) await expect(stat(out)).rejects.toThrow(/ENOENT/);
      return r;
    }

    it('wrong password', async () => {
      await expectPreflight(
        ['--to', reg.host, '--dest-cert-dir', reg.certDir as string, '--skopeo', RECORD_BIN],
        { REGISTRY_RESCUE_USERNAME: USER, REGISTRY_RESCUE_PASSWORD: 'not-the-password' },
        new RegExp(`^registry-rescue: exit 3, wrong credentials for ${reg.host}: it rejected user "${USER}" from REGISTRY_RESCUE_USERNAME/REGISTRY_RESCUE_PASSWORD`),
      );
    });

    it('no credentials at all', async () => {
      await expectPreflight(
        ['--to', reg.host, '--dest-cert-dir', reg.certDir as string, '--skopeo', RECORD_BIN],
        {},
        new RegExp(`^registry-rescue: exit 3, ${reg.host} requires credentials .*--dest-authfile`),
      );
    });

    it('untrusted certificate (no cert dir, TLS verification on)', async () => {
      await expectPreflight(
        ['--to', reg.host, '--skopeo', RECORD_BIN],
        creds,
        new RegExp(`^registry-rescue: exit 3, certificate of ${reg.host} is not trusted .*pass --dest-cert-dir DIR with its ca.crt, or --dest-tls-verify=false`),
      );
    });

    it('untrusted certificate with --dest-cert-dir: names the dir its CA is missing from, not the flag again', async () => {
      // A CA of its own that did not sign the registry's certificate.
      const other = await makeTempDir('rr-other-ca');
      await execa('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-keyout', path.join(other, 'ca.key'),
        '-out', path.join(other, 'ca.crt'), '-subj', '/CN=other-ca',
      ]);
      const r = await expectPreflight(
        ['--to', reg.host, '--dest-cert-dir', other, '--skopeo', RECORD_BIN],
        creds,
        new RegExp(`^registry-rescue: exit 3, certificate of ${reg.host} is not signed by a CA in ${other} nor by a system CA \\(.+\\); ` +
          `put the CA that signed it in ${other} as a \\*\\.crt file, or pass --dest-tls-verify=false$`),
      );
      expect(r.stderr).not.toContain('pass --dest-cert-dir DIR');
    });

    it('unreachable target (nothing listens on the port)', async () => {
      const port = await closedPort();
      await expectPreflight(['--to', `127.0.0.1:${port}`, '--skopeo', RECORD_BIN], creds, new RegExp(`^registry-rescue: exit 3, cannot reach 127\\.0\\.0\\.1:${port}: connection refused`));
    });

    it('plain http target while TLS verification is on', async () => {
      await expectPreflight(
        ['--to', plain.host, '--skopeo', RECORD_BIN],
        {},
        new RegExp(`^registry-rescue: exit 3, ${plain.host} speaks plain HTTP, not HTTPS, and TLS verification is on; .*--dest-tls-verify=false`),
      );
    });

    it('missing --dest-authfile', async () => {
      const missing = path.join(work, 'no-such-auth.json');
      await expectPreflight(
        ['--to', reg.host, '--dest-cert-dir', reg.certDir as string, '--dest-authfile', missing, '--skopeo', RECORD_BIN],
        {},
        new RegExp(`^registry-rescue: exit 3, auth file "${missing}" does not exist$`),
      );
    });

    it('--dest-cert-dir that does not exist', async () => {
      const missing = path.join(work, 'no-such-certs');
      await expectPreflight(
        ['--to', reg.host, '--dest-cert-dir', missing, '--skopeo', RECORD_BIN],
        creds,
        new RegExp(`^registry-rescue: exit 3, --dest-cert-dir ${missing} does not exist or is not a directory$`),
      );
    });

    // Found missing before the export (a path lookup, no process): a nightly run on a node without skopeo used to
    // export the whole storage first and fail at its first push.
    it('skopeo missing (--skopeo PATH)', async () => {
      await expectPreflight(
        ['--to', `${reg.host}/preflight`, '--dest-cert-dir', reg.certDir as string, '--skopeo', '/nonexistent/skopeo'],
        creds,
        /^registry-rescue: exit 3, skopeo not found at \/nonexistent\/skopeo; install it: apt-get install -y skopeo, or pass --skopeo PATH$/,
      );
    });

    it('skopeo missing from PATH', async () => {
      // A PATH that finds node (to start the CLI) and no skopeo.
      const bin = await makeTempDir('rr-path');
      await symlink(process.execPath, path.join(bin, 'node'));
      await expectPreflight(['--to', `${reg.host}/preflight`, '--dest-cert-dir', reg.certDir as string], { ...creds, PATH: bin }, /^registry-rescue: exit 3, skopeo not found on PATH; install it: apt-get install -y skopeo, or pass --skopeo PATH$/);
    });

    it('--skopeo naming a file that is not executable', async () => {
      const dir = await makeTempDir('rr-noexec');
      const file = path.join(dir, 'skopeo');
      await writeFile(file, '#!/bin/sh\n', { mode: 0o644 });
      await expectPreflight(['--to', `${reg.host}/preflight`, '--dest-cert-dir', reg.certDir as string, '--skopeo', file], creds, new RegExp(`^registry-rescue: exit 3, skopeo not found at ${file}; `));
    });

    it('skopeo too old', async () => {
      await expectPreflight(
        ['--to', `${reg.host}/preflight`, '--dest-cert-dir', reg.certDir as string, '--skopeo', OLD_BIN],
        creds,
        /^registry-rescue: exit 3, skopeo 1\.4\.0 \(.*skopeo-old\.js\) is too old: 1\.9 or newer is needed$/,
        { exportsFirst: true },
      );
    });
  });
});
