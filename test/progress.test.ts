// The progress renderer: plain timestamped lines off a terminal (cron), one live line on it that never wraps.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { makeTempDir } from './helpers/registry.js';
import { describe, expect, it } from 'vitest';
import type { ExportResult, ProgressEvent } from '../src/core/events.js';
import type { SyncResult } from '../src/core/sync-plan.js';
import { decideColor } from '../src/report/color.js';
import { formatByteRate, formatElapsed, formatImageRate, formatLiveLine, visibleWidth, type ProgressSnapshot } from '../src/report/progress-line.js';
import { createProgress, type ProgressOptions } from '../src/report/progress.js';
import { BIN, cli, FIXTURE_STORAGE } from './helpers/cli.js';

const result = (status: SyncResult['status'], attempts: number, id = 'p/app:1', bytes = 0): SyncResult => ({
  id, source: id, target: `h:5000/${id}`, digest: null, status, attempts, ms: 0, bytes,
});
const exported = (outcome: ExportResult['outcome'], id = 'p/app:1'): ProgressEvent =>
  ({ kind: 'image:exported', result: { id, outcome, warnings: [], ms: 0 } as unknown as ExportResult });
const attempt = (id: string, n = 1): ProgressEvent => ({ kind: 'push:attempt', id, target: `h:5000/${id}`, attempt: n });
const synced = (r: SyncResult): ProgressEvent => ({ kind: 'image:synced', result: r });

function run(isTTY: boolean, events: ProgressEvent[], clock: number[]): string {
  let out = '';
  let i = 0;
  const p = createProgress((t) => (out += t), { isTTY, quiet: false, every: () => () => {}, now: () => clock[Math.min(i++, clock.length - 1)] as number });
  for (const e of events) p.event(e);
  p.close();
  return out;
}

/** A renderer on a settable clock; `t` moves only when the test says so. */
function harness(opts: Partial<ProgressOptions> = {}) {
  const h = { t: 0, out: '', refresh: undefined as (() => void) | undefined };
  const p = createProgress((text) => (h.out += text), {
    isTTY: true, quiet: false, columns: 80, now: () => h.t, every: (_ms, tick) => ((h.refresh = tick), () => (h.refresh = undefined)), ...opts,
  });
  return Object.assign(h, {
    p,
    /** Sends an event `ms` after the previous one (past the 100 ms throttle by default). */
    send(e: ProgressEvent, ms = 200) {
      h.t += ms;
      p.event(e);
    },
    /** The live lines drawn so far, without the erase codes. */
    lines: () => h.out.split('\r\x1b[2K').filter((l) => l !== ''),
  });
}

describe('progress off a terminal (cron)', () => {
  const events: ProgressEvent[] = [
    { kind: 'run:start', command: 'sync', storage: '/data/registry', target: 'harbor.example.com/rescued', dryRun: false },
    attempt('p/app:1'),
    attempt('p/app:1', 2),
    synced(result('synced', 2, 'p/app:1', 1_500_000)),
    { kind: 'warning', message: 'careful' },
    { kind: 'run:done', ms: 1500 },
  ];

  it('writes plain ISO-timestamped lines without terminal codes', () => {
    const out = run(false, events, [Date.UTC(2026, 10, 23, 3, 0, 0)]);
    expect(out).not.toMatch(/\x1b|\r/);
    expect(out.split('\n')).toEqual([
      '2026-11-23T03:00:00.000Z sync /data/registry -> harbor.example.com/rescued',
      '2026-11-23T03:00:00.000Z retrying p/app:1 -> h:5000/p/app:1 (attempt 2)',
      '2026-11-23T03:00:00.000Z warning: careful',
      '2026-11-23T03:00:00.000Z done after 1.5s: 1 image done, 0 pushing, 1 synced, 0 up to date, 0 failed, 1.5 MB pushed at 1.0 MB/s',
      '',
    ]);
  });

  it('adds a heartbeat line every 10 seconds, a line per push start with --verbose, only warnings with --quiet', () => {
    const h = harness({ isTTY: false, verbose: true });
    h.send({ kind: 'run:start', command: 'sync', storage: '/s', dryRun: false });
    h.send(attempt('p/a:1'), 1_000);
    h.send(attempt('p/b:1'), 4_000);
    h.send(synced(result('up-to-date', 0, 'p/c:1')), 10_000);
    const lines = h.out.split('\n').map((l) => l.replace(/^\S+Z /, ''));
    expect(lines).toEqual(['sync /s', 'pushing p/a:1 -> h:5000/p/a:1', 'pushing p/b:1 -> h:5000/p/b:1', expect.stringMatching(/^1 image done, 2 pushing, 0 synced, 1 up to date, 0 failed, 0 B pushed at 0 B\/s, longest: p\/a:1 14s$/), '']);

    const quiet = harness({ isTTY: false, quiet: true, verbose: true });
    for (const e of events) quiet.send(e, 20_000);
    expect(quiet.out).toMatch(/^\S+Z warning: careful\n$/);
  });
});

describe('progress on a terminal', () => {
  it('keeps one live line and clears it before other output', () => {
    const out = run(true, [
      { kind: 'run:start', command: 'sync', storage: '/data/registry', dryRun: false },
      attempt('p/app:1'), attempt('p/app:1', 2), synced(result('synced', 2)), { kind: 'warning', message: 'careful' },
    ], [0, 1000, 2000, 3000, 4000, 5000, 6000]);
    expect(out).toContain('\r\x1b[2K');
    expect(out).toContain('1 pushing');
    expect(out).toContain('1 synced');
    expect(out).not.toMatch(/^\d{4}-\d\d-\d\dT/m);
    // The live line is cleared before the warning is printed on its own line.
    expect(out).toMatch(/\r\x1b\[2K(\x1b\[\d+m)?warning(\x1b\[\d+m)?: careful\n$/);
  });

  const long = (n: number) => `a-rather-long-harbor-project-name/with/nested/repository-path-number-${n}:v1.2.3-build.4567-gabcdef0`;
  for (const columns of [40, 60, 120]) {
    it(`never draws wider than ${columns - 1} columns, even with long image names`, () => {
      const h = harness({ columns, color: true });
      h.send({ kind: 'run:start', command: 'sync', storage: '/s', dryRun: false });
      for (let i = 0; i < 30; i++) h.send(attempt(long(i)), 15_000);
      for (let i = 0; i < 25; i++) h.send(synced(result(i % 7 === 0 ? 'failed' : 'synced', 1, long(i), 123_456_789)), 3_000);
      h.refresh?.();
      const lines = h.lines();
      expect(lines.length).toBeGreaterThan(50);
      for (const line of lines) {
        expect(line).not.toContain('\n');
        expect(visibleWidth(line)).toBeLessThanOrEqual(columns - 1);
      }
      expect(lines.at(-1)).toMatch(/^\S+ 25 images done/);
      if (columns === 120) expect(lines.at(-1)).toMatch(/, longest: a-rath…bcdef0 \d+m\d\ds$/);
    });
  }

  it('takes 80 columns when the terminal reports none (an unsized pty says 0)', () => {
    const h = harness({ columns: () => 0 });
    h.send(exported('ok'));
    expect(h.lines()).toEqual(['› 1 image checked, 0 broken']);
  });

  it('drops the least important parts first and keeps the count', () => {
    const s: ProgressSnapshot = { mode: 'push', elapsedMs: 60_000, checked: 0, broken: 0, done: 12, pushing: 4, synced: 10, upToDate: 1, failed: 1, bytesPushed: 3_000_000_000, longest: { id: 'proj/app:1.0', ms: 130_000 } };
    expect(formatLiveLine(s, { columns: 200 })).toBe('12 images done, 4 pushing, 10 synced, 1 up to date, 1 failed, 3.0 GB pushed at 50 MB/s, longest: proj/app:1.0 2m10s');
    expect(formatLiveLine(s, { columns: 70 })).toBe('12 images done, 4 pushing, 10 synced, 1 up to date, 1 failed');
    expect(formatLiveLine(s, { columns: 40 })).toBe('12 images done, 4 pushing, 1 failed');
    expect(formatLiveLine(s, { columns: 10 })).toBe('12 image…');
    expect(formatLiveLine({ ...s, total: 48 }, { columns: 200 })).toContain('12 images of 48 done, 4 pushing, 10 synced, 1 up to date, 1 failed, ETA 3m00s, ');
    expect(formatLiveLine({ ...s, mode: 'check', checked: 1, broken: 0, failed: 0, elapsedMs: 500 }, { columns: 80 })).toBe('1 image checked, 0 broken');
    expect(formatLiveLine({ ...s, mode: 'check', checked: 420, broken: 3, failed: 0, elapsedMs: 2_000 }, { columns: 80 })).toBe('420 images checked, 3 broken, 210 images/s');
  });

  it('shows the longest-running push with its elapsed time, and follows it when it ends', () => {
    const h = harness({ columns: 200 });
    h.send(attempt('proj/app:1.0'), 0);
    h.send(attempt('proj/web:2'), 5_000);
    h.t = 130_000;
    h.refresh?.();
    expect(h.lines().at(-1)).toMatch(/2 pushing, .*, longest: proj\/app:1\.0 2m10s$/);
    h.send(synced(result('synced', 1, 'proj/app:1.0', 2_600_000)), 0);
    expect(h.lines().at(-1)).toMatch(/^\S+ 1 image done, 1 pushing, 1 synced, .*2\.6 MB pushed at 20 kB\/s, longest: proj\/web:2 2m05s$/);
  });

  it('paints only when told to: no colour codes with color off', () => {
    const events = [attempt('p/a:1'), synced(result('failed', 1, 'p/a:1')), { kind: 'warning', message: 'x' } as const];
    const plain = harness({ color: false });
    const painted = harness({ color: true });
    for (const e of events) (plain.send(e), painted.send(e));
    expect(plain.out).not.toMatch(/\x1b\[\d+m/);
    expect(painted.out).toMatch(/\x1b\[31m1 failed\x1b\[39m/);
  });
});

describe('endings', () => {
  it('says what an interrupt left undone, in singular and plural', () => {
    const h = harness({ isTTY: false });
    h.send({ kind: 'run:start', command: 'sync', storage: '/s', dryRun: false });
    for (let i = 0; i < 6; i++) h.send(attempt(`p/a:${i}`));
    h.send(synced(result('synced', 1, 'p/a:0', 1000)));
    h.send(synced(result('up-to-date', 0, 'p/a:1')));
    for (let i = 2; i < 6; i++) h.send(synced(result('canceled', 1, `p/a:${i}`)));
    for (let i = 0; i < 81; i++) h.send(synced({ ...result('canceled', 0, `p/q:${i}`), code: 'not-started' }), 0);
    h.send({ kind: 'run:done', ms: 130_000, interrupted: true });
    expect(h.out.split('\n').slice(-3, -1).map((l) => l.replace(/^\S+Z /, ''))).toEqual([
      'stopped after 2m10s: 2 images done, 0 pushing, 1 synced, 1 up to date, 0 failed, 1.0 kB pushed at 8 B/s',
      'interrupted: 81 images not started, 4 in flight stopped; run the same command again to continue',
    ]);

    const one = harness({ isTTY: false, quiet: true, signal: AbortSignal.abort() });
    one.send(attempt('p/a:1'));
    one.send(synced(result('canceled', 1, 'p/a:1')));
    one.send(synced({ ...result('canceled', 0, 'p/a:2'), code: 'not-started' }));
    one.send({ kind: 'run:done', ms: 1000 });
    // --quiet keeps the interruption: it matters as much as a warning.
    expect(one.out).toMatch(/^\S+Z interrupted: 1 image not started, 1 in flight stopped; run the same command again to continue\n$/);

    const walk = harness({ isTTY: true });
    walk.send(exported('ok'));
    walk.send({ kind: 'run:done', ms: 400, interrupted: true });
    expect(walk.out).toMatch(/\r\x1b\[2Kstopped after 0\.4s: 1 image checked, 0 broken\ninterrupted after 1 image; run the same command again to continue\n$/);
  });

  it('counts as the summary does: canceled images are not done, and one stopped before its push was in flight', () => {
    // A bucket sync interrupted while 4 images were checking the target or downloading their layouts (no push had
    // started) and 16 had not begun: the summary says `4 × canceled (interrupted)`, and so must these lines.
    const h = harness({ isTTY: false });
    h.send({ kind: 'run:start', command: 'sync', storage: 's3://harbor/registry', dryRun: false, total: 20 });
    for (let i = 0; i < 4; i++) h.send(synced({ ...result('canceled', 0, `p/a:${i}`), code: 'interrupted' }));
    for (let i = 4; i < 20; i++) h.send(synced({ ...result('canceled', 0, `p/a:${i}`), code: 'not-started' }), 0);
    h.send({ kind: 'run:done', ms: 11_000, interrupted: true });
    expect(h.out.split('\n').slice(-3, -1).map((l) => l.replace(/^\S+Z /, ''))).toEqual([
      'stopped after 11s: 0 images of 20 done, 0 pushing, 0 synced, 0 up to date, 0 failed, 0 B pushed at 0 B/s',
      'interrupted: 16 images not started, 4 in flight stopped; run the same command again to continue',
    ]);
  });

  it('prints a final line on a terminal too, counting list/export results', () => {
    const h = harness();
    h.send(exported('ok'));
    h.send(exported('broken'));
    h.send(exported('failed'));
    h.send({ kind: 'run:done', ms: 2_000 });
    expect(h.out).toMatch(/\r\x1b\[2Kdone after 2\.0s: 3 images checked, 1 broken, 1 failed, 1\.5 images\/s\n$/);
  });
});

describe('formats', () => {
  it('formats durations, byte rates and image rates', () => {
    expect([400, 9_949, 45_000, 130_000, 3_900_000].map(formatElapsed)).toEqual(['0.4s', '9.9s', '45s', '2m10s', '1h05m']);
    expect(formatByteRate(1_500_000, 1_000)).toBe('1.5 MB/s');
    expect(formatByteRate(123_456_789, 10_000)).toBe('12 MB/s');
    expect(formatByteRate(0, 5_000)).toBe('0 B/s');
    expect(formatByteRate(1_000_000, 999)).toBeUndefined();
    expect(formatImageRate(210, 1_000)).toBe('210 images/s');
    expect(formatImageRate(1, 2_000)).toBe('0.5 images/s');
  });
});

describe('colour decision', () => {
  const tty = { isTTY: true, flag: true, terminalColors: true };
  it.each([
    ['a colour terminal', tty, {}, true],
    ['off a terminal', { ...tty, isTTY: false }, {}, false],
    ['off a terminal even with FORCE_COLOR', { ...tty, isTTY: false }, { FORCE_COLOR: '1' }, false],
    ['--no-color', { ...tty, flag: false }, { FORCE_COLOR: '1' }, false],
    ['NO_COLOR=1 on a terminal, FORCE_COLOR unset', tty, { NO_COLOR: '1' }, false],
    ['NO_COLOR empty (no-color.org: ignored)', tty, { NO_COLOR: '' }, true],
    ['FORCE_COLOR=1 over NO_COLOR (as Node decides)', tty, { NO_COLOR: '1', FORCE_COLOR: '1' }, true],
    ['FORCE_COLOR=0', tty, { FORCE_COLOR: '0' }, false],
    ['TERM=dumb', tty, { TERM: 'dumb' }, false],
    ['a terminal without colours', { ...tty, terminalColors: false }, {}, false],
  ] as const)('%s', (_name, facts, env, expected) => {
    expect(decideColor({ ...facts, env })).toBe(expected);
  });

  // A real pseudo-terminal: `script` (util-linux / bsdutils) runs the CLI with stderr on a tty.
  it('prints no colour codes at a real terminal with NO_COLOR=1 or --no-color, and colour without', () => {
    try {
      execFileSync('script', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('`script` is needed for this test: apt-get install -y bsdutils (util-linux)');
    }
    const atTerminal = (env: Record<string, string>, extra = '') => {
      const base: Record<string, string | undefined> = { ...process.env, TERM: 'xterm-256color', ...env };
      delete base.FORCE_COLOR;
      // Node counts any CI=… as a two-colour terminal (tty getColorDepth): CI runs this test with CI=true.
      delete base.CI;
      if (!('NO_COLOR' in env)) delete base.NO_COLOR;
      return execFileSync('script', ['-qec', `node ${BIN} list ${FIXTURE_STORAGE}${extra}; true`, '/dev/null'], { env: base, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    };
    expect(atTerminal({})).toMatch(/\x1b\[3\dm/);
    const noColor = atTerminal({ NO_COLOR: '1' });
    expect(noColor).toContain('done after');
    expect(noColor).not.toMatch(/\x1b\[3/);
    expect(atTerminal({}, ' --no-color')).not.toMatch(/\x1b\[3/);
  });
});

describe('the first line of a sync in a cron log', () => {
  it('names the target as parsed and the output directory, and never an invalid --to (which could hold a password)', async () => {
    const dir = await makeTempDir('rr-start-line');
    const out = path.join(dir, 'out');
    const r = await cli(['sync', FIXTURE_STORAGE, '--to', '127.0.0.1:1/rescued/', '--out', out, '--dry-run']);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^\\S+Z sync ${FIXTURE_STORAGE} -> 127\\.0\\.0\\.1:1/rescued, layouts in ${out} \\(dry run\\)$`));
    const bad = await cli(['sync', FIXTURE_STORAGE, '--to', 'rescue:s3cret@127.0.0.1:1', '--out', out, '--dry-run']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.split('\n')[0]).toMatch(new RegExp(`^\\S+Z sync ${FIXTURE_STORAGE} \\(dry run\\)$`));
  });
});
