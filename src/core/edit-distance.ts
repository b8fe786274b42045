/**
 * Edit distance for "did you mean" hints: optimal string alignment (Damerau-Levenshtein without
 * editing a substring twice), so the common typos (a dropped, doubled, wrong or swapped character:
 * `libary`, `alpnie`) each cost 1. Pure.
 */

/**
 * Distance between `a` and `b`, or `max + 1` as soon as it is known to exceed `max`: comparing
 * one name with every sibling in a directory of 500k names stays cheap when most are far off.
 */
export function editDistance(a: string, b: string, max = Infinity): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  if (a === b) return 0;
  // Three rows: two back for transpositions, one back, current.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current[j] = d;
      if (d < rowMin) rowMin = d;
    }
    // Every later row is at least this row's minimum (OSA cells grow from the row above or two above,
    // and a transposition's cell two rows back is no smaller than one of the row above), so stop early.
    if (rowMin > max) return max + 1;
    [before, previous, current] = [previous, current, before];
  }
  const d = previous[b.length]!;
  return d > max ? max + 1 : d;
}

/**
 * The most edits a name may need and still be offered as "did you mean": a third of its length, at least 2,
 * but 1 for names of up to 4 characters (two edits of `3.19` reach `9.99`, a guess rather than a typo).
 */
export function suggestionLimit(name: string): number {
  return name.length <= SHORT_NAME ? 1 : Math.max(2, Math.floor(name.length / 3));
}
const SHORT_NAME = 4;

/**
 * Keeps the nearest of a stream of candidates to `target` in constant memory: offer() each name, read
 * best() at the end. Ties go to the name that sorts first, so the answer does not depend on readdir order.
 * A candidate equal to `target` is never the answer (it would suggest what was written), nor is one that
 * shares nothing with it (distance equal to the longer length: every character replaced).
 */
export function createNearest(target: string, limit = suggestionLimit(target)): { offer(name: string): void; best(): string | undefined } {
  let best: { name: string; distance: number } | undefined;
  return {
    offer(name) {
      if (name === target) return;
      const max = best ? best.distance : limit;
      const distance = editDistance(target, name, max);
      if (distance > max || distance >= Math.max(target.length, name.length)) return;
      if (!best || distance < best.distance || name < best.name) best = { name, distance };
    },
    best: () => best?.name,
  };
}
