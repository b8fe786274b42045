/** Pretty-printed JSON documents written piece by piece, so 500k-image reports never become one string. */

/** Writes `{ ...head, [key]: [ ...items ], ...tail }` (two-space indent), one item at a time. */
export function writeJsonDocument(
  write: (text: string) => void,
  head: Record<string, unknown>,
  key: string,
  items: Iterable<unknown>,
  tail: Record<string, unknown>,
): void {
  const fields = (obj: Record<string, unknown>) =>
    Object.entries(obj)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replaceAll('\n', '\n  ')}`);
  const before = fields(head);
  write(`{\n${before.map((f) => `${f},\n`).join('')}  ${JSON.stringify(key)}: [`);
  let first = true;
  for (const item of items) {
    write(`${first ? '\n' : ',\n'}    ${JSON.stringify(item, null, 2).replaceAll('\n', '\n    ')}`);
    first = false;
  }
  const after = fields(tail);
  write(`${first ? '' : '\n  '}]${after.map((f) => `,\n${f}`).join('')}\n}\n`);
}
