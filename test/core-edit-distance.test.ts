import { describe, expect, it } from 'vitest';
import { createNearest, editDistance, suggestionLimit } from '../src/core/edit-distance.js';

/** The textbook optimal-string-alignment table, no cut-off: what editDistance must agree with. */
function reference(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

describe('editDistance', () => {
  it.each([
    ['library', 'library', 0],
    ['libary', 'library', 1], // dropped
    ['librrary', 'library', 1], // doubled
    ['alpnie', 'alpine', 1], // swapped
    ['3.19', '3.18', 1],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['ca', 'abc', 3], // optimal string alignment, not full Damerau (which says 2)
    ['kitten', 'sitting', 3],
  ])('%s → %s: %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  it('stops at max + 1 and agrees with the full table below it', () => {
    // Every pair of short strings over a small alphabet: the cut-off must never change an answer within max.
    const words = [''];
    for (let n = 0; n < 4; n++) for (const w of words.splice(0)) for (const c of ['', 'a', 'b', 'c']) words.push(w + c);
    const all = [...new Set(words)];
    const wrong: unknown[] = [];
    for (const a of all) {
      for (const b of all) {
        const d = reference(a, b);
        if (editDistance(a, b) !== d) wrong.push([a, b, d]);
        for (const max of [0, 1, 2, 3]) if (editDistance(a, b, max) !== Math.min(d, max + 1)) wrong.push([a, b, max]);
      }
    }
    expect(all.length).toBeGreaterThan(100);
    expect(wrong).toEqual([]);
  });
});

describe('createNearest', () => {
  const nearest = (target: string, names: string[]) => {
    const n = createNearest(target);
    names.forEach((name) => n.offer(name));
    return n.best();
  };

  it.each([
    ['libary', ['charts', 'library', 'legacy'], 'library'],
    ['3.19', ['3.18', '3.20', 'latest'], '3.18'],
    ['3.19', ['3.29', '3.18'], '3.18'], // ties: the name that sorts first, whatever the order offered
    ['3.19', ['9.99'], undefined], // two edits in four characters: a guess, not a typo
    ['alpine', ['alpnie', 'apline'], 'alpnie'],
    ['v1', ['xy'], undefined], // every character replaced is no suggestion
    ['library', ['library'], undefined], // the name itself is no suggestion
    ['production-api', ['prod'], undefined], // too far: more than a third of the length
    ['production-api', ['producton-apl'], 'producton-apl'],
    ['x', [], undefined],
  ])('%s among %j: %s', (target, names, expected) => {
    expect(nearest(target, names)).toBe(expected);
  });

  it('allows a third of the length, at least 2, and 1 for short names', () => {
    expect([suggestionLimit('ab'), suggestionLimit('3.19'), suggestionLimit('alpine'), suggestionLimit('abcdefgh'), suggestionLimit('a'.repeat(30))]).toEqual([1, 1, 2, 2, 10]);
  });
});
