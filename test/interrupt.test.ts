// SIGTERM during a sync: in-flight skopeo processes are stopped, nothing new starts, the report of
// what was done is still written, and the exit code is 143 (130 for SIGINT).
import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, copyFixture, expectedTags } from './helpers/cli.js';
import { makeTempDir, startRegistry } from './helpers/registry.js';
import { generateStorage } from '../scripts/bench/generate-storage.mjs';
import { killStrays } from './helpers/proc-watch.js';
import { expectInterruptedLastLine } from './helpers/last-line.js';

const HANG = path.resolve(import.meta.dirname, 'bin/skopeo-hang-sync.js');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Alive and not a zombie (an orphan killed after its parent exited waits for init to reap it). */
const running = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('interrupting sync', () => {
  // SIGINT's run is --verbose: it also prints a line for each image the interrupt kept from starting.
  for (const [signal, code, verbose] of [['SIGTERM', 143, false], ['SIGINT', 130, true]] as const) {
    it(`${signal} stops in-flight pushes, writes the partial report and exits ${code}${verbose ? ' (--verbose)' : ''}`, async () => {
      const reg = await startRegistry();
      try {
        const { dir, storage } = await copyFixture();
        const pids = path.join(dir, 'pids');
        const report = path.join(dir, 'report.json');
        const metrics = path.join(dir, 'rescue.prom');
        const out = path.join(storage, 'registry-rescue-export');
        const child = execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--skopeo', HANG, '--concurrency', '2', '--report', report, '--metrics-file', metrics, verbose ? '-v' : '-q'], {
          reject: false,
          env: { SKOPEO_HANG_PID_FILE: pids },
        });
        const hung = await waitFor('two pushes in flight', async () => {
          const list = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
          return list.length >= 2 ? list : undefined;
        });
        child.kill(signal);
        const r = await child;
        expect(r.exitCode, String(r.stderr)).toBe(code);
        expect(String(r.stderr)).toContain(`interrupted by ${signal}`);
        for (const pid of hung) await waitFor(`skopeo ${pid} to end`, async () => (alive(pid) ? undefined : true), 15_000);
        // No further push started after the signal.
        expect((await readFile(pids, 'utf8')).trim().split('\n')).toHaveLength(hung.length);
        const doc = JSON.parse(await readFile(report, 'utf8'));
        const statuses = doc.images.map((i: { status: string }) => i.status);
        expect(statuses.filter((s: string) => s === 'canceled').length).toBeGreaterThanOrEqual(2);
        expect(statuses).not.toContain('synced');
        expect(doc.interrupted).toBe(true);
        expect((await stat(report)).isFile()).toBe(true);
        // The ending says what was done and that re-running continues, as the last line every run ends with.
        expectInterruptedLastLine(String(r.stderr), signal, doc);
        // A line for each push the signal stopped; the images it kept from starting are counted, not listed
        // (but with --verbose).
        const notStarted = doc.images.filter((i: { code?: string }) => i.code === 'not-started').length;
        expect(notStarted, 'images the interrupt kept from starting').toBeGreaterThan(0);
        const canceledLines = String(r.stdout).match(/^\S+Z canceled /gm)?.length;
        const canceled = statuses.filter((s: string) => s === 'canceled').length;
        expect(canceledLines).toBe(verbose ? canceled : canceled - notStarted);
        expect(String(r.stdout).match(/before this image started/g)?.length ?? 0).toBe(verbose ? notStarted : 0);
        // The lock is released, this run's staging is gone, the metrics say how the run ended.
        await expect(stat(path.join(out, '.registry-rescue.lock'))).rejects.toThrow(/ENOENT/);
        expect(await readdir(path.join(storage, '.registry-rescue-export.registry-rescue-staging')).catch(() => [])).toEqual([]);
        const prom = await readFile(metrics, 'utf8');
        expect(prom).toMatch(new RegExp(`^registry_rescue_last_run_exit_code\\{command="sync"\\} ${code}$`, 'm'));
        expect(prom).toMatch(/^registry_rescue_last_run_success\{command="sync"\} 0$/m);
        // The next run finishes the job with the real skopeo.
        const next = await execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--report', report, '-q'], { reject: false });
        expect(next.exitCode, String(next.stderr)).toBe(4); // the fixture's broken tags
        const after = new Map<string, string>(JSON.parse(await readFile(report, 'utf8')).images.map((i: { id: string; status: string }) => [i.id, i.status]));
        const stopped = doc.images.filter((i: { status: string }) => i.status === 'canceled').map((i: { id: string }) => i.id);
        expect(stopped.length).toBeGreaterThan(0);
        // Every image the interrupt stopped is pushed now, but for the fixture's corrupt layer, which skopeo refuses.
        const corrupt = new Set((await expectedTags()).filter((t) => t.problemCode === 'blob-digest-mismatch').map((t) => `${t.repository}:${t.tag}`));
        for (const id of stopped) expect(corrupt.has(id) ? ['failed'] : ['synced', 'up-to-date'], id).toContain(after.get(id));
      } finally {
        await reg.stop();
      }
    });
  }

  it('a second SIGINT exits at once, and the private auth file is still removed', async () => {
    const reg = await startRegistry();
    try {
      const { dir, storage } = await copyFixture();
      const pids = path.join(dir, 'pids');
      const tmp = path.join(dir, 'tmp');
      await mkdir(tmp);
      const child = execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--skopeo', HANG, '-q'], {
        reject: false,
        // The auth file goes to os.tmpdir(): a private one shows exactly what this run left behind.
        // The push ignores SIGTERM: after the first SIGINT the run waits for it (up to 10 s), the second ends it.
        env: { SKOPEO_HANG_PID_FILE: pids, SKOPEO_HANG_IGNORE_TERM: '1', TMPDIR: tmp, REGISTRY_RESCUE_USERNAME: 'rescue', REGISTRY_RESCUE_PASSWORD: 'not-needed-here' },
      });
      const hung = await waitFor('a push in flight', async () => ((await readFile(pids, 'utf8')).trim() ? (await readFile(pids, 'utf8')).trim().split('\n').map(Number) : undefined));
      expect((await readdir(tmp)).filter((n) => n.startsWith('registry-rescue-auth-'))).toHaveLength(1);
      child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 500));
      expect(child.exitCode).toBeNull();
      const second = Date.now();
      child.kill('SIGINT');
      const r = await child;
      expect(r.exitCode).toBe(130);
      expect(Date.now() - second).toBeLessThan(3_000);
      expect((await readdir(tmp)).filter((n) => n.startsWith('registry-rescue-auth-'))).toEqual([]);
      // The push ignored SIGTERM: the hard exit killed it outright.
      try {
        for (const pid of hung) await waitFor(`skopeo ${pid} to be killed`, async () => (running(pid) ? undefined : true), 2_000);
      } finally {
        for (const pid of hung) if (alive(pid)) process.kill(pid, 'SIGKILL');
        await killStrays(storage); // and one started after the pid file was read
      }
    } finally {
      await reg.stop();
    }
  });

  it('a second signal exits at once and still replaces last night\'s metrics with the interrupted run\'s', async () => {
    const reg = await startRegistry();
    try {
      const { dir, storage } = await copyFixture();
      const pids = path.join(dir, 'pids');
      const metrics = path.join(dir, 'rescue.prom');
      // Last night's good run: the record a monitor must no longer see once this run is interrupted.
      await writeFile(metrics, 'registry_rescue_last_run_success{command="sync"} 1\nregistry_rescue_last_run_exit_code{command="sync"} 0\n');
      const child = execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--skopeo', HANG, '--metrics-file', metrics, '-q'], {
        reject: false,
        // The push ignores SIGTERM: after the first signal the run waits for it, the second ends it at once.
        env: { SKOPEO_HANG_PID_FILE: pids, SKOPEO_HANG_IGNORE_TERM: '1' },
      });
      const hung = await waitFor('a push in flight', async () => ((await readFile(pids, 'utf8')).trim() ? (await readFile(pids, 'utf8')).trim().split('\n').map(Number) : undefined));
      try {
        child.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 500));
        expect(child.exitCode).toBeNull();
        // Another signal than the first: the file must carry the code the process exits with, the second's.
        child.kill('SIGINT');
        const r = await child;
        expect(r.exitCode).toBe(130);
        // The log's last line still names the outcome (README, Exit codes), though no summary is written.
        expect(String(r.stderr).trimEnd().split('\n').at(-1)).toBe(
          'registry-rescue: exit 130, interrupted by SIGINT, a second signal: stopped at once, skopeo processes killed, no summary or report written; run the same command again to continue',
        );
        const prom = await readFile(metrics, 'utf8');
        expect(prom).toMatch(/^registry_rescue_last_run_exit_code\{command="sync"\} 130$/m);
        expect(prom).toMatch(/^registry_rescue_last_run_success\{command="sync"\} 0$/m);
        expect(prom).toMatch(/^registry_rescue_last_run_end_timestamp_seconds\{command="sync"\} \d/m);
        // Written atomically: no temp file is left beside it.
        expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      } finally {
        for (const pid of hung) if (alive(pid)) process.kill(pid, 'SIGKILL');
        await killStrays(storage);
      }
    } finally {
      await reg.stop();
    }
  });
});

describe('an interrupt before the walk of the storage ended', () => {
  it('says how many selected tags the run never reached, apart from those it read but did not push', async () => {
    const TAGS = 1000;
    const reg = await startRegistry();
    const dir = await makeTempDir('rr-int-walk-');
    const storage = path.join(dir, 'storage');
    const { tagsFile: every } = generateStorage({ dir: storage, tags: TAGS, seed: 5 });
    // Every second tag: the tags file leaves out half of what the walk reads.
    const half = path.join(dir, 'half.tags');
    await writeFile(half, (await readFile(every, 'utf8')).split('\n').filter((_, i) => i % 2 === 1).map((l) => `${l}\n`).join(''));
    const pids = path.join(dir, 'pids');
    await writeFile(pids, '');
    const report = path.join(dir, 'report.json');
    const child = execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--skopeo', HANG, '--concurrency', '2', '--report', report, '--tags-file', half], {
      reject: false,
      env: { SKOPEO_HANG_PID_FILE: pids },
    });
    try {
      await waitFor('two pushes in flight', async () => ((await readFile(pids, 'utf8')).trim().split('\n').length >= 2 ? true : undefined));
      child.kill('SIGTERM');
      const r = await child;
      const stderr = String(r.stderr);
      expect(r.exitCode, stderr).toBe(143);
      const doc = JSON.parse(await readFile(report, 'utf8'));
      expect(doc.interrupted).toBe(true);
      // The walk read part of the storage (list's counting: selection.tagsInStorage is what it read): every tag it
      // read has an image in the report (canceled ones included: read, not pushed) or is counted as never reached.
      const read = doc.selection.tagsInStorage as number;
      expect(read).toBeLessThan(TAGS);
      expect(doc.summary.walkComplete).toBe(false);
      expect(doc.summary.notReached).toBeGreaterThanOrEqual(0);
      expect(doc.images.length + doc.summary.notReached).toBe(read - doc.selection.filteredOut);
      expect(doc.images.filter((i: { status: string }) => i.status === 'canceled').length).toBe(doc.images.length);
      // The text says the same, apart from the canceled count.
      expect(stderr).toMatch(/^\d+ synced, .*, \d+ canceled; /m);
      const listed = doc.summary.notReached > 0 ? `${doc.summary.notReached} selected tag${doc.summary.notReached === 1 ? '' : 's'} the walk had listed, and ` : '';
      expect(stderr).toContain(`never reached: ${listed}every tag the walk had not come to (the walk read ${read} tags before the run stopped;`);
      // The tags the tags file left out are among those read, not the storage's, which the run did not read whole.
      expect(doc.selection.filteredOut).toBeGreaterThan(0);
      expect(stderr).toContain(`\n${doc.selection.filteredOut} tags read left out by the tags file or --exclude\n`);
      expect(stderr).not.toContain('in storage');
      expectInterruptedLastLine(stderr, 'SIGTERM', doc);
    } finally {
      if (child.pid !== undefined && alive(child.pid)) child.kill('SIGKILL');
      await killStrays(storage);
    }
    // A run whose walk ended reached every tag: the same fields say so.
    const whole = await execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--dry-run', '--report', report], { reject: false });
    expect(whole.exitCode, String(whole.stderr)).toBe(0);
    const dry = JSON.parse(await readFile(report, 'utf8'));
    expect(dry.summary.walkComplete).toBe(true);
    expect(dry.summary.notReached).toBe(0);
    expect(dry.images).toHaveLength(TAGS);
    expect(String(whole.stderr)).not.toContain('never reached');
  }, 120_000);
});

describe('after SIGKILL', () => {
  it('the next run takes over the dead run\'s lock, sweeps its staging, and finishes the job', async () => {
    const reg = await startRegistry();
    try {
      const { dir, storage } = await copyFixture();
      const pids = path.join(dir, 'pids');
      const out = path.join(storage, 'registry-rescue-export');
      const child = execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--skopeo', HANG, '-q'], {
        reject: false,
        env: { SKOPEO_HANG_PID_FILE: pids },
      });
      const hung = await waitFor('a push in flight', async () => ((await readFile(pids, 'utf8')).trim() ? (await readFile(pids, 'utf8')).trim().split('\n').map(Number) : undefined));
      child.kill('SIGKILL');
      await child;
      for (const pid of hung) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await killStrays(storage); // fakes spawned after the pid file was read
      // Killed outright: its lock and its staging directory are left behind.
      expect((await stat(path.join(out, '.registry-rescue.lock'))).isFile()).toBe(true);
      const report = path.join(dir, 'report.json');
      const next = await execa('node', [BIN, 'sync', storage, '--to', reg.host, '--dest-tls-verify=false', '--report', report], { reject: false });
      expect(next.exitCode, String(next.stderr)).toBe(4); // the fixture's broken tags
      expect(String(next.stderr)).toMatch(new RegExp(`warning: .*${child.pid}`));
      expect(String(next.stderr)).toMatch(/removed 1 staging directory/);
      const doc = JSON.parse(await readFile(report, 'utf8'));
      const counts = doc.summary.counts;
      const ok = (await expectedTags()).filter((t) => t.status === 'ok').length;
      expect(counts.synced + counts['up-to-date']).toBe(ok);
      await expect(stat(path.join(out, '.registry-rescue.lock'))).rejects.toThrow(/ENOENT/);
    } finally {
      await reg.stop();
    }
  });
});
