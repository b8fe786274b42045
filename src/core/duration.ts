/** Durations as operators type them in flags (`--wait-lock 30m`) and as messages show them. Pure. */
import { UsageError } from '../errors.js';

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: readonly Unit[] = ['h', 'm', 's', 'ms'];
// `ms` before `m` and `s` in the alternation, or `500ms` would read as 500 minutes then garbage.
const PART_RE = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
const EXAMPLES = 'e.g. 500ms, 90s, 30m, 2h or 1h30m';

/**
 * Milliseconds in `text`: one or more `<number><unit>` parts, units h, m, s, ms, largest first,
 * each at most once (`1h30m`, `1.5h`, `90s`, `0s`). A bare number is refused: `30` could mean
 * seconds or minutes. `what` names the flag in the error (`--wait-lock`).
 */
export function parseDuration(text: string, what = 'duration'): number {
  const spec = text.trim();
  const fail = (why: string): never => {
    throw new UsageError(`${what} ${JSON.stringify(text)}: ${why} (${EXAMPLES})`);
  };
  if (spec === '') fail('empty');
  if (/^\d+(?:\.\d+)?$/.test(spec)) fail('missing a unit');
  PART_RE.lastIndex = 0;
  let ms = 0;
  let lastRank = -1;
  let end = 0;
  for (let match = PART_RE.exec(spec); match !== null; match = PART_RE.exec(spec)) {
    const rank = UNIT_ORDER.indexOf(match[2] as Unit);
    if (rank <= lastRank) fail('units must go from largest to smallest, each once');
    lastRank = rank;
    ms += Number(match[1]) * UNIT_MS[match[2] as Unit];
    end = PART_RE.lastIndex;
  }
  if (end !== spec.length) fail('not a duration');
  if (!Number.isSafeInteger(Math.round(ms))) fail('too long');
  return Math.round(ms);
}

/** `45 s`, `12 min`, `2 h 5 min`, `3 d 4 h`: an age or wait in a message, to the largest two units. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}
