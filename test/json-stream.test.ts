import { describe, expect, it } from 'vitest';
import { openJsonDocument } from '../src/report/json-stream.js';

const render = (head: Record<string, unknown>, items: unknown[], tail: Record<string, unknown>) => {
  const chunks: string[] = [];
  const doc = openJsonDocument((t) => chunks.push(t), head, 'images');
  for (const item of items) doc.item(item);
  doc.end(tail);
  return { text: chunks.join(''), chunks: chunks.length };
};

describe('openJsonDocument', () => {
  it.each([
    [{ a: 1, nested: { b: [1, 2] } }, [{ x: 'y', deep: { z: [null] } }, 'two'], { summary: { n: 2 } }],
    [{}, [], {}],
    [{ storage: '/data' }, [], { summary: {} }],
  ])('writes the document JSON.stringify would, in pieces, one array element a line (%#)', (head, items, tail) => {
    const { text, chunks } = render(head, items, tail);
    expect(JSON.parse(text)).toEqual({ ...head, images: items, ...tail });
    expect(chunks).toBe(items.length + 2);
    // Each element on a line of its own, compact: a 500k-image report stays greppable.
    for (const item of items) expect(text).toContain(`\n    ${JSON.stringify(item)}`);
    // Head and tail stay indented as JSON.stringify(…, null, 2) writes them.
    for (const [k, v] of Object.entries({ ...head, ...tail })) expect(text).toContain(`\n  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replaceAll('\n', '\n  ')}`);
  });

  it('leaves out undefined fields as JSON.stringify does', () => {
    expect(JSON.parse(render({ a: undefined, b: 1 }, [1], { c: undefined }).text)).toEqual({ b: 1, images: [1] });
  });
});
