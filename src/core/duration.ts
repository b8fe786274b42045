/** Durations as people write them on a command line or in a crontab: `90s`, `30m`, `2h`, `1h30m`, `500ms`. Pure. */
import { UsageError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration such as `1h30m`; a UsageError naming `what` for anything else. */
export function parseDuration(text: string, what = 'duration'): number {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (trimmed === '' || parts.map((p) => p[0]).join('') !== trimmed) {
    throw new UsageError(`${what}: ${JSON.stringify(text)} is not a duration such as 90s, 30m, 2h or 1h30m`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * (UNIT_MS[p[2] as string] as number), 0));
}
