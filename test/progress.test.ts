// The progress renderer: plain timestamped lines off a terminal (cron), one live line on it.
import { describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../src/core/events.js';
import type { SyncResult } from '../src/core/sync-plan.js';
import { createProgress } from '../src/report/progress.js';

const result = (status: SyncResult['status'], attempts: number): SyncResult => ({
  id: 'p/app:1', source: 'p/app:1', target: 'h:5000/p/app:1', digest: null, status, attempts, ms: 0, bytes: 0,
});

function run(isTTY: boolean, events: ProgressEvent[], clock: number[]): string {
  let out = '';
  let i = 0;
  const p = createProgress((t) => (out += t), { isTTY, quiet: false, now: () => clock[Math.min(i++, clock.length - 1)] as number });
  for (const e of events) p.event(e);
  p.close();
  return out;
}

describe('progress', () => {
  const events: ProgressEvent[] = [
    { kind: 'run:start', command: 'sync', storage: '/data/registry', dryRun: false },
    { kind: 'push:attempt', id: 'p/app:1', target: 'h:5000/p/app:1', attempt: 1 },
    { kind: 'push:attempt', id: 'p/app:1', target: 'h:5000/p/app:1', attempt: 2 },
    { kind: 'image:synced', result: result('synced', 2) },
    { kind: 'warning', message: 'careful' },
    { kind: 'run:done', ms: 1500 },
  ];

  it('writes plain ISO-timestamped lines without terminal codes under cron', () => {
    const out = run(false, events, [Date.UTC(2026, 10, 23, 3, 0, 0)]);
    expect(out).not.toMatch(/\x1b|\r/);
    expect(out.split('\n')).toEqual([
      '2026-11-23T03:00:00.000Z sync /data/registry',
      '2026-11-23T03:00:00.000Z retrying p/app:1 -> h:5000/p/app:1 (attempt 2)',
      '2026-11-23T03:00:00.000Z warning: careful',
      '2026-11-23T03:00:00.000Z done: 0 images checked, 0 broken, 0 pushing, 1 synced, 0 up to date, 0 failed in 1.5 s',
      '',
    ]);
  });

  it('keeps one live line on a terminal and clears it before other output', () => {
    const out = run(true, events, [0, 1000, 2000, 3000, 4000, 5000, 6000]);
    expect(out).toContain('\r\x1b[2K');
    expect(out).toContain('1 pushing');
    expect(out).toContain('1 synced');
    expect(out).not.toMatch(/^\d{4}-\d\d-\d\dT/m);
    // The live line is cleared before the warning is printed on its own line.
    expect(out).toMatch(/\r\x1b\[2K(\x1b\[\d+m)?warning(\x1b\[\d+m)?: careful\n$/);
  });
});
