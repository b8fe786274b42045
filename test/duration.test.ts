import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/core/duration.js';
import { EXIT, UsageError } from '../src/errors.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1h0m5s250ms', 3_605_250],
    ['1.5h', 5_400_000],
    ['0s', 0],
    [' 10m ', 600_000],
  ])('%s = %i ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '30', 'abc', '10 m', '30m1h', '1m1m', '-5m', '5min', '1h30', 'm', '2d', '1e3s'])(
    'refuses %j with a UsageError naming the flag',
    (text) => {
      let error: unknown;
      try {
        parseDuration(text, '--wait-lock');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(EXIT.usage);
      expect((error as Error).message).toMatch(/^--wait-lock ".*": .*\(e\.g\. 500ms, 90s, 30m, 2h or 1h30m\)$/);
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [0, '0 s'],
    [59_999, '59 s'],
    [60_000, '1 min'],
    [7_200_000, '2 h'],
    [7_500_000, '2 h 5 min'],
    [3 * 86_400_000 + 4 * 3_600_000, '3 d 4 h'],
    [-5, '0 s'],
  ])('%i ms is %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});
