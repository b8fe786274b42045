import { describe, expect, it } from 'vitest';
import { PROBLEMS_SHOWN, problemMessages, problemsReason } from '../src/core/results.js';
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
