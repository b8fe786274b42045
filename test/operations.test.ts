// Unattended runs from cron: one run per output directory (exit 75), stale locks taken over, shards that
// split the storage without overlap, Prometheus metrics (also of a run that could not start), options from
// the environment, tags-file mistakes that fail the run, and the circuit breaker when the target goes away.
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it, onTestFinished } from 'vitest';
import { compareTagRefs } from '../src/core/order.js';
import { CHECK_CONCURRENCY } from '../src/run-sync.js';
import { execa } from 'execa';
import { generateStorage } from '../scripts/bench/generate-storage.mjs';
import { BIN, cli, copyFixture, expectedTags, ROOT } from './helpers/cli.js';
import { findFreePort, makeTempDir, startRegistry } from './helpers/registry.js';
import { idOf, RECORD_BIN } from './helpers/sync.js';

const LOCK = '.registry-rescue.lock';

/** A process that takes the lock on `dir` through the real module and holds it until killed. */
async function holdLock(dir: string): Promise<{ pid: number; stop(): void }> {
  const script = `import { acquireRunLock } from ${JSON.stringify(path.join(ROOT, 'dist/output/run-lock.js'))};
await acquireRunLock(${JSON.stringify(dir)}, { command: 'sync' });
process.stdout.write('held\\n');
setInterval(() => {}, 1e6);`;
  const child = spawn('node', ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    child.on('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  const stop = () => void child.kill('SIGKILL');
  onTestFinished(stop);
  return { pid: child.pid as number, stop };
}

describe('one run per output directory', () => {
  it('a second export exits 75 naming the holder; --wait-lock waits, then gives up the same way', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    await mkdir(out);
    const holder = await holdLock(out);
    const r = await cli(['export', storage, '--out', out, '-q']);
    expect(r.exitCode, r.stderr).toBe(75);
    // README, Exit codes: a run that could not start ends `registry-rescue: exit N, <reason>` too.
    expect(r.stderr).toMatch(new RegExp(`^registry-rescue: exit 75, another registry-rescue sync \\(pid ${holder.pid} on [^,]+, started [^)]+\\) holds the lock on ${out}/${LOCK}`, 'm'));
    const waited = await cli(['export', storage, '--out', out, '-q', '--wait-lock', '1s']);
    expect(waited.exitCode).toBe(75);
    expect(waited.stderr).toContain('waited');
    // A dry run writes nothing, so it takes no lock.
    expect((await cli(['export', storage, '--out', out, '--dry-run', '-q'])).exitCode).toBe(4);
  });

  it('a sync that finds the lock held exits 75 at once: no credentials read, the target never contacted', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    const holder = await holdLock(out);
    // Nothing listens there: contacting the target first would end in exit 3 (unreachable), after its retries.
    const port = await findFreePort();
    const r = await cli(['sync', storage, '--to', `127.0.0.1:${port}`, '--out', out, '--retries', '0'], {
      env: { REGISTRY_RESCUE_USERNAME: 'u', REGISTRY_RESCUE_PASSWORD: 'p' },
    });
    expect(r.exitCode, r.stderr).toBe(75);
    expect(r.stderr).toMatch(new RegExp(`another registry-rescue sync \\(pid ${holder.pid} on [^,]+, started [^)]+\\) holds the lock on ${out}/${LOCK}`));
    expect(r.stderr).not.toContain('using credentials');
    // The first line names the target the run is for; nothing after it does (no "cannot reach", no retry).
    const [first, ...after] = r.stderr.split('\n');
    expect(first).toMatch(new RegExp(`^\\S+Z sync .* -> 127\\.0\\.0\\.1:${port}, layouts in `));
    expect(after.join('\n')).not.toContain(`127.0.0.1:${port}`);
  });

  it('with --wait-lock, a sync waits for the lock before it reads credentials or contacts the target', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    // A target on 127.0.0.1 that notes when it is first asked, and answers 503 (exit 3 once asked, with --retries 0).
    let firstRequestAt: number | undefined;
    const target = http.createServer((_req, res) => {
      firstRequestAt ??= Date.now();
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => void target.close());
    const to = `127.0.0.1:${(target.address() as AddressInfo).port}`;
    const sync = (wait: string) =>
      cli(['sync', storage, '--to', to, '--out', out, '--dest-tls-verify=false', '--retries', '0', '--wait-lock', wait, '-q'], {
        env: { REGISTRY_RESCUE_USERNAME: 'u', REGISTRY_RESCUE_PASSWORD: 'p' },
      });
    // The holder keeps the lock past the wait: 75, and the target never heard of this run.
    const holder = await holdLock(out);
    const gaveUp = await sync('1s');
    expect(gaveUp.exitCode, gaveUp.stderr).toBe(75);
    expect(gaveUp.stderr).toContain('waited 1 s for it');
    expect(gaveUp.stderr).not.toContain('using credentials');
    expect(firstRequestAt).toBeUndefined();
    // The holder finishes during the wait: the target is asked only after that.
    const waiting = sync('30s');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(firstRequestAt).toBeUndefined();
    const releasedAt = Date.now();
    holder.stop();
    const r = await waiting;
    expect(r.exitCode, r.stderr).toBe(3); // the 503
    expect(firstRequestAt).toBeGreaterThanOrEqual(releasedAt);
  });

  it('with --wait-lock, a sync waits at most that long in all, also when a third run takes the lock after the first wait', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    // A plain registry on 127.0.0.1 whose first request (sync's /v2/ check, after the first wait) has a third run take
    // the lock before it is answered: openExport then finds the lock held again.
    let third: Promise<unknown> | undefined;
    const target = http.createServer((req, res) => {
      third ??= holdLock(out);
      void third.then(() => {
        if (req.url === '/v2/') res.writeHead(200, { 'Docker-Distribution-Api-Version': 'registry/2.0' }).end('{}');
        else res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => void target.close());
    const to = `127.0.0.1:${(target.address() as AddressInfo).port}`;
    const first = await holdLock(out);
    const started = Date.now();
    const waiting = cli(['sync', storage, '--to', to, '--out', out, '--dest-tls-verify=false', '--retries', '0', '--wait-lock', '10s', '-q']);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    first.stop();
    const r = await waiting;
    const took = Date.now() - started;
    expect(r.exitCode, r.stderr).toBe(75);
    expect(third).toBeDefined();
    expect(r.stderr).toContain('waited 10 s for it');
    // One 10 s budget: about 10 s (plus starting node; 10.8 s at a load of 7), where two waits took 4 s + 10 s and more.
    expect(took, `${took} ms`).toBeLessThan(13_500);
  });

  it('a lock left by a dead process is taken over with a warning, and released at the end', async () => {
    const { dir, storage } = await copyFixture();
    const out = path.join(dir, 'out');
    const holder = await holdLock(out);
    holder.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const r = await cli(['export', storage, '--out', out]);
    expect(r.exitCode, r.stderr).toBe(4); // the fixture's broken tags
    expect(r.stderr).toMatch(new RegExp(`warning: .*${holder.pid}`));
    await expect(readFile(path.join(out, LOCK))).rejects.toThrow(/ENOENT/);
  });
});

describe('--shard K/N', () => {
  it('the shards are disjoint, keep each repository whole, and together are the whole storage', async () => {
    const { storage } = await copyFixture();
    const all = JSON.parse((await cli(['list', storage, '--json'])).stdout).images.map(idOf) as string[];
    const seen: string[] = [];
    const repoShard = new Map<string, number>();
    for (let k = 1; k <= 3; k++) {
      const r = await cli(['list', storage, '--json', '--shard', `${k}/3`]);
      const doc = JSON.parse(r.stdout);
      for (const image of doc.images) {
        seen.push(idOf(image));
        expect(repoShard.get(image.repository) ?? k, image.repository).toBe(k);
        repoShard.set(image.repository, k);
      }
      expect(doc.summary.tags).toBe(doc.images.length);
    }
    expect([...seen].sort()).toEqual([...all].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(repoShard.values()).size).toBeGreaterThan(1);
  });

  it('refuses a shard that does not exist', async () => {
    const { storage } = await copyFixture();
    const r = await cli(['list', storage, '--shard', '4/3']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--shard');
  });
});

describe('--metrics-file', () => {
  it('writes Prometheus text that a parser reads, with the run\'s counts and exit code', async () => {
    const { dir, storage } = await copyFixture();
    const metrics = path.join(dir, 'rescue.prom');
    const r = await cli(['export', storage, '--out', path.join(dir, 'out'), '-q', '--verify-blobs', '--metrics-file', metrics, '--shard', '1/1']);
    expect(r.exitCode, r.stderr).toBe(4);
    const families = parsePrometheusTextFormat(await readFile(metrics, 'utf8'));
    const value = (name: string, labels: Record<string, string> = {}) =>
      Number(families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
    const expected = await expectedTags();
    expect(value('registry_rescue_last_run_exit_code')).toBe(4);
    expect(value('registry_rescue_last_run_success')).toBe(0);
    expect(value('registry_rescue_images', { status: 'broken' })).toBe(expected.filter((t) => t.status === 'broken').length);
    expect(value('registry_rescue_tags_in_storage')).toBe(expected.length);
    expect(families.find((f) => f.name === 'registry_rescue_last_run_success')?.metrics[0]?.labels).toMatchObject({ command: 'export', shard: '1/1' });
  });

  // Before, such a run left the file as the previous run wrote it: success 1, and an alert on it stayed quiet.
  it('a run that fails before its images (the lock held, the target unreachable, an option refused) still writes it: success 0, its exit code', async () => {
    const { dir, storage } = await copyFixture();
    const metrics = path.join(dir, 'rescue.prom');
    const out = path.join(dir, 'out');
    const tags = path.join(dir, 'ok.tags');
    await writeFile(tags, (await expectedTags()).filter((t) => t.status === 'ok' && t.kind === 'image').map(idOf).join('\n') + '\n');
    const read = async () => {
      const families = parsePrometheusTextFormat(await readFile(metrics, 'utf8'));
      const value = (name: string, labels: Record<string, string> = {}) =>
        Number(families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
      return { success: value('registry_rescue_last_run_success'), exit: value('registry_rescue_last_run_exit_code'), synced: value('registry_rescue_images', { status: 'synced' }), command: families[0]?.metrics[0]?.labels?.command };
    };
    const ok = await cli(['export', storage, '--out', out, '-q', '--tags-file', tags, '--metrics-file', metrics]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(await read()).toMatchObject({ success: 1, exit: 0, command: 'export' });

    const holder = await holdLock(out);
    const locked = await cli(['export', storage, '--out', out, '-q', '--tags-file', tags, '--metrics-file', metrics]);
    expect(locked.exitCode).toBe(75);
    expect(await read()).toMatchObject({ success: 0, exit: 75, command: 'export' });
    holder.stop();

    // Nothing listens on this loopback port.
    const port = await findFreePort();
    const unreachable = await cli(['sync', storage, '--to', `127.0.0.1:${port}`, '--dest-tls-verify=false', '--out', out, '-q', '--tags-file', tags, '--retries', '0', '--metrics-file', metrics]);
    expect(unreachable.exitCode, unreachable.stderr).toBe(3);
    expect(unreachable.stderr).toContain(`127.0.0.1:${port}`);
    expect(await read()).toEqual({ success: 0, exit: 3, synced: 0, command: 'sync' });

    // A typo in the crontab: commander refuses the option before the command runs. Success 1 again first.
    expect((await cli(['export', storage, '--out', out, '-q', '--tags-file', tags, '--metrics-file', metrics])).exitCode).toBe(0);
    const typo = await cli(['sync', storage, '--to', `127.0.0.1:${port}`, '--metrics-file', metrics, '--concurency', '8']);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toContain("unknown option '--concurency'");
    expect(await read()).toEqual({ success: 0, exit: 2, synced: 0, command: 'sync' });
    // The file named in the environment, a value refused while the command line is read (before the environment).
    const badChoice = await cli(['export', storage, '--out', out, '--link', 'weird'], { env: { REGISTRY_RESCUE_METRICS_FILE: metrics } });
    expect(badChoice.exitCode).toBe(2);
    expect(await read()).toMatchObject({ success: 0, exit: 2, command: 'export' });
    // list has no metrics file: its refusal writes none.
    await rm(metrics);
    expect((await cli(['list', storage, '--bogus'], { env: { REGISTRY_RESCUE_METRICS_FILE: metrics } })).exitCode).toBe(2);
    await expect(readFile(metrics)).rejects.toThrow(/ENOENT/);
  });
});

describe('a dry run and the metrics file', () => {
  // Before, a preview run by hand with the nightly environment replaced a failed night's success 0 with its own 1.
  it('leaves the file as the last real run wrote it, and says so', async () => {
    const { dir, storage } = await copyFixture();
    const metrics = path.join(dir, 'rescue.prom');
    const out = path.join(dir, 'out');
    const failed = await cli(['export', storage, '--out', out, '-q', '--metrics-file', metrics]);
    expect(failed.exitCode, failed.stderr).toBe(4); // the fixture's broken tags
    // The log's last line names the outcome (README "Exit codes").
    expect(failed.stderr).toMatch(/\nregistry-rescue: exit 4, partial: \d+ broken \(see above\)$/); // cli() strips the final newline
    const written = await readFile(metrics, 'utf8');
    expect(written).toMatch(/^registry_rescue_last_run_success\{command="export"\} 0$/m);
    const env = { REGISTRY_RESCUE_METRICS_FILE: metrics };
    const tags = path.join(dir, 'ok.tags');
    await writeFile(tags, (await expectedTags()).filter((t) => t.status === 'ok' && t.kind === 'image').map(idOf).join('\n') + '\n');
    for (const args of [
      ['export', storage, '--out', out, '--dry-run', '-q', '--tags-file', tags],
      ['sync', storage, '--to', '127.0.0.1:1', '--dest-tls-verify=false', '--out', out, '--dry-run', '-q', '--tags-file', tags],
    ]) {
      const r = await cli(args, { env });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/\nregistry-rescue: exit 0, done$/);
      expect(r.stderr).toContain(`note: --dry-run leaves the metrics file ${metrics} as the last real run wrote it`);
      expect(await readFile(metrics, 'utf8'), args[0]).toBe(written);
    }
  });
});

describe('what goes to standard error', () => {
  it('a text run ends with its summary on stderr, a --json run with none, and the README says which', async () => {
    const { dir, storage } = await copyFixture();
    const text = await cli(['list', storage]);
    expect(text.stderr).toMatch(/tags in storage, \d+ selected: /);
    expect(text.stderr).toMatch(/^registry-rescue: exit 4, /m);
    for (const args of [['list', storage, '--json'], ['export', storage, '--out', path.join(dir, 'out'), '--json']]) {
      const r = await cli(args);
      expect(r.exitCode, args.join(' ')).toBe(4);
      expect(JSON.parse(r.stdout).summary.counts, args.join(' ')).toBeDefined();
      expect(r.stderr, args.join(' ')).not.toMatch(/tags in storage|registry-rescue: exit/);
    }
    // The README's sentence about stderr must not promise a summary "for every command", and must name --json.
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const commands = readme.slice(readme.indexOf('## Commands'), readme.indexOf('### `list <storage>`'));
    expect(commands).not.toMatch(/closing summary go to standard error, for every command/);
    expect(commands).toMatch(/With `--json`[^.]*no closing summary on standard error/);
  });
});

describe('options from the environment', () => {
  it('REGISTRY_RESCUE_<OPTION> sets an option, the command line wins, and a flag set to false stays off', async () => {
    const { dir, storage } = await copyFixture();
    const env = { REGISTRY_RESCUE_FORMAT: 'tags', REGISTRY_RESCUE_EXCLUDE: 'library/**' };
    const fromEnv = await cli(['list', storage, '-q'], { env });
    const lines = fromEnv.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => /^[^\s]+:[^\s]+$/.test(l) && !l.startsWith('library/'))).toBe(true);
    const cliWins = await cli(['list', storage, '-q', '--format', 'table'], { env });
    expect(cliWins.stdout).toMatch(/^STATUS /);
    const out = path.join(dir, 'out');
    const notDry = await cli(['export', storage, '--out', out, '-q'], { env: { REGISTRY_RESCUE_DRY_RUN: 'false' } });
    expect(notDry.exitCode).toBe(4);
    expect((await readFile(path.join(out, 'proj/a/app:1.0/manifest.json'))).length).toBeGreaterThan(0);
    const help = await cli(['sync', '--help']);
    expect(help.stdout).toContain('REGISTRY_RESCUE_<OPTION>');
  });
});

describe('tags-file mistakes fail the run', () => {
  it('a malformed line is a usage error naming file and line; a typo or an empty selection is exit 4 with a suggestion', async () => {
    const { dir, storage } = await copyFixture();
    const bad = path.join(dir, 'bad.tags');
    await writeFile(bad, 'proj/a/app:1.0\ncharts/mychart 0.1.0\napp:1.0:extra\n');
    const r = await cli(['list', storage, '--tags-file', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('bad.tags:2: "charts/mychart 0.1.0" is not repository[:tag]');
    expect(r.stderr).toContain('bad.tags:3:');

    const typo = path.join(dir, 'typo.tags');
    await writeFile(typo, 'proj/a/app:1.0\nlibary/alpine-like:3.19\n');
    const t = await cli(['export', storage, '--out', path.join(dir, 'out'), '--tags-file', typo, '--dry-run']);
    expect(t.exitCode).toBe(4);
    expect(t.stderr).toContain('MISSING: typo.tags:2: libary/alpine-like:3.19 is not in the storage (did you mean library/alpine-like:3.19?)');

    const none = path.join(dir, 'none.tags');
    await writeFile(none, 'proj/a/app:1.0\n');
    const n = await cli(['list', storage, '--tags-file', none, '--exclude', 'proj/**']);
    expect(n.exitCode).toBe(4);
    expect(n.stderr).toContain('nothing selected');

    const digest = (await expectedTags()).find((x) => idOf(x) === 'proj/a/app:1.0')?.digest as string;
    const byDigest = path.join(dir, 'digest.tags');
    await writeFile(byDigest, `proj/a/app@${digest}\n`);
    const d = JSON.parse((await cli(['list', storage, '--json', '--tags-file', byDigest])).stdout);
    expect(d.images.length).toBeGreaterThan(0);
    expect(d.images.every((i: { digest: string; repository: string }) => i.digest === digest && i.repository === 'proj/a/app')).toBe(true);
  });
});

describe('streamed output', () => {
  it('on a generated tree of 400 tags, every output streams the same images in the same tree order as sorting all of them would', async () => {
    const dir = await makeTempDir('rr-order-');
    await generateStorage({ dir, tags: 400, seed: 3 });
    const list = JSON.parse((await cli(['list', dir, '--json', '-q'])).stdout).images;
    expect(list).toHaveLength(400);
    const sorted = [...list].sort(compareTagRefs);
    expect(list.map(idOf)).toEqual(sorted.map(idOf));
    // What collecting and sorting would have given, field for field.
    expect(list).toEqual(sorted);
    const tags = (await cli(['list', dir, '--format', 'tags', '-q'])).stdout.trim().split('\n');
    expect(tags).toEqual(list.filter((i: { status: string }) => i.status === 'ok').map(idOf));
    const exported = JSON.parse((await cli(['export', dir, '--out', path.join(dir, 'out'), '--dry-run', '--json'])).stdout).images;
    expect(exported.map(idOf)).toEqual(list.map(idOf));
  });


  it('list writes images in tree order as they are decided, the same in JSON and text', async () => {
    const { storage } = await copyFixture();
    const doc = JSON.parse((await cli(['list', storage, '--json'])).stdout);
    const ids = doc.images.map(idOf);
    const sorted = [...doc.images].sort(compareTagRefs).map(idOf);
    expect(ids).toEqual(sorted);
    expect([...ids].sort()).toEqual((await expectedTags()).map(idOf).sort());
    const text = (await cli(['list', storage])).stdout.split('\n').filter((l) => /^(ok|broken|skipped) /.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(text).toEqual(ids);
  });
});

describe('circuit breaker', () => {
  it('after N images in a row cannot reach the target, no more pushes start: the rest are not-attempted, exit 4', async () => {
    // A stand-in target that answers the preflight ping, then stops listening, as a registry that goes away mid-run.
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' });
      res.on('finish', () => {
        if (req.url !== '/v2/') return;
        server.close();
        server.closeAllConnections();
      });
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => void server.close());
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    // More images than checks run at once (CHECK_CONCURRENCY), so most are never attempted.
    const dir = await makeTempDir('rr-breaker-');
    const storage = path.join(dir, 'storage');
    generateStorage({ dir: storage, tags: 100, seed: 5 });
    const report = path.join(dir, 'report.json');
    const r = await cli(['sync', storage, '--to', host, '--dest-tls-verify=false', '--retries', '0', '--breaker', '3', '--concurrency', '1', '--report', report, '--skopeo', RECORD_BIN], {
      env: { SKOPEO_RECORD_FILE: path.join(dir, 'record') },
    });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/circuit breaker: .* has been unreachable since \d{4}-\d\d-\d\dT/);
    const doc = JSON.parse(await readFile(report, 'utf8'));
    const statuses = doc.images.map((i: { status: string }) => i.status) as string[];
    // The breaker trips on the third unreachable image; checks (HEADs) already in flight then end as failed too
    // (they did try), and nothing starts after it: at most CHECK_CONCURRENCY more.
    const failed = statuses.filter((s) => s === 'failed').length;
    expect(failed).toBeGreaterThanOrEqual(3);
    expect(failed).toBeLessThanOrEqual(3 + CHECK_CONCURRENCY);
    expect(statuses.filter((s) => s === 'not-attempted').length).toBeGreaterThanOrEqual(100 - 3 - CHECK_CONCURRENCY);
    expect(doc.summary.stoppedEarly).toMatch(/unreachable since/);
    expect(r.stderr).toMatch(/^stopped early: /m);
    expect(r.stderr).toMatch(/\d+ × not-attempted \(not-attempted\)/);
    // The last line names the cause briefly; the report says it once, in summary.stoppedEarly, and stoppedBy as a word.
    expect(r.stderr.split('\n').at(-1)).toMatch(/^registry-rescue: exit 4, partial: \d+ failed, \d+ not-attempted; stopped: target unreachable \(see above\)$/);
    expect(doc.summary.stoppedBy).toBe('target-unreachable');
    expect(doc.images.filter((i: { status: string; reason: string }) => i.status === 'not-attempted' && /unreachable since/.test(i.reason))).toEqual([]);
    // Nothing was pushed: the HEAD before each push already failed.
    await expect(readFile(path.join(dir, 'record'))).rejects.toThrow(/ENOENT/);
  });
});

describe('reading stops when the output closes', () => {
  it('list … | head returns once head has its lines: the walk stops far short of the whole storage', async () => {
    const dir = await makeTempDir('rr-head-');
    const total = 1500;
    await generateStorage({ dir, tags: total, seed: 7 });
    const cmd = `node ${JSON.stringify(BIN)} list ${JSON.stringify(dir)} --format tags | head -n 3`;
    const r = await execa('bash', ['-o', 'pipefail', '-c', cmd], { reject: false });
    expect(String(r.stdout).split('\n')).toHaveLength(3);
    // stderr says the run stopped and how far it went, and gives no summary of the storage: it was not all read.
    const read = Number(/^\S+Z stopped when the output closed after \S+: (\d+) images checked/m.exec(String(r.stderr))?.[1]);
    expect(read, String(r.stderr)).toBeGreaterThan(0);
    expect(read).toBeLessThan(total / 3);
    expect(String(r.stderr)).not.toMatch(/tags in storage|^\S+Z done after/m);
  });
});

describe('sync results stream as they happen', () => {
  it('the first image\'s line is written before the last push starts, with its time, off a terminal', async () => {
    const reg = await startRegistry();
    onTestFinished(() => reg.stop());
    const { dir, storage } = await copyFixture();
    const details = path.join(dir, 'details.jsonl');
    const tags = path.join(dir, 'three.tags');
    await writeFile(tags, 'proj/a/app:1.0\nproj/b/app:1.0\nlibrary/alpine-like:3.19\n');
    const r = await cli(['sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--tags-file', tags, '--concurrency', '1', '--skopeo', RECORD_BIN], {
      env: { SKOPEO_RECORD_DETAILS_FILE: details, SKOPEO_RECORD_DELAY_MS: '300' },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const synced = [...r.stdout.matchAll(/^(\S+Z) synced +(\S+) -> /gm)].map((m) => ({ at: Date.parse(m[1] as string), id: m[2] }));
    expect(synced).toHaveLength(3);
    const starts = (await readFile(details, 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'start' && e.argv.includes('sync'));
    expect(starts).toHaveLength(3);
    const lastStart = Math.max(...starts.map((e: { at: number }) => e.at));
    expect(Math.min(...synced.map((s) => s.at))).toBeLessThan(lastStart);
  });
});

describe('a walk cut short says nothing is missing', () => {
  it('list --tags-file … | head reports no listed tag as missing from the storage (the walk did not reach them)', async () => {
    const dir = await makeTempDir('rr-head-');
    await generateStorage({ dir, tags: 1500, seed: 11 });
    // Every tag is listed; those the walk never reached before head closed the pipe are not missing.
    const cmd = `node ${JSON.stringify(BIN)} list ${JSON.stringify(dir)} --tags-file ${JSON.stringify(path.join(dir, 'every.tags'))} | head -n 2`;
    const r = await execa('bash', ['-o', 'pipefail', '-c', cmd], { reject: false });
    expect(String(r.stdout).split('\n')).toHaveLength(2);
    const read = Number(/stopped when the output closed after \S+: (\d+) images checked/.exec(String(r.stderr))?.[1]);
    expect(read, String(r.stderr)).toBeLessThan(1500);
    expect(String(r.stderr)).not.toContain('MISSING');
    expect(String(r.stderr)).not.toContain('nothing selected');
  });
});
