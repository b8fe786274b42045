import { describe, expect, it } from 'vitest';
import { createBreaker, troubleOfStatus, type BreakerOutcome } from '../src/core/breaker.js';

const T = '2025-05-01T10:00:00.000Z';
const ok: BreakerOutcome = { kind: 'success' };
const other: BreakerOutcome = { kind: 'other' };
const down: BreakerOutcome = { kind: 'unreachable', message: 'cannot reach h:5000: connection refused' };
const full = (status = 500): BreakerOutcome => ({ kind: 'server-error', status, message: `skopeo failed (server-error): writing manifest: received unexpected HTTP status: ${status} Internal Server Error` });

/** Feeds the outcomes in order; the first stop reason, if any, and after how many. */
function run(limit: number, outcomes: BreakerOutcome[]): { after: number; reason: string } | undefined {
  const b = createBreaker(limit, 'h:5000');
  for (const [i, o] of outcomes.entries()) {
    const reason = b.observe(o, T);
    if (reason !== undefined) return { after: i + 1, reason };
  }
  return undefined;
}

describe('circuit breaker', () => {
  it('trips on N server errors in a row, naming the statuses, the last message and what to check', () => {
    const r = run(3, [full(), full(507), full()]);
    expect(r?.after).toBe(3);
    expect(r?.reason).toBe(
      "h:5000 answered 3 images in a row with a server error (HTTP 500, HTTP 507; last: skopeo failed (server-error): writing manifest: received unexpected HTTP status: 500 Internal Server Error); no more pushes were started — check the target's disk and logs",
    );
  });

  it('keeps the unreachable wording for the unreachable case', () => {
    expect(run(3, [down, down, down])).toEqual({ after: 3, reason: `h:5000 has been unreachable since ${T} (3 images in a row); no more pushes were started` });
  });

  it('a success resets; an image failing for its own reasons neither counts nor resets', () => {
    expect(run(3, [full(), full(), ok, full(), full()])).toBeUndefined();
    expect(run(3, [full(), other, other, full(), other, full()])?.after).toBe(6);
    expect(run(3, [other, other, other, other, other])).toBeUndefined();
  });

  it('counts the two kinds apart: a target alternating between them still trips, with the words of the kind that did', () => {
    const r = run(3, [down, full(), down, full(), down]);
    expect(r?.after).toBe(5);
    expect(r?.reason).toMatch(/has been unreachable since/);
  });

  it('0 disables it', () => {
    expect(run(0, Array(50).fill(full()))).toBeUndefined();
    expect(run(0, Array(50).fill(down))).toBeUndefined();
  });

  it('quotes a long last message only in part', () => {
    const r = run(1, [{ kind: 'server-error', status: undefined, message: 'x'.repeat(1000) }]);
    expect(r?.reason).toMatch(/\(HTTP 5xx; last: x{300}…\)/);
  });

  it('reads HTTP statuses of our own requests: gateway codes are unreachable, other 5xx a server error, 429 and 4xx nothing', () => {
    expect([500, 501, 502, 503, 504, 505, 507, 599, 429, 404, 412].map((s) => troubleOfStatus(s)?.kind)).toEqual([
      'server-error', 'server-error', 'unreachable', 'unreachable', 'unreachable', 'server-error', 'server-error', 'server-error', undefined, undefined, undefined,
    ]);
  });
});
