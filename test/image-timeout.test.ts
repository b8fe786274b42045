import { describe, expect, it } from 'vitest';
import { defaultImageTimeoutMs, IMAGE_TIMEOUT_BASE_MS } from '../src/core/image-timeout.js';

const MIN = 60_000;
const MiB = 1024 * 1024;

describe('defaultImageTimeoutMs (the --image-timeout default)', () => {
  it.each([
    ['an empty or unknown size gets the base allowance', 0, 10 * MIN],
    ['a nonsense size too', Number.NaN, 10 * MIN],
    ['a negative size too', -5, 10 * MIN],
    ['200 MiB: about 13 minutes, far from the old flat hour', 200 * MiB, 10 * MIN + 200_000],
    ['2 GiB: about 44 minutes', 2048 * MiB, 10 * MIN + 2_048_000],
    ['20 GiB: about 6 hours (1 MiB/s floor)', 20 * 1024 * MiB, 10 * MIN + 20_480_000],
  ])('%s', (_what, bytes, ms) => {
    expect(defaultImageTimeoutMs(bytes)).toBe(ms);
  });

  it('grows with the image and never falls below the base', () => {
    expect(defaultImageTimeoutMs(1)).toBeGreaterThan(IMAGE_TIMEOUT_BASE_MS);
    expect(defaultImageTimeoutMs(100 * MiB)).toBeLessThan(defaultImageTimeoutMs(101 * MiB));
  });
});
