import { describe, expect, it } from 'vitest';
import { NO_ISSUES, PROBLEMS_SHOWN, emptyCounts, exitCodeForRun, localReason, outcomeLine, problemMessages, problemsReason, type Counts } from '../src/core/results.js';
import type { Problem } from '../src/core/types.js';

const problems = (n: number): Problem[] => Array.from({ length: n }, (_, i) => ({ code: 'blob-missing', message: `p${i}` }));

describe('problems shown to a person', () => {
  it('shows all of them up to the bound, then the bound and a count of the rest', () => {
    expect(PROBLEMS_SHOWN).toBe(10);
    expect(problemMessages(problems(0))).toEqual([]);
    expect(problemMessages(problems(10))).toEqual(problems(10).map((p) => p.message));
    expect(problemMessages(problems(11))).toEqual([...problems(10).map((p) => p.message), '… and 1 more problem (registry-rescue list --json shows every one)']);
    expect(problemsReason(problems(2))).toBe('p0; p1');
  });
});

describe('a reason printed under its image', () => {
  it('drops the image reference each problem message starts with, and nothing else', () => {
    const id = 'proj/app:1.0';
    const reason = problemsReason([
      { code: 'blob-missing', message: `${id}: layer 1 sha256:aa is missing` },
      { code: 'blob-missing', message: `${id}: layer 2 sha256:bb is missing` },
    ]);
    expect(localReason(reason, id)).toBe('layer 1 sha256:aa is missing; layer 2 sha256:bb is missing');
    // Another image's name inside a message, or a reason that does not start with it, is kept as it is.
    expect(localReason('pushed, but the target has proj/app:1.0: x', id)).toBe('pushed, but the target has proj/app:1.0: x');
    expect(localReason(`${id}x: y`, id)).toBe(`${id}x: y`);
  });
});

describe("a run's last line", () => {
  const counts = (some: Partial<Counts>): Counts => ({ ...emptyCounts(), ...some });

  it('says exit 0 when nothing was bad, skipped and up-to-date tags included', () => {
    const c = counts({ synced: 3, 'up-to-date': 5, skipped: 2 });
    expect(exitCodeForRun(c, NO_ISSUES)).toBe(0);
    expect(outcomeLine(c, NO_ISSUES)).toBe('registry-rescue: exit 0, done\n');
  });

  it('says exit 4 and names what made the run partial, in the status words of the report', () => {
    const c = counts({ synced: 10, broken: 8, failed: 1, 'not-attempted': 4 });
    expect(outcomeLine(c, NO_ISSUES)).toBe('registry-rescue: exit 4, partial: 8 broken, 1 failed, 4 not-attempted (see above)\n');
    expect(outcomeLine(counts({ ok: 2 }), { ...NO_ISSUES, listedMissing: 1, unreadable: 2 })).toBe(
      'registry-rescue: exit 4, partial: 1 listed tag missing from the storage, 2 storage directories unreadable (see above)\n',
    );
    expect(outcomeLine(counts({}), { ...NO_ISSUES, nothingSelected: true })).toBe('registry-rescue: exit 4, partial: nothing selected (see above)\n');
  });

  it('names briefly why a run stopped early: the last line is what cron mails and monitors grep', () => {
    const c = counts({ failed: 5, 'not-attempted': 3 });
    expect(outcomeLine(c, { ...NO_ISSUES, stoppedEarly: 'target-unreachable' })).toBe('registry-rescue: exit 4, partial: 5 failed, 3 not-attempted; stopped: target unreachable (see above)\n');
    expect(outcomeLine(c, { ...NO_ISSUES, stoppedEarly: 'target-server-error' })).toBe('registry-rescue: exit 4, partial: 5 failed, 3 not-attempted; stopped: target server errors (see above)\n');
    expect(outcomeLine(c, { ...NO_ISSUES, stoppedEarly: 'abort-on-error' })).toBe('registry-rescue: exit 4, partial: 5 failed, 3 not-attempted; stopped: --abort-on-error (see above)\n');
    // Also when it left no image unattempted (the last ones were in flight), and then the stop alone makes it partial.
    expect(outcomeLine(counts({ failed: 5 }), { ...NO_ISSUES, stoppedEarly: 'target-unreachable' })).toBe('registry-rescue: exit 4, partial: 5 failed; stopped: target unreachable (see above)\n');
    expect(outcomeLine(counts({ synced: 1 }), { ...NO_ISSUES, stoppedEarly: 'target-server-error' })).toBe('registry-rescue: exit 4, partial: stopped: target server errors (see above)\n');
  });

  it('gives exit 4 exactly when exitCodeForRun does', () => {
    for (const c of [counts({}), counts({ ok: 1 }), counts({ missing: 1 }), counts({ drift: 1 }), counts({ canceled: 1 }), counts({ skipped: 9 })]) {
      expect(outcomeLine(c, NO_ISSUES).startsWith(`registry-rescue: exit ${exitCodeForRun(c, NO_ISSUES)},`)).toBe(true);
    }
  });
});
