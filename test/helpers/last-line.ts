// The last stderr line of a run a signal stopped, checked against that run's JSON document.
import { expect } from 'vitest';

const AGAIN = '; run the same command again to continue';

/**
 * The shape of every run's last line (README, Exit codes: a monitor greps `^registry-rescue: exit`), the signal's
 * exit code, how many images the document holds, and each non-zero count of its summary, as `N status`.
 */
export function expectInterruptedLastLine(stderr: string, signal: 'SIGINT' | 'SIGTERM', doc: { images: unknown[]; summary: { counts: Record<string, number> } }): void {
  const last = stderr.trimEnd().split('\n').at(-1) ?? '';
  const head = `registry-rescue: exit ${signal === 'SIGINT' ? 130 : 143}, interrupted by ${signal} after ${doc.images.length} of the selected images: `;
  expect(last.startsWith(head), last).toBe(true);
  expect(last.endsWith(AGAIN), last).toBe(true);
  const said = last.slice(head.length, -AGAIN.length).split(', ');
  const counted = Object.entries(doc.summary.counts).filter(([, n]) => n > 0).map(([status, n]) => `${n} ${status}`);
  expect([...said].sort()).toEqual([...counted].sort());
}
