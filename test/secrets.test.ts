// Secrets and trust, end to end with the real skopeo and a TLS + htpasswd registry: a password given by the
// environment, standard input or an auth file never shows in any spawned process's argv or environment (read
// from /proc while they run), nor in stdout, stderr, the report, the metrics or the per-image logs, also when
// skopeo itself prints it or the password is wrong; the temporary auth file is 0600 in a private 0700
// directory and is gone after success, failure and SIGTERM; TLS verification is on unless disabled, and the
// report and the log say when it was.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, copyFixture, expectedTags, ROOT } from './helpers/cli.js';
import { killStrays, watchDescendants, type SeenProcess } from './helpers/proc-watch.js';
import { makeTempDir, startRegistry, type TestRegistry } from './helpers/registry.js';
import { expectSameImage, idOf, writeTagsFile } from './helpers/sync.js';
import { expectStorageUnchanged, snapshotStorage, type TreeSnapshot } from './helpers/tree.js';

const TIMEOUT = 240_000;
const USER = 'rescue';
const PASSWORD = `Pw-${randomBytes(6).toString('hex')}-s3cret!`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
/** Every form the password could travel in. */
const FORMS = [PASSWORD, b64(`${USER}:${PASSWORD}`), b64(PASSWORD), encodeURIComponent(PASSWORD)];
const LEAK = path.join(ROOT, 'test/bin/skopeo-leak.js');
const HANG = path.join(ROOT, 'test/bin/skopeo-hang-sync.js');
const IDS = ['proj/a/app:1.0', 'proj/b/app:1.0', 'library/alpine-like:3.19', 'multi/oci-index:1.0'];

function expectNoSecret(text: string, where: string, forms = FORMS): void {
  for (const f of forms) expect(text.includes(f), `${where} holds the password (${f === PASSWORD ? 'plain' : 'encoded'})`).toBe(false);
}

/** Every file under `dir` as `path\ncontent` (small text files: reports, logs, metrics). */
async function textUnder(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) parts.push(`${e.name}\n${await readFile(path.join(e.parentPath, e.name), 'utf8')}`);
  }
  return parts.join('\n');
}

let runs = 0;

interface Run {
  prefix: string;
  /** The CLI's own pid. */
  pid: number;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  seen: SeenProcess[];
  dir: string;
  storage: string;
  v2: string;
  tmp: string;
  out: string;
  /** The storage's registry tree before the run. */
  before: TreeSnapshot;
  /** Report, metrics and logs, all text. */
  files: () => Promise<string>;
}

/** A sync of four images into `reg` with the credentials given `via`, watched through /proc. */
async function run(reg: TestRegistry, via: 'environment' | 'stdin' | 'auth file' | 'none', opts: { password?: string; skopeo?: string; tlsVerify?: boolean; env?: Record<string, string>; tmp?: string; onStart?: (pid: number, dir: string) => Promise<void> } = {}): Promise<Run> {
  const { dir, storage, v2 } = await copyFixture();
  const before = await snapshotStorage(storage);
  const tmp = opts.tmp ?? path.join(dir, 'tmp'); // TMPDIR: what the run leaves behind there is exactly ours
  await mkdir(tmp, { recursive: true });
  const tags = (await expectedTags()).filter((t) => IDS.includes(idOf(t)));
  const tagsFile = await writeTagsFile(path.join(dir, 'sel.tags'), tags);
  const password = opts.password ?? PASSWORD;
  // Each run pushes under its own prefix of the shared registry: nothing is up to date, skopeo really runs.
  const prefix = `run${++runs}`;
  const env: Record<string, string> = { TMPDIR: tmp, HOME: dir, XDG_RUNTIME_DIR: path.join(dir, 'run'), FORCE_COLOR: '0', ...opts.env };
  const args = ['sync', storage, '--to', `${reg.host}/${prefix}`, '--tags-file', tagsFile, '--report', path.join(dir, 'report.json'), '--metrics-file', path.join(dir, 'rescue.prom'), '--concurrency', '2'];
  if (opts.tlsVerify === false) args.push('--dest-tls-verify=false');
  else args.push('--dest-cert-dir', reg.certDir as string);
  if (opts.skopeo) args.push('--skopeo', opts.skopeo);
  let input: string | undefined;
  if (via === 'environment') Object.assign(env, { REGISTRY_RESCUE_USERNAME: USER, REGISTRY_RESCUE_PASSWORD: password });
  if (via === 'stdin') {
    env.REGISTRY_RESCUE_USERNAME = USER;
    args.push('--dest-password-stdin');
    input = `${password}\n`;
  }
  if (via === 'auth file') {
    const file = path.join(dir, 'auth.json');
    await writeFile(file, JSON.stringify({ auths: { [reg.host]: { auth: b64(`${USER}:${password}`) } } }), { mode: 0o600 });
    args.push('--dest-authfile', file);
  }
  const child = execa('node', [BIN, ...args], { reject: false, env, extendEnv: true, ...(input !== undefined ? { input } : { stdin: 'ignore' }), timeout: 200_000 });
  const watch = watchDescendants(child.pid as number);
  if (opts.onStart) await opts.onStart(child.pid as number, dir);
  const r = await child;
  const seen = watch.stop();
  const out = path.join(storage, 'registry-rescue-export');
  return {
    prefix, pid: child.pid as number, exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr), seen, dir, storage, v2, tmp, out, before,
    files: async () => [await textUnder(path.join(out, '.registry-rescue-logs')), await readFile(path.join(dir, 'report.json'), 'utf8').catch(() => ''), await readFile(path.join(dir, 'rescue.prom'), 'utf8').catch(() => '')].join('\n'),
  };
}

/**
 * What the CLI spawned, as seen after exec: not the CLI itself, nor a child caught between fork and exec, which
 * still shows the CLI's own argv and environment (its memory is a copy of the CLI's until exec replaces it).
 */
function spawnedBy(r: Run): SeenProcess[] {
  const cli = r.seen.find((p) => p.pid === r.pid && p.argv.includes(BIN));
  const same = (p: SeenProcess) => cli !== undefined && p.argv.join('\0') === cli.argv.join('\0');
  return r.seen.filter((p) => p.pid !== r.pid && !same(p));
}

/** The real skopeo's `sync` processes among those seen (argv[0] is skopeo itself, not node). */
const realSkopeoSyncs = (seen: SeenProcess[]) => seen.filter((p) => path.basename(p.argv[0] ?? '') === 'skopeo' && p.argv.includes('sync'));

describe('a password never leaks', () => {
  // One registry for the describe (started outside a test, so stopped here).
  let reg: TestRegistry;
  beforeAll(async () => void (reg = await startRegistry({ tls: true, auth: { username: USER, password: PASSWORD } })), 60_000);
  afterAll(() => reg?.stop());
  const registry = async () => reg;

  for (const via of ['environment', 'stdin', 'auth file'] as const) {
    it(`given by ${via}: not in the argv or environment of any process (the real skopeo read in /proc while it ran), output, report, metrics or logs; the auth file skopeo got was private and is gone`, async () => {
      const target = await registry();
      const r = await run(target, via);
      expect(r.exitCode, r.stderr).toBe(0);
      const skopeos = realSkopeoSyncs(r.seen);
      expect(skopeos.length, `no real skopeo sync caught in /proc among ${r.seen.map((p) => p.argv[0]).join(', ')}`).toBeGreaterThan(0);
      for (const p of r.seen) {
        expectNoSecret(p.argv.join(' '), `argv of ${p.argv.slice(0, 3).join(' ')}`);
        // The CLI itself was started with the variable (the user's choice); nothing it spawns inherits it.
        if (via !== 'environment' || spawnedBy(r).includes(p)) expectNoSecret(p.environ.join('\n'), `environment of ${p.argv.slice(0, 3).join(' ')}`);
      }
      for (const p of skopeos) {
        expect(p.authFile, 'skopeo got an auth file').toBeDefined();
        if (via !== 'auth file') {
          expect(p.authFile).toMatchObject({ mode: '600', dirMode: '700', dirUid: process.getuid?.() });
          expect(p.authFile?.path.startsWith(r.tmp + path.sep)).toBe(true);
        }
      }
      expectNoSecret(r.stdout + r.stderr, 'stdout/stderr');
      expectNoSecret(await r.files(), 'report, metrics or logs');
      expect(await readdir(r.tmp)).toEqual([]);
      for (const t of (await expectedTags()).filter((x) => IDS.includes(idOf(x)))) await expectSameImage(target, r.v2, t, `${r.prefix}/${t.repository}`);
      await expectStorageUnchanged(r.storage, r.before, 'sync with credentials');
    }, TIMEOUT);
  }

  it('a skopeo that prints the credentials it got: report, log and messages keep its output with the password removed; the auth file is gone after the failure', async () => {
    const target = await registry();
    const r = await run(target, 'environment', { skopeo: LEAK });
    expect(r.exitCode, r.stderr).toBe(4);
    const report = JSON.parse(await readFile(path.join(r.dir, 'report.json'), 'utf8')) as { images: Array<{ status: string; reason: string; outputTail?: string }> };
    expect(report.images.map((i) => i.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
    // What skopeo said is kept (the failure is explained), only the secret is gone.
    expect(report.images[0]?.reason).toMatch(/unauthorized: user rescue:\*\*\*\s+refused \(auth \{"auths":\{"127\.0\.0\.1:\d+":\{"auth":"\*\*\*"\}\}\}\)/);
    expectNoSecret(r.stdout + r.stderr, 'stdout/stderr');
    expectNoSecret(await r.files(), 'report, metrics or logs');
    expect(await textUnder(path.join(r.out, '.registry-rescue-logs'))).toMatch(/decoded: rescue:\*\*\*/);
    expect(await readdir(r.tmp)).toEqual([]);
  }, TIMEOUT);

  it('a wrong password: exit 3 before anything is pushed, naming the user and where it came from, never the password', async () => {
    const target = await registry();
    const wrong = `Wrong-${randomBytes(6).toString('hex')}`;
    const forms = [wrong, b64(`${USER}:${wrong}`), b64(wrong)];
    const r = await run(target, 'environment', { password: wrong });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/wrong credentials for 127\.0\.0\.1:\d+: it rejected user "rescue" from REGISTRY_RESCUE_USERNAME/);
    expectNoSecret(r.stdout + r.stderr, 'stdout/stderr', forms);
    expectNoSecret(await r.files(), 'report, metrics or logs', forms);
    for (const p of spawnedBy(r)) expectNoSecret(p.argv.join(' ') + p.environ.join('\n'), `process ${p.argv[0]}`, forms);
    expect(await readdir(r.tmp)).toEqual([]);
  }, TIMEOUT);

  it('SIGTERM while skopeo pushes: the temporary auth file (seen 0600 while it ran) is removed, exit 143', async () => {
    const target = await registry();
    let authFile: string | undefined;
    const pids = path.join(await makeTempDir('rr-hang-pid-'), 'pids');
    const r = await run(target, 'stdin', {
      skopeo: HANG,
      env: { SKOPEO_HANG_PID_FILE: pids },
      onStart: async (pid, dir) => {
        // Once the hanging push runs (it wrote its pid), the auth file it was given is in our TMPDIR.
        const deadline = Date.now() + 60_000;
        while (!(await readFile(pids, 'utf8').catch(() => '')).trim()) {
          if (Date.now() > deadline) throw new Error('no push started');
          await new Promise((res) => setTimeout(res, 20));
        }
        const [name] = await readdir(path.join(dir, 'tmp'));
        authFile = path.join(dir, 'tmp', name as string, 'auth.json');
        await new Promise((res) => setTimeout(res, 200)); // let the /proc watch see it
        process.kill(pid, 'SIGTERM');
      },
    });
    expect(r.exitCode, r.stderr).toBe(143);
    // The fake skopeo itself (node running skopeo-hang-sync.js), not the CLI that names it in --skopeo.
    const hung = r.seen.filter((p) => p.argv[1]?.endsWith('skopeo-hang-sync.js') && p.argv.includes('sync'));
    expect(hung.length).toBeGreaterThan(0);
    expect(hung[0]?.authFile).toMatchObject({ path: authFile, mode: '600', dirMode: '700' });
    expect(await readdir(r.tmp)).toEqual([]);
    expectNoSecret(r.stdout + r.stderr, 'stdout/stderr');
  }, TIMEOUT);

  it('SIGKILL while skopeo pushes leaves the private auth file (nothing can remove it then); the next run removes it', async () => {
    const target = await registry();
    const pids = path.join(await makeTempDir('rr-hang-pid-'), 'pids');
    let tmp = '';
    const killed = await run(target, 'environment', {
      skopeo: HANG,
      env: { SKOPEO_HANG_PID_FILE: pids },
      onStart: async (pid, dir) => {
        tmp = path.join(dir, 'tmp');
        const deadline = Date.now() + 60_000;
        while (!(await readFile(pids, 'utf8').catch(() => '')).trim()) {
          if (Date.now() > deadline) throw new Error('no push started');
          await new Promise((res) => setTimeout(res, 20));
        }
        process.kill(pid, 'SIGKILL');
      },
    });
    for (const pid of (await readFile(pids, 'utf8')).trim().split('\n').map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await killStrays(tmp); // a fake spawned just before the kill, whose pid was not written yet
    expect(killed.exitCode).toBeUndefined();
    const left = await readdir(tmp);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^registry-rescue-auth-\d+@/);
    const next = await run(target, 'environment', { tmp });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
  }, TIMEOUT);
});

describe('credentials typed into --to', () => {
  // `--to user:password@host` is a mistake (the password is in `ps` and the shell's history already), but the log
  // cron keeps must not hold it as well: the usage error names the host only, and so does the first line.
  for (const [command, extra] of [['sync', ['--dry-run']], ['sync', []], ['verify', []]] as const) {
    it(`${[command, ...extra].join(' ')}: a usage error (exit 2) that says what to do, without the password`, async () => {
      const { storage } = await copyFixture();
      for (const to of [`${USER}:${PASSWORD}@127.0.0.1:1/rescued`, `https://${USER}:${PASSWORD}@harbor.example.com`]) {
        const r = await cli([command, storage, '--to', to, ...extra], { env: { REGISTRY_RESCUE_USERNAME: USER, REGISTRY_RESCUE_PASSWORD: 'not-it' } });
        expect(r.exitCode, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/--to holds credentials before "@" \(not shown\): give host\[:port\]\[\/prefix\] only \(--to (127\.0\.0\.1:1\/rescued|harbor\.example\.com)\)/);
        expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      }
    });
  }
});

describe('TLS verification', () => {
  it('is on by default: an untrusted certificate stops the run (exit 3) before anything is pushed', async () => {
    const reg = await startRegistry({ tls: true });
    const { dir, storage } = await copyFixture();
    const r = await cli(['sync', storage, '--to', reg.host, '--report', path.join(dir, 'r.json')]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/certificate of 127\.0\.0\.1:\d+ is not trusted/);
    expect(r.stderr).not.toMatch(/TLS verification of .* is off/);
  }, TIMEOUT);

  it('--dest-tls-verify=false is said on stderr and recorded in the report ("tlsVerify": false); on by default it is recorded as true', async () => {
    const reg = await startRegistry({ tls: true, auth: { username: USER, password: PASSWORD } });
    const off = await run(reg, 'environment', { tlsVerify: false });
    expect(off.exitCode, off.stderr).toBe(0);
    expect(off.stderr).toMatch(/warning: TLS verification of 127\.0\.0\.1:\d+ is off \(--dest-tls-verify=false\)/);
    expect(JSON.parse(await readFile(path.join(off.dir, 'report.json'), 'utf8'))).toMatchObject({ tlsVerify: false });
    // skopeo was told the same, never more.
    for (const p of realSkopeoSyncs(off.seen)) expect(p.argv).toContain('--dest-tls-verify=false');
    const on = await run(reg, 'environment');
    expect(on.exitCode, on.stderr).toBe(0);
    expect(on.stderr).not.toMatch(/TLS verification/);
    expect(JSON.parse(await readFile(path.join(on.dir, 'report.json'), 'utf8'))).toMatchObject({ tlsVerify: true });
    for (const p of realSkopeoSyncs(on.seen)) expect(p.argv.join(' ')).not.toMatch(/tls-verify=false/);
  }, TIMEOUT);
});
