import { describe, expect, it } from 'vitest';
import { writeJsonDocument } from '../src/report/json-stream.js';

const render = (head: Record<string, unknown>, items: unknown[], tail: Record<string, unknown>) => {
  const chunks: string[] = [];
  writeJsonDocument((t) => chunks.push(t), head, 'images', items, tail);
  return { text: chunks.join(''), chunks: chunks.length };
};

describe('writeJsonDocument', () => {
  it.each([
    [{ a: 1, nested: { b: [1, 2] } }, [{ x: 'y', deep: { z: [null] } }, 'two'], { summary: { n: 2 } }],
    [{}, [], {}],
    [{ storage: '/data' }, [], { summary: {} }],
  ])('writes the same document JSON.stringify would, in pieces (%#)', (head, items, tail) => {
    const { text, chunks } = render(head, items, tail);
    expect(text).toBe(`${JSON.stringify({ ...head, images: items, ...tail }, null, 2)}\n`);
    expect(chunks).toBe(items.length + 2);
  });

  it('leaves out undefined fields as JSON.stringify does', () => {
    expect(JSON.parse(render({ a: undefined, b: 1 }, [1], { c: undefined }).text)).toEqual({ b: 1, images: [1] });
  });
});
