import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifySkopeoFailure } from '../src/core/skopeo-failure.js';
import { PreflightError } from '../src/errors.js';
import { preflightSkopeo, runSkopeo } from '../src/registry/skopeo.js';
import { makeTempDir, requireTool } from './helpers/registry.js';

const BIN = path.join(import.meta.dirname, 'bin');
const fake = (name: string): string => path.join(BIN, `${name}.js`);

/** Runs `fn` with PATH replaced, restoring it afterwards (execa reads process.env at spawn time). */
async function withPath<R>(value: string, fn: () => Promise<R>): Promise<R> {
  const saved = process.env.PATH;
  process.env.PATH = value;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

describe('preflightSkopeo', () => {
  it('accepts the real skopeo on PATH (>= 1.9)', async () => {
    requireTool('skopeo');
    const { bin, version } = await preflightSkopeo();
    expect(bin).toBe('skopeo');
    expect(version).toMatch(/^1\.(9|[1-9]\d)\.\d+$|^[2-9]\./);
  });

  it('refuses skopeo older than 1.9', async () => {
    const error = await preflightSkopeo(fake('skopeo-old')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    expect((error as PreflightError).message).toMatch(/skopeo 1\.4\.0 .* is too old: 1\.9 or newer is needed/);
    expect((error as PreflightError).exitCode).toBe(3);
  });

  it('says how to install skopeo when it is not on PATH', async () => {
    const error = await withPath('/nonexistent', () => preflightSkopeo()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    expect((error as Error).message).toBe(
      'skopeo not found on PATH; install it: apt-get install -y skopeo, or pass --skopeo PATH',
    );
  });

  it('names a missing --skopeo path', async () => {
    await expect(preflightSkopeo('/nonexistent/skopeo')).rejects.toThrow(
      'skopeo not found at /nonexistent/skopeo; install it: apt-get install -y skopeo, or pass --skopeo PATH',
    );
  });

  it('reports a skopeo that fails or prints no version', async () => {
    await expect(preflightSkopeo(fake('skopeo-fatal'))).rejects.toThrow(/--version failed: .*fake failure/);
    const dir = await makeTempDir('rr-preflight');
    await expect(preflightSkopeo(path.join(dir))).rejects.toThrow(PreflightError); // a directory: EACCES
    await expect(preflightSkopeo('true')).rejects.toThrow(/^true --version printed no skopeo version: "true \(GNU/);
    await expect(preflightSkopeo(fake('skopeo-hang'), { timeoutMs: 300 })).rejects.toThrow(
      /skopeo-hang\.js --version did not answer within 300 ms/,
    );
  });
});

describe('the environment skopeo gets', () => {
  // README, "When the registry lived in a bucket": the bucket's credentials "are never printed, logged or written
  // into a report, and skopeo does not get them" -- the preflight `skopeo --version` included.
  it('holds no bucket credentials, in the preflight or in a push', async () => {
    const dir = await makeTempDir('rr-skopeo-env');
    const bin = path.join(dir, 'skopeo');
    const out = path.join(dir, 'env.txt');
    writeFileSync(bin, `#!/bin/sh\nenv >> "${out}"\necho 'skopeo version 1.9.3'\n`, { mode: 0o755 });
    const secrets = { AWS_ACCESS_KEY_ID: 'RRKEYID0123', AWS_SECRET_ACCESS_KEY: 'rr-secret-0123456789', AWS_SESSION_TOKEN: 'rr-session-token-0123' };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    try {
      await preflightSkopeo(bin);
      await runSkopeo(bin, ['--version']);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const env = readFileSync(out, 'utf8');
    expect(env).toContain('PATH=');
    for (const value of Object.values(secrets)) expect(env).not.toContain(value);
  });
});

describe('runSkopeo', () => {
  it('returns a skopeo failure as data, with the fatal line on stderr', async () => {
    const r = await runSkopeo(fake('skopeo-fatal'), ['sync'], {
      env: { SKOPEO_FATAL_MSG: 'Error copying ref "dir:/e/a:1": unauthorized: authentication required' },
    });
    expect(r).toMatchObject({ ok: false, exitCode: 1, canceled: false, timedOut: false, stdout: '' });
    expect(classifySkopeoFailure(r.stderr)).toEqual({
      reason: 'unauthorized',
      transient: false,
      message: 'unauthorized: authentication required',
    });
    expect(r.ms).toBeGreaterThan(0);
  });

  it('passes argv untouched and adds env to the inherited environment', async () => {
    requireTool('skopeo');
    const dir = await makeTempDir('rr-record');
    const record = path.join(dir, 'argv.jsonl');
    const args = ['--insecure-policy', '--version'];
    const r = await runSkopeo(fake('skopeo-record'), args, { env: { SKOPEO_RECORD_FILE: record } });
    expect(r).toMatchObject({ ok: true, exitCode: 0, canceled: false, timedOut: false });
    expect(r.stdout).toMatch(/^skopeo version /);
    expect(readFileSync(record, 'utf8')).toBe(`${JSON.stringify(args)}\n`);
  });

  it('kills a hanging skopeo at the timeout', async () => {
    const r = await runSkopeo(fake('skopeo-hang'), ['sync'], { timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, exitCode: undefined, canceled: false, timedOut: true });
    expect(r.ms).toBeGreaterThanOrEqual(290);
    expect(r.ms).toBeLessThan(5000);
    expect(classifySkopeoFailure(r.stderr, r).reason).toBe('timeout');
  });

  it('kills a running skopeo when the signal aborts', async () => {
    const ac = new AbortController();
    const dir = await makeTempDir('rr-hang');
    const pidFile = path.join(dir, 'pid');
    const running = runSkopeo(fake('skopeo-hang'), ['sync'], {
      signal: ac.signal,
      env: { SKOPEO_HANG_PID_FILE: pidFile },
      timeoutMs: 30_000,
    });
    // Aborted once it runs (it prints 'hanging', then writes its pid), not after a fixed delay: on a loaded machine node
    // took longer than 300 ms to start, and the abort came before its output.
    const deadline = Date.now() + 20_000;
    while (!existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const abortedAt = Date.now();
    ac.abort(new Error('SIGTERM'));
    const r = await running;
    expect(r).toMatchObject({ ok: false, canceled: true, timedOut: false, stdout: 'hanging' });
    expect(Date.now() - abortedAt).toBeLessThan(5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(1); // never 0: kill(0, 0) signals our own process group and always succeeds
    expect(() => process.kill(pid, 0)).toThrow(); // really gone
  });

  it('does not start at all when already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const dir = await makeTempDir('rr-abort');
    const record = path.join(dir, 'argv.jsonl');
    const r = await runSkopeo(fake('skopeo-record'), ['--version'], { signal: ac.signal, env: { SKOPEO_RECORD_FILE: record } });
    expect(r).toEqual({ ok: false, exitCode: undefined, canceled: true, timedOut: false, stdout: '', stderr: '', ms: 0 });
    expect(() => readFileSync(record)).toThrow(/ENOENT/);
  });

  it('does not throw when the binary is missing', async () => {
    const r = await runSkopeo('/nonexistent/skopeo', ['sync']);
    expect(r).toMatchObject({ ok: false, exitCode: undefined, canceled: false, timedOut: false });
    expect(r.stderr).toMatch(/ENOENT/);
  });
});
