/**
 * Test helpers: a real `docker-registry` (Distribution 2.8) on 127.0.0.1, real skopeo, temp dirs.
 *
 * Recipes follow docs/storage-and-skopeo.md §7. Tools are prerequisites like Node itself: when one is
 * missing, `requireTool()` throws with the apt-get command, so tests FAIL instead of skipping.
 *
 * Cleanup:
 * - `makeTempDir()` called inside a test is removed when that test finishes (`onTestFinished`);
 *   called anywhere else (describe body, beforeAll) it is removed when the vitest worker ends.
 * - `startRegistry()` likewise: inside a test the registry is stopped and its `dir` removed when the test
 *   finishes; elsewhere call `stop()` yourself (afterAll), and `dir` is removed when the worker ends.
 *   A caller-supplied `storage` is never removed. A registry still running when the worker ends is
 *   stopped by a per-worker reaper process (see REAPER_SOURCE), so nothing outlives the test run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, openSync, closeSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { onTestFinished } from 'vitest';

export interface TestRegistry {
  host: string; // "127.0.0.1:PORT"
  url: string; // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT"
  dir: string; // temp dir holding config, storage, tls, htpasswd
  storage: string; // the rootdirectory (holds docker/registry/v2 after first push)
  tls: boolean;
  username?: string;
  password?: string;
  certDir?: string; // dir containing ca.crt, for skopeo --dest-cert-dir / --src-cert-dir
  caFile?: string; // PEM file of the self-signed cert (for Node https `ca`)
  pid: number;
  stop(): Promise<void>; // SIGTERM, wait for exit (SIGKILL after 5 s), remove nothing else
}

export interface StartRegistryOptions {
  tls?: boolean;
  auth?: { username: string; password: string };
  /** Use this rootdirectory instead of `<dir>/storage` (it is created if missing, never removed). */
  storage?: string;
  /** Listen on this port of 127.0.0.1 (to restart a killed registry where its clients expect it); default: a free one. */
  port?: number;
}

type Tool = 'skopeo' | 'docker-registry' | 'openssl' | 'htpasswd';

const APT_PACKAGE: Record<Tool, string> = {
  skopeo: 'skopeo',
  'docker-registry': 'docker-registry',
  openssl: 'openssl',
  htpasswd: 'apache2-utils',
};

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;
const HTTP_SECRET = 'registry-rescue-test-secret';
const LOG_TAIL_LINES = 30;

/** Throws (never skips) when `name` is not on PATH, naming the Debian package that provides it. */
export function requireTool(name: Tool): void {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, name), fsConstants.X_OK);
      return;
    } catch {
      // not in this PATH entry
    }
  }
  throw new Error(
    `${name} is required by the tests but was not found in PATH; install it with: ` +
      `sudo apt-get install -y ${APT_PACKAGE[name]}`,
  );
}

// ---------------------------------------------------------------- cleanup bookkeeping

/*
 * Vitest ends its workers without running `process.on('exit')` handlers, so a registry left running
 * by a failed test would outlive the run. Each worker therefore starts one small "reaper" process
 * holding a pipe from the worker: registered pids and dirs are sent to it, and when the pipe closes
 * (the worker ended, however) it SIGTERMs the pids, SIGKILLs them after 5 s and removes the dirs.
 * It ignores SIGINT/SIGTERM/SIGHUP so a signal to the whole process group cannot skip the cleanup.
 */
const REAPER_SOURCE = `
const fs = require('node:fs');
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
const pids = new Set(), dirs = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const [op, ...rest] = line.split(' '); const arg = rest.join(' ');
    if (op === 'pid') pids.add(Number(arg)); else if (op === 'unpid') pids.delete(Number(arg));
    else if (op === 'dir') dirs.add(arg); else if (op === 'undir') dirs.delete(arg);
  }
});
// A zombie (state Z: dead, parent gone, not yet reaped by init) still answers kill(pid, 0).
const alive = (p) => {
  try { process.kill(p, 0); } catch { return false; }
  try { return !/^\\d+ \\(.*\\) Z/.test(fs.readFileSync('/proc/' + p + '/stat', 'utf8')); } catch { return false; }
};
process.stdin.on('end', async () => {
  for (const p of pids) { try { process.kill(p, 'SIGTERM'); } catch {} }
  const deadline = Date.now() + 5000;
  while ([...pids].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch {} }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  process.exit(0);
});
`;

let reaper: ChildProcess | undefined;

/** Sends one line to this worker's reaper, starting it on first use. */
function tellReaper(line: string): void {
  if (!reaper) {
    reaper = spawn(process.execPath, ['-e', REAPER_SOURCE], { stdio: ['pipe', 'ignore', 'ignore'], detached: false });
    reaper.unref();
    const stdin = reaper.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null;
    stdin?.unref?.();
    stdin?.on('error', () => {});
  }
  reaper.stdin?.write(`${line}\n`);
}

/** Runs `fn` when the current test finishes; returns false when not called inside a test. */
function whenTestFinishes(fn: () => Promise<void>): boolean {
  try {
    onTestFinished(fn);
    return true;
  } catch {
    return false;
  }
}

/** Creates a temp dir under os.tmpdir(); removed after the current test, or at worker exit outside a test. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  if (!whenTestFinishes(remove)) tellReaper(`dir ${dir}`);
  return dir;
}

// ---------------------------------------------------------------- skopeo

export interface SkopeoResult {
  exitCode: number; // -1 when killed by a signal or the timeout
  stdout: string;
  stderr: string;
}

export interface SkopeoOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** Runs the real skopeo with `--insecure-policy` prepended; never throws on a non-zero exit. */
export async function skopeo(args: string[], opts: SkopeoOptions = {}): Promise<SkopeoResult> {
  requireTool('skopeo');
  const r = await execa('skopeo', ['--insecure-policy', ...args], {
    reject: false,
    stdin: 'ignore',
    cwd: opts.cwd,
    env: opts.env,
    timeout: opts.timeoutMs ?? 120_000,
    forceKillAfterDelay: 5_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

// ---------------------------------------------------------------- HTTP against a test registry

export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One HTTP request to a test registry (`pathname` like `/v2/`), trusting its self-signed cert.
 * `auth: true` sends the registry's basic credentials.
 */
export function registryRequest(
  reg: Pick<TestRegistry, 'url' | 'tls' | 'caFile' | 'username' | 'password'>,
  pathname: string,
  opts: { method?: string; headers?: Record<string, string>; auth?: boolean; body?: Buffer | string } = {},
): Promise<RegistryResponse> {
  const target = new URL(pathname, reg.url);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth && reg.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${reg.username}:${reg.password ?? ''}`).toString('base64')}`;
  }
  const ca = reg.tls && reg.caFile ? readFileSync(reg.caFile) : undefined;
  return new Promise((resolve, reject) => {
    const request = (reg.tls ? https.request : http.request)(
      target,
      { method: opts.method ?? 'GET', headers, ca, agent: false, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${target.href}`)));
    request.on('error', reject);
    request.end(opts.body);
  });
}

// ---------------------------------------------------------------- registry process

/** Asks the kernel for a free port on 127.0.0.1 (small race until the registry binds it; start retries). */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore', timeout: 30_000 });
  if (r.exitCode !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.exitCode}): ${String(r.stderr).trim()}`);
  }
  return String(r.stdout);
}

/** Self-signed cert for IP:127.0.0.1 (OpenSSL 3 marks it CA:TRUE), copied to certs/ca.crt for skopeo. */
async function makeTls(dir: string): Promise<{ cert: string; key: string; certDir: string; caFile: string }> {
  requireTool('openssl');
  const tlsDir = path.join(dir, 'tls');
  const certDir = path.join(dir, 'certs');
  await mkdir(tlsDir, { recursive: true });
  await mkdir(certDir, { recursive: true });
  const cert = path.join(tlsDir, 'cert.pem');
  const key = path.join(tlsDir, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
    '-keyout', key, '-out', cert,
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  const caFile = path.join(certDir, 'ca.crt');
  await copyFile(cert, caFile);
  return { cert, key, certDir, caFile };
}

/** bcrypt htpasswd file (Distribution accepts only bcrypt entries). */
async function makeHtpasswd(dir: string, username: string, password: string): Promise<string> {
  requireTool('htpasswd');
  const file = path.join(dir, 'htpasswd');
  await writeFile(file, await run('htpasswd', ['-Bbn', username, password]));
  return file;
}

function renderConfig(p: {
  storage: string;
  port: number;
  tls?: { cert: string; key: string };
  htpasswd?: string;
}): string {
  const q = (s: string): string => JSON.stringify(s); // a JSON string is a valid YAML scalar
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(p.storage)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false', // never touch _uploads of a storage under test
    'http:',
    `  addr: ${q(`127.0.0.1:${p.port}`)}`,
    `  secret: ${q(HTTP_SECRET)}`,
  ];
  if (p.tls) lines.push('  tls:', `    certificate: ${q(p.tls.cert)}`, `    key: ${q(p.tls.key)}`);
  if (p.htpasswd) lines.push('auth:', '  htpasswd:', '    realm: registry', `    path: ${q(p.htpasswd)}`);
  return `${lines.join('\n')}\n`;
}

function logTail(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Env for the registry without REGISTRY_* variables, which Distribution would read as config overrides. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  env.REGISTRY_HTTP_SECRET = HTTP_SECRET;
  return env;
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<void>;
  exitInfo: () => string | undefined;
}

function spawnRegistry(configFile: string, logFile: string): Spawned {
  const fd = openSync(logFile, 'w'); // one log per attempt
  let info: string | undefined;
  let child: ChildProcess;
  try {
    child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', fd, fd], env: registryEnv() });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      info = signal ? `signal ${signal}` : `exit code ${code}`;
      if (child.pid !== undefined) tellReaper(`unpid ${child.pid}`);
      resolve();
    });
    child.once('error', (err) => {
      info = `spawn error: ${err.message}`;
      resolve();
    });
  });
  if (child.pid !== undefined) tellReaper(`pid ${child.pid}`);
  return { child, exited, exitInfo: () => info };
}

async function stopChild(s: Spawned): Promise<void> {
  if (s.exitInfo() !== undefined || s.child.pid === undefined) return;
  const gone = (ms: number): Promise<boolean> =>
    Promise.race([s.exited.then(() => true), sleep(ms).then(() => false)]);
  try {
    process.kill(s.child.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  if (await gone(STOP_GRACE_MS)) return;
  try {
    process.kill(s.child.pid, 'SIGKILL');
  } catch {
    return;
  }
  await gone(STOP_GRACE_MS);
}

/** Polls GET /v2/ until it answers 200 or 401; rejects with the log tail if the process exits or time runs out. */
async function waitReady(reg: TestRegistry, s: Spawned, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    const info = s.exitInfo();
    if (info !== undefined) {
      throw new Error(`docker-registry exited during start-up (${info}); log tail:\n${logTail(logFile)}`);
    }
    try {
      const res = await registryRequest(reg, '/v2/');
      if (res.status === 200 || res.status === 401) return;
      lastError = `GET /v2/ answered ${res.status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(
    `docker-registry did not answer GET ${reg.url}/v2/ within ${READY_TIMEOUT_MS} ms (${lastError}); log tail:\n${logTail(logFile)}`,
  );
}

/** Starts docker-registry on 127.0.0.1:<free port> with temp config and storage; resolves once /v2/ answers. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  requireTool('docker-registry');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-registry-'));
  const storage = opts.storage ? path.resolve(opts.storage) : path.join(dir, 'storage');
  await mkdir(storage, { recursive: true });
  const tls = opts.tls ? await makeTls(dir) : undefined;
  const htpasswd = opts.auth ? await makeHtpasswd(dir, opts.auth.username, opts.auth.password) : undefined;
  const configFile = path.join(dir, 'config.yml');
  const logFile = path.join(dir, 'registry.log');

  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = opts.port ?? (await findFreePort());
    await writeFile(configFile, renderConfig({ storage, port, tls, htpasswd }));
    const spawned = spawnRegistry(configFile, logFile);
    if (spawned.child.pid === undefined) {
      await spawned.exited;
      throw new Error(`could not start docker-registry: ${spawned.exitInfo() ?? 'no pid'}`);
    }
    const host = `127.0.0.1:${port}`;
    const reg: TestRegistry = {
      host,
      url: `${tls ? 'https' : 'http'}://${host}`,
      dir,
      storage,
      tls: Boolean(tls),
      ...(opts.auth ? { username: opts.auth.username, password: opts.auth.password } : {}),
      ...(tls ? { certDir: tls.certDir, caFile: tls.caFile } : {}),
      pid: spawned.child.pid,
      stop: () => stopChild(spawned),
    };
    try {
      await waitReady(reg, spawned, logFile);
    } catch (err) {
      lastError = err;
      await stopChild(spawned);
      // Another process grabbed the port between findFreePort() and bind: try another one.
      // A given port may still be held by the process being replaced: wait a little and try it again.
      if (/address already in use/i.test(logTail(logFile)) && attempt < START_ATTEMPTS) {
        if (opts.port !== undefined) await sleep(1_000);
        continue;
      }
      break;
    }
    const finished = whenTestFinishes(async () => {
      await reg.stop();
      await rm(dir, { recursive: true, force: true });
    });
    if (!finished) tellReaper(`dir ${dir}`);
    return reg;
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

/** A port on 127.0.0.1 where nothing listens (bound, then closed again): an unreachable target. */
export const closedPort = findFreePort;
