import { describe, expect, it } from 'vitest';
import { NO_ISSUES, PROBLEMS_SHOWN, emptyCounts, exitCodeForRun, interruptedLine, localReason, outcomeLine, problemMessages, problemsReason, type Counts } from '../src/core/results.js';
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

describe("an interrupted run's last line", () => {
  const counts = (some: Partial<Counts>): Counts => ({ ...emptyCounts(), ...some });
  const SIGTERM = { exitCode: 143, what: 'interrupted by SIGTERM' };

  it('has the shape of every other last line, with the signal\'s exit code and how far the run got', () => {
    expect(interruptedLine(SIGTERM, counts({ created: 774 }), NO_ISSUES)).toBe(
      'registry-rescue: exit 143, interrupted by SIGTERM after 774 of the selected images: 774 created; run the same command again to continue\n',
    );
    // Every image the run reached is counted (as in the report), the bad ones too: exit 143 hides the 4 they would give.
    expect(interruptedLine({ exitCode: 130, what: 'interrupted by SIGINT' }, counts({ synced: 10, 'up-to-date': 5, skipped: 1, broken: 2, failed: 1, canceled: 4 }), NO_ISSUES)).toBe(
      'registry-rescue: exit 130, interrupted by SIGINT after 23 of the selected images: 10 synced, 5 up-to-date, 1 skipped, 2 broken, 1 failed, 4 canceled; run the same command again to continue\n',
    );
  });

  it('names the run-level problems and the stop as outcomeLine does', () => {
    expect(interruptedLine(SIGTERM, counts({ ok: 3 }), { ...NO_ISSUES, unreadable: 1 })).toBe(
      'registry-rescue: exit 143, interrupted by SIGTERM after 3 of the selected images: 3 ok, 1 storage directory unreadable; run the same command again to continue\n',
    );
    expect(interruptedLine(SIGTERM, counts({ failed: 5, 'not-attempted': 3 }), { ...NO_ISSUES, stoppedEarly: 'target-unreachable' })).toBe(
      'registry-rescue: exit 143, interrupted by SIGTERM after 8 of the selected images: 5 failed, 3 not-attempted; stopped: target unreachable; run the same command again to continue\n',
    );
  });

  it('says when the run reached no image, or had no counts to give', () => {
    expect(interruptedLine(SIGTERM, counts({}), NO_ISSUES)).toBe('registry-rescue: exit 143, interrupted by SIGTERM before any selected image; run the same command again to continue\n');
    expect(interruptedLine(SIGTERM)).toBe('registry-rescue: exit 143, interrupted by SIGTERM; run the same command again to continue\n');
  });
});
